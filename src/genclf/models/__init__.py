"""Networks: classifiers (and, registered the same way, generative models)."""

from genclf.models.classifiers import CLASSIFIERS, Classifier, build_classifier
from genclf.models.output import StepOutput

__all__ = ["CLASSIFIERS", "Classifier", "StepOutput", "build_classifier"]

from genclf.models import backbones, cgan, cvae, ddpm, pretrained_colorizer  # noqa: E402,F401  (register them)
from genclf.models.generative import GENERATORS, GenerativeModel, build_generator  # noqa: E402

__all__ += ["GENERATORS", "GenerativeModel", "build_generator"]
