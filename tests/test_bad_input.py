"""Bad input gives one clear line naming the culprit, exit code 2, no traceback, nothing half-written."""

from __future__ import annotations

import gzip
import json
import re
import struct

import numpy as np
import pytest
from conftest import TINY_TRAIN, toy_images, write_folder, write_idx
from safetensors.torch import load_file, save_file


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.code == 2, (result.code, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("genclf: error: ")
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_missing_path(cli, tmp_path):
    assert_one_line_error(cli("datasets", f"folder:{tmp_path / 'nope'}"), "nope", "not found")


def test_unknown_scheme(cli):
    assert_one_line_error(cli("datasets", "zip:whatever"), "zip", "expected one of")


def test_corrupt_image_file(cli, tmp_path):
    root = write_folder(tmp_path / "f")
    (root / "cat" / "broken.jpg").write_bytes(b"\x00garbage" * 50)
    assert_one_line_error(cli("datasets", f"folder:{root}"), "broken.jpg", "corrupt")


def test_truncated_image(cli, tmp_path):
    root = write_folder(tmp_path / "f", size=64)
    data = (root / "dog" / "013.png").read_bytes()
    (root / "dog" / "013.png").write_bytes(data[: len(data) // 2])
    assert_one_line_error(cli("datasets", f"folder:{root}"), "013.png", "truncated")


def test_non_image_file_in_class_folder_is_skipped_with_a_warning(cli, tmp_path):
    root = write_folder(tmp_path / "f")
    (root / "fox" / "README.md").write_text("# notes")
    with pytest.warns(UserWarning, match=r"skipped 1 non-image file\(s\): .*README.md"):
        result = cli("datasets", f"folder:{root}")
    assert result.code == 0
    assert re.search(r"^fox\s+12$", result.out, re.M)


def test_empty_class_folder(cli, tmp_path):
    root = write_folder(tmp_path / "f")
    (root / "empty_class").mkdir()
    assert_one_line_error(cli("datasets", f"folder:{root}"), "empty_class", "empty")


def test_single_class(cli, tmp_path):
    root = write_folder(tmp_path / "f")
    for name in ("dog", "fox"):
        for file in (root / name).iterdir():
            file.unlink()
        (root / name).rmdir()
    assert_one_line_error(cli("datasets", f"folder:{root}"), "at least 2 classes")


def test_idx_with_bad_magic(cli, tmp_path):
    images, labels = toy_images()
    write_idx(tmp_path / "idx", "train", images, labels)
    with gzip.open(tmp_path / "idx" / "train-labels-idx1-ubyte.gz", "wb") as handle:
        handle.write(struct.pack(">ii", 1234, len(labels)) + labels.astype(np.uint8).tobytes())
    assert_one_line_error(cli("datasets", f"idx:{tmp_path / 'idx'}"), "train-labels-idx1-ubyte.gz", "magic")


def test_truncated_gzip(cli, tmp_path):
    images, labels = toy_images()
    write_idx(tmp_path / "idx", "train", images, labels)
    path = tmp_path / "idx" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    assert_one_line_error(cli("datasets", f"idx:{tmp_path / 'idx'}"), "train-images-idx3-ubyte.gz", "truncated")


def test_label_image_count_mismatch(cli, tmp_path):
    images, labels = toy_images()
    write_idx(tmp_path / "idx", "train", images, labels[:-5])
    assert_one_line_error(
        cli("datasets", f"idx:{tmp_path / 'idx'}"), "train-labels-idx1-ubyte.gz", "31 labels for 36 images"
    )


@pytest.mark.parametrize("missing", ["x", "y"])
def test_npz_missing_array(cli, tmp_path, missing):
    images, labels = toy_images()
    arrays = {"x": images, "y": labels}
    del arrays[missing]
    np.savez(tmp_path / "d.npz", **arrays)
    assert_one_line_error(cli("datasets", f"npz:{tmp_path / 'd.npz'}"), "d.npz", f"missing array(s) {missing}")


def test_npz_with_nan(cli, tmp_path):
    images, labels = toy_images()
    x = images.astype(np.float32)
    x[3, 2, 2] = np.nan
    np.savez(tmp_path / "d.npz", x=x, y=labels)
    assert_one_line_error(cli("datasets", f"npz:{tmp_path / 'd.npz'}"), "d.npz", "NaN")


def test_image_over_the_pixel_limit(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("GENCLF_MAX_PIXELS", str(32 * 32))
    root = write_folder(tmp_path / "f", size=40)
    assert_one_line_error(cli("datasets", f"folder:{root}"), "40x40", "exceeds the limit")


def test_unknown_config_key(cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("data: {spec: digits}\ntrain: {epocs: 3}\n")
    assert_one_line_error(cli("run", config, "--out", tmp_path / "o", "--quiet"), "train.epocs", "unknown key")
    assert not (tmp_path / "o" / "results.csv").exists()


def test_wrong_value_type(cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("train: {epochs: ten}\n")
    assert_one_line_error(cli("run", config, "--out", tmp_path / "o"), "train.epochs", "expected int")


def test_wrong_value_type_from_set(cli, tmp_path):
    assert_one_line_error(cli("train", "--set", "train.lr=fast", "--out", tmp_path / "o"), "train.lr", "expected float")


def test_k_per_class_larger_than_a_class(cli, tmp_path):
    assert_one_line_error(
        cli("train", "--k-per-class", "500", "--out", tmp_path / "o", "--quiet"), "k_per_class", "expected at least 500"
    )


def test_bad_channels_is_a_usage_error(cli):
    assert_one_line_error(cli("datasets", "digits", "--channels", "2"), "--channels")


@pytest.fixture(scope="module")
def trained_cnn(tmp_path_factory):
    from genclf.cli import main

    out = tmp_path_factory.mktemp("cnn")
    assert main(["train", "--out", str(out), *TINY_TRAIN]) == 0
    return out


def test_checkpoint_of_a_different_model(cli, trained_cnn, tmp_path):
    tensors = load_file(trained_cnn / "model.safetensors")
    meta = json.loads((trained_cnn / "model.json").read_text())
    meta["model"] = "crnn"
    (tmp_path / "ck").mkdir()
    save_file(tensors, tmp_path / "ck" / "model.safetensors", metadata={"genclf": json.dumps(meta)})
    assert_one_line_error(
        cli("evaluate", "--checkpoint", tmp_path / "ck"), "ck", "weights do not match the 'crnn' model"
    )


def test_checkpoint_of_a_different_kind(cli, trained_cnn, tmp_path):
    tensors = load_file(trained_cnn / "model.safetensors")
    (tmp_path / "ck").mkdir()
    save_file(
        tensors,
        tmp_path / "ck" / "model.safetensors",
        metadata={"genclf": json.dumps({"kind": "generator", "model": "cgan"})},
    )
    assert_one_line_error(
        cli("predict", "--checkpoint", tmp_path / "ck", "--input", tmp_path),
        "'generator' model",
        "expected a 'classifier'",
    )


def test_resume_with_another_model_is_refused(cli, trained_cnn):
    assert_one_line_error(
        cli("train", "--model", "crnn", "--out", trained_cnn, "--resume", *TINY_TRAIN),
        "was trained with another config",
        "model: 'cnn' -> 'crnn'",
    )


def test_checkpoint_folder_without_checkpoint(cli, tmp_path):
    assert_one_line_error(cli("evaluate", "--checkpoint", tmp_path), "model.safetensors", "not found")


def test_predict_on_a_folder_without_images(cli, trained_cnn, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("hello")
    assert_one_line_error(
        cli("predict", "--checkpoint", trained_cnn, "--input", tmp_path / "in", "--out", tmp_path / "o"),
        "in",
        "no image files",
    )
    assert not (tmp_path / "o" / "predictions.csv").exists()
