"""Compile the Triton kernels for a CUDA GPU on a machine without one.

Triton's interpreter (``TRITON_INTERPRET=1``, the CPU tests) runs the kernels' Python
semantics; this script goes through Triton's real compiler down to a CUDA binary (its
wheel brings ``ptxas``), which finds what only the compiler rejects (types, tuple use,
specialised arguments). ``--all`` compiles every lattice shape, lookup and precision of
the render kernel and every shape and lookup of the adjoint (tens of minutes on two
cores); the default is one kernel of each kind. It prints each kernel's compile time.

    python benchmarks/triton_compile_check.py [--all] [--arch 90]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time

os.environ.pop("TRITON_INTERPRET", None)  # the kernels must be JIT functions, not interpreted

import triton  # noqa: E402
import triton.language as tl  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from nanobragg.native import triton_adjoint, triton_kernel  # noqa: E402

#: Pointer arguments holding int64 values; every other pointer holds float64, except the
#: image and the F table of a float32 render.
INT_POINTERS = {"mins_ptr", "ranges_ptr", "stop_ptr", "hit_ptr", "pixels_ptr"}
FLAGS = dict(SHAPE=0, LOOKUP=1, LISTED=False, POINT=False, CURVED=False, CAPTURE=False,
             NOPOLAR=False, WATER=False, ONE_PANEL=True, WITH_TABLE=True, OVER_THICK=False,
             OVER_POLAR=False, OVER_OMEGA=False, BLOCK=triton_kernel.BLOCK)


def _signature(fn, single: bool) -> dict:
    out = {}
    for index, name in enumerate(fn.arg_names):
        if fn.params[index].is_constexpr:
            out[name] = "constexpr"
        elif not name.endswith("_ptr"):
            out[name] = "i32"
        elif name in INT_POINTERS:
            out[name] = "*i64"
        else:
            out[name] = "*fp32" if single and name in ("out_ptr", "table_ptr") else "*fp64"
    return out


def compile_one(fn, arch: int, single: bool = False, **flags) -> float:
    """Compiles ``fn`` with these constexpr flags for sm_<arch>; returns the seconds."""
    chosen = dict(FLAGS, REAL=tl.float32 if single else tl.float64, **flags)
    constants = {k: v for k, v in chosen.items() if k in fn.arg_names}
    start = time.perf_counter()
    triton.compile(ASTSource(fn=fn, signature=_signature(fn, single), constexprs=constants),
                   target=GPUTarget("cuda", arch, 32), options={"enable_fp_fusion": False})
    return time.perf_counter() - start


def cases(every: bool):
    """(kernel, precision, flags) to compile."""
    if not every:
        yield triton_kernel.render_kernel, True, dict(SHAPE=5, LOOKUP=2)
        yield triton_kernel.render_kernel, False, dict(CURVED=True, CAPTURE=True, LISTED=True,
                                                        OVER_THICK=True, OVER_POLAR=True,
                                                        OVER_OMEGA=True)
        yield triton_kernel.stop_kernel, False, dict(SHAPE=2)
        yield triton_adjoint.adjoint_kernel, False, dict(CURVED=True, CAPTURE=True)
        yield triton_adjoint.running_kernel, False, dict(SHAPE=1, ONE_PANEL=False,
                                                          CAPTURE=True, OVER_THICK=True,
                                                          OVER_POLAR=True, OVER_OMEGA=True)
        return
    for shape, lookup, single in itertools.product(range(6), range(3), (False, True)):
        yield triton_kernel.render_kernel, single, dict(SHAPE=shape, LOOKUP=lookup)
    for shape, lookup in itertools.product(range(6), range(3)):
        yield triton_adjoint.adjoint_kernel, False, dict(SHAPE=shape, LOOKUP=lookup)
        yield triton_adjoint.running_kernel, False, dict(SHAPE=shape, LOOKUP=lookup,
                                                          OVER_OMEGA=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every shape, lookup, precision")
    parser.add_argument("--arch", type=int, default=90, help="CUDA compute capability x10")
    opts = parser.parse_args(argv)
    count = 0
    for fn, single, flags in cases(opts.all):
        seconds = compile_one(fn, opts.arch, single, **flags)
        count += 1
        print(f"{fn.__name__:<16}{'float32' if single else 'float64':<9}{flags}  "
              f"{seconds:.1f} s", flush=True)
    print(f"compiled {count} kernels for sm_{opts.arch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
