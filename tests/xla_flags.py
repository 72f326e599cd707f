"""XLA's lowered optimisation, shared by the test configuration and the tests that start
compile-bound subprocesses or notebook kernels (nothing they compute is compared bit for bit
with an optimised build).

Two flags. Measured on one core by `python -m benchmarks.xla_flags_compile`
(benchmarks/test_suite_time.md), compiling a 5-step scan of 4 MJX cheetahs:
* `--xla_backend_optimization_level=0`: 24.1 s -> 11.8 s;
* `--xla_cpu_use_fusion_emitters=false` on top: -> 6.6 s. XLA's CPU fusion emitters (MLIR
  kernels per fusion) dominate the compile of MJX physics. They do not make it run faster:
  a 100-step scan of 64 cheetahs runs at 1,844 env steps/s without them and 1,531 with them
  at level 0, and at 5,590 against 5,020 at the default level.
Float results then differ from the default build in the last bits (tests/conftest.py).
"""

LOWERED_OPT = ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false")


def with_lowered_opt(xla_flags: str) -> str:
    """`xla_flags` (an XLA_FLAGS value) with each lowered-optimisation flag added once."""
    flags = xla_flags.split()
    names = {f.split("=")[0] for f in flags}
    return " ".join(flags + [f for f in LOWERED_OPT if f.split("=")[0] not in names])


def without_lowered_opt(xla_flags: str) -> str:
    """`xla_flags` with the lowered-optimisation flags removed (the pins' default build)."""
    lowered = {f.split("=")[0] for f in LOWERED_OPT}
    return " ".join(f for f in xla_flags.split() if f.split("=")[0] not in lowered)
