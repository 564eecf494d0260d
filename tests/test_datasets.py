"""The data API: the embedded digits' fixed split and loading a user's own images."""

import struct
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from adagen_env.data.datasets import ImageDataset, load_digits, load_images, read_class_names


def test_digit_split_sizes_and_balance():
    train, heldout, everything = load_digits("train"), load_digits("heldout"), load_digits("all")
    assert (len(train), len(heldout), len(everything)) == (1297, 500, 1797)
    assert heldout.label_tensor().bincount(minlength=10).tolist() == [50] * 10
    assert train.num_classes == heldout.num_classes == 10
    assert train.image_shape == (8, 8)


def test_digit_splits_are_disjoint_and_cover_everything():
    train, heldout, everything = load_digits("train"), load_digits("heldout"), load_digits("all")

    def rows(data):
        return {(img.tobytes(), int(label)) for img, label in zip(data.images, data.labels)}

    assert len(rows(everything)) == 1797  # no exact duplicates, so sets compare images one to one
    assert not rows(train) & rows(heldout)
    assert rows(train) | rows(heldout) == rows(everything)


def test_tokens_and_floats_ranges():
    data = load_digits("heldout")
    tokens, floats = data.tokens(), data.to_float()
    assert tokens.shape == (500, 64) and tokens.dtype == torch.int64
    assert tokens.min() == 0 and tokens.max() == 16
    assert floats.shape == (500, 1, 8, 8) and floats.dtype == torch.float32
    assert floats.min() == 0.0 and floats.max() == 1.0
    assert torch.equal(floats.flatten(1) * 16, tokens.float())


def test_bad_split_name():
    with pytest.raises(ValueError, match="split"):
        load_digits("test")


def _write_png(path, grey):
    Image.fromarray(np.asarray(grey, dtype=np.uint8), mode="L").save(path)


def test_load_folder_with_class_subfolders(tmp_path):
    for name, value in (("a", 0), ("b", 255)):
        (tmp_path / name).mkdir()
        for i in range(5):
            _write_png(tmp_path / name / f"{i}.png", np.full((6, 7), value))
    data = load_images(tmp_path, "all", levels=17)
    assert len(data) == 10 and data.image_shape == (6, 7) and data.num_classes == 2
    assert data.class_names == ("a", "b")
    assert data.labels.tolist() == [0] * 5 + [1] * 5
    assert data.images[data.labels == 0].max() == 0 and data.images[data.labels == 1].min() == 16
    train, heldout = load_images(tmp_path, "train"), load_images(tmp_path, "heldout")
    assert (len(train), len(heldout)) == (8, 2)


def test_load_folder_quantises_colour_to_levels(tmp_path):
    Image.new("RGB", (4, 4), (128, 128, 128)).save(tmp_path / "x.png")
    data = load_images(tmp_path, levels=5)
    assert data.labels.tolist() == [0] and data.images.max() == 2  # 128/255 of 4 steps rounds to 2


def test_load_npz_keeps_stored_split(tmp_path):
    images = np.arange(4 * 3 * 3).reshape(4, 3, 3) % 17
    path = tmp_path / "mine.npz"
    np.savez(path, images=images, labels=np.array([0, 1, 2, 1]), heldout=np.array([False, True, False, False]))
    everything, heldout = load_images(path, "all"), load_images(path, "heldout")
    assert np.array_equal(everything.images, images) and everything.num_classes == 3
    assert heldout.labels.tolist() == [1] and np.array_equal(heldout.images[0], images[1])


def test_load_npz_without_labels_gets_label_zero(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, images=np.zeros((10, 2, 2), dtype=np.uint8))
    data = load_images(path, "all")
    assert data.labels.tolist() == [0] * 10 and data.num_classes == 1


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no image files"):
        load_images(tmp_path)


def test_mixed_sizes(tmp_path):
    _write_png(tmp_path / "a.png", np.zeros((4, 4)))
    _write_png(tmp_path / "b.png", np.zeros((5, 4)))
    with pytest.raises(ValueError, match="mixed sizes"):
        load_images(tmp_path)


def test_unreadable_image(tmp_path):
    (tmp_path / "x.png").write_bytes(b"definitely not a png")
    with pytest.raises(ValueError, match="cannot read image"):
        load_images(tmp_path)


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_images(tmp_path / "nope")


