"""Pixel trace: the C program's ``-trace_pixel`` log, written from the kernel's intermediates.

For each traced pixel the output repeats, line for line, what the instrumented C program
prints (prefix ``TRACE_C`` becomes ``TRACE_PY``, ``TRACE_C_PHI`` becomes ``TRACE_PY_PHI``):
the detector geometry (:mod:`.trace_geometry`), ``TRACE_CONFIG``, then for every sensor
layer and sub-pixel the geometry of source 0 and, unless the resolution cut skips it, the
crystal values of phi step 0 and mosaic domain 0 (``TRACE_PY_PHI`` for every phi step),
and finally the scaling values. Numbers are printed like C ``%.15g``. A pixel outside the
ROI or masked gets no per-pixel lines, as in the C program.

The values are the kernel's own (one ``render_pixels`` call with taps), so the traced
``I_pixel_final`` is the value of that pixel in the rendered image as long as the kernel
gives a pixel the same bits alone as inside a chunk. Two deliberate differences from the
C log: a phi step at exactly 0 shows the true orientation (the C's stale-orientation bug
is not reproduced), and when tricubic interpolation was switched off part-way through a
full render, the trace still interpolates (it does not know the render's pixel order).
"""

from __future__ import annotations

import math

import numpy as np

from ..physics.lattice import lattice_shape
from ..render.simulate import Setup
from ..units import R_E_SQR
from .cformat import g15, g15s
from .pixels import PixelTaps, applied_factors, render_taps, rendered_flags
from .trace_geometry import detector_lines

PREFIX = "TRACE_PY"
#: The C's ``RTD = 180.0*M_1_PI``.
_RTD = 180.0 * 0.31830988618379067154


def print_traces(request, setup: Setup, table, out, interpolation_stop=None) -> None:
    """Print the trace of every ``-trace_pixel`` of a CLI request.

    Args:
        request: :class:`nanobragg.commandline.to_config.CliRequest` (config, mask, trace_pixels).
        setup: the setup the image was rendered with.
        table: structure factors (already part of ``setup``; kept for the CLI hook).
        out: text stream.
        interpolation_stop: flat pixel index where the render switched tricubic
            interpolation off (``SimulationResult.interpolation_stop``), or None.
    """
    del table
    for line in trace_log(setup, request.config, request.trace_pixels, request.mask,
                          interpolation_stop=interpolation_stop):
        print(line, file=out)


def trace_log(setup: Setup, config, pixels, mask=None, prefix: str = PREFIX,
              interpolation_stop: int | None = None) -> list[str]:
    """Trace lines of several pixels; each pixel gets a complete log (geometry included).

    Args:
        setup: from :func:`nanobragg.render.simulate.prepare`.
        config: the :class:`~nanobragg.config.SimulationConfig` (convention, ROI).
        pixels: (slow, fast) pairs.
        mask: optional (slow, fast) mask; 0 = not rendered.
        prefix: line prefix (``TRACE_PY``).
        interpolation_stop: see :func:`print_traces`.

    Returns:
        Lines without newline characters.
    """
    pixels = tuple(pixels)
    if not pixels:
        return []
    traced = render_taps(setup, pixels, interpolation_stop)
    rendered = rendered_flags(config, mask, pixels, setup.device)
    header = detector_lines(setup.detector, config, prefix)
    lines: list[str] = []
    for p, (s, f) in enumerate(pixels):
        lines += header
        lines.append(f"TRACE_CONFIG: tracing pixel (spixel={s}, fpixel={f})")
        if rendered[p]:
            lines += pixel_lines(setup, traced, p, prefix)
    return lines


def pixel_lines(setup: Setup, traced: PixelTaps, p: int, prefix: str = PREFIX) -> list[str]:
    """Per-layer, per-sub-pixel blocks and the final scaling block of one pixel."""
    taps = traced.taps
    fixed = _fixed_lines(setup, prefix)
    skipped = taps["dmin_skipped"][p]
    layers, subpixels = taps["omega"][p].shape
    lines: list[str] = []
    for t in range(layers):
        for o in range(subpixels):
            lines += fixed["detector"]
            lines += _subpixel_lines(setup, taps, (p, t, o), prefix)
            if not skipped[t, o, 0]:
                lines += fixed["crystal"]
                lines += _evaluation_lines(setup, taps, (p, t, o), prefix)
    return lines + final_lines(setup, traced, p, prefix)


def _fixed_lines(setup: Setup, prefix: str) -> dict[str, list[str]]:
    """Lines that do not change from sub-pixel to sub-pixel."""
    detector, crystal = setup.detector, setup.crystal
    vec = {name: _floats(getattr(detector, name)) for name in ("pix0", "fdet", "sdet")}
    rows = _floats(crystal.real_rows[0, 0]) * 1e10  # phi step 0, domain 0, in Angstrom
    recip = _floats(crystal.recip_rows)
    crystal_lines = [f"{prefix}: rot_{n}_angstroms {g15s(rows[i])}" for i, n in enumerate("abc")]
    crystal_lines += [f"{prefix}: rot_{n}_star_A_inv {g15s(recip[i])}"
                      for i, n in enumerate("abc")]
    return {
        "detector": [f"{prefix}: pix0_vector_meters {g15s(vec['pix0'])}",
                     f"{prefix}: fdet_vec {g15s(vec['fdet'])}",
                     f"{prefix}: sdet_vec {g15s(vec['sdet'])}"],
        "crystal": crystal_lines,
    }


