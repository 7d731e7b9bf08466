"""Malformed inputs, one row per case: each is a one-line error naming the culprit (exit 2, no traceback,
nothing written where the input was invalid), or, where the input is valid but unusual, the right result."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_TRAIN, toy_images, write_folder, write_idx
from PIL import Image
from safetensors.torch import load_file, save_file

from genclf.data import load_dataset
from genclf.errors import ConfigError


def _one_line_error(result, *fragments: str) -> None:
    assert result.code == 2, (result.code, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genclf: error: ") and "Traceback" not in result.err, result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# ---- each builder makes the bad input under tmp and returns the command line; then the expected fragments


def _empty_class_folder(tmp: Path):
    root = write_folder(tmp / "f")
    (tmp / "f" / "emu").mkdir()
    (tmp / "f" / "emu" / "notes.txt").write_text("no images here")
    return ["datasets", f"folder:{root}"], ("emu", "holds no images")


def _non_square_npz(tmp: Path):
    np.savez(tmp / "wide.npz", x=np.zeros((6, 8, 12), np.uint8), y=np.array([0, 1, 0, 1, 0, 1]))
    return ["datasets", f"npz:{tmp / 'wide.npz'}"], ("wide.npz", "square", "8x12")


def _non_square_idx(tmp: Path):
    write_idx(tmp / "idx", "train", np.zeros((6, 8, 12), np.uint8), np.array([0, 1, 0, 1, 0, 1]))
    return ["datasets", f"idx:{tmp / 'idx'}"], ("train-images", "square")


def _absurd_idx_header(tmp: Path):
    (tmp / "idx").mkdir()
    (tmp / "idx" / "train-images-idx3-ubyte").write_bytes(struct.pack(">iiii", 2051, 2**31 - 1, 2**31 - 1, 99))
    (tmp / "idx" / "train-labels-idx1-ubyte").write_bytes(struct.pack(">ii", 2049, 1) + b"\x00")
    return ["datasets", f"idx:{tmp / 'idx'}"], ("train-images", "announces")


def _npz_header_announcing_terabytes(tmp: Path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**11,)})
    with zipfile.ZipFile(tmp / "bomb.npz", "w") as archive:
        archive.writestr("x.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\x00" * 64)
        archive.writestr("y.npy", b"")
    return ["datasets", f"npz:{tmp / 'bomb.npz'}"], ("bomb.npz", "announces")


def _bad_max_pixels(tmp: Path):
    os.environ["GENCLF_MAX_PIXELS"] = "abc"
    return ["datasets", f"folder:{write_folder(tmp / 'f')}"], ("GENCLF_MAX_PIXELS", "positive integer")


def _binary_yaml(tmp: Path):
    (tmp / "c.yaml").write_bytes(bytes(range(256)))
    return ["run", str(tmp / "c.yaml"), "--out", str(tmp / "out")], ("c.yaml", "UTF-8")


def _out_is_a_file(tmp: Path):
    (tmp / "taken").write_text("x")
    return ["train", "--out", str(tmp / "taken"), *TINY_TRAIN], ("--out", "existing file")


def _seed_too_large(tmp: Path):
    return ["train", "--seed", str(2**63), "--out", str(tmp / "out"), *TINY_TRAIN], ("seed (--seed)",)


def _lr_nan(tmp: Path):
    return ["train", "--lr", "nan", "--out", str(tmp / "out"), *TINY_TRAIN], ("train.lr (--lr)",)


def _empty_seeds(tmp: Path):
    (tmp / "c.yaml").write_text("seeds: []\n")
    return ["run", str(tmp / "c.yaml"), "--out", str(tmp / "out")], ("seeds", "empty")


def _empty_strategies(tmp: Path):
    (tmp / "c.yaml").write_text("strategies: []\n")
    return ["run", str(tmp / "c.yaml"), "--out", str(tmp / "out")], ("strategies", "at least one")


def _checkpoint(tmp: Path, cli) -> Path:
    out = tmp / "ckpt"
    assert cli("train", "--out", out, *TINY_TRAIN).code == 0
    return out


def _rewrite_meta(folder: Path, change) -> None:
    path = folder / "model.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = json.loads(handle.metadata()["genclf"])
    tensors = load_file(str(path))
    save_file(tensors, str(path), metadata={"genclf": change(meta)})


BAD = {
    "empty class folder": _empty_class_folder,
    "non-square npz": _non_square_npz,
    "non-square idx": _non_square_idx,
    "absurd idx header": _absurd_idx_header,
    "npz header announcing 800 GB": _npz_header_announcing_terabytes,
    "GENCLF_MAX_PIXELS=abc": _bad_max_pixels,
    "binary yaml": _binary_yaml,
    "--out is a file": _out_is_a_file,
    "seed >= 2**63": _seed_too_large,
    "--lr nan": _lr_nan,
    "seeds: []": _empty_seeds,
    "strategies: []": _empty_strategies,
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_a_one_line_error_and_writes_nothing(cli, tmp_path, case, monkeypatch):
    monkeypatch.setenv("GENCLF_MAX_PIXELS", "64000000")
    argv, fragments = BAD[case](tmp_path)
    _one_line_error(cli(*argv), *fragments)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("case", "change", "fragments"),
    [
        ("metadata not JSON", lambda meta: "{not json", ("not valid JSON",)),
        ("zero std", lambda meta: json.dumps({**meta, "normalization": {"mean": [0.5], "std": [0.0]}}), ("std",)),
        ("key missing", lambda meta: json.dumps({k: v for k, v in meta.items() if k != "image_size"}), ("image_size",)),
        ("absurd size", lambda meta: json.dumps({**meta, "image_size": 10**9}), ("image_size",)),
    ],
)
def test_corrupt_checkpoint_metadata_is_a_one_line_error(cli, tmp_path, case, change, fragments):
    folder = _checkpoint(tmp_path, cli)
    _rewrite_meta(folder, change)
    image = tmp_path / "one.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    _one_line_error(cli("predict", "--checkpoint", folder, "--input", image, "--out", tmp_path / "p"), *fragments)


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    root = write_folder(tmp_path / "f")
    ramp = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)  # 0 .. 63,000 of 65,535
    Image.fromarray(ramp).save(root / "cat" / "deep.png")  # PIL writes mode I;16
    data = load_dataset(f"folder:{root}", image_size=8)
    index = [i for i, p in enumerate(data.train.paths) if p.endswith("deep.png")][0]
    pixels = data.train.images[index, 0].numpy().astype(int)
    assert pixels.max() == round(63000 / 257) and pixels.min() == 0  # 245, not 255 everywhere
    assert (pixels == 255).mean() < 0.05


def test_label_gaps_are_remapped_with_a_warning(tmp_path):
    images, labels = toy_images()
    np.savez(tmp_path / "gaps.npz", x=images, y=np.array([0, 1, 7])[labels])
    with pytest.warns(UserWarning, match="remapped in order: 0->0, 1->1, 7->2"):
        data = load_dataset(f"npz:{tmp_path / 'gaps.npz'}")
    assert data.train.num_classes == 3 and data.train.class_names == ["0", "1", "7"]
    assert sorted(set(data.train.labels.tolist())) == [0, 1, 2]


def test_one_stray_huge_label_does_not_build_a_million_classes(tmp_path):
    images, labels = toy_images()
    labels = labels.copy()
    labels[0] = 1_000_000
    np.savez(tmp_path / "stray.npz", x=images, y=labels)
    with pytest.warns(UserWarning, match="1000000->3"):
        data = load_dataset(f"npz:{tmp_path / 'stray.npz'}")
    assert data.train.num_classes == 4


def test_a_corrupt_folder_cache_is_rebuilt(tmp_path):
    root = write_folder(tmp_path / "f")
    first = load_dataset(f"folder:{root}")
    for cache in Path(os.environ["GENCLF_CACHE_DIR"]).rglob("*.npz"):
        cache.write_bytes(cache.read_bytes()[:100])  # truncated
    with pytest.warns(UserWarning, match="rebuilding"):
        again = load_dataset(f"folder:{root}")
    assert torch.equal(first.train.images, again.train.images)


def test_colorize_never_overwrites_its_input_or_merges_two_inputs(cli, tmp_path):
    ckpt = tmp_path / "col"
    trained = cli(
        "train-colorizer", "--data", "shapes:8", "--epochs", "1", "--batch-size", "8", "--out", ckpt, "--quiet"
    )
    assert trained.code == 0, trained.err
    inputs = tmp_path / "in"
    inputs.mkdir()
    colour = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(colour).save(inputs / "a.jpg")
    Image.fromarray(colour).save(inputs / "a.png")
    before = {p.name: p.read_bytes() for p in inputs.iterdir()}
    _one_line_error(cli("colorize", "--checkpoint", ckpt, "--input", inputs, "--out", inputs), "--out", "overlaps")
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before
    out = tmp_path / "out"
    assert cli("colorize", "--checkpoint", ckpt, "--input", inputs, "--out", out, "--quiet").code == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["a.jpg.png", "a.png.png"]


def test_sample_class_names_cannot_escape_the_output_folder(cli, tmp_path):
    ckpt = tmp_path / "gen"
    assert cli("train-generator", "--model", "cvae", "--out", ckpt, *TINY_TRAIN).code == 0
    meta = json.loads((ckpt / "model.json").read_text())
    names = ["..", ".", "../up", *meta["class_names"][3:]]
    _rewrite_meta(ckpt, lambda m: json.dumps({**m, "class_names": names}))
    out = tmp_path / "deep" / "samples"
    assert cli("sample", "--checkpoint", ckpt, "--per-class", "1", "--out", out).code == 0
    written = [p for p in tmp_path.rglob("*.png") if "deep" in p.parts]
    assert written and all(out in p.parents for p in written)
    assert not (tmp_path / "deep" / "up").exists()


def test_predictions_csv_cannot_carry_a_spreadsheet_formula(cli, tmp_path):
    root = tmp_path / "f"
    images, labels = toy_images()
    for i, (img, label) in enumerate(zip(images, labels)):
        folder = root / ["=cmd", "+b", "@c"][label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i}.png")
    ckpt = tmp_path / "ckpt"
    assert cli("train", "--data", f"folder:{root}", "--image-size", "8", "--out", ckpt, *TINY_TRAIN).code == 0
    bad = tmp_path / "=HYPERLINK(1).png"
    Image.fromarray(images[0]).save(bad)
    assert cli("predict", "--checkpoint", ckpt, "--input", bad, "--out", tmp_path / "p", "--quiet").code == 0
    text = (tmp_path / "p" / "predictions.csv").read_text()
    cells = [cell for line in text.splitlines() for cell in line.split(",")]
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells), text


def test_a_symlink_loop_in_a_class_folder_is_a_one_line_error(cli, tmp_path):
    root = write_folder(tmp_path / "f")
    os.symlink(root / "cat", root / "cat" / "again")
    _one_line_error(cli("datasets", f"folder:{root}"), "again", "symbolic link loop")


def test_file_names_that_are_not_utf8_load_and_predict(cli, tmp_path):
    root = write_folder(tmp_path / "f")
    odd = os.fsencode(str(root / "cat")) + b"/caf\xe9.png"  # Latin-1 bytes: not valid UTF-8
    Image.fromarray(toy_images()[0][0]).save(odd.decode("utf-8", "surrogateescape"))
    data = load_dataset(f"folder:{root}", image_size=8)
    assert data.train.class_counts() == [13, 12, 12]
    ckpt = _checkpoint(tmp_path, cli)
    result = cli("predict", "--checkpoint", ckpt, "--input", root / "cat", "--out", tmp_path / "p", "--quiet")
    assert result.code == 0, result.err
    assert "caf\\udce9.png" in (tmp_path / "p" / "predictions.csv").read_text(encoding="utf-8")


def test_a_corrupt_model_json_in_evaluate_is_a_one_line_error(cli, tmp_path):
    folder = _checkpoint(tmp_path, cli)
    (folder / "model.json").write_text("{truncated")
    _one_line_error(cli("evaluate", "--checkpoint", folder, "--out", tmp_path / "e"), "model.json", "not valid JSON")


def test_resumed_training_writes_a_byte_identical_model_file(cli, tmp_path, monkeypatch):
    from genclf.training.trainer import Trainer

    full = tmp_path / "full"
    assert (
        cli("train", "--out", full, "--epochs", "3", "--batch-size", "32", "--precision", "fp32", "--quiet").code == 0
    )
    real_save = Trainer._save

    def stop_after_epoch_one(self, state_dir, *args):
        real_save(self, state_dir, *args)
        if args[-1].epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save", stop_after_epoch_one)
    argv = ["train", "--out", tmp_path / "cut", "--epochs", "3", "--batch-size", "32", "--precision", "fp32", "--quiet"]
    assert cli(*argv).code == 130
    monkeypatch.setattr(Trainer, "_save", real_save)
    assert cli(*argv, "--resume").code == 0
    assert (tmp_path / "cut" / "model.safetensors").read_bytes() == (full / "model.safetensors").read_bytes()
    assert "train_seconds" in json.loads((full / "model.json").read_text())["fit"]  # timing kept for people


@pytest.mark.parametrize("mode", ["P", "CMYK", "LA", "RGBA", "1", "I", "F"])
def test_every_image_mode_decodes_to_the_documented_pixels(tmp_path, mode):
    root = write_folder(tmp_path / "f", colour=True)
    grey = np.tile(np.arange(0, 256, 32, dtype=np.uint8), (8, 1))  # 0 .. 224 across each row
    source = Image.fromarray(grey).convert("RGB")
    if mode == "I":
        image = Image.fromarray(grey.astype(np.int32) * 257, mode="I")  # 16-bit values in a 32-bit image
    elif mode == "F":
        image = Image.fromarray(grey.astype(np.float32) / 255.0, mode="F")  # floats in [0, 1]
    else:
        image = source.convert(mode)
    image.save(root / "cat" / f"odd.{'tif' if mode in ('I', 'F', 'CMYK') else 'png'}")
    data = load_dataset(f"folder:{root}", image_size=8, channels=1)
    index = [i for i, p in enumerate(data.train.paths) if "odd." in p][0]
    row = data.train.images[index, 0, 0].numpy().astype(int)
    expected = np.arange(0, 256, 32)
    if mode == "P":  # the palette quantised the colours when the file was made: compare with what it shows
        expected = np.asarray(image.convert("L"))[0].astype(int)
    if mode == "1":
        assert set(row.tolist()) <= {0, 255}  # 1-bit: dithered black and white, as PIL converts it
    else:
        assert np.abs(row - expected).max() <= 2, (mode, row)


def test_an_animated_gif_gives_its_first_frame(tmp_path):
    root = write_folder(tmp_path / "f")
    frames = [Image.fromarray(np.full((8, 8), v, np.uint8)) for v in (40, 200)]
    frames[0].save(root / "cat" / "anim.gif", save_all=True, append_images=frames[1:])
    data = load_dataset(f"folder:{root}", image_size=8)
    index = [i for i, p in enumerate(data.train.paths) if p.endswith("anim.gif")][0]
    assert abs(int(data.train.images[index].float().mean()) - 40) <= 1


@pytest.mark.parametrize(
    ("uri", "message"),
    [("http://127.0.0.1:9", "no MLflow server answers"), ("gopher://host/x", "unknown scheme 'gopher'")],
)
def test_a_bad_mlflow_tracking_uri_is_refused_up_front_and_writes_nothing(cli, tmp_path, monkeypatch, uri, message):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "out"
    result = cli("train", "--epochs", "1", "--log-to", "mlflow", "--out", out, "--quiet")
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("seed", [2**70, -1, 1.5, True, "0"])
def test_the_estimator_refuses_a_seed_it_cannot_use_naming_random_state(seed):
    import genclf

    images, labels = np.zeros((8, 8, 8), np.uint8), np.repeat([0, 1], 4)
    with pytest.raises(ConfigError, match="random_state"):
        genclf.ImageClassifier(random_state=seed, epochs=1).fit(images, labels)


def test_the_estimator_upsizes_tiny_images_as_the_command_line_does_and_warns_on_dark_floats():
    import genclf

    labels = np.repeat([0, 1], 20)
    images = np.where(labels[:, None, None] == 1, 220, 20).astype(np.uint8) * np.ones((1, 1, 1), np.uint8)
    clf = genclf.ImageClassifier(epochs=15, batch_size=8, precision="fp32").fit(images, labels)
    assert clf.image_size_ == 8 and clf.input_size_ == 1
    assert (clf.predict(images) == labels).mean() >= 0.9  # learned from 1x1 pixels, predicts on 1x1 pixels
    with pytest.warns(UserWarning, match=r"value_range=\(0, 1\)"):
        genclf.ImageClassifier(epochs=1, value_range=(0, 255)).fit(np.random.rand(40, 8, 8), labels)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--workers", "0"], "--workers"),
        (["run", "--workers", "2", "--log-to", "tensorboard"], "--workers 1"),
        (["train", "--weights", "w.safetensors", "--epochs", "1"], "--weights"),
        (["train", "--set", "options.depth=3", "--epochs", "1"], "options.depth"),
    ],
)
def test_a_refused_command_leaves_no_output_folder_behind(cli, tmp_path, argv, message):
    out = tmp_path / "out"
    result = cli(*argv, "--out", out, "--quiet")
    assert result.code == 2 and message in result.err, result.err
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))
