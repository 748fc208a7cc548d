"""mcutrain: train binarized networks on microcontrollers with additions and shifts."""

__version__ = "0.1.0"
