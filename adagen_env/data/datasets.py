"""Image data sets: the embedded 8x8 digits, or a user's own images, behind one API.

Images are held as integer levels ``0 .. levels-1`` per pixel (the token vocabulary of the
discrete generators), grey (N, H, W) or colour (N, H, W, 3); ``to_float`` maps them to
``[0, 1]`` and channels-first for the continuous generators and the feature networks. The
embedded data are scikit-learn's copy of the UCI "Optical Recognition of Handwritten Digits" set
(Alpaydin and Kaynak, 1998; CC BY 4.0), 1,797 images, 10 classes, 17 grey levels, with a fixed
stratified held-out split of 500 images (50 per class). Every data set names its classes
(``class_names``): the digits "0" to "9", a folder's sub-folder names, an ``.npz``'s own.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from adagen_env.runtime.memory import check_fits

if TYPE_CHECKING:
    from PIL.Image import Image

DIGITS_PATH = Path(__file__).resolve().parent / "digits.npz"
MAX_PIXELS = 1024 * 1024  # per image: the generators and feature networks here are small
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_LEVELS = 256  # images are stored as uint8
DIGIT_LEVELS = 17  # the embedded digits' grey levels
DIGIT_CLASS_NAMES = tuple(str(digit) for digit in range(10))
Split = Literal["train", "heldout", "all"]
CAPTIONS_FILE = "metadata.jsonl"  # a folder's captions, as Hugging Face's imagefolder has them


@dataclass(frozen=True)
class ImageDataset:
    """Grey or colour images with class labels and the split they belong to. ``class_names`` names
    label i by its i-th entry (default: "0", "1", ...), so that a user can ask for a class by name."""

    images: np.ndarray  # uint8 (N, H, W) grey or (N, H, W, 3) colour, values in 0 .. levels-1
    labels: np.ndarray  # int64 (N,)
    levels: int
    num_classes: int
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_levels(self.levels)
        names = tuple(self.class_names) or tuple(str(label) for label in range(self.num_classes))
        _check_class_names(names, self.num_classes, "class_names")
        object.__setattr__(self, "class_names", names)
        if len(self.images) == 0:
            raise ValueError("the data set holds no images")
        colour = self.images.ndim == 4 and self.images.shape[3] == 3
        if not (self.images.ndim == 3 or colour) or len(self.images) != len(self.labels):
            raise ValueError(
                f"expected images (N, H, W) or (N, H, W, 3) and labels (N,), "
                f"got {self.images.shape} and {self.labels.shape}"
            )
        low, high = self.images.min(), self.images.max()
        if low < 0 or high >= self.levels:
            raise ValueError(f"grey levels must lie in 0..{self.levels - 1}, found {low}..{high}")
        low, high = self.labels.min(), self.labels.max()
        if low < 0 or high >= self.num_classes:
            raise ValueError(f"labels must lie in 0..{self.num_classes - 1}, found {low}..{high}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W)."""
        return self.images.shape[1], self.images.shape[2]

    @property
    def channels(self) -> int:
        """1 for grey images, 3 for colour ones."""
        return 1 if self.images.ndim == 3 else 3

    def tokens(self) -> torch.Tensor:
        """Grey images as a (N, H*W) long tensor of levels: the discrete generators' view."""
        if self.channels != 1:
            raise ValueError("the discrete generators (MaskGIT, VAR) take grey images; load them with channels=1")
        return torch.from_numpy(self.images.reshape(len(self), -1).astype(np.int64))

    def to_float(self) -> torch.Tensor:
        """Images as a (N, C, H, W) float tensor in [0, 1]."""
        images = torch.from_numpy(self.images).float()
        images = images.unsqueeze(1) if self.channels == 1 else images.permute(0, 3, 1, 2).contiguous()
        return images / (self.levels - 1)

    def label_tensor(self) -> torch.Tensor:
        return torch.from_numpy(self.labels)

    def as_one_class(self) -> ImageDataset:
        """The same images as one class, ``all``: the real side of a class-agnostic reward and
        evaluation, for a model that takes no class."""
        return dataclasses.replace(self, labels=np.zeros_like(self.labels), num_classes=1, class_names=("all",))


def load_digits(split: Split = "train") -> ImageDataset:
    """The embedded digits; ``split`` picks the fixed training or held-out part, or both."""
    with np.load(DIGITS_PATH) as f:
        images, labels, heldout = f["images"], f["labels"], f["heldout"]
    return ImageDataset(
        *_select(images, labels, heldout, split),
        levels=DIGIT_LEVELS,
        num_classes=10,
        class_names=DIGIT_CLASS_NAMES,
    )


