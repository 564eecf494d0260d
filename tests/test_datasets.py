"""The data API: the embedded digits' fixed split and loading a user's own images."""
import numpy as np
import pytest
import torch
from PIL import Image

from adagen_env.datasets import load_digits, load_images


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
    data = load_images(tmp_path, levels=17)
    assert len(data) == 10 and data.image_shape == (6, 7) and data.num_classes == 2
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
    everything, heldout = load_images(path), load_images(path, "heldout")
    assert np.array_equal(everything.images, images) and everything.num_classes == 3
    assert heldout.labels.tolist() == [1] and np.array_equal(heldout.images[0], images[1])


def test_load_npz_without_labels_gets_label_zero(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, images=np.zeros((10, 2, 2), dtype=np.uint8))
    data = load_images(path)
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
    with pytest.raises(ValueError, match="grey levels"):
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
