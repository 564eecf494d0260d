"""Image data sets: the embedded 8x8 digits, or a user's own images, behind one API.

Images are held as integer grey levels ``0 .. levels-1`` (the token vocabulary of the
discrete generators); ``to_float`` maps them to ``[0, 1]`` for the continuous ones and the
classifier. The embedded data are scikit-learn's copy of the UCI "Optical Recognition of
Handwritten Digits" set (Alpaydin and Kaynak, 1998; CC BY 4.0), 1,797 images, 10 classes,
17 grey levels, with a fixed stratified held-out split of 500 images (50 per class).
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

DIGITS_PATH = Path(__file__).resolve().parent / "data" / "digits.npz"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
Split = Literal["train", "heldout", "all"]


@dataclass(frozen=True)
class ImageDataset:
    """Grey-level images with class labels and the split they belong to."""

    images: np.ndarray  # uint8 (N, H, W), values in 0 .. levels-1
    labels: np.ndarray  # int64 (N,)
    levels: int
    num_classes: int

    def __post_init__(self) -> None:
        if len(self.images) == 0:
            raise ValueError("the data set holds no images")
        if self.images.ndim != 3 or len(self.images) != len(self.labels):
            raise ValueError(
                f"expected images (N, H, W) and labels (N,), got {self.images.shape} and {self.labels.shape}"
            )
        if self.images.max() >= self.levels:
            raise ValueError(f"grey levels must lie in 0..{self.levels - 1}, found {self.images.max()}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.images.shape[1], self.images.shape[2]

    def tokens(self) -> torch.Tensor:
        """Images as a (N, H*W) long tensor of grey levels: the discrete generators' view."""
        return torch.from_numpy(self.images.reshape(len(self), -1).astype(np.int64))

    def to_float(self) -> torch.Tensor:
        """Images as a (N, 1, H, W) float tensor in [0, 1]."""
        return torch.from_numpy(self.images).float().unsqueeze(1) / (self.levels - 1)

    def label_tensor(self) -> torch.Tensor:
        return torch.from_numpy(self.labels)


def load_digits(split: Split = "train") -> ImageDataset:
    """The embedded digits; ``split`` picks the fixed training or held-out part, or both."""
    with np.load(DIGITS_PATH) as f:
        images, labels, heldout = f["images"], f["labels"], f["heldout"]
    return ImageDataset(*_select(images, labels, heldout, split), levels=17, num_classes=10)


def load_images(
    path: str | Path, split: Split = "all", levels: int = 17, heldout_fraction: float = 0.2, seed: int = 0
) -> ImageDataset:
    """A user's images with the same API as :func:`load_digits`.

    ``path`` is either an ``.npz`` with ``images`` (N, H, W) grey levels and optional
    ``labels`` and ``heldout`` arrays, or a folder of image files. In a folder, images in
    sub-folders take the position of their sub-folder, in sorted order, as their label
    (sub-folders without images are skipped); a folder without sub-folders is one class,
    label 0. Colour images are converted to grey and quantised to ``levels``. Without a
    stored split, a fixed ``heldout_fraction`` is drawn with ``seed``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if path.is_dir():
        images, labels = _read_folder(path, levels)
        heldout = None
    elif path.suffix == ".npz":
        images, labels, heldout = _read_npz(path, levels)
    else:
        raise ValueError(f"{path} is neither a folder of images nor an .npz file")
    if heldout is None:
        heldout = np.zeros(len(images), dtype=bool)
        rng = np.random.default_rng(seed)
        heldout[rng.permutation(len(images))[: int(round(heldout_fraction * len(images)))]] = True
    num_classes = int(labels.max()) + 1
    return ImageDataset(*_select(images, labels, heldout, split), levels=levels, num_classes=num_classes)


def _select(images: np.ndarray, labels: np.ndarray, heldout: np.ndarray, split: Split):
    if split == "all":
        return images, labels
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train', 'heldout' or 'all', not {split!r}")
    keep = heldout if split == "heldout" else ~heldout
    return images[keep], labels[keep]


def _quantise(grey: np.ndarray, levels: int) -> np.ndarray:
    """8-bit grey (0..255) to ``levels`` evenly spaced levels."""
    return np.rint(grey.astype(np.float64) * (levels - 1) / 255.0).astype(np.uint8)


def _read_folder(folder: Path, levels: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    def image_files(d: Path) -> list[Path]:
        return [f for f in sorted(d.iterdir()) if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]

    top_level = image_files(folder)
    class_dirs = [d for d in sorted(folder.iterdir()) if d.is_dir() and image_files(d)]
    if top_level and class_dirs:
        raise ValueError(
            f"{folder} holds both images and class sub-folders; put every image in a class sub-folder, "
            "or use no sub-folders (one class)"
        )
    files = [(0, f) for f in top_level] + [(i, f) for i, d in enumerate(class_dirs) for f in image_files(d)]
    if not files:
        raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {folder} or its sub-folders")
    images, labels = [], []
    for label, f in files:
        try:
            with Image.open(f) as im:
                images.append(np.asarray(im.convert("L")))
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"cannot read image {f}: {e}") from e
        labels.append(label)
    shapes = sorted({im.shape for im in images})
    if len(shapes) > 1:
        raise ValueError(f"images in {folder} have mixed sizes {shapes}; resize them to one size first")
    return _quantise(np.stack(images), levels), np.asarray(labels, dtype=np.int64)


def _read_npz(path: Path, levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"cannot read {path}: {e}") from e
    if "images" not in arrays:
        raise ValueError(f"{path} has no 'images' array (found {sorted(arrays)})")
    images = arrays["images"]
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"'images' in {path} must be a non-empty (N, H, W) array, got shape {images.shape}")
    if images.min() < 0 or images.max() >= levels or not np.array_equal(images, np.round(images)):
        raise ValueError(f"'images' in {path} must hold integer grey levels 0..{levels - 1}")
    labels = arrays.get("labels", np.zeros(len(images), dtype=np.int64)).astype(np.int64)
    heldout = arrays["heldout"].astype(bool) if "heldout" in arrays else None
    for name, array in (("labels", labels), ("heldout", heldout)):
        if array is not None and array.shape != (len(images),):
            raise ValueError(f"'{name}' in {path} must have shape ({len(images)},), got {array.shape}")
    return images.astype(np.uint8), labels, heldout
