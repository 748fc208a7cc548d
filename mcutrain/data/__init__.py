"""Data sets (built-in MNIST, .npz, IDX folders) and the input encodings of docs/contracts.md."""

from .base import Dataset, arrays_digest
from .datasets import load_dataset
from .encoding import decode, encode, input_bytes

__all__ = ["Dataset", "arrays_digest", "decode", "encode", "input_bytes", "load_dataset"]
