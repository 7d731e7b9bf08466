"""Outputs named after user data never merge, vanish or overwrite: sample folders read back with ``folder:`` as
exactly the classes and counts written, colorize outputs and strips stay distinct, duplicate or untestable
classes are refused."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from conftest import toy_images
from hypothesis import given, settings
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
