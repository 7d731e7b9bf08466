"""Data layer: dataset specs, in-memory image sets, splits and batching.

Names are imported on first use, so reading a config or listing the data schemes loads no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genclf.lazy import lazy_exports

_EXPORTS = {
    "SCHEMES": "genclf.data.datasets",
    "load_dataset": "genclf.data.datasets",
    "parse_spec": "genclf.data.datasets",
    "iterate_batches": "genclf.data.batches",
    "ImageSet": "genclf.data.images",
    "LoadedData": "genclf.data.images",
    "Imbalance": "genclf.data.imbalance",
    "Normalization": "genclf.data.splits",
    "Split": "genclf.data.splits",
    "make_split": "genclf.data.splits",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports("genclf.data", globals(), _EXPORTS)


if TYPE_CHECKING:
    from genclf.data.batches import iterate_batches  # noqa: F401
    from genclf.data.datasets import SCHEMES, load_dataset, parse_spec  # noqa: F401
    from genclf.data.images import ImageSet, LoadedData  # noqa: F401
    from genclf.data.imbalance import Imbalance  # noqa: F401
    from genclf.data.splits import Normalization, Split, make_split  # noqa: F401