def load_images(
    path: str | Path,
    split: Split = "train",
    levels: int = MAX_LEVELS,
    heldout_fraction: float = 0.2,
    seed: int = 0,
    channels: int | None = None,
) -> ImageDataset:
    """A user's images with the same API as :func:`load_digits`; the defaults are what the
    ``adagen`` commands train on: the training split, 8-bit values, grey or RGB as the images are.

    ``path`` is either an ``.npz`` with ``images`` (N, H, W) grey or (N, H, W, 3) colour levels
    and optional ``labels``, ``heldout`` and ``class_names`` arrays, or a folder of image files.
    In a folder, images in sub-folders take the position of their sub-folder, in sorted order, as
    their label and its name as their class name (sub-folders without images are skipped); a
    folder without sub-folders is one class, label 0, named after the folder. ``channels=1``
    converts colour images to grey, ``3`` reads every image as RGB (grey ones repeated into three
    channels), ``None`` picks 3 if any image is in colour (for an ``.npz``: the array's own);
    values are quantised to ``levels`` (an ``.npz`` holds them already: its values must lie in
    0..levels-1). Without a stored split, a fixed ``heldout_fraction`` is drawn with ``seed``.

    Folder images are scaled to grey by their mode's full range before quantising: 8-bit
    grey, colour and palette images by 255, 16-bit ones (modes ``I;16*`` and ``I``) by
    65535, float ones (mode ``F``) by 1, and must then lie in [0, 1]. Bad input raises
    ``ValueError`` naming the file and the problem (``FileNotFoundError`` if ``path`` is missing).
    """
    _check_levels(levels)
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 (grey), 3 (RGB) or None (as the images are), not {channels!r}")
    if not 0.0 <= heldout_fraction <= 1.0:
        raise ValueError(f"heldout_fraction must lie in [0, 1], not {heldout_fraction}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if is_captioned(path):
        return _load_captioned(path, split, levels, heldout_fraction, seed, channels)
    if path.is_dir():
        images, labels = _read_folder(path, levels, channels)
        heldout, names = None, _folder_class_names(path)
    elif path.suffix == ".npz":
        images, labels, heldout, stored_names = _read_npz(path, levels, channels)
        names = _npz_class_names(path, stored_names, int(labels.max()) + 1)
    else:
        raise ValueError(f"{path} is neither a folder of images nor an .npz file")
    if heldout is None:
        heldout = np.zeros(len(images), dtype=bool)
        rng = np.random.default_rng(seed)
        heldout[rng.permutation(len(images))[: int(round(heldout_fraction * len(images)))]] = True
    return ImageDataset(
        *_select(images, labels, heldout, split), levels=levels, num_classes=len(names), class_names=names
    )


def read_class_names(path: str | Path) -> tuple[str, ...]:
    """The class names of a user's data set by label, without decoding an image (what a command
    shows, and takes as ``--label``): a folder's class sub-folder names in sorted order (its own
    name when it has no sub-folders), an ``.npz``'s ``class_names`` array, else "0", "1", ..."""
    path = Path(path)
    if is_captioned(path):
        return tuple(dict.fromkeys(text for _, text in read_captions(path)))
    if path.is_dir():
        return _folder_class_names(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            names = f["class_names"] if "class_names" in f.files else None
            labels = f["labels"] if "labels" in f.files else np.zeros(1, dtype=np.int64)
    except Exception as e:  # a broken archive raises EOFError, BadZipFile, zlib.error, OSError, ...
        raise ValueError(f"cannot read {path} as an .npz archive ({type(e).__name__}: {e})") from e
    return _npz_class_names(path, names, int(labels.max()) + 1 if len(labels) else 1)


def is_captioned(path: str | Path) -> bool:
    """Whether ``path`` is a folder of images with captions (a ``metadata.jsonl``)."""
    return (Path(path) / CAPTIONS_FILE).is_file()


def read_captions(folder: str | Path) -> list[tuple[Path, str]]:
    """The (image file, caption) pairs of a captioned folder's ``metadata.jsonl``, Hugging Face's
    ``imagefolder`` layout: one JSON object per line with ``file_name`` (relative to the folder) and
    ``text``; one line naming the first bad line, missing file or empty caption."""
    folder = Path(folder)
    path = folder / CAPTIONS_FILE
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}, line {number}: not JSON ({e.msg})") from None
        if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str):
            raise ValueError(f'{path}, line {number}: needs {{"file_name": ..., "text": ...}}')
        text = entry.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{path}, line {number}: the caption (text) must be a non-empty string")
        file = folder / entry["file_name"]
        if not file.is_file():
            raise ValueError(f"{path}, line {number}: no image file {file}")
        pairs.append((file, text.strip()))
    if not pairs:
        raise ValueError(f"{path} lists no images")
    return pairs


