"""XLA's lowered optimisation, shared by the test configuration and the tests that start
compile-bound subprocesses or notebook kernels (nothing they compute is compared bit for bit
with an optimised build).

Two flags, measured on one core (a 5-step scan of 4 MJX cheetahs, 2026-12-04):
* `--xla_backend_optimization_level=0`: compile 19.1 s -> 11.6 s;
* `--xla_cpu_use_fusion_emitters=false` on top: -> 3.6 s. XLA's CPU fusion emitters (MLIR
  kernels per fusion) dominate the compile of MJX physics; without them a 100-step scan of 64
  cheetahs compiles in 6.6 s instead of 16.7 s and runs as fast (1,245 against 1,184 env
  steps/s at level 0; at the default level 17.2 s instead of 26.4 s, 3,785 against 3,826).
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
