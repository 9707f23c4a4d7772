"""nanobragg: a vectorised, differentiable PyTorch port of the nanoBragg simulator."""

__version__ = "0.1.0"
