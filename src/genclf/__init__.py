"""genclf: image classification assisted by image generation.

Public API (imported on first use, so ``import genclf`` and the command line start fast)::

    import genclf
    clf = genclf.ImageClassifier(strategy="baseline", epochs=5).fit(X, y)   # scikit-learn estimator
    run = genclf.load_run("runs/my-run")                                     # results, summary, figures
    model = genclf.load_model("runs/train-1")                                # a trained classifier
    genclf.run_experiment(genclf.RunConfig(), "runs/my-run")                 # the main job
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genclf.lazy import lazy_exports
from genclf.version import __version__  # noqa: F401  (genclf.__version__)

# public name -> module that defines it
_EXPORTS = {
    "ImageClassifier": "genclf.estimator",
    "load_run": "genclf.api",
    "load_model": "genclf.api",
    "LoadedRun": "genclf.api",
    "as_images": "genclf.inputs",
    "TrainedClassifier": "genclf.classify",
    "load_classifier": "genclf.classify",
    "save_classifier": "genclf.classify",
    "train_classifier": "genclf.classify",
    "DataConfig": "genclf.config",
    "RunConfig": "genclf.config",
    "StrategyConfig": "genclf.config",
    "TrainConfig": "genclf.config",
    "TrainJobConfig": "genclf.config",
    "load_config": "genclf.config",
    "ImageSet": "genclf.data",
    "LoadedData": "genclf.data",
    "Split": "genclf.data",
    "load_dataset": "genclf.data",
    "make_split": "genclf.data",
    "GenclfError": "genclf.errors",
    "ClassificationMetrics": "genclf.evaluation",
    "compute_metrics": "genclf.evaluation",
    "run_experiment": "genclf.experiment",
    "Trainer": "genclf.training.trainer",
    "train_generator": "genclf.generation",
    "load_generator": "genclf.generation",
    "save_generator": "genclf.generation",
    "train_colorizer": "genclf.colorize",
    "load_colorizer": "genclf.colorize",
    "save_colorizer": "genclf.colorize",
    "TrainedGenerator": "genclf.generation",
    "TrainedColorizer": "genclf.colorize",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports("genclf", globals(), _EXPORTS)


if TYPE_CHECKING:  # for type checkers and IDEs; nothing is imported at run time
    from genclf.api import LoadedRun, load_model, load_run  # noqa: F401
    from genclf.classify import TrainedClassifier, load_classifier, save_classifier, train_classifier  # noqa: F401
    from genclf.colorize import TrainedColorizer, load_colorizer, save_colorizer, train_colorizer  # noqa: F401
    from genclf.config import (  # noqa: F401
        DataConfig,
        RunConfig,
        StrategyConfig,
        TrainConfig,
        TrainJobConfig,
        load_config,
    )
    from genclf.data import ImageSet, LoadedData, Split, load_dataset, make_split  # noqa: F401
    from genclf.errors import GenclfError  # noqa: F401
    from genclf.estimator import ImageClassifier  # noqa: F401
    from genclf.evaluation import ClassificationMetrics, compute_metrics  # noqa: F401
    from genclf.experiment import run_experiment  # noqa: F401
    from genclf.generation import TrainedGenerator, load_generator, save_generator, train_generator  # noqa: F401
    from genclf.inputs import as_images  # noqa: F401
    from genclf.training.trainer import Trainer  # noqa: F401
