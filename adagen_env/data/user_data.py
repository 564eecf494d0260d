"""Your own images end to end: a generator trained on them, the feature networks that evaluate it.

``adagen generator`` trains one of our small diffusion or flow generators on a folder (or
``.npz``) of images and writes a generator file: the model plus what it was trained on (the
paradigm, the data path, channels and the train/held-out split), so that ``adagen train``
rewards with the same training images and ``adagen eval`` scores against held-out images the
generator never saw. ``adagen features`` trains the evaluation's feature networks on the same
training images: a classifier (when the data have two or more classes) and the label-free
denoising autoencoder. Without a features file only the pixel space is used.

Both files hold plain types and tensors only (read with ``weights_only=True``).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import torch

from adagen_env.data.datasets import ImageDataset, Split, load_images
from adagen_env.evaluation.metrics import NEAREST_NEIGHBOURS, Evaluator
from adagen_env.models.checkpoints import read_config, read_metadata, read_training, save_model
from adagen_env.models.classifier import DigitClassifier
from adagen_env.models.denoiser import Denoiser
from adagen_env.models.encoder import DigitAutoencoder, EncoderConfig
from adagen_env.processes import DiffusionProcess, FlowProcess
from adagen_env.processes.continuous import ContinuousProcess
from adagen_env.runtime.files import atomic_save, read_torch_file
from adagen_env.training.train_classifier import EPOCHS as CLASSIFIER_EPOCHS
from adagen_env.training.train_classifier import train_classifier
from adagen_env.training.train_encoder import STEPS as ENCODER_STEPS
from adagen_env.training.train_encoder import train_encoder

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
) -> tuple[DigitClassifier | None, DigitAutoencoder]:
    """The evaluation's networks trained on ``train``: a classifier if it has two or more classes
    (one class has nothing to classify: its spaces are then the label-free ones), and the autoencoder."""
    classifier = train_classifier(train, classifier_epochs, log=False) if train.num_classes > 1 else None
    return classifier, train_encoder(train, encoder_steps)


def save_features(
    path: str | Path,
    classifier: DigitClassifier | None,
    encoder: DigitAutoencoder,
    image_shape: tuple[int, int, int],
    info: dict,
) -> None:
    """The evaluation's networks for one kind of image, in one file (written atomically)."""
    atomic_save(
        {
            "image_shape": list(image_shape),
            "classifier": None
            if classifier is None
            else {
                "num_classes": classifier.num_classes,
                "channels": classifier.channels,
                "state_dict": classifier.state_dict(),
            },
            "encoder": {"config": asdict(encoder.config), "state_dict": encoder.state_dict()},
            "info": info,
        },
        path,
    )


def load_features(path: str | Path) -> tuple[DigitClassifier | None, DigitAutoencoder, tuple[int, int, int]]:
    """The networks of a features file (frozen) and the (C, H, W) of the images they take."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no features file at {path}")
    saved = read_torch_file(path)  # a file that asks to run code, or a broken one, is refused here
    try:
        encoder = DigitAutoencoder(EncoderConfig(**saved["encoder"]["config"]))
        encoder.load_state_dict(saved["encoder"]["state_dict"])
        classifier = None
        if saved["classifier"] is not None:
            c = saved["classifier"]
            classifier = DigitClassifier(c["num_classes"], c["channels"])
            classifier.load_state_dict(c["state_dict"])
        image_shape = tuple(saved["image_shape"])
    except Exception as e:  # unpickling, missing keys, mismatched weights: all mean "not a features file"
        raise ValueError(
            f"{path}: not a features file of adagen features ({type(e).__name__}: {e})".splitlines()[0]
        ) from e
    for network in (classifier, encoder):
        if network is not None:
            network.eval().requires_grad_(False)
    return classifier, encoder, image_shape


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
    classifier, encoder, image_shape = load_features(features)
    shape = (reference.channels, *reference.image_shape)
    if tuple(image_shape) != shape:
        raise ValueError(
            f"{features} was trained on {'x'.join(map(str, image_shape))} images, "
            f"but these are {'x'.join(map(str, shape))}"
        )
    if classifier is not None and classifier.num_classes != reference.num_classes:
        raise ValueError(
            f"{features} knows {classifier.num_classes} classes, but the images have {reference.num_classes}"
        )
    spaces = ("classifier", "encoder", "pixels") if classifier is not None else ("encoder", "pixels")
    return Evaluator(
        reference,
        device,
        classifier=None if classifier is None else classifier.to(device),
        spaces=spaces,
        encoder=encoder.to(device),
    )
