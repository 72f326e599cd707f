"""XLA's lowered optimisation level, shared by the test configuration and the tests that start
compile-bound subprocesses or notebook kernels (nothing they compute is compared bit for bit).

Compiling tiny programs at `--xla_backend_optimization_level=0` takes about a third less time;
float results may differ from an optimised build in the last bits (tests/conftest.py).
"""

LOWERED_OPT = "--xla_backend_optimization_level=0"


def with_lowered_opt(xla_flags: str) -> str:
    """`xla_flags` (an XLA_FLAGS value) with the lowered level added once."""
    return xla_flags if LOWERED_OPT in xla_flags else f"{xla_flags} {LOWERED_OPT}".strip()
