"""Data layer: every scheme loads, splits are deterministic, low-data and imbalance work."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch
from conftest import SHARED, write_folder

from genclf.data import SCHEMES, Imbalance, load_dataset, make_split
from genclf.errors import ConfigError, DataError


@pytest.fixture
def spec_for(idx_dir, npz_file, image_folder):
    return {
        "digits": "digits",
        "idx": f"idx:{idx_dir}",
        "npz": f"npz:{npz_file}",
        "folder": f"folder:{image_folder}",
        "shapes": "shapes:6",
    }


@pytest.mark.parametrize("scheme", SCHEMES.names())
def test_every_scheme_loads_uint8_images_with_labels(scheme, spec_for):
    data = load_dataset(spec_for[scheme], image_size=8)
    assert data.train.images.dtype == torch.uint8
    assert data.train.images.shape[1:] == (3 if scheme == "shapes" else 1, 8, 8)  # shapes is the colour one
    assert data.train.labels.max() < data.train.num_classes
    assert len(data.train) == len(data.train.labels) > 0


@pytest.mark.parametrize("scheme", SCHEMES.names())
def test_every_scheme_converts_to_three_channels_and_resizes(scheme, spec_for):
    data = load_dataset(spec_for[scheme], image_size=16, channels=3)
    assert data.train.images.shape[1:] == (3, 16, 16)


def test_idx_reads_the_test_split(idx_dir):
    data = load_dataset(f"idx:{idx_dir}")
    assert len(data.train) == 36 and len(data.test) == 12
    assert data.train.class_counts() == [12, 12, 12]


def test_npz_keeps_class_names_and_float_images_are_scaled(tmp_path):
    x = np.random.default_rng(0).random((6, 5, 5)).astype(np.float32)
    np.savez(tmp_path / "f.npz", x=x, y=np.array([0, 1, 0, 1, 0, 1]), class_names=np.array(["a", "b"]))
    data = load_dataset(f"npz:{tmp_path / 'f.npz'}")
    assert data.train.class_names == ["a", "b"]
    assert torch.equal(data.train.images[:, 0], torch.from_numpy(np.round(x * 255).astype(np.uint8)))


def test_folder_detects_images_by_content_and_skips_non_images(image_folder):
    (image_folder / "cat" / "notes.txt").write_text("not an image")
    (image_folder / "dog" / "photo_without_extension").write_bytes((image_folder / "dog" / "013.png").read_bytes())
    with pytest.warns(UserWarning, match="notes.txt"):
        data = load_dataset(f"folder:{image_folder}", image_size=8)
    assert data.train.class_names == ["cat", "dog", "fox"]
    assert data.train.class_counts() == [12, 13, 12]
    assert data.train.channels == 1  # every source image was grey


def test_folder_with_train_and_test_subfolders(tmp_path):
    write_folder(tmp_path / "ds" / "train")
    write_folder(tmp_path / "ds" / "test", n_per_class=3)
    data = load_dataset(f"folder:{tmp_path / 'ds'}", image_size=8, channels=3)
    assert len(data.train) == 36 and len(data.test) == 9
    assert data.train.channels == 3


def test_folder_cache_is_reused_and_invalidated_when_a_file_changes(image_folder, monkeypatch):
    first = load_dataset(f"folder:{image_folder}", image_size=8)
    calls = []
    import genclf.data.image_folder as module

    real = module._load_files
    monkeypatch.setattr(module, "_load_files", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = load_dataset(f"folder:{image_folder}", image_size=8)
    assert calls == [] and torch.equal(first.train.images, again.train.images)
    target = image_folder / "cat" / "000.jpg"
    from PIL import Image

    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(target, format="JPEG")
    os.utime(target, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    changed = load_dataset(f"folder:{image_folder}", image_size=8)
    assert calls == [1]
    assert not torch.equal(first.train.images, changed.train.images)


def test_large_photos_are_decoded_at_reduced_size(tmp_path):
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / "big" / cls).mkdir(parents=True)
        Image.new("RGB", (3000, 2000), (200, 10, 10) if cls == "a" else (10, 10, 200)).save(
            tmp_path / "big" / cls / "x.jpg"
        )
    data = load_dataset(f"folder:{tmp_path / 'big'}", image_size=16)
    assert data.train.images.shape == (2, 3, 16, 16)
    assert data.train.images[0, 0].float().mean() > 150 and data.train.images[1, 2].float().mean() > 150


def test_split_is_deterministic_and_stratified():
    data = load_dataset("digits")
    a, b, c = make_split(data, 0), make_split(data, 0), make_split(data, 1)
    assert torch.equal(a.train.labels, b.train.labels) and torch.equal(a.train.images, b.train.images)
    assert not torch.equal(a.val.images, c.val.images)
    assert torch.equal(a.test.images, c.test.images)  # every seed is scored on the same test images
    counts = a.test.class_counts()
    assert max(counts) - min(counts) <= 2


def test_k_per_class_keeps_k_labeled_and_the_rest_unlabeled():
    data = load_dataset("digits")
    split = make_split(data, 3, k_per_class=5)
    assert split.train.class_counts() == [5] * 10
    assert len(split.val) == 50  # at most k per class for validation
    assert len(split.train) + len(split.val) + len(split.unlabeled) + len(split.test) == len(data.train)


def test_k_per_class_larger_than_a_class_is_an_error():
    with pytest.raises(DataError, match="k_per_class"):
        make_split(load_dataset("digits"), 0, k_per_class=1000)


def test_imbalance_ratio_and_exact_counts():
    data = load_dataset("digits")
    split = make_split(data, 0, imbalance=Imbalance(classes=[3], ratio=0.1))
    counts = split.train.class_counts()
    assert counts[3] < 0.15 * counts[2]
    exact = make_split(data, 0, imbalance=Imbalance(class_counts=[100, 80, 60, 40, 30, 20, 10, 8, 6, 4]))
    assert exact.train.class_counts() == [100, 80, 60, 40, 30, 20, 10, 8, 6, 4]
    with pytest.raises(ConfigError, match="imbalance.classes"):
        make_split(data, 0, imbalance=Imbalance(classes=[12], ratio=0.1))


def test_normalisation_is_fitted_on_the_training_images():
    split = make_split(load_dataset("digits"), 0)
    normed = split.normalization.apply(split.train.images)
    assert abs(float(normed.mean())) < 1e-3 and abs(float(normed.std()) - 1) < 1e-2


@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="../shared/datasets/mnist not present")
def test_real_mnist_idx_files_load():
    data = load_dataset(f"idx:{SHARED / 'mnist'}")
    assert len(data.train) == 60000 and len(data.test) == 10000
    assert data.test.class_counts()[1] == 1135
