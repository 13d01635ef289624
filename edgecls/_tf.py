"""The one place TensorFlow and Keras are imported.

tensorflow-model-optimization needs Keras 2, which TensorFlow 2.16+ serves as ``tf_keras`` when
TF_USE_LEGACY_KERAS=1 is set before TensorFlow is first imported. Everything in edgecls that needs
TensorFlow or Keras gets them from here, so that order always holds.
"""

from __future__ import annotations

import os

from edgecls.errors import MissingExtraError

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def keras():
    """Return the ``tf_keras`` module (Keras 2)."""
    try:
        import tensorflow  # noqa: F401  (imported after the environment above is set)
        import tf_keras
    except ImportError as exc:
        raise MissingExtraError(exc.name or "tensorflow", "train") from None
    return tf_keras


def tf():
    """Return the ``tensorflow`` module, with Keras 2 selected."""
    keras()
    import tensorflow

    return tensorflow
