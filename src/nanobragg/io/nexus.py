"""NeXus NXmx (HDF5) images, written with h5py.

Layout (lengths in mm, angles in degrees, vectors in the McStas frame of
:func:`nanobragg.io.geometry.mcstas_rotation`)::

    /entry                     NXentry: definition "NXmx", start_time, end_time
      data/data                NXdata: counts, (frames, slow, fast) int32, compressed
      instrument/beam          NXbeam: incident_wavelength, total_flux
      instrument/detector      NXdetector: distance, beam_center_x/y (pixels), count_time,
                               sensor_material, sensor_thickness, pixel_mask,
                               saturation_value, depends_on -> transformations/det_z
        transformations/det_z  translation by the distance along +z (the beam)
        module_N               NXdetector_module per panel: data_origin, data_size,
                               module_offset (det_z -> panel corner), fast/slow_pixel_direction
      sample                   NXsample: depends_on -> transformations/phi
        transformations/phi    rotation about the spindle, one value per frame
      source                   NXsource: name

The panel corner of pixel (0, 0) is det_z + module_offset; the pixel directions are
translations by one pixel along the panel's fast and slow unit vectors.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ._atomic import atomic_path
from ._optional import require
from .geometry import ImageGeometry, PanelGeometry, mcstas_rotation
from .product import ImageProduct

#: NeXus image compressions (``-nexus_compression``).
NEXUS_COMPRESSIONS = ("gzip", "bitshuffle", "none")

#: pixel_mask bit for pixels that were not rendered (outside -roi or zero in -mask).
USER_MASK_BIT = 1 << 8

_DETECTOR = "/entry/instrument/detector"


def write_nexus(path: str | os.PathLike[str], product: ImageProduct,
                compression: str = "gzip") -> None:
    """Write an NXmx file atomically.

    Args:
        path: destination ``.h5`` / ``.nxs`` file.
        product: pixels, mask and geometry.
        compression: ``"gzip"`` (any HDF5 reader), ``"bitshuffle"`` (bitshuffle + LZ4,
            needs ``hdf5plugin`` to write and to read) or ``"none"``.

    Raises:
        InputError: h5py (or hdf5plugin for bitshuffle) missing, or the file cannot be
            written.
        ValueError: unknown compression.
    """
    h5py = require("h5py", "-nexusfile")
    filters = _filters(compression)
    # No chunk cache: chunks take their file space in write order, so the same image
    # gives the same bytes however long a caller keeps the h5py objects alive.
    with atomic_path(path, "NeXus file") as tmp, h5py.File(tmp, "w", rdcc_nbytes=0) as f:
        f.attrs["default"] = "entry"
        f.attrs["NX_class"] = "NXroot"
        f.attrs["creator"] = "nanobragg"
        f.attrs["file_name"] = os.path.basename(os.fspath(path))
        f.attrs["HDF5_Version"] = h5py.version.hdf5_version
        entry = _group(f, "entry", "NXentry")
        entry.attrs["default"] = "data"
        entry["definition"] = "NXmx"
        entry["start_time"] = _iso(product.start_time)
        entry["end_time"] = _iso(product.end_time)
        entry["end_time_estimated"] = _iso(product.end_time)
        data = _group(entry, "data", "NXdata")
        data.attrs["signal"] = "data"
        counts = product.counts.astype(np.int32)
        chunks = (1,) + counts.shape[1:]
        dataset = data.create_dataset("data", data=counts, chunks=chunks, **filters)
        dataset.attrs["units"] = "counts"
        instrument = _group(entry, "instrument", "NXinstrument")
        instrument["name"] = "nanoBragg simulation"
        _write_beam(instrument, product.geometry)
        detector = _write_detector(instrument, product, filters)
        detector["data"] = dataset
        _write_sample(entry, product.geometry)
        _group(entry, "source", "NXsource")["name"] = "nanoBragg simulated source"


def _filters(compression: str) -> dict:
    """h5py create_dataset keywords for a compression name."""
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    if compression == "none":
        return {}
    if compression == "bitshuffle":
        plugin = require("hdf5plugin", "-nexus_compression bitshuffle")
        return dict(plugin.Bitshuffle(cname="lz4"))
    raise ValueError(f"compression must be one of {', '.join(NEXUS_COMPRESSIONS)}, "
                     f"not {compression!r}")


def _group(parent, name: str, nx_class: str):
    group = parent.create_group(name)
    group.attrs["NX_class"] = nx_class
    return group


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _field(group, name: str, value, units: str | None = None):
    dataset = group.create_dataset(name, data=value)
    if units is not None:
        dataset.attrs["units"] = units
    return dataset


def _write_beam(instrument, geometry: ImageGeometry) -> None:
    beam = _group(instrument, "beam", "NXbeam")
    _field(beam, "incident_wavelength", geometry.wavelength * 1e10, "angstrom")
    _field(beam, "total_flux", geometry.total_flux, "Hz")


def _write_detector(instrument, product: ImageProduct, filters: dict):
    """The NXdetector group with its transformations and one module per panel."""
    geometry = product.geometry
    detector = _group(instrument, "detector", "NXdetector")
    detector["description"] = "nanoBragg simulated detector"
    detector["type"] = "pixel"
    detector["depends_on"] = f"{_DETECTOR}/transformations/det_z"
    _field(detector, "distance", geometry.distance * 1e3, "mm")
    _field(detector, "beam_center_x", geometry.beam_center[0], "pixel")
    _field(detector, "beam_center_y", geometry.beam_center[1], "pixel")
    _field(detector, "count_time", geometry.exposure, "s")
    detector["sensor_material"] = geometry.sensor_material
    _field(detector, "sensor_thickness", geometry.sensor_thickness * 1e3, "mm")
    mask = np.where(product.valid, 0, USER_MASK_BIT).astype(np.int32)
    detector.create_dataset("pixel_mask", data=mask, **filters)
    detector["pixel_mask_applied"] = False
    detector["saturation_value"] = np.int32(geometry.saturation)
    detector["bit_depth_readout"] = np.int32(16)
    transformations = _group(detector, "transformations", "NXtransformations")
    _axis(transformations, "det_z", geometry.distance * 1e3, "mm", "translation",
          (0.0, 0.0, 1.0), ".")
    rotation = mcstas_rotation(geometry.beam)
    for index, panel in enumerate(geometry.panels):
        _write_module(detector, f"module_{index}" if len(geometry.panels) > 1 else "module",
                      panel, rotation, geometry.distance * 1e3)
    return detector


def _write_module(detector, name: str, panel: PanelGeometry, rotation: np.ndarray,
                  det_z_mm: float) -> None:
    """One NXdetector_module: hyperslab, offset from det_z, and pixel directions."""
    module = _group(detector, name, "NXdetector_module")
    module["data_origin"] = np.array(panel.data_origin, dtype=np.int32)
    module["data_size"] = np.array((panel.size[1], panel.size[0]), dtype=np.int32)
    origin = rotation @ np.asarray(panel.origin) * 1e3
    offset = origin - np.array([0.0, 0.0, det_z_mm])
    length = float(np.linalg.norm(offset))
    direction = offset / length if length > 0 else np.array([1.0, 0.0, 0.0])
    base = f"{_DETECTOR}/{name}"
    _axis(module, "module_offset", length, "mm", "translation", direction,
          f"{_DETECTOR}/transformations/det_z")
    for axis, vector, size in (("fast_pixel_direction", panel.fast, panel.pixel_size[0]),
                               ("slow_pixel_direction", panel.slow, panel.pixel_size[1])):
        _axis(module, axis, size * 1e3, "mm", "translation", rotation @ np.asarray(vector),
              f"{base}/module_offset")


def _axis(group, name: str, value, units: str, kind: str, vector, depends_on: str,
          offset=(0.0, 0.0, 0.0)):
    """An NXtransformations axis: values with units, type, unit vector, offset, parent."""
    dataset = _field(group, name, value, units)
    dataset.attrs["transformation_type"] = kind
    dataset.attrs["vector"] = np.asarray(vector, dtype=np.float64)
    dataset.attrs["offset"] = np.asarray(offset, dtype=np.float64)
    dataset.attrs["offset_units"] = "mm"
    dataset.attrs["depends_on"] = depends_on
    return dataset


def _write_sample(entry, geometry: ImageGeometry) -> None:
    """NXsample on the spindle: phi at the start of every frame, its increment and end."""
    sample = _group(entry, "sample", "NXsample")
    sample["name"] = "simulated crystal"
    sample["depends_on"] = "/entry/sample/transformations/phi"
    transformations = _group(sample, "transformations", "NXtransformations")
    spindle = mcstas_rotation(geometry.beam) @ np.asarray(geometry.spindle)
    start = np.degrees(geometry.phi_values)
    step = math.degrees(geometry.phi_increment)
    _axis(transformations, "phi", start, "deg", "rotation", spindle, ".")
    _field(transformations, "phi_increment_set", np.full(start.shape, step), "deg")
    _field(transformations, "phi_end", start + step, "deg")
