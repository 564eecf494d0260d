"""Your own images end to end: a generator trained on them, the feature networks that evaluate it.

``adagen generator`` trains one of our small diffusion or flow generators on a folder (or
``.npz``) of images and writes a generator file: the model plus what it was trained on (the
paradigm, the data path, channels and the train/held-out split), so that ``adagen train``
rewards with the same training images and ``adagen eval`` scores against held-out images the
generator never saw. ``adagen features`` trains the evaluation's ensemble of feature networks
(:mod:`adagen_env.models.feature_networks`) on the same training images: the two classifiers
(when the data have two or more classes) and the three label-free networks. Without a features
file only the pixel space is used.

Both files hold plain types and tensors only (read with ``weights_only=True``).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import torch
from torch import nn

from adagen_env.data.datasets import ImageDataset, Split, load_images
from adagen_env.evaluation.metrics import NEAREST_NEIGHBOURS, NETWORK_SPACES, Evaluator
from adagen_env.models.checkpoints import read_config, read_metadata, read_training, save_model
from adagen_env.models.denoiser import Denoiser
from adagen_env.models.feature_networks import NETWORKS
from adagen_env.processes import DiffusionProcess, FlowProcess
from adagen_env.processes.continuous import ContinuousProcess
from adagen_env.runtime.files import atomic_save, read_torch_file
from adagen_env.training.train_classifier import EPOCHS as CLASSIFIER_EPOCHS
from adagen_env.training.train_classifier import train_classifier
from adagen_env.training.train_encoder import STEPS as ENCODER_STEPS
from adagen_env.training.train_encoder import train_encoder
from adagen_env.training.train_feature_networks import (
    AUTOENCODER_STEPS,
    CONTRASTIVE_STEPS,
    MLP_EPOCHS,
    train_contrastive,
    train_conv_autoencoder,
    train_mlp_classifier,
)

GENERATOR_PROCESSES: dict[str, type[ContinuousProcess]] = {"diffusion": DiffusionProcess, "flow": FlowProcess}
LEVELS = 256  # continuous generators see the images' own 8-bit values
MIN_SIZE = 8  # smallest height and width the feature networks take
HELDOUT_FRACTION = 0.2
SPLIT_SEED = 0


@dataclass(frozen=True)
class DataSource:
    """Where a user's images are and how they are split: what a generator file records."""

    path: str
    channels: int
    heldout_fraction: float = HELDOUT_FRACTION
    split_seed: int = SPLIT_SEED

    def load(self, split: Split) -> ImageDataset:
        data = load_images(self.path, split, LEVELS, self.heldout_fraction, self.split_seed, self.channels)
        if len(data) <= NEAREST_NEIGHBOURS:
            raise ValueError(
                f"{self.path}: its {split} split holds {len(data)} images; it needs more than {NEAREST_NEIGHBOURS}"
            )
        return data


def data_source(
    path: str | Path,
    channels: int | None = None,
    heldout_fraction: float = HELDOUT_FRACTION,
    split_seed: int = SPLIT_SEED,
) -> DataSource:
    """A user's images as a source (``channels=None``: RGB if any image is in colour); images the
    generators and feature networks cannot take are refused here, before any work."""
    everything = load_images(path, "all", LEVELS, heldout_fraction, split_seed, channels)
    h, w = everything.image_shape
    if min(h, w) < MIN_SIZE:
        raise ValueError(f"{path}: images of {h}x{w} pixels; they must be at least {MIN_SIZE}x{MIN_SIZE}")
    return DataSource(str(Path(path).resolve()), everything.channels, heldout_fraction, split_seed)


# ---------------------------------------------------------------------- generator files


def save_generator(
    model: Denoiser, path: str | Path, paradigm: str, source: DataSource, steps: int, training: dict | None = None
) -> None:
    """A generator file: the model (an exponential moving average of its weights), what it was trained on,
    the steps taken, and, while the run is unfinished, the ``training`` state it resumes from."""
    save_model(model, path, {"paradigm": paradigm, "data": asdict(source), "steps": steps}, training)


@dataclass(frozen=True)
class GeneratorFile:
    """A generator file of ``adagen generator``: its paradigm, the data it was trained on, the steps
    it took, and the training state of an unfinished run (``None`` once it finished)."""

    path: str
    paradigm: str
    source: DataSource
    steps: int | None = None
    training: dict | None = None

    def process(self, device: str | torch.device = "cpu", solver: str | None = None) -> ContinuousProcess:
        return GENERATOR_PROCESSES[self.paradigm].from_checkpoint(self.path, device, solver)

    @cached_property
    def sha256(self) -> str:
        """The file's content hash: what a policy trained for this generator records and checks."""
        return hashlib.sha256(Path(self.path).read_bytes()).hexdigest()


def read_generator(path: str | Path, data: str | Path | None = None) -> GeneratorFile:
    """The generator file at ``path``; ``data`` replaces the data path it recorded (same split)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no generator file at {path}")
    metadata = read_metadata(path)
    paradigm = metadata.get("paradigm")
    if paradigm not in GENERATOR_PROCESSES:
        known = f"a {paradigm} generator" if paradigm else "no paradigm"
        raise ValueError(f"{path} holds {known}; adagen takes diffusion or flow generators written by adagen generator")
    if not isinstance(metadata.get("data"), dict):
        raise ValueError(
            f"{path} records no training data (a shipped generator?); train one with adagen generator --data"
        )
    source = DataSource(**metadata["data"])
    if data is not None:
        source = DataSource(str(Path(data).resolve()), source.channels, source.heldout_fraction, source.split_seed)
    if not Path(source.path).exists():
        raise FileNotFoundError(f"{path} was trained on {source.path}, which is not there any more; pass --data")
    check_generator_fits(path, source)
    return GeneratorFile(str(path), paradigm, source, metadata.get("steps"), read_training(path))


def check_generator_fits(path: str | Path, source: DataSource) -> None:
    """The images at ``source`` must be of the generator's kind: its classes, size and channels (one line otherwise)."""
    config = read_config(path)
    data = load_images(source.path, "all", LEVELS, source.heldout_fraction, source.split_seed, source.channels)
    made, found = tuple(config["image_shape"]), (data.channels, *data.image_shape)
    if made != found:
        raise ValueError(
            f"{path} makes {'x'.join(map(str, made))} images, but {source.path} holds "
            f"{'x'.join(map(str, found))} ones (channels x height x width); pass the data it was trained on"
        )
    if config["num_classes"] != data.num_classes:
        raise ValueError(
            f"{path} generates {config['num_classes']} classes, but {source.path} holds "
            f"{data.num_classes}; pass the data it was trained on"
        )