def _subpixel_lines(setup: Setup, taps, index, prefix: str) -> list[str]:
    """Position, solid angle and the scattering vector of source 0 for one sub-pixel."""
    beam = setup.beam
    p, t, o = index
    airpath = float(taps["airpath"][index])
    close = float(_floats(setup.detector.close_distance))
    omega = taps["omega"][index] if setup.sampling.oversample_omega else taps["omega"][p, 0, 0]
    wavelength = float(_floats(beam.wavelength)[0])
    return [
        f"{prefix}: pixel_pos_meters {g15s(taps['position'][index])}",
        f"{prefix}: R_distance_meters {g15(airpath)}",
        f"{prefix}: omega_pixel_sr {g15(omega)}",
        f"{prefix}: close_distance_meters {g15(close)}",
        f"{prefix}: obliquity_factor {g15(close / airpath)}",
        f"{prefix}: diffracted_vec {g15s(taps['diffracted'][index])}",
        f"{prefix}: incident_vec {g15s(_floats(beam.incident)[0])}",
        f"{prefix}: lambda_meters {g15(wavelength)}",
        f"{prefix}: lambda_angstroms {g15(wavelength * 1e10)}",
        f"{prefix}: scattering_vec_A_inv {g15s(taps['scattering'][index][0])}",
    ]


def _evaluation_lines(setup: Setup, taps, index, prefix: str) -> list[str]:
    """Miller indices and factors of source 0, mosaic domain 0: phi step 0 in full, then
    one ``_PHI`` line per further phi step (the lattice lines only for a per-axis shape)."""
    sampling = setup.sampling
    p, t, o = index
    hkl = taps["hkl"][p, t, o, 0, :, 0]  # (F, 3)
    square = lattice_shape(sampling.shape).per_axis
    rounded = " ".join(str(int(v)) for v in taps["hkl0"][p, t, o, 0, 0, 0])
    lines = [f"{prefix}: hkl_frac {g15s(hkl[0])}", f"{prefix}: hkl_rounded {rounded}"]
    F_latt = taps["F_latt"][p, t, o, 0, :, 0]  # (F,)
    phi_lines = _phi_lines(setup, taps, index, prefix) if square else []
    if square:
        axes = taps["F_latt_axes"][p, t, o, 0, 0, 0]
        lines += [f"{prefix}: F_latt_{n} {g15(axes[i])}" for i, n in enumerate("abc")]
        lines += [f"{prefix}: F_latt {g15(F_latt[0])}", phi_lines[0]]
    if F_latt[0] != 0 or sampling.water:
        lines.append(f"{prefix}: F_cell {g15(taps['F_cell'][p, t, o, 0, 0, 0])}")
    return lines + phi_lines[1:]


def _phi_lines(setup: Setup, taps, index, prefix: str) -> list[str]:
    p, t, o = index
    phi = _floats(setup.crystal.phi)
    k = taps["hkl"][p, t, o, 0, :, 0, 1]
    axis_b = taps["F_latt_axes"][p, t, o, 0, :, 0, 1]
    F_latt = taps["F_latt"][p, t, o, 0, :, 0]
    return [f"{prefix}_PHI phi_tic={i} phi_deg={g15(phi[i] * _RTD)} k_frac={g15(k[i])} "
            f"F_latt_b={g15(axis_b[i])} F_latt={g15(F_latt[i])}" for i in range(len(phi))]


def final_lines(setup: Setup, traced: PixelTaps, p: int, prefix: str = PREFIX) -> list[str]:
    """The scaling block printed after the pixel's loops."""
    sampling, taps = setup.sampling, traced.taps
    factors = applied_factors(sampling, taps, p)
    incident = _floats(setup.beam.incident)[-1]
    diffracted = taps["diffracted"][p, -1, -1]
    cos_2theta = incident[0] * diffracted[0] + incident[1] * diffracted[1] \
        + incident[2] * diffracted[2]
    intensity = float(_floats(traced.intensity)[p])
    flags = (("oversample_thick", sampling.oversample_thick),
             ("oversample_polar", sampling.oversample_polar),
             ("oversample_omega", sampling.oversample_omega))
    return [
        f"{prefix}: I_before_scaling {g15(taps['I_before_scaling'][p])}",
        f"{prefix}: r_e_meters {g15(math.sqrt(R_E_SQR))}",
        f"{prefix}: r_e_sqr {g15(R_E_SQR)}",
        f"{prefix}: fluence_photons_per_m2 {g15(_floats(setup.beam.fluence))}",
        f"{prefix}: steps {setup.steps}",
        *(f"{prefix}: {name} {int(bool(flag))}" for name, flag in flags),
        f"{prefix}: capture_fraction {g15(factors['capture_fraction'])}",
        f"{prefix}: polar {g15(factors['polar'])}",
        f"{prefix}: omega_pixel {g15(factors['omega'])}",
        f"{prefix}: cos_2theta {g15(cos_2theta)}",
        f"{prefix}: I_pixel_final {g15(intensity)}",
        f"{prefix}: floatimage_accumulated {g15(np.float32(intensity))}",
    ]


def _floats(value):
    """A tensor as float64 NumPy data on the CPU."""
    return value.detach().cpu().double().numpy()
