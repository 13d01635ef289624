"""Model builders. Every model takes 0..255 RGB pixels, owns its preprocessing as layers and ends in softmax."""

from edgecls.models.registry import MODELS, create_model, list_models, register_model

__all__ = ["MODELS", "create_model", "list_models", "register_model"]
