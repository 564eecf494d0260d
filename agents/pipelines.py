"""A diffusers pipeline as the generator of a command: the pipeline, your images, and the class map.

``adagen train|eval|sample|actions --pipeline DIR --data FOLDER`` run a ``save_pretrained`` folder
(or a hub id already in the local cache) against your images: the reward trains on their
training split, the evaluation compares with their held-out split, as with ``--generator``.

The env's labels are your data's classes (its class sub-folders, sorted); the class map gives the
model's class id of each: by name (a folder named as one of the pipeline's labels, DiT's ImageNet
``id2label``, or as a class id), or from ``--class-map FILE.json`` ({folder: id or label name}).
So the env draws only your classes, and the discriminator knows each one. A model without
classes makes one class: its images are compared with all of yours, as one class (a
class-agnostic discriminator), and a class map is refused.

A text-to-image pipeline (Stable Diffusion's ``UNet2DConditionModel``) takes a folder of images with
captions (a ``metadata.jsonl``, :func:`~adagen_env.data.datasets.read_captions`): its labels are
the captions, split by caption, so that the policy trains on the training captions (the reward's
discriminator sees each caption's embedding beside its images) and is evaluated on held-out
captions it never saw.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from adagen_env.data.datasets import ImageDataset, Split, is_captioned, load_images, read_class_names, split_captions
from adagen_env.data.user_data import LEVELS, DataSource
from adagen_env.processes.diffusers_adapter import DiffusersProcess, is_text_pipeline, load_pipeline, pipeline_labels

ClassMap = dict[str, int | str]  # a class folder's name -> the model's class id, or one of its label names


@dataclass(frozen=True)
class PipelineSource:
    """The pipeline a command runs (``path``: as given), the images it is scored against, and what
    its labels mean: ``class_names`` by label (the data's classes, or ``("all",)`` for a model
    without classes) and ``class_ids``, the model's class of each (``None``: no classes)."""

    path: str
    data: DataSource
    class_names: tuple[str, ...]
    class_ids: tuple[int, ...] | None
    labels: dict[str, int]  # the pipeline's own label names -> class ids (empty if it has none)
    prompted: bool = False  # a text-to-image pipeline: ``class_names`` are the captions its labels are
    pipeline: Any = dataclasses.field(default=None, compare=False, repr=False)  # the loaded pipeline
    micro_batch: int | None = None

    def load(self, split: Split) -> ImageDataset:
        """The images of ``split``, as one class for a model without classes (a text-to-image pipeline's
        classes are the split's captions)."""
        data = self.data.load(split)
        return data if self.class_ids is not None or self.prompted else data.as_one_class()

    def captions(self, split: Split) -> list[str]:
        """A text-to-image pipeline's captions of ``split``: its prompts there."""
        return split_captions(self.data.path, split, self.data.heldout_fraction, self.data.split_seed)

    def on_prompts(self, prompts: Sequence[str], num_steps: int) -> tuple[PipelineSource, DiffusersProcess]:
        """This text-to-image pipeline's process on ``prompts`` (its labels), and the source that names them."""
        process = DiffusersProcess.from_pipeline(
            self.pipeline, num_steps, prompts=list(prompts), micro_batch=self.micro_batch
        )
        return dataclasses.replace(self, class_names=tuple(process.prompts.texts)), process

    @property
    def aliases(self) -> dict[str, int]:
        """The pipeline's label names of the mapped classes -> the label: names a class may also be given by."""
        if self.class_ids is None:
            return {}
        return {name: self.class_ids.index(i) for name, i in self.labels.items() if i in self.class_ids}

    def map_line(self) -> str:
        """What the command prints: which model class each of the data's classes is."""
        if self.prompted:
            train, heldout = self.captions("train"), self.captions("heldout")
            return (
                f"prompts: the captions of {self.data.path}: {len(train)} to train on, {len(heldout)} held out "
                "for the evaluation"
            )
        if self.class_ids is None:
            return (
                f"the pipeline's model takes no class: its images are compared with all of {self.data.path}'s "
                "as one class"
            )
        names: dict[int, list[str]] = {}
        for name, i in self.labels.items():
            names.setdefault(i, []).append(name)
        shown = []
        for label, (name, i) in enumerate(zip(self.class_names, self.class_ids)):
            own = names.get(i, [])  # the model's names of the class, shown unless the folder has one of them
            known = not own or _loose(name) in map(_loose, own)
            shown.append(f"{label} {name} -> {i}" + ("" if known else f" ({', '.join(own[:2])})"))
        return "class map (label data class -> model class): " + ", ".join(shown)


def read_class_map(value: str | ClassMap) -> ClassMap:
    """``--class-map``: a JSON file of {class folder: model class id or label name} (or that dict itself)."""
    if isinstance(value, dict):
        mapping = value
    else:
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(f"--class-map: no file at {path}")
        try:
            mapping = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"--class-map {path}: not a readable JSON file ({e})") from None
    if not isinstance(mapping, dict) or not all(
        isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)) for v in mapping.values()
    ):
        raise ValueError(f"--class-map {value}: must be a JSON object of class folder -> model class id or label name")
    return mapping