# ---------------------------------------------------------------------- feature networks


def train_feature_networks(
    train: ImageDataset, classifier_epochs: int = CLASSIFIER_EPOCHS, encoder_steps: int = ENCODER_STEPS
) -> dict[str, nn.Module]:
    """The evaluation's ensemble trained on ``train``, by space name: the two classifiers if it has
    two or more classes (one class has nothing to classify), and the three label-free networks.
    ``classifier_epochs`` sets the CNN classifier's epochs and ``encoder_steps`` the MLP
    autoencoder's steps; the others' lengths scale with them from their own defaults."""

    def scaled(value: int, default: int, own: int) -> int:
        return max(1, round(own * value / default))

    trainers = {
        "classifier": lambda: train_classifier(train, classifier_epochs, log=False),
        "encoder": lambda: train_encoder(train, encoder_steps),
        "mlp_classifier": lambda: train_mlp_classifier(train, scaled(classifier_epochs, CLASSIFIER_EPOCHS, MLP_EPOCHS)),
        "conv_autoencoder": lambda: train_conv_autoencoder(
            train, scaled(encoder_steps, ENCODER_STEPS, AUTOENCODER_STEPS)
        ),
        "contrastive": lambda: train_contrastive(train, scaled(encoder_steps, ENCODER_STEPS, CONTRASTIVE_STEPS)),
    }
    return {
        name: train_network()
        for name, train_network in trainers.items()
        if train.num_classes > 1 or not NETWORKS[name].needs_labels
    }


def save_features(
    path: str | Path, networks: dict[str, nn.Module], image_shape: tuple[int, int, int], info: dict
) -> None:
    """The evaluation's networks for one kind of image, by space name, in one file (written atomically)."""
    atomic_save(
        {
            "image_shape": list(image_shape),
            "networks": {
                name: {"config": NETWORKS[name].config(network), "state_dict": network.state_dict()}
                for name, network in networks.items()
            },
            "info": info,
        },
        path,
    )


def load_features(path: str | Path) -> tuple[dict[str, nn.Module], tuple[int, int, int]]:
    """The networks of a features file by space name (frozen), and the (C, H, W) of the images they take.
    Files of earlier versions, with a classifier and an encoder only, give those two."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no features file at {path}")
    saved = read_torch_file(path)  # a file that asks to run code, or a broken one, is refused here
    try:
        if "networks" in saved:
            stored = saved["networks"]
        else:  # before the ensemble: {"classifier": {num_classes, channels, state_dict} | None, "encoder": {...}}
            stored = {"encoder": saved["encoder"]}
            if saved["classifier"] is not None:
                c = saved["classifier"]
                stored["classifier"] = {
                    "config": {"num_classes": c["num_classes"], "channels": c["channels"]},
                    "state_dict": c["state_dict"],
                }
        networks = {}
        for name in NETWORK_SPACES:
            if name in stored:
                network = NETWORKS[name].build(dict(stored[name]["config"]))
                network.load_state_dict(stored[name]["state_dict"])
                networks[name] = network.eval().requires_grad_(False)
        unknown = set(stored) - set(NETWORK_SPACES)
        if unknown or not networks:
            raise ValueError(f"unknown networks {sorted(unknown)}" if unknown else "no networks")
        image_shape = tuple(saved["image_shape"])
    except Exception as e:  # unpickling, missing keys, mismatched weights: all mean "not a features file"
        raise ValueError(
            f"{path}: not a features file of adagen features ({type(e).__name__}: {e})".splitlines()[0]
        ) from e
    return networks, image_shape


def features_info(path: str | Path) -> dict:
    """What a features file says about its training (``data``: the images it was trained on, and its scores)."""
    saved = read_torch_file(path)
    return dict(saved.get("info", {})) if isinstance(saved, dict) else {}


def user_evaluator(
    reference: ImageDataset, features: str | Path | None, device: str | torch.device = "cpu"
) -> Evaluator:
    """An evaluator of ``reference``'s kind of image: the features file's spaces and pixels, or pixels alone."""
    if features is None:
        return Evaluator(reference, device, spaces=("pixels",))
    networks, image_shape = load_features(features)
    shape = (reference.channels, *reference.image_shape)
    if tuple(image_shape) != shape:
        raise ValueError(
            f"{features} was trained on {'x'.join(map(str, image_shape))} images, "
            f"but these are {'x'.join(map(str, shape))}"
        )
    for name, network in networks.items():
        if NETWORKS[name].needs_labels and network.num_classes != reference.num_classes:
            raise ValueError(
                f"{features} knows {network.num_classes} classes, but the images have {reference.num_classes}"
            )
    spaces = (*networks, "pixels")
    return Evaluator(reference, device, spaces=spaces, networks={k: v.to(device) for k, v in networks.items()})