def split_captions(
    folder: str | Path,
    split: Split,
    heldout_fraction: float = 0.2,
    seed: int = 0,
    pairs: list[tuple[Path, str]] | None = None,
) -> list[str]:
    """The distinct captions of ``split`` of a captioned folder, in the order they first appear: a fixed
    ``heldout_fraction`` of the captions, drawn with ``seed``, is held out with all its images."""
    captions = list(dict.fromkeys(text for _, text in (read_captions(folder) if pairs is None else pairs)))
    heldout = np.zeros(len(captions), dtype=bool)
    order = np.random.default_rng(seed).permutation(len(captions))
    heldout[order[: int(round(heldout_fraction * len(captions)))]] = True
    chosen = {
        "all": captions,
        "train": [c for c, h in zip(captions, heldout) if not h],
        "heldout": [c for c, h in zip(captions, heldout) if h],
    }.get(split)
    if chosen is None:
        raise ValueError(f"split must be 'train', 'heldout' or 'all', not {split!r}")
    if not chosen:
        raise ValueError(f"{folder}: the {split} split holds no caption; add captions or change the held-out fraction")
    return chosen


def _load_captioned(
    folder: Path, split: Split, levels: int, heldout_fraction: float, seed: int, channels: int | None
) -> ImageDataset:
    """A captioned folder as a data set whose classes are the split's distinct captions (in the order
    they first appear), split by caption: no held-out caption has a training image."""
    pairs = read_captions(folder)
    chosen = split_captions(folder, split, heldout_fraction, seed, pairs)
    index = {c: i for i, c in enumerate(chosen)}
    files = [(index[text], file) for file, text in pairs if text in index]
    images, labels = _read_files(folder, files, levels, channels)
    return ImageDataset(images, labels, levels=levels, num_classes=len(chosen), class_names=tuple(chosen))


def _folder_class_names(folder: Path) -> tuple[str, ...]:
    return tuple(d.name for d in _class_folders(folder)) or (folder.resolve().name or "0",)


def _npz_class_names(path: Path, names: np.ndarray | None, num_classes: int) -> tuple[str, ...]:
    """An ``.npz``'s optional ``class_names``: one string per class; "0", "1", ... without it."""
    if names is None:
        return tuple(str(label) for label in range(num_classes))
    if names.dtype.kind != "U" or names.ndim != 1:
        raise ValueError(f"'class_names' in {path} must be a 1-D array of strings, got {names.dtype} {names.shape}")
    named = tuple(str(name) for name in names)
    _check_class_names(named, num_classes, f"'class_names' in {path}")
    return named


def _check_class_names(names: tuple[str, ...], num_classes: int, what: str) -> None:
    """One distinct, non-empty name per class: a name must pick one class."""
    if len(names) != num_classes:
        raise ValueError(f"{what} must name the {num_classes} classes, one each; got {len(names)} names")
    if not all(isinstance(name, str) and name.strip() for name in names) or len(set(names)) != len(names):
        raise ValueError(f"{what} must be distinct, non-empty strings; got {list(names)}")


def _select(images: np.ndarray, labels: np.ndarray, heldout: np.ndarray, split: Split):
    if split == "all":
        return images, labels
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train', 'heldout' or 'all', not {split!r}")
    keep = heldout if split == "heldout" else ~heldout
    return images[keep], labels[keep]


def _check_levels(levels: int) -> None:
    """Levels index uint8 grey values, and one level cannot tell anything apart."""
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or not 2 <= levels <= MAX_LEVELS:
        raise ValueError(f"levels must be an int in 2..{MAX_LEVELS}, not {levels!r}")


def _quantise(grey: np.ndarray, full_scale: float, levels: int) -> np.ndarray:
    """Grey values in 0 .. ``full_scale`` to ``levels`` evenly spaced levels."""
    return np.rint(grey.astype(np.float64) * (levels - 1) / full_scale).astype(np.uint8)


GREY_MODES = ("1", "L", "LA", "I", "F")  # and the 16-bit "I;16*" modes


def _is_colour(im: Image) -> bool:
    return not (im.mode in GREY_MODES or im.mode.startswith("I;16"))