def class_ids_of(names: tuple[str, ...], labels: dict[str, int], explicit: ClassMap | None) -> tuple[int, ...]:
    """The model's class id of each data class: from ``explicit`` ({folder: id or label name}, which
    must name every class and nothing else), else by name (a label of the pipeline, matched ignoring
    case, spaces, ``_`` and ``-``, or the class id itself); one line naming what matches nothing."""
    if explicit is not None:
        unknown = sorted(set(explicit) - set(names))
        missing = [name for name in names if name not in explicit]
        if unknown or missing:
            problem = f"names no class {unknown}" if unknown else f"misses the classes {missing}"
            raise ValueError(f"--class-map {problem}; the data's classes are {list(names)}")
        return tuple(_model_class(explicit[name], labels, f"--class-map's {name!r}") for name in names)
    ids, unmatched = [], []
    for name in names:
        try:
            ids.append(_model_class(name, labels, name))
        except ValueError:
            unmatched.append(name)
    if unmatched:
        known = f" (its labels are names such as {', '.join(list(labels)[:3])})" if labels else ""
        raise ValueError(
            f"the data's classes {unmatched} are no label of the pipeline{known} nor a class id; give "
            "--class-map FILE.json, {class folder: model class id or label name}"
        )
    return tuple(ids)


def _model_class(value: int | str, labels: dict[str, int], what: str) -> int:
    """A model class given by id or by one of the pipeline's label names (exactly, or ignoring case,
    spaces, ``_`` and ``-``)."""
    if isinstance(value, int):
        return value
    if value in labels:
        return labels[value]
    loose = {_loose(name): i for name, i in labels.items()}
    if _loose(value) in loose:
        return loose[_loose(value)]
    if value.isascii() and value.isdigit():
        return int(value)
    raise ValueError(f"{what}: {value!r} is no label of the pipeline nor a class id")


def _loose(name: str) -> str:
    return re.sub(r"[\s_-]+", " ", name).strip().lower()


def read_pipeline(
    path: str,
    data: str,
    class_map: str | ClassMap | None,
    num_steps: int | None,
    device: str | torch.device,
    micro_batch: int | None = None,
) -> tuple[PipelineSource, DiffusersProcess]:
    """The pipeline at ``path`` as a process of ``num_steps`` (default: the pipeline's own) with the
    class map of ``data``'s classes (a text-to-image pipeline: on ``data``'s training captions), and
    the source; every input checked before the images are read."""
    if not Path(data).exists():
        raise FileNotFoundError(f"--data: no such file or folder: {data}")
    explicit = None if class_map is None else read_class_map(class_map)
    pipeline = load_pipeline(path, device)
    labels = pipeline_labels(pipeline)
    prompted = is_text_pipeline(pipeline)
    if prompted:
        if not is_captioned(data):
            raise ValueError(
                f"{path} is a text-to-image pipeline: --data must be a folder of images with captions, a "
                'metadata.jsonl of {"file_name": ..., "text": ...} per line'
            )
        if explicit is not None:
            raise ValueError("--class-map: a text-to-image pipeline's labels are captions; leave it out")
        source = DataSource(str(Path(data).resolve()), 3)
        names = tuple(split_captions(source.path, "train", source.heldout_fraction, source.split_seed))
        try:  # the evaluation's captions, checked now: a training run must not end on their absence
            split_captions(source.path, "heldout", source.heldout_fraction, source.split_seed)
        except ValueError:
            raise ValueError(
                f"{data}: {len(names)} distinct caption(s); {100 * source.heldout_fraction:.0f} % of the captions "
                "are held out for the evaluation, so give at least 3"
            ) from None
        process = DiffusersProcess.from_pipeline(pipeline, num_steps, prompts=names, micro_batch=micro_batch)
        class_ids = None
    else:
        names = read_class_names(data)
        process = DiffusersProcess.from_pipeline(pipeline, num_steps, micro_batch=micro_batch)
        if process.class_ids is None:
            if explicit is not None:
                raise ValueError(
                    f"--class-map: {path}'s model takes no class, so there is nothing to map; leave it out "
                    "(its images are compared with all of yours, as one class)"
                )
            class_ids, names = None, ("all",)
        else:
            class_ids = class_ids_of(names, labels, explicit)
            process = DiffusersProcess.from_pipeline(pipeline, num_steps, class_ids=class_ids, micro_batch=micro_batch)
    images = load_images(data, "all", LEVELS, channels=process.image_channels)  # read once, to check them
    shape = (process.image_channels, *process.image_shape)
    if (images.channels, *images.image_shape) != shape:
        raise ValueError(
            f"{path} makes {'x'.join(map(str, shape))} images, but {data} holds "
            f"{'x'.join(map(str, (images.channels, *images.image_shape)))} ones (channels x height x width); "
            "resize your images to the pipeline's size"
        )
    source = DataSource(str(Path(data).resolve()), images.channels)
    return PipelineSource(_shown_path(path), source, names, class_ids, labels, prompted, pipeline, micro_batch), process


def _shown_path(path: str) -> str:
    """A folder resolved (a card then finds it from anywhere), a hub id as it is."""
    return str(Path(path).resolve()) if Path(path).exists() else path
