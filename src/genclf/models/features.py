"""Frozen pretrained features, computed once: an embedding cache keyed by image content, backbone and resolution.

``embed(backbone, images)`` returns the pooled ImageNet features of uint8 images (N, C, H, W). Each image is
keyed by a digest of its pixels, so every split, seed and strategy of a run (and every later run on the same
images) shares the work. The cache lives beside the decoded-folder cache (``$GENCLF_CACHE_DIR/features``, by
default ``~/.cache/genclf/features``), one folder per (backbone, resolution, image shape), in shards written
atomically under a lock; an unreadable shard is dropped and recomputed. Features are stored and returned as
float16-rounded float32, so a cached and a fresh computation give the same numbers.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import uuid
import warnings
from pathlib import Path

import numpy as np
import torch

from genclf.files import atomic_write, exclusive_lock

KEY_BYTES = 16


def cache_root() -> Path:
    return Path(os.environ.get("GENCLF_CACHE_DIR", Path.home() / ".cache" / "genclf")) / "features"


def image_keys(images: torch.Tensor) -> np.ndarray:
    """A digest of each image's pixels (``KEY_BYTES`` bytes each, dtype S16)."""
    array = np.ascontiguousarray(images.numpy())
    return np.array([hashlib.blake2b(row.tobytes(), digest_size=KEY_BYTES).digest() for row in array], dtype="S16")


@functools.lru_cache(maxsize=2)
def frozen_backbone(backbone: str, resolution: int, channels: int):
    """The pretrained backbone in eval mode, inputs in [0, 1] (identity split normalisation)."""
    from genclf.models.classifiers import build_classifier

    model = build_classifier(backbone, channels, 2, resolution, resolution=resolution)
    model.load_pretrained()
    model.eval().requires_grad_(False)
    return model.to(memory_format=torch.channels_last)


class FeatureStore:
    """The shards of one (backbone, resolution, image shape) folder, read into memory once per process."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.rows: dict[bytes, np.ndarray] = {}
        self.seen: set[str] = set()

    def refresh(self) -> None:
        """Read shards written since the last look (by this or another process)."""
        if not self.folder.is_dir():
            return
        for shard in sorted(self.folder.glob("*.npz")):
            if shard.name in self.seen:
                continue
            try:
                with np.load(shard, allow_pickle=False) as data:
                    keys, values = data["keys"], data["features"]
                if len(keys) != len(values):
                    raise ValueError("keys and features differ in length")
            except (OSError, ValueError, KeyError, EOFError):
                warnings.warn(f"the feature cache shard {shard} is unreadable; dropping it", stacklevel=3)
                with contextlib.suppress(OSError):
                    shard.unlink()
                continue
            self.seen.add(shard.name)
            self.rows.update(zip(keys.tolist(), values.astype(np.float32)))

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Keep ``values`` (float16-rounded) for ``keys``, in memory and as a new shard (best effort)."""
        values = values.astype(np.float16)
        self.rows.update(zip(keys.tolist(), values.astype(np.float32)))
        name = f"{uuid.uuid4().hex}.npz"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(self.folder / name, lambda tmp: _save_shard(tmp, keys, values))
            self.seen.add(name)
        except OSError as exc:
            warnings.warn(f"could not write the feature cache {self.folder}: {exc}", stacklevel=3)


def _save_shard(tmp: Path, keys: np.ndarray, values: np.ndarray) -> None:
    with open(tmp, "wb") as handle:
        np.savez(handle, keys=keys, features=values)


_STORES: dict[Path, FeatureStore] = {}


def _store(backbone: str, resolution: int, shape) -> FeatureStore:
    """This process's view of the cache folder of one (backbone, resolution, image shape)."""
    _, c, h, w = shape
    folder = cache_root() / f"{backbone}-{resolution}px-{c}x{h}x{w}"
    return _STORES.setdefault(folder, FeatureStore(folder))


def missing_count(backbone: str, images: torch.Tensor, resolution: int) -> int:
    """How many distinct images of ``images`` the cache does not hold yet."""
    if len(images) == 0:
        return 0
    store = _store(backbone, int(resolution), images.shape)
    store.refresh()
    return len({key for key in image_keys(images).tolist() if key not in store.rows})


def embed(
    backbone: str,
    images: torch.Tensor,
    resolution: int | None = None,
    batch_size: int = 64,
    quiet: bool = True,
) -> np.ndarray:
    """Pooled pretrained features (N, D) of uint8 images (N, C, H, W), from the cache where it has them."""
    from genclf.models.backbones import BACKBONES, DEFAULT_RESOLUTION

    resolution = int(resolution or DEFAULT_RESOLUTION)
    dim = BACKBONES[backbone].feature_dim
    if len(images) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    store = _store(backbone, resolution, images.shape)
    folder = store.folder
    keys = image_keys(images)
    missing = [i for i, key in enumerate(keys.tolist()) if key not in store.rows]
    if missing:
        with exclusive_lock(folder / ".lock"):
            store.refresh()  # another worker may have computed them meanwhile
            missing = [i for i, key in enumerate(keys.tolist()) if key not in store.rows]
            if missing:
                unique = list({keys[i]: i for i in missing}.values())
                values = _compute(backbone, resolution, images[unique], batch_size, quiet)
                store.add(keys[unique], values)
    return np.stack([store.rows[key] for key in keys.tolist()])


@torch.inference_mode()
def _compute(backbone: str, resolution: int, images: torch.Tensor, batch_size: int, quiet: bool) -> np.ndarray:
    from tqdm.auto import tqdm

    model = frozen_backbone(backbone, resolution, images.shape[1])
    out = []
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc=f"{backbone} features", unit="batch", disable=quiet, leave=False):
        batch = images[start : start + batch_size].float().div_(255.0)
        out.append(model.features(batch).float().numpy())
    return np.concatenate(out)
