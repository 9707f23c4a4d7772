"""The C library's interface: the parameter struct and the type of every entry point.

:func:`declare` gives every exported function its ``argtypes`` and ``restype`` (so a
wrong argument is a ctypes error, not a crash) and checks that :class:`Params` has the
size the library was compiled with (``nb_params_size``).
"""

from __future__ import annotations

import ctypes

_ptr, _i64, _f64, _u32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_uint32


class Params(ctypes.Structure):
    """The kernel's ``nb_params`` (nbkernel.c), field for field."""

    _fields_ = [(name, ctypes.c_double) for name in (
        "kahn", "dmin", "default_F", "background", "scale")] + [
        ("N", ctypes.c_double * 3), ("fudge", ctypes.c_double),
        ("recip", ctypes.c_double * 9), ("depth", ctypes.c_double),
        ("distance", ctypes.c_double), ("beam", ctypes.c_double * 3)] + [
        (name, ctypes.c_int64) for name in (
            "oversample", "fpixels", "frame", "point_pixel", "nopolar", "curved", "capture",
            "first_layer", "water", "over_thick", "over_polar", "over_omega", "shape")] + [
        ("lookup", ctypes.c_int64)] + [
        (name, ctypes.c_int64) for name in ("n_layers", "n_sources", "n_orient")] + [
        ("mins", ctypes.c_int64 * 3), ("ranges", ctypes.c_int64 * 3),
        ("stop_position", ctypes.c_int64), ("stop_eval", ctypes.c_int64),
        ("n_panels", ctypes.c_int64)]


#: The detector fields of the kernels' panel array, in order, with their doubles (also
#: the per-panel part of the gradient buffer).
PANEL_FIELDS = (("fdet", 3), ("sdet", 3), ("odet", 3), ("pix0", 3), ("pixel_size", 1),
                ("close_distance", 1))
#: Doubles per panel in the kernels' panel array, and in the gradient buffer.
PANEL_DOUBLES = sum(width for _, width in PANEL_FIELDS)
#: The gradient buffer's globals (after the panels), in order, with their doubles.
GRADIENT_GLOBALS = (("scale", 1), ("background", 1), ("kahn", 1), ("N", 3), ("fudge", 1),
                    ("recip_rows", 9), ("depth", 1), ("distance", 1), ("beam", 3))


def gradient_layout(panels: int, layers: int, sources: int, orientations: int) -> dict:
    """Offsets of the parts of the adjoint's gradient buffer (as ``nb_layout`` in
    nbadjoint.h): ``glob`` (the globals), ``layers``, ``inc``, ``wl``, ``e_in``,
    ``b_in``, ``rows``, and ``width``, where the F table's part starts."""
    out = {"glob": PANEL_DOUBLES * panels}
    out["layers"] = out["glob"] + sum(count for _, count in GRADIENT_GLOBALS)
    out["inc"] = out["layers"] + layers
    out["wl"] = out["inc"] + 3 * sources
    out["e_in"] = out["wl"] + sources
    out["b_in"] = out["e_in"] + 3 * sources
    out["rows"] = out["b_in"] + 3 * sources
    out["width"] = out["rows"] + 9 * orientations
    return out


#: The render's arguments: params, pixel list, first pixel, count, then the arrays
#: (panels, layers, incident, wavelength, e_in, b_in, rows, table, out).
_RENDER = ((ctypes.POINTER(Params), _ptr, _i64, _i64) + (_ptr,) * 9, None)
#: The tricubic stop search: as the render, without the table, and the found pair.
_STOP = ((ctypes.POINTER(Params), _ptr, _i64, _i64) + (_ptr,) * 7
         + (ctypes.POINTER(ctypes.c_int64 * 2),), None)

#: name -> (argtypes, restype) of every function the library exports.
ENTRY_POINTS: dict[str, tuple[tuple, object]] = {
    "nb_params_size": ((), _i64),
    "nb_render_f32": _RENDER,
    "nb_render_f64": _RENDER,
    "nb_stop_f32": _STOP,
    "nb_stop_f64": _STOP,
    "nb_grad_size": ((ctypes.POINTER(Params), _i64), _i64),
    "nb_adjoint_scratch": ((ctypes.POINTER(Params),), _i64),
    "nb_adjoint": ((ctypes.POINTER(Params), _ptr, _i64, _i64) + (_ptr,) * 9
                   + (_i64, _ptr, _ptr), None),
    "nb_noise_logf_error": ((_u32, _u32), _f64),
    "nb_noise_prepare_check": ((_u32, _u32), _i64),
    "nb_noise_tan_check": ((_u32, _u32), _i64),
    "nb_noise_open": ((_ptr, _i64, _ptr), _ptr),
    "nb_noise_help": ((_ptr,), None),
    "nb_noise_stop": ((_ptr,), None),
    "nb_noise_draw": ((_ptr, _f64, _ptr), None),
    "nb_noise_close": ((_ptr, _ptr, _ptr), _f64),
    "nb_noise": ((_ptr, _i64, _f64, _ptr, _ptr, _ptr), _f64),
    "nb_int_image": ((_ptr, _ptr, _i64, _f64, _f64, _ptr), None),
    "nb_image_sums": ((_ptr, _ptr, _i64, _ptr, _ptr), None),
    "nb_image_deviations": ((_ptr, _ptr, _i64, _f64), _f64),
    "nb_dn_counts": ((_ptr, _i64, _f64, _f64, _ptr, _ptr), _f64),
    "nb_dn_readout": ((_ptr, _i64, _f64, _f64, _f64, _i64, _ptr, _ptr, _ptr, _ptr), _f64),
}


class InterfaceError(RuntimeError):
    """The library does not match this interface (a stale or foreign build)."""


def declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Set the types of every entry point of ``lib`` and check the struct size.

    Raises:
        InterfaceError: an entry point is missing or ``nb_params`` has another size.
    """
    for name, (argtypes, restype) in ENTRY_POINTS.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise InterfaceError(f"fast kernel library {lib._name}: no {name}") from None
        fn.argtypes, fn.restype = argtypes, restype
    compiled, here = lib.nb_params_size(), ctypes.sizeof(Params)
    if compiled != here:
        raise InterfaceError(f"fast kernel library {lib._name}: nb_params is {compiled} "
                             f"bytes there, {here} here")
    return lib
