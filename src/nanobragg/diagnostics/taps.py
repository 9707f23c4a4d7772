"""Intensity taps of a few pixels as plain data (JSON), from any nanoBragg command line.

:func:`pixel_taps` builds the simulation from C-style arguments exactly as the
``nanoBragg`` command does, runs the kernel on the requested pixels only (no image is
rendered) and returns the kernel's intermediates with stable key names:

``provenance``
    ``argv``, ``command_line``, ``nanobragg_version``, ``torch_version``, ``device``,
    ``dtype``.
``setup``
    ``oversample``, ``steps``, ``sources``, ``phi_steps``, ``mosaic_domains``,
    ``layers``, the ``oversample_*`` flags, ``fluence_photons_per_m2``, ``r_e_sqr_m2``.
``pixels``
    One entry per pixel: ``slow``, ``fast``, ``rendered`` (inside ROI and mask),
    ``geometry`` (``pix0_m``, ``fdet``, ``sdet``, ``odet``, ``close_distance_m``),
    ``subpixels`` (per layer and sub-pixel in the C's loop order: ``layer``,
    ``sub_slow``, ``sub_fast``, ``position_m``, ``airpath_m``, ``diffracted``,
    ``omega_sr``, ``capture_fraction`` and per source ``incident``, ``wavelength_m``,
    ``scattering_per_m``, ``stol_per_m``, ``dmin_skipped``, ``polar`` and per phi step
    and mosaic domain ``hkl_frac``, ``hkl_rounded``, ``F_cell``, ``F_latt``,
    ``F_latt_axes`` (square shape only)) and ``intensity``: ``intensity_pre_norm`` (the
    C's ``I`` before scaling), ``steps``, ``omega``, ``polar``, ``capture_fraction`` (the
    values applied last), ``normalized_intensity`` (the pixel's value in the image).

The console command ``nanobragg-trace`` writes this JSON (or the ``TRACE_PY`` log with
``--log``).
"""

from __future__ import annotations

import argparse
import io
import json
import shlex
import sys

import torch

