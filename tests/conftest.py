"""Shared fixtures: tiny datasets in every supported format, and an in-process CLI runner."""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genclf.cli import main

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GENCLF_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    # 'genclf run' fits cells in one process per core by default; the tests' tiny grids run in this one,
    # except where a test asks for workers (tests/test_scale.py)
    monkeypatch.setenv("GENCLF_WORKERS", "1")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    def run(*argv: str) -> CliResult:
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors and --help
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if gz else open
    suffix = ".gz" if gz else ""
    with opener(folder / f"{prefix}-images-idx3-ubyte{suffix}", "wb") as handle:
        handle.write(
            struct.pack(">iiii", 2051, len(images), images.shape[1], images.shape[2])
            + images.astype(np.uint8).tobytes()
        )
    with opener(folder / f"{prefix}-labels-idx1-ubyte{suffix}", "wb") as handle:
        handle.write(struct.pack(">ii", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def toy_images(n_per_class: int = 12, classes: int = 3, size: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Classes that a tiny model can tell apart: a bright bar at a class-specific row, plus noise."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for cls in range(classes):
        for _ in range(n_per_class):
            img = rng.integers(0, 40, size=(size, size))
            row = (cls * size) // classes
            img[row : row + max(1, size // classes), :] = 220
            images.append(img)
            labels.append(cls)
    return np.asarray(images, np.uint8), np.asarray(labels, np.int64)


@pytest.fixture
def idx_dir(tmp_path) -> Path:
    images, labels = toy_images()
    write_idx(tmp_path / "idx", "train", images, labels)
    test_images, test_labels = toy_images(4, seed=1)
    write_idx(tmp_path / "idx", "t10k", test_images, test_labels)
    return tmp_path / "idx"


@pytest.fixture
def npz_file(tmp_path) -> Path:
    images, labels = toy_images()
    path = tmp_path / "toy.npz"
    np.savez(path, x=images, y=labels, class_names=np.asarray(["top", "middle", "bottom"]))
    return path


def write_folder(root: Path, n_per_class: int = 12, size: int = 8, colour: bool = False) -> Path:
    images, labels = toy_images(n_per_class, size=size)
    names = ["cat", "dog", "fox"]
    for i, (img, label) in enumerate(zip(images, labels)):
        folder = root / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        pil = Image.fromarray(img)
        if colour:
            pil = pil.convert("RGB")
        # Mixed formats on purpose: detection is by content.
        pil.save(folder / f"{i:03d}.png") if i % 2 else pil.save(folder / f"{i:03d}.jpg", quality=95)
    return root


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return write_folder(tmp_path / "folder")


TINY_TRAIN = ["--epochs", "2", "--batch-size", "16", "--quiet", "--precision", "fp32"]


def load_strategy_module(tmp_path: Path, monkeypatch, name: str, source: str):
    """A strategy defined in one file of a temporary module, registered by importing it (the registry is
    restored when the test ends)."""
    import importlib.util

    from genclf.strategies import STRATEGIES

    monkeypatch.setattr(STRATEGIES, "_entries", dict(STRATEGIES._entries))
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start_local_ray(**options) -> None:
    """A local Ray instance for tests: 2 CPUs, no dashboard, a 200 MB object store, the loopback address."""
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 2**20,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
        **options,
    )
