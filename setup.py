"""The one native part: the elementwise half of the CPU sampling step (models/fused_step.c).

Everything else is in pyproject.toml. The extension is optional: it is built on Linux x86-64
when a C compiler is there, and a failed build only warns; without it the sampler takes its
ATen path (same numbers up to rounding, slower per character: README, Sampling)."""
import platform
import sys

from setuptools import Extension, setup


def _native_extensions() -> list[Extension]:
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return []
    # -fno-math-errno lets expf be vectorised (glibc's libmvec); no -ffast-math, which would
    # also let the compiler assume no NaN (and, linked in, set flush-to-zero for the process).
    return [Extension("workbench.models._fused_step", ["models/fused_step.c"], optional=True,
                      extra_compile_args=["-O3", "-fno-math-errno", "-fopenmp-simd"], libraries=["m"])]


setup(ext_modules=_native_extensions())
