"""Many-shot data sets: a description, per-shot draws, batched rendering, chunked
HDF5 output with a manifest, local or Dask execution, and a torch dataset."""

from .description import DatasetDescription, load_description, make_description
from .variation import DescriptionError, Distribution, Variation

__all__ = ["DatasetDescription", "DescriptionError", "Distribution", "Variation",
           "load_description", "make_description"]
