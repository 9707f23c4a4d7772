"""The image formats beyond the C program's, found through one table the CLI reads.

Each row names the format, its command-line flag, the optional Python packages it
needs (checked before a render) and the function that writes an
:class:`~nanobragg.io.product.ImageProduct` to a path. A writer takes
``(path, product, **options)``; options are the format's own (for example ``rings``
for PNG, ``compression`` for NeXus) and writers ignore the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._optional import require

if TYPE_CHECKING:
    from .product import ImageProduct

Writer = Callable[..., None]

#: NeXus image compressions (``-nexus_compression``).
NEXUS_COMPRESSIONS = ("gzip", "bitshuffle", "none")

# The writers are imported when a format is written: a plain render (and the argument
# table, which only needs the flags) does not pay for their modules.


def _nexus(path: str | os.PathLike[str], product: ImageProduct, **options) -> None:
    from .nexus import write_nexus

    write_nexus(path, product, compression=options.get("compression", "gzip"))


def _cbf(path: str | os.PathLike[str], product: ImageProduct, **options) -> None:
    from .cbf import write_cbf

    write_cbf(path, product)


def _png(path: str | os.PathLike[str], product: ImageProduct, **options) -> None:
    from .png import write_preview

    write_preview(path, product, rings=options.get("rings"))


@dataclass(frozen=True)
class ImageFormat:
    """One output format.

    Attributes:
        name: table key.
        flag: command-line option that names the file.
        description: what is written (for messages and help).
        requires: importable optional packages the writer needs.
        write: ``write(path, product, **options)``.
    """

    name: str
    flag: str
    description: str
    requires: tuple[str, ...]
    write: Writer

    def check_available(self, options: dict | None = None) -> None:
        """Raise InputError naming the extra when a needed package is missing."""
        for module in self.requires:
            require(module, self.flag)
        if self.name == "nexus" and (options or {}).get("compression") == "bitshuffle":
            require("hdf5plugin", "-nexus_compression bitshuffle")


FORMATS: dict[str, ImageFormat] = {
    "nexus": ImageFormat("nexus", "-nexusfile", "NeXus NXmx HDF5 file", ("h5py",), _nexus),
    "cbf": ImageFormat("cbf", "-cbffile", "miniCBF (Pilatus header)", (), _cbf),
    "png": ImageFormat("png", "-pngfile", "PNG preview", (), _png),
}
