"""Test configuration: the key-reuse checker is on for every test; compilation is cached and,
in the default selection, unoptimised.

Most tests of the default selection run tiny configs whose time is XLA compilation, not
execution. So, for this process and the launch.train / launch.evaluate subprocesses some tests
start (they inherit the environment):
* a persistent compilation cache (`JAX_COMPILATION_CACHE_DIR`, default under the system temp
  dir): a program compiled by one test (a resumed run, the same tiny config in another file,
  a subprocess) is loaded by the next;
* `--xla_backend_optimization_level=0` when the marker expression selects none of `slow`,
  `full_opt`, `notebooks` (and JAXRL_TEST_FULL_OPT is not 1): about a third less compile time.
  Float results may then differ from an optimised build in the last bits, so the bit-exact
  pins run in a subprocess without it (`tests/driver/test_pins.py`), and tests that need the
  default optimisation carry the `full_opt` marker (run by .ci/run's second step).
"""

import os
import tempfile

import jax

from tests.xla_flags import with_lowered_opt


def pytest_configure(config):
    # Before any test runs and before XLA's backend starts (it reads XLA_FLAGS then).
    markexpr = config.getoption("markexpr", default="") or ""
    wants_full_opt = (os.environ.get("JAXRL_TEST_FULL_OPT") == "1"
                      or any(f"not {m}" not in markexpr and m in markexpr
                             for m in ("slow", "full_opt", "notebooks")))
    if not wants_full_opt:
        os.environ["XLA_FLAGS"] = with_lowered_opt(os.environ.get("XLA_FLAGS", ""))
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                          os.path.join(tempfile.gettempdir(), "jaxrl_test_compilation_cache"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs",
                      float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))


jax.config.update("jax_debug_key_reuse", True)
