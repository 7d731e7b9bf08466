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
    "ImageClassifier": "genclf.api.estimator",
    "load_run": "genclf.api.runs",
    "load_model": "genclf.api.runs",
    "LoadedRun": "genclf.api.runs",
    "as_images": "genclf.data.inputs",
    "TrainedClassifier": "genclf.pipelines.classify",
    "load_classifier": "genclf.pipelines.classify",
    "save_classifier": "genclf.pipelines.classify",
    "train_classifier": "genclf.pipelines.classify",
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
    "run_experiment": "genclf.run.experiment",
    "Trainer": "genclf.training.trainer",
    "Fit": "genclf.training.fit",
    "train_generator": "genclf.pipelines.generate",
    "load_generator": "genclf.pipelines.generate",
    "save_generator": "genclf.pipelines.generate",
    "train_colorizer": "genclf.pipelines.colorize",
    "load_colorizer": "genclf.pipelines.colorize",
    "save_colorizer": "genclf.pipelines.colorize",
    "TrainedGenerator": "genclf.pipelines.generate",
    "TrainedColorizer": "genclf.pipelines.colorize",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports("genclf", globals(), _EXPORTS)


if TYPE_CHECKING:  # for type checkers and IDEs; nothing is imported at run time
    from genclf.api.estimator import ImageClassifier  # noqa: F401
    from genclf.api.runs import LoadedRun, load_model, load_run  # noqa: F401
    from genclf.config import (  # noqa: F401
        DataConfig,
        RunConfig,
        StrategyConfig,
        TrainConfig,
        TrainJobConfig,
        load_config,
    )
    from genclf.data import ImageSet, LoadedData, Split, load_dataset, make_split  # noqa: F401
    from genclf.data.inputs import as_images  # noqa: F401
    from genclf.errors import GenclfError  # noqa: F401
    from genclf.evaluation import ClassificationMetrics, compute_metrics  # noqa: F401
    from genclf.pipelines.classify import TrainedClassifier, load_classifier, save_classifier, train_classifier  # noqa: F401
    from genclf.pipelines.colorize import TrainedColorizer, load_colorizer, save_colorizer, train_colorizer  # noqa: F401
    from genclf.pipelines.generate import TrainedGenerator, load_generator, save_generator, train_generator  # noqa: F401
    from genclf.run.experiment import run_experiment  # noqa: F401
    from genclf.training.fit import Fit  # noqa: F401
    from genclf.training.trainer import Trainer  # noqa: F401
