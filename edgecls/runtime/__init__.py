"""The edge runtime: TFLite interpreters and classification. Never imports TensorFlow (unless it is the only
TFLite runtime installed)."""

from edgecls.runtime.classifier import Category, Classifier, Result
from edgecls.runtime.default import default_model_path

__all__ = ["Category", "Classifier", "Result", "default_model_path"]
