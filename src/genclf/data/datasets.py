"""Dataset specs (``digits``, ``idx:DIR``, ``folder:DIR``, ``npz:FILE``) and their registry."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from genclf.errors import DataError
from genclf.registry import Registry

if TYPE_CHECKING:
    from genclf.data.images import LoadedData


@dataclass(frozen=True)
class Scheme:
    """A data source kind: ``load(argument, image_size, channels) -> LoadedData``, given as the function or as
    the name of the module whose ``load`` it is (imported on first use, so listing schemes stays light)."""

    name: str
    source: Callable[..., LoadedData] | str
    needs_argument: bool
    help: str

    @property
    def load(self) -> Callable[..., LoadedData]:
        if isinstance(self.source, str):
            return importlib.import_module(self.source).load
        return self.source


SCHEMES: Registry[Scheme] = Registry("data scheme")


def register_scheme(name: str, help: str, needs_argument: bool = True):
    """Register a loader function as data scheme ``name`` (for schemes defined outside genclf)."""

    def decorate(load: Callable[..., LoadedData]) -> Callable[..., LoadedData]:
        SCHEMES.register(name)(Scheme(name, load, needs_argument, help))
        return load

    return decorate


for _name, _module, _needs_argument, _help in (
    ("digits", "genclf.data.digits", False, "scikit-learn's 1,797 8x8 grey digits (built in, no download)"),
    (
        "idx",
        "genclf.data.idx",
        True,
        "MNIST-style IDX files in DIR: train-/t10k-images-idx3-ubyte[.gz] and -labels-idx1-ubyte[.gz]",
    ),
    (
        "folder",
        "genclf.data.image_folder",
        True,
        "class sub-folders of images in DIR (or DIR/train and DIR/test), resized, cached",
    ),
    ("npz", "genclf.data.npz", True, "NumPy .npz FILE with x (N,H,W) or (N,H,W,C), y (N,), optional class_names"),
    (
        "shapes",
        "genclf.data.shapes",
        False,
        "genclf's procedural colour blobs (fire/water/foliage/sand, 32x32, colour + texture cues); "
        "'shapes:N' = N per class",
    ),
):
    SCHEMES.register(_name)(Scheme(_name, _module, _needs_argument, _help))


def parse_spec(spec: str) -> tuple[str, str | None]:
    """Split ``scheme:argument``; a bare existing path is not guessed, the scheme is required."""
    if not isinstance(spec, str) or not spec:
        raise DataError(
            "--data",
            "expected a dataset spec such as 'digits', 'idx:DIR', 'folder:DIR' or 'npz:FILE'",
        )
    scheme, sep, argument = spec.partition(":")
    if scheme not in SCHEMES:
        choices = ", ".join(SCHEMES.names())
        raise DataError(spec, f"unknown data scheme {scheme!r}; expected one of: {choices}")
    entry = SCHEMES.get(scheme)
    if entry.needs_argument and not argument:
        raise DataError(spec, f"scheme {scheme!r} needs a path, e.g. '{scheme}:PATH'")
    return scheme, (argument if sep else None)


def load_dataset(spec: str, image_size: int | None = None, channels: int | None = None) -> LoadedData:
    """Load a dataset spec into memory as uint8 tensors.

    Args:
        spec: ``digits``, ``idx:DIR``, ``folder:DIR`` or ``npz:FILE``.
        image_size: resize to this square size (None keeps the source size).
        channels: 1 or 3 (None keeps the source's channels).

    Raises:
        DataError: the spec, file or folder is missing, corrupt or inconsistent.
    """
    if channels not in (None, 1, 3):
        raise DataError("--channels", f"expected 1 or 3, got {channels}")
    if image_size is not None and not 4 <= image_size <= 512:
        raise DataError("--image-size", f"expected an integer between 4 and 512, got {image_size}")
    from genclf.data.images import conform

    scheme, argument = parse_spec(spec)
    data = SCHEMES.get(scheme).load(argument, image_size=image_size, channels=channels)
    for part in (data.train, data.test, data.unlabeled):
        if part is not None:
            part.images = conform(part.images, image_size, channels)
    if data.train.num_classes < 2:
        raise DataError(spec, f"expected at least 2 classes, found {data.train.num_classes}")
    names = [str(n) for n in data.train.class_names]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(spec, f"two classes are both named {twice[0]!r}: class names must be unique")
    return data