def _pixels(im: Image, file: Path, channels: int) -> tuple[np.ndarray, float]:
    """One image as grey (H, W) or RGB (H, W, 3) values with the full scale of its mode."""
    if channels == 3 and _is_colour(im):
        try:
            return np.asarray(im.convert("RGB")), 255.0
        except ValueError as e:  # modes PIL cannot turn RGB
            raise ValueError(f"cannot convert image {file} (mode {im.mode!r}) to RGB: {e}") from e
    grey, full_scale = _grey(im, file)
    return (np.repeat(grey[..., None], 3, axis=2) if channels == 3 else grey), full_scale


def _grey(im: Image, file: Path) -> tuple[np.ndarray, float]:
    """One image as grey values with the full scale of its mode.

    PIL's ``convert("L")`` clips 16-bit and float images to 0..255 (a 16-bit image turns
    almost all white), so those are read as they are and scaled by their own range.
    """
    if im.mode == "F":
        grey = np.asarray(im, dtype=np.float64)
        if not np.isfinite(grey).all() or grey.min() < 0.0 or grey.max() > 1.0:
            raise ValueError(
                f"float image {file} has values in [{grey.min()}, {grey.max()}]; mode 'F' images must lie in [0, 1]"
            )
        return grey, 1.0
    if im.mode == "I" or im.mode.startswith("I;16"):
        grey = np.asarray(im, dtype=np.float64)
        if grey.min() < 0 or grey.max() > 65535:
            raise ValueError(
                f"16-bit image {file} (mode {im.mode!r}) has values in [{grey.min():.0f}, {grey.max():.0f}]; "
                "they must lie in 0..65535"
            )
        return grey, 65535.0
    try:
        return np.asarray(im.convert("L")), 255.0
    except ValueError as e:  # modes PIL cannot turn grey, such as LAB
        raise ValueError(f"cannot convert image {file} (mode {im.mode!r}) to grey: {e}") from e


def _image_files(folder: Path) -> list[Path]:
    return [f for f in sorted(folder.iterdir()) if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]


def _class_folders(folder: Path) -> list[Path]:
    """The sub-folders that hold images, sorted: their positions are the labels, their names the class names."""
    return [d for d in sorted(folder.iterdir()) if d.is_dir() and _image_files(d)]


def _read_folder(folder: Path, levels: int, channels: int | None) -> tuple[np.ndarray, np.ndarray]:
    top_level = _image_files(folder)
    class_dirs = _class_folders(folder)
    if top_level and class_dirs:
        raise ValueError(
            f"{folder} holds both images and class sub-folders; put every image in a class sub-folder, "
            "or use no sub-folders (one class)"
        )
    files = [(0, f) for f in top_level] + [(i, f) for i, d in enumerate(class_dirs) for f in _image_files(d)]
    if not files:
        raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {folder} or its sub-folders")
    return _read_files(folder, files, levels, channels)


