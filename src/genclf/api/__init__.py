"""genclf from Python: the scikit-learn estimator (``ImageClassifier``) and what a run or a training left
behind (``load_run``, ``load_model``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from genclf.lazy import lazy_exports

_EXPORTS = {
    "ImageClassifier": "genclf.api.estimator",
    "LoadedRun": "genclf.api.runs",
    "load_model": "genclf.api.runs",
    "load_run": "genclf.api.runs",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports("genclf.api", globals(), _EXPORTS)

if TYPE_CHECKING:
    from genclf.api.estimator import ImageClassifier  # noqa: F401
    from genclf.api.runs import LoadedRun, load_model, load_run  # noqa: F401
