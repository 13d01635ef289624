"""Data sources: class folders and archives, CIFAR archives, and image decoding. No TensorFlow here."""

from edgecls.data.dataset import Dataset, Split
from edgecls.data.sources import DataOptions, load_dataset

__all__ = ["Dataset", "Split", "DataOptions", "load_dataset"]