def test_npz_without_images(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, pictures=np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="no 'images'"):
        load_images(path)


def test_npz_grey_levels_out_of_range(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.full((2, 2, 2), 17))
    with pytest.raises(ValueError, match=r"grey levels 0\.\.16"):
        load_images(path, levels=17)
    np.savez(path, images=np.full((2, 2, 2), 256))
    with pytest.raises(ValueError, match=r"grey levels 0\.\.255"):  # the default: 8-bit values
        load_images(path)


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("1,2,3")
    with pytest.raises(ValueError, match="neither"):
        load_images(path)


def test_npz_fractional_grey_levels(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.full((2, 2, 2), 0.5))
    with pytest.raises(ValueError, match="integer grey levels"):
        load_images(path)


def test_npz_float_images_with_integer_values_load(tmp_path):
    path = tmp_path / "mine.npz"  # scikit-learn's digits.images are float64 like this
    np.savez(path, images=np.full((2, 2, 2), 3.0))
    assert load_images(path).images.max() == 3


@pytest.mark.parametrize("extra", [{"labels": np.zeros(3)}, {"heldout": np.zeros(1, dtype=bool)}])
def test_npz_arrays_of_wrong_length(tmp_path, extra):
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.zeros((4, 2, 2), dtype=np.uint8), **extra)
    with pytest.raises(ValueError, match="must have shape"):
        load_images(path, "train")


def test_images_beside_class_subfolders_are_ambiguous(tmp_path):
    (tmp_path / "cats").mkdir()
    _write_png(tmp_path / "loose.png", np.zeros((4, 4)))
    _write_png(tmp_path / "cats" / "a.png", np.zeros((4, 4)))
    with pytest.raises(ValueError, match="both images and class sub-folders"):
        load_images(tmp_path)


def test_empty_subfolders_take_no_label(tmp_path):
    for name in ("a_empty", "b", "c"):
        (tmp_path / name).mkdir()
    _write_png(tmp_path / "b" / "x.png", np.zeros((4, 4)))
    _write_png(tmp_path / "c" / "y.png", np.full((4, 4), 255))
    data = load_images(tmp_path)
    assert sorted(data.labels.tolist()) == [0, 1] and data.num_classes == 2


# --- 16-bit and float images: scaled by their mode's range, not clipped by convert("L") ---


def _sixteen_bit(mode, values):
    """A one-row image of the given 16-bit mode holding ``values`` (0..65535)."""
    values = np.asarray([values], dtype=np.uint16)
    if mode == "I;16":
        return Image.fromarray(values)
    if mode == "I;16B":
        return Image.frombytes("I;16B", (values.shape[1], 1), values.astype(">u2").tobytes())
    return Image.fromarray(values.astype(np.int32))  # mode "I"


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_16_bit_images_scale_by_65535(tmp_path, mode):
    im = _sixteen_bit(mode, [0, 16384, 32768, 65535])
    assert im.mode == mode
    im.save(tmp_path / "x.tif")  # TIFF keeps all three modes as they are
    with Image.open(tmp_path / "x.tif") as reread:
        assert reread.mode == mode
    data = load_images(tmp_path, levels=5)
    assert data.images.tolist() == [[[0, 1, 2, 4]]]  # convert("L") would give [[0, 4, 4, 4]]


def test_16_bit_png_scales_by_65535(tmp_path):
    _sixteen_bit("I;16", [0, 32768, 65535]).save(tmp_path / "x.png")
    assert load_images(tmp_path, levels=3).images.tolist() == [[[0, 1, 2]]]


def test_mode_i_above_16_bits_is_rejected(tmp_path):
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32)).save(tmp_path / "big.tif")
    with pytest.raises(ValueError, match=r"big\.tif.*0\.\.65535"):
        load_images(tmp_path)


def test_float_images_in_unit_range_scale_by_one(tmp_path):
    Image.fromarray(np.array([[0.0, 0.25, 0.5, 1.0]], dtype=np.float32)).save(tmp_path / "f.tif")
    assert load_images(tmp_path, levels=5).images.tolist() == [[[0, 1, 2, 4]]]


