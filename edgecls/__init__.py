"""edgecls: train an image classifier, quantize it for the edge, and measure what it costs."""

__version__ = "0.1.0"
