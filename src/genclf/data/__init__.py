"""Data layer: dataset specs, in-memory image sets, splits and batching."""

from genclf.data import digits, idx, image_folder, npz, shapes  # noqa: F401  (register the schemes)
from genclf.data.batches import iterate_batches
from genclf.data.datasets import SCHEMES, load_dataset, parse_spec
from genclf.data.images import ImageSet, LoadedData
from genclf.data.splits import Imbalance, Normalization, Split, make_split

__all__ = [
    "SCHEMES",
    "ImageSet",
    "Imbalance",
    "LoadedData",
    "Normalization",
    "Split",
    "iterate_batches",
    "load_dataset",
    "make_split",
    "parse_spec",
]