@pytest.mark.parametrize("values", [[0.0, 2.0], [-0.5, 1.0], [0.0, np.nan]])
def test_float_images_outside_unit_range_are_rejected(tmp_path, values):
    Image.fromarray(np.array([values], dtype=np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(ValueError, match=r"f\.tif.*values in \[.*must lie in \[0, 1\]"):
        load_images(tmp_path)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Image.new("L", (2, 1), 255),
        lambda: Image.new("RGB", (2, 1), (255, 255, 255)),
        lambda: Image.new("RGBA", (2, 1), (255, 255, 255, 0)),
        lambda: Image.new("RGB", (2, 1), (255, 255, 255)).convert("P"),
    ],
    ids=["L", "RGB", "RGBA", "P"],
)
def test_8_bit_modes_still_convert_to_grey(tmp_path, make):
    make().save(tmp_path / "x.png")
    assert load_images(tmp_path, levels=17, channels=1).images.tolist() == [[[16, 16]]]


def test_mode_without_grey_conversion_is_rejected(tmp_path):
    Image.new("LAB", (2, 2)).save(tmp_path / "lab.tif")
    with pytest.raises(ValueError, match=r"cannot convert image .*lab\.tif \(mode 'LAB'\) to grey"):
        load_images(tmp_path, channels=1)


# --- levels ---


@pytest.mark.parametrize("levels", [0, 1, 257, 4.0, "17", True])
def test_bad_levels_are_rejected(tmp_path, levels):
    _write_png(tmp_path / "x.png", np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"levels must be an int in 2\.\.256"):
        load_images(tmp_path, levels=levels)
    with pytest.raises(ValueError, match=r"levels must be an int in 2\.\.256"):
        ImageDataset(np.zeros((1, 2, 2), dtype=np.uint8), np.zeros(1, dtype=np.int64), levels, 1)


@pytest.mark.parametrize("levels", [2, 256, np.int64(17)])
def test_levels_at_the_limits_are_accepted(tmp_path, levels):
    _write_png(tmp_path / "x.png", np.array([[0, 255]]))
    assert load_images(tmp_path, levels=levels).images.tolist() == [[[0, int(levels) - 1]]]


def test_image_dataset_rejects_labels_outside_its_classes():
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        ImageDataset(np.zeros((2, 2, 2), dtype=np.uint8), np.array([0, 2]), levels=17, num_classes=2)


# --- npz labels, heldout and broken archives ---


def _npz(tmp_path, **arrays):
    path = tmp_path / "mine.npz"
    np.savez(path, images=np.zeros((3, 2, 2), dtype=np.uint8), **arrays)
    return path


@pytest.mark.parametrize(
    "labels",
    [np.array([0, -1, 1]), np.array([0.0, 1.5, 1.0]), np.array([0.0, np.nan, 1.0])],
    ids=["neg", "frac", "nan"],
)
def test_npz_labels_must_be_non_negative_integers(tmp_path, labels):
    with pytest.raises(ValueError, match=r"'labels' in .*mine\.npz must be non-negative integers"):
        load_images(_npz(tmp_path, labels=labels))


def test_npz_labels_must_be_numeric(tmp_path):
    with pytest.raises(ValueError, match=r"'labels' in .*mine\.npz must be non-negative integers"):
        load_images(_npz(tmp_path, labels=np.array(["a", "b", "a"])))


def test_npz_labels_must_be_one_dimensional(tmp_path):
    with pytest.raises(ValueError, match=r"'labels' in .*mine\.npz must have shape \(3,\)"):
        load_images(_npz(tmp_path, labels=np.zeros((3, 1), dtype=np.int64)))


def test_npz_integer_valued_float_labels_load(tmp_path):
    data = load_images(_npz(tmp_path, labels=np.array([0.0, 2.0, 1.0])), "all")
    assert data.labels.tolist() == [0, 2, 1] and data.labels.dtype == np.int64 and data.num_classes == 3


@pytest.mark.parametrize(
    "heldout",
    [np.array([0, 2, 1]), np.array([0.0, 0.5, 1.0]), np.array(["0", "1", "0"]), np.zeros((3, 1), dtype=bool)],
    ids=["two", "half", "strings", "2d"],
)
def test_npz_heldout_must_be_a_0_1_mask_of_length_n(tmp_path, heldout):
    with pytest.raises(ValueError, match=r"'heldout' in .*mine\.npz must"):
        load_images(_npz(tmp_path, heldout=heldout))


