"""Outputs named after user data never merge, vanish or overwrite: sample folders read back with ``folder:`` as
exactly the classes and counts written, colorize outputs and strips stay distinct, duplicate or untestable
classes are refused."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import toy_images
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genclf.cli.colorize_commands import output_names
from genclf.data import load_dataset
from genclf.data.image_folder import FOLDER_RESERVED
from genclf.files import class_folders, safe_name

AWKWARD = ["a/b", "a_b", "a b", "..", "class_0", "unlabeled", ".hidden", "Cat", "cat", "train"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=12))
def test_class_folders_are_distinct_harmless_visible_and_not_reserved(names):
    folders = class_folders(names, reserved=FOLDER_RESERVED)
    assert len(folders) == len(names)
    assert len({f.casefold() for f in folders}) == len(folders)
    for folder in folders:
        assert folder == safe_name(folder) and not folder.startswith(".") and folder not in ("", ".", "..")
        assert folder.casefold() not in FOLDER_RESERVED
    assert folders == class_folders(names, reserved=FOLDER_RESERVED)  # deterministic


def test_a_sample_folder_reads_back_as_exactly_the_classes_and_counts_written(cli, tmp_path):
    images, labels = toy_images(6, classes=len(AWKWARD), size=8)
    np.savez(tmp_path / "awkward.npz", x=images, y=labels, class_names=np.array(AWKWARD))
    gen = tmp_path / "gen"
    result = cli(
        "train-generator", "--data", f"npz:{tmp_path / 'awkward.npz'}", "--model", "cvae", "--epochs", "1",
        "--batch-size", "16", "--precision", "fp32", "--out", gen, "--quiet",
    )  # fmt: skip
    assert result.code == 0, result.err
    out = tmp_path / "samples"
    result = cli("sample", "--checkpoint", gen, "--per-class", "3", "--out", out)
    assert result.code == 0, result.err
    assert "note: class 'a b' is written to folder 'a_b_3'" in result.out  # the renaming is said
    back = load_dataset(f"folder:{out}", image_size=8)
    written = class_folders(AWKWARD, reserved=FOLDER_RESERVED)
    assert sorted(back.train.class_names) == sorted(written) and len(written) == len(AWKWARD)
    assert back.train.class_counts() == [3] * len(AWKWARD) and back.unlabeled is None
    again = cli("sample", "--checkpoint", gen, "--per-class", "2", "--out", out)  # old and new would mix
    assert again.code == 2 and "is not empty" in again.err
    assert load_dataset(f"folder:{out}", image_size=8).train.class_counts() == [3] * len(AWKWARD)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".samples.")]  # no staging folder left


def test_colorize_outputs_and_strips_never_collide():
    inputs = ["a.jpg", "a.png", "a.jpg.png", "strips/x.jpg", "x.jpg", "sub/a.jpg", "A.JPG"]
    names, strips = output_names([Path(p) for p in inputs], [False] * len(inputs))
    assert len(set(names)) == len(inputs)
    assert len({n.casefold() for n in names + strips}) == 2 * len(inputs)
    assert all(s.startswith("strips/") for s in strips)
    assert names[:2] == ["a.jpg.png", "a.png.png"] and names[4] == "x.png" and names[5] == "sub/a.png"
    grey, no_strips = output_names([Path("g.png"), Path("c.png")], [True, False])
    assert no_strips == [None, "strips/c.png"] and grey == ["g.png", "c.png"]


def test_duplicate_class_names_and_a_class_that_cannot_be_tested_are_refused(cli, tmp_path):
    images, labels = toy_images(10, classes=3, size=8)
    np.savez(tmp_path / "dup.npz", x=images, y=labels, class_names=np.array(["cat", "cat", "dog"]))
    result = cli("train", "--data", f"npz:{tmp_path / 'dup.npz'}", "--epochs", "1", "--out", tmp_path / "a")
    assert result.code == 2 and "both named 'cat'" in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists()
    keep = np.flatnonzero(labels != 2)[:20].tolist() + [int(np.flatnonzero(labels == 2)[0])]  # 10 : 10 : 1
    np.savez(tmp_path / "one.npz", x=images[keep], y=labels[keep], class_names=np.array(["a", "b", "rare"]))
    result = cli("train", "--data", f"npz:{tmp_path / 'one.npz'}", "--epochs", "1", "--out", tmp_path / "b")
    assert result.code == 2 and "class 'rare'" in result.err and "0 to test on" in result.err
    assert Counter(labels[keep].tolist())[2] == 1


NAMES = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00/\\", exclude_categories=("Cs",)),
    min_size=1,
    max_size=10,
)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny cvae (10 digit classes) and a tiny L1 colorizer, trained once for the property tests."""
    from genclf.cli import main

    root = tmp_path_factory.mktemp("ckpt")
    tiny = ["--epochs", "1", "--batch-size", "16", "--precision", "fp32", "--quiet"]
    assert main(["train-generator", "--model", "cvae", "--k-per-class", "3", "--out", str(root / "gen"), *tiny]) == 0
    colorizer = ["train-colorizer", "--data", "shapes:8", "--model", "unet_l1", "--out", str(root / "col"), *tiny]
    assert main(colorizer) == 0
    return root


def _renamed(checkpoint: Path, target: Path, names: list[str]) -> Path:
    """The generator checkpoint with its class names replaced (they live in its metadata)."""
    import json
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(checkpoint, target)
    meta = json.loads((target / "model.json").read_text())
    meta["class_names"] = names
    (target / "model.json").write_text(json.dumps(meta))
    save_file(
        load_file(target / "model.safetensors"), target / "model.safetensors", metadata={"genclf": json.dumps(meta)}
    )
    return target


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(NAMES, min_size=10, max_size=10))
def test_property_sample_then_folder_reads_back_the_classes_and_counts_written(checkpoints, capsys, names):
    import tempfile

    from genclf.cli import main

    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = _renamed(checkpoints / "gen", Path(scratch) / "gen", names)
        out = Path(scratch) / "samples"
        assert main(["sample", "--checkpoint", str(checkpoint), "--per-class", "2", "--out", str(out)]) == 0
        capsys.readouterr()
        back = load_dataset(f"folder:{out}", image_size=8)
        assert len(back.train.class_names) == 10 and back.train.class_counts() == [2] * 10
        assert back.unlabeled is None


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from(["", "sub/", "strips/"]), NAMES, st.sampled_from([".png", ".jpg", ".png.png", ""])),
        min_size=1,
        max_size=6,
    )
)
def test_property_colorize_writes_one_output_per_input_and_one_strip_per_colour_input(checkpoints, capsys, files):
    import tempfile

    from PIL import Image

    from genclf.cli import main

    with tempfile.TemporaryDirectory() as scratch:
        inputs, written = Path(scratch) / "in", set()
        for folder, stem, suffix in files:
            name = safe_name(stem) + suffix
            path = inputs / folder / (name if suffix else name + ".png")
            if path.as_posix().casefold() in written or path.suffix.lower() not in (".png", ".jpg"):
                continue
            written.add(path.as_posix().casefold())
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8), (200, 30, 30)).save(path, format="PNG" if path.suffix == ".png" else "JPEG")
        if not written:
            return
        out = Path(scratch) / "out"
        assert (
            main(["colorize", "--checkpoint", str(checkpoints / "col"), "--input", str(inputs), "--out", str(out)]) == 0
        )
        capsys.readouterr()
        written_files = list(out.rglob("*.png"))
        assert len(written_files) == 2 * len(
            written
        )  # an output and a strip per colour input: none lost or overwritten
