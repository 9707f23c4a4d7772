"""Every output file of a render, as rows of one table: the C program's and ours.

Each row names the output, its command-line flag, the optional Python packages it
needs (checked before a render), what the command prints before writing it, and the
function that writes an :class:`~nanobragg.io.product.ImageProduct` to a path. A writer
takes ``(path, product, **options)``; options are the format's own (``rings`` for PNG,
``compression`` for NeXus) and writers ignore the others. The table's order is the
order in which a run writes its files (the C's outputs first, in the C's order).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..io._optional import require
from ..io.nexus import NEXUS_COMPRESSIONS

if TYPE_CHECKING:
    from ..io.product import ImageProduct

Writer = Callable[..., None]
Announce = Callable[[str, "ImageProduct", dict], list[str]]

__all__ = ["FORMATS", "NEXUS_COMPRESSIONS", "ImageFormat"]

# The writers import their modules when a file is written: a plain render (and the
# argument table, which only needs the flags) does not pay for the ones it does not use.


def _float(path: str | os.PathLike[str], product: ImageProduct, **options) -> None:
    from ..io._atomic import write_chunks
    from ..io.streaming import array_chunks

    write_chunks(path, array_chunks(product.image, "<f4"))


def _smv(path: str | os.PathLike[str], product: ImageProduct, **options) -> None:
    from ..io._atomic import write_chunks
    from ..io.streaming import image_chunks
    from .images import int_image

    image, roi = product.image, product.roi
    pixels = image_chunks(image.shape, "<u2", lambda r: int_image(
        image[r], roi[r], product.scale, product.adc))
    write_chunks(path, itertools.chain([product.smv_header], pixels))


def _pgm(path: str | os.PathLike[str], product: ImageProduct, **options) -> None:
    from ..io._atomic import write_chunks
    from ..io.pgm import pgm_header
    from ..io.streaming import image_chunks
    from .images import pgm_pixels

    image, roi = product.image, product.roi
    pixels = image_chunks(image.shape, "u1",
                          lambda r: pgm_pixels(image[r], roi[r], product.pgm_scale))
    top = pgm_header(image.shape[1], image.shape[0], product.pgm_scale)
    write_chunks(path, itertools.chain([top], pixels))


def _noise(path: str | os.PathLike[str], product: ImageProduct, **options) -> None:
    from ..io._atomic import write_chunks
    from ..io.streaming import array_chunks

    noise = product.noise[0]
    write_chunks(path, itertools.chain([product.smv_header], array_chunks(noise, "<u2")))


def _expt(path: str | os.PathLike[str], product: ImageProduct, **options) -> None:
    from .experiments import write_experiment_list

    write_experiment_list(path, product.config, list(product.image_names))


def _nexus(path: str | os.PathLike[str], product: ImageProduct, **options) -> None:
    from ..io.nexus import write_nexus

    write_nexus(path, product, compression=options.get("compression", "gzip"))


def _cbf(path: str | os.PathLike[str], product: ImageProduct, **options) -> None:
    from ..io.cbf import write_cbf

    write_cbf(path, product)


def _png(path: str | os.PathLike[str], product: ImageProduct, **options) -> None:
    from ..io.png import write_preview

    write_preview(path, product, rings=options.get("rings"))


def _writing(path: str, product: ImageProduct, options: dict, what: str) -> list[str]:
    return [f"writing {path} as {what}"]


def _announce_float(path: str, product: ImageProduct, options: dict) -> list[str]:
    return [f"writing {path} as {product.image.size} 4-byte floats"]


def _announce_smv(path: str, product: ImageProduct, options: dict) -> list[str]:
    return [f"intfile_scale = {product.scale:g}", f"writing {path} as 2-byte integers"]


def _announce_pgm(path: str, product: ImageProduct, options: dict) -> list[str]:
    return [f"pgm_scale = {product.pgm_scale:g}"]


def _announce_noise(path: str, product: ImageProduct, options: dict) -> list[str]:
    _, photons, overloads = product.noise
    return [f"{photons:.0f} photons on noise image ({overloads} overloads)",
            f"writing {path} as 2-byte integers"]


def _announce_expt(path: str, product: ImageProduct, options: dict) -> list[str]:
    return [f"writing {path} (DIALS experiment list)"]


def _announce_png(path: str, product: ImageProduct, options: dict) -> list[str]:
    lines = [f"writing {path} as PNG preview"]
    if options.get("rings"):
        from ..io.png import ring_spacings

        spacings = ring_spacings(product, options["rings"])
        lines.append(f"  resolution rings at {' '.join(f'{d * 1e10:g}' for d in spacings)} A")
    return lines


def _described(what: str) -> Announce:
    return lambda path, product, options: _writing(path, product, options, what)


@dataclass(frozen=True)
class ImageFormat:
    """One output.

    Attributes:
        name: table key.
        flag: command-line option that names the file.
        description: what is written (for messages and help).
        requires: importable optional packages the writer needs.
        write: ``write(path, product, **options)``.
        announce: ``announce(path, product, options)``: the lines the command prints
            before the file is written.
        own_rule: the flag has its own entry in the argument table (the C's outputs and
            ``-exptout``); the others share the table's generic file rule.
        needs_counts: the writer reads ``product.counts`` and ``product.geometry``.
    """

    name: str
    flag: str
    description: str
    requires: tuple[str, ...]
    write: Writer
    announce: Announce
    own_rule: bool = False
    needs_counts: bool = False

    def check_available(self, options: dict | None = None) -> None:
        """Raise InputError naming the extra when a needed package is missing."""
        for module in self.requires:
            require(module, self.flag)
        if self.name == "nexus" and (options or {}).get("compression") == "bitshuffle":
            require("hdf5plugin", "-nexus_compression bitshuffle")


def _row(name: str, flag: str, description: str, write: Writer, announce: Announce | None = None,
         requires: tuple[str, ...] = (), own_rule: bool = False) -> ImageFormat:
    return ImageFormat(name, flag, description, requires, write,
                       announce or _described(description), own_rule,
                       needs_counts=not own_rule)


FORMATS: dict[str, ImageFormat] = {row.name: row for row in (
    _row("float", "-floatfile", "raw 4-byte floats", _float, _announce_float, own_rule=True),
    _row("smv", "-intfile", "SMV 2-byte integers", _smv, _announce_smv, own_rule=True),
    _row("pgm", "-pgmfile", "8-bit PGM preview", _pgm, _announce_pgm, own_rule=True),
    _row("noise", "-noisefile", "SMV 2-byte integers with Poisson noise", _noise,
         _announce_noise, own_rule=True),
    _row("nexus", "-nexusfile", "NeXus NXmx HDF5 file", _nexus, requires=("h5py",)),
    _row("cbf", "-cbffile", "miniCBF (Pilatus header)", _cbf),
    _row("png", "-pngfile", "PNG preview", _png, _announce_png),
    _row("expt", "-exptout", "DIALS experiment list", _expt, _announce_expt, own_rule=True),
)}