def test_npz_heldout_as_0_1_integers_loads(tmp_path):
    path = _npz(tmp_path, labels=np.array([0, 1, 2]), heldout=np.array([0, 1, 0]))
    assert load_images(path, "heldout").labels.tolist() == [1]


def test_empty_npz_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"cannot read .*empty\.npz"):
        load_images(path)


@pytest.mark.parametrize("saver", [np.savez, np.savez_compressed])
def test_truncated_npz_file(tmp_path, saver):
    whole = tmp_path / "whole.npz"
    saver(whole, images=np.arange(2 * 10 * 10).reshape(2, 10, 10) % 17, labels=np.array([0, 1]))
    data = whole.read_bytes()
    for cut in (len(data) // 2, len(data) - 1, 10, 2):  # BadZipFile, or ValueError for 1-3 bytes
        path = tmp_path / "cut.npz"
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=r"cannot read .*cut\.npz"):
            load_images(path)


def test_corrupt_compressed_npz(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez_compressed(path, images=np.zeros((2, 4, 4), dtype=np.uint8))
    with zipfile.ZipFile(path) as z:
        header = z.getinfo("images.npy").header_offset
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack_from("<HH", data, header + 26)  # zip local file header
    data[header + 30 + name_len + extra_len] = 0xFF  # a deflate block of reserved type 3: zlib.error
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"cannot read .*bad\.npz.*error"):
        load_images(path)


def test_npy_file_named_npz(tmp_path):
    path = tmp_path / "array.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"cannot read .*array\.npz"):
        load_images(path)


# --- the defaults and the class names ---


def test_load_images_defaults_are_what_the_commands_train_on(tmp_path):
    from adagen_env.data.user_data import data_source

    for k, name in enumerate(("red", "grey")):
        (tmp_path / name).mkdir()
        for i in range(5):
            Image.new("RGB", (8, 8), (200, 100 + k, 100 + i)).save(tmp_path / name / f"{i}.png")
    python, commands = load_images(tmp_path), data_source(tmp_path).load("train")
    assert (python.levels, python.channels, len(python)) == (256, 3, 8)  # 8-bit RGB, the training split
    assert np.array_equal(python.images, commands.images) and np.array_equal(python.labels, commands.labels)
    assert load_digits().levels == 17  # the digits keep their 17 levels


def test_class_names_of_a_folder_an_npz_and_the_digits(tmp_path):
    folder = tmp_path / "photos"
    for name in ("fox", "china", "empty"):
        (folder / name).mkdir(parents=True)
    for name in ("fox", "china"):
        _write_png(folder / name / "a.png", np.zeros((4, 4)))
    assert load_images(folder, "all").class_names == read_class_names(folder) == ("china", "fox")  # sorted
    (folder / "fox" / "a.png").write_bytes(b"not a png")  # the names need no image decoded
    assert read_class_names(folder) == ("china", "fox")
    (tmp_path / "one").mkdir()
    _write_png(tmp_path / "one" / "a.png", np.zeros((4, 4)))
    assert read_class_names(tmp_path / "one") == ("one",)  # no sub-folders: one class, named after the folder

    named = _npz(tmp_path, labels=np.array([0, 1, 1]), class_names=np.array(["cat", "dog"]))
    assert load_images(named, "all").class_names == read_class_names(named) == ("cat", "dog")
    assert load_images(_npz(tmp_path, labels=np.array([0, 2, 1])), "all").class_names == ("0", "1", "2")
    assert load_digits("heldout").class_names == tuple("0123456789")


@pytest.mark.parametrize(
    "names, message",
    [
        (np.array(["cat"]), "must name the 2 classes, one each; got 1 names"),
        (np.array(["cat", "cat"]), "must be distinct, non-empty strings"),
        (np.array(["cat", " "]), "must be distinct, non-empty strings"),
        (np.array([1, 2]), "must be a 1-D array of strings"),
    ],
    ids=["count", "duplicate", "blank", "numbers"],
)
def test_npz_class_names_are_one_distinct_string_per_class(tmp_path, names, message):
    path = _npz(tmp_path, labels=np.array([0, 1, 1]), class_names=names)
    for read in (load_images, read_class_names):
        with pytest.raises(ValueError, match=rf"'class_names' in .*mine\.npz {message}"):
            read(path)