from .. import __version__
from ..errors import InputError
from ..render.simulate import Setup, prepare, resolve_device
from ..units import R_E_SQR
from .pixels import PixelTaps, applied_factors, render_taps, rendered_flags

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def prepared_request(argv: list[str], out, dtype: str | None = None,
                     device: str | None = None):
    """Parse a nanoBragg command line, load structure factors and build the setup.

    Args:
        argv: nanoBragg arguments (without the program name).
        out: stream for the messages of structure-factor loading.
        dtype: ``"float32"``/``"float64"``; None = the command line's ``-dtype``.
        device: torch device name; None = the command line's ``-device``.

    Returns:
        ``(request, setup)``.
    """
    from ..commandline.to_config import build_request
    from ..io.structure_factors import load_structure_factors

    request = build_request(list(argv))
    if request.show_help:
        raise InputError("-h asks for the usage text; give a simulation to trace")
    table, notes, warnings = load_structure_factors(
        request.hkl_path, request.dump_path, request.config.crystal.default_F,
        request.parsed.default_F_given, config=request.config)
    out.write("".join(f"{line}\n" for line in warnings + notes))
    dtype = dtype or request.runtime.dtype
    if dtype not in DTYPES:
        raise InputError(f"dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
    device = resolve_device(device or request.runtime.device)
    return request, prepare(request.config, table, DTYPES[dtype], device)


def pixel_taps(argv: list[str], pixels: list[tuple[int, int]], dtype: str | None = None,
               device: str | None = None) -> dict:
    """Kernel intermediates of a few pixels for a nanoBragg command line.

    Args:
        argv: nanoBragg arguments (without the program name).
        pixels: (slow, fast) pixels.
        dtype: ``"float32"`` or ``"float64"`` (also a ``torch.dtype``); None = argv's.
        device: torch device (``"cpu"``, ``"cuda"``); None = argv's ``-device``.

    Returns:
        Plain data (lists, floats, ints, bools, strings) as described in the module.
    """
    if isinstance(dtype, torch.dtype):
        dtype = {v: k for k, v in DTYPES.items()}.get(dtype, str(dtype))
    request, setup = prepared_request(argv, io.StringIO(), dtype, device)
    traced = render_taps(setup, pixels)
    rendered = rendered_flags(request.config, request.mask, traced.pixels, setup.device)
    return {
        "provenance": {
            "argv": list(argv), "command_line": shlex.join(["nanoBragg", *argv]),
            "nanobragg_version": __version__, "torch_version": torch.__version__,
            "device": str(setup.device),
            "dtype": str(setup.dtype).replace("torch.", ""),
        },
        "setup": _setup_summary(setup),
        "pixels": [_pixel_entry(setup, traced, p, rendered[p]) for p in range(len(traced.pixels))],
    }


def _setup_summary(setup: Setup) -> dict:
    sampling = setup.sampling
    return {
        "oversample": setup.oversample, "steps": setup.steps, "sources": setup.beam.sources,
        "phi_steps": setup.crystal.phisteps, "mosaic_domains": setup.crystal.domains,
        "layers": setup.layers,
        "oversample_thick": bool(sampling.oversample_thick),
        "oversample_polar": bool(sampling.oversample_polar),
        "oversample_omega": bool(sampling.oversample_omega),
        "fluence_photons_per_m2": float(setup.beam.fluence), "r_e_sqr_m2": R_E_SQR,
        "shape": sampling.shape,
    }


def _pixel_entry(setup: Setup, traced: PixelTaps, p: int, rendered: bool) -> dict:
    det, taps = setup.detector, traced.taps
    slow, fast = traced.pixels[p]
    factors = applied_factors(setup.sampling, taps, p)
    layers, subpixels = taps["omega"][p].shape
    os_ = setup.oversample
    return {
        "slow": slow, "fast": fast, "rendered": rendered,
        "geometry": {
            "pix0_m": _plain(det.pix0), "fdet": _plain(det.fdet), "sdet": _plain(det.sdet),
            "odet": _plain(det.odet), "close_distance_m": float(det.close_distance),
        },
        "subpixels": [_subpixel_entry(setup.beam, taps, (p, t, o), divmod(o, os_))
                      for t in range(layers) for o in range(subpixels)],
        "intensity": {
            "intensity_pre_norm": float(taps["I_before_scaling"][p]),
            "steps": setup.steps,
            "omega": factors["omega"], "polar": factors["polar"],
            "capture_fraction": factors["capture_fraction"],
            "normalized_intensity": float(traced.intensity[p]),
        },
    }


def _subpixel_entry(beam, taps, index, sub) -> dict:
    sources = []
    for s in range(taps["polar"].shape[3]):
        at = (*index, s)
        sources.append({
            "source": s, "incident": _plain(beam.incident[s]),
            "wavelength_m": float(beam.wavelength[s]),
            "scattering_per_m": taps["scattering"][at].tolist(),
            "stol_per_m": float(taps["stol"][at]), "dmin_skipped": bool(taps["dmin_skipped"][at]),
            "polar": float(taps["polar"][at]),
            "evaluations": _evaluations(taps, at),
        })
    return {
        "layer": index[1], "sub_slow": sub[0], "sub_fast": sub[1],
        "position_m": taps["position"][index].tolist(), "airpath_m": float(taps["airpath"][index]),
        "diffracted": taps["diffracted"][index].tolist(), "omega_sr": float(taps["omega"][index]),
        "capture_fraction": float(taps["capture_fraction"][index]), "sources": sources,
    }


def _evaluations(taps, at) -> list[dict]:
    hkl, hkl0 = taps["hkl"][at], taps["hkl0"][at]  # (F, M, 3)
    out = []
    for phi in range(hkl.shape[0]):
        for mos in range(hkl.shape[1]):
            entry = {
                "phi_step": phi, "mosaic_domain": mos, "hkl_frac": hkl[phi, mos].tolist(),
                "hkl_rounded": [int(v) for v in hkl0[phi, mos]],
                "F_cell": float(taps["F_cell"][at][phi, mos]),
                "F_latt": float(taps["F_latt"][at][phi, mos]),
            }
            if "F_latt_axes" in taps:
                entry["F_latt_axes"] = taps["F_latt_axes"][at][phi, mos].tolist()
            out.append(entry)
    return out


def _plain(value: torch.Tensor):
    return value.detach().cpu().double().tolist()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nanobragg-trace",
        description="Kernel intermediates of a few pixels for a nanoBragg command line "
                    "(given after '--'), as JSON or as the TRACE_PY log.")
    parser.add_argument("--pixel", nargs=2, type=int, action="append", metavar=("S", "F"),
                        help="slow and fast index (repeatable; default: the -trace_pixel ones)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), help="default: the arguments' -dtype")
    parser.add_argument("--device", help="torch device; default: the arguments' -device")
    parser.add_argument("--log", action="store_true", help="print the TRACE_PY log instead")
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    return parser


def main(argv: list[str] | None = None, out=None) -> int:
    """Run ``nanobragg-trace``; returns 0, or 2 for a usage or input error."""
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        print("nanobragg-trace: error: give the nanoBragg arguments after '--'", file=sys.stderr)
        return 2
    split = argv.index("--")
    try:
        opts = _parser().parse_args(argv[:split])
    except SystemExit as stop:
        return 0 if stop.code == 0 else 2
    try:
        text = _render(opts, argv[split + 1:])
    except (InputError, OSError) as err:
        print(f"nanobragg-trace: error: {err}", file=sys.stderr)
        return 2
    if opts.output:
        with open(opts.output, "w") as handle:
            handle.write(text)
    else:
        out.write(text)
    return 0


def _render(opts, nb_args: list[str]) -> str:
    from .trace import trace_log

    if opts.log:
        request, setup = prepared_request(nb_args, io.StringIO(), opts.dtype, opts.device)
        pixels = opts.pixel or request.trace_pixels
        if not pixels:
            raise InputError("no pixel: give --pixel S F or -trace_pixel S F")
        lines = trace_log(setup, request.config, [tuple(p) for p in pixels], request.mask)
        return "\n".join(lines) + "\n"
    pixels = opts.pixel
    if not pixels:
        from ..commandline.to_config import build_request

        pixels = build_request(nb_args).trace_pixels
    if not pixels:
        raise InputError("no pixel: give --pixel S F or -trace_pixel S F")
    data = pixel_taps(nb_args, [tuple(p) for p in pixels], opts.dtype, opts.device)
    return json.dumps(data, indent=1) + "\n"


def console_entry() -> None:
    """Entry point of the ``nanobragg-trace`` console script."""
    sys.exit(main())