def _read_files(
    folder: Path, files: list[tuple[int, Path]], levels: int, channels: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Images (label, file) of one size, quantised to ``levels``, grey or RGB as ``channels`` says."""
    from PIL import Image, UnidentifiedImageError

    def open_image(f: Path):
        try:
            im = Image.open(f)  # reads the header only: the size is known before any pixel is decoded
        except Image.DecompressionBombError:
            raise ValueError(f"{f}: an image of too many pixels (at most {MAX_PIXELS:,} are taken)") from None
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"cannot read image {f}: {e}") from e
        if im.width * im.height > MAX_PIXELS:
            im.close()
            raise ValueError(
                f"{f}: {im.width}x{im.height} pixels; images of at most {MAX_PIXELS:,} pixels are "
                "taken (downscale them first)"
            )
        return im

    with open_image(files[0][1]) as first:  # all images are one size: the first tells what the data set needs
        _check_memory(folder, len(files), first.width * first.height * (channels or 3))

    if channels is None:
        channels = 1
        for _, f in files:
            with open_image(f) as im:
                if _is_colour(im):
                    channels = 3
                    break
    images, labels = [], []
    for label, f in files:
        try:
            with open_image(f) as im:
                pixels, full_scale = _pixels(im, f, channels)
        except OSError as e:  # a truncated file fails when its pixels are read
            raise ValueError(f"cannot read image {f}: {e}") from e
        images.append(_quantise(pixels, full_scale, levels))
        labels.append(label)
    sizes = sorted({im.shape[:2] for im in images})
    if len(sizes) > 1:
        examples = {im.shape[:2]: f for im, (_, f) in zip(images, files)}
        named = ", ".join(f"{h}x{w} (e.g. {examples[(h, w)]})" for h, w in sizes[:4])
        raise ValueError(f"images in {folder} have mixed sizes: {named}; resize them to one size first")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _check_memory(source: Path, images: int, values_per_image: int) -> None:
    """The data set as integer levels and once as float32 (``to_float``) must fit in the memory available."""
    check_fits(
        f"{source} ({images:,} images of {values_per_image:,} values)",
        images * values_per_image * (8 + 4),
        "use fewer or smaller images",
    )


def _read_npz(
    path: Path, levels: int, channels: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """images, labels, the stored held-out mask and class names (``None`` where not stored)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:  # a broken archive raises EOFError, BadZipFile, zlib.error, OSError, ...
        raise ValueError(f"cannot read {path} as an .npz archive ({type(e).__name__}: {e})") from e
    if "images" not in arrays:
        raise ValueError(f"{path} has no 'images' array (found {sorted(arrays)})")
    images = arrays["images"]
    colour = images.ndim == 4 and images.shape[3] == 3
    if not (images.ndim == 3 or colour) or len(images) == 0:
        raise ValueError(
            f"'images' in {path} must be a non-empty (N, H, W) or (N, H, W, 3) array, got shape {images.shape}"
        )
    if images.shape[1] * images.shape[2] > MAX_PIXELS:
        raise ValueError(
            f"'images' in {path} are {images.shape[1]}x{images.shape[2]} pixels; images of at most "
            f"{MAX_PIXELS:,} pixels are taken (downscale them first)"
        )
    if not _is_numeric(images) or not _is_whole(images) or images.min() < 0 or images.max() >= levels:
        raise ValueError(f"'images' in {path} must hold integer grey levels 0..{levels - 1} (per channel)")
    if channels == 1 and colour:
        raise ValueError(f"'images' in {path} are colour (N, H, W, 3); load them with channels=3 or None")
    if channels == 3 and not colour:
        images = np.repeat(images[..., None], 3, axis=3)
    n = len(images)
    labels = _npz_labels(path, arrays.get("labels"), n)
    heldout = _npz_heldout(path, arrays.get("heldout"), n)
    return images.astype(np.uint8), labels, heldout, arrays.get("class_names")


def _is_numeric(array: np.ndarray) -> bool:
    return array.dtype.kind in "biuf"


def _is_whole(array: np.ndarray) -> bool:
    """All values integers (NaN and inf are not); integer-valued floats count."""
    return bool(np.array_equal(array, np.round(array)))


def _check_shape(path: Path, name: str, array: np.ndarray, n: int) -> None:
    if array.shape != (n,):
        raise ValueError(f"'{name}' in {path} must have shape ({n},), got {array.shape}")


def _npz_labels(path: Path, labels: np.ndarray | None, n: int) -> np.ndarray:
    """Labels index classes, so they must be whole and non-negative; a cast would hide 1.5 or -1."""
    if labels is None:
        return np.zeros(n, dtype=np.int64)
    _check_shape(path, "labels", labels, n)
    if labels.dtype.kind not in "iuf":
        raise ValueError(f"'labels' in {path} must be non-negative integers, got dtype {labels.dtype}")
    bad = (labels != np.round(labels)) | (labels < 0)  # NaN != NaN, so NaN is caught too
    if bad.any():
        raise ValueError(f"'labels' in {path} must be non-negative integers, found {labels[bad][0]}")
    labels = labels.astype(np.int64)
    missing = sorted(set(range(labels.max() + 1)) - set(labels.tolist())) if n else []
    if missing:  # classes 0..C-1 with none empty: an empty class would be asked for and never seen
        shown = ", ".join(map(str, missing[:8])) + (", ..." if len(missing) > 8 else "")
        raise ValueError(
            f"'labels' in {path} must be the classes 0..C-1 with none missing; no images of class "
            f"{shown} (number the classes 0..{len(set(labels.tolist())) - 1} instead)"
        )
    return labels


def _npz_heldout(path: Path, heldout: np.ndarray | None, n: int) -> np.ndarray | None:
    """The stored split: a mask of 0/1 or booleans; any other value (2, 0.5) is a mistake, not True."""
    if heldout is None:
        return None
    _check_shape(path, "heldout", heldout, n)
    if not _is_numeric(heldout):
        raise ValueError(f"'heldout' in {path} must hold only booleans or 0/1, got dtype {heldout.dtype}")
    bad = ~np.isin(heldout, (0, 1))
    if bad.any():
        raise ValueError(f"'heldout' in {path} must hold only booleans or 0/1, found {heldout[bad][0]}")
    return heldout.astype(bool)
