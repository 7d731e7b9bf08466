"""Networks: classifiers (and, registered the same way, generative models)."""

from genclf.models.classifiers import CLASSIFIERS, Classifier, build_classifier
from genclf.models.output import StepOutput

__all__ = ["CLASSIFIERS", "Classifier", "StepOutput", "build_classifier"]
