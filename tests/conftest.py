"""Test configuration: the key-reuse checker is on for every test; compilation is cached and,
in the default selection, unoptimised.

Most tests of the default selection run tiny configs whose time is XLA compilation, not
execution. So, for this process and the launch.train / launch.evaluate subprocesses some tests
start (they inherit the environment):
* a persistent compilation cache (`JAX_COMPILATION_CACHE_DIR`, default under the system temp
  dir): a program compiled by one test (a resumed run, the same tiny config in another file,
  a subprocess) is loaded by the next;
* XLA's lowered optimisation (`tests/xla_flags.py`: optimisation level 0, no CPU fusion
  emitters) when the marker expression selects none of `slow`, `full_opt`, `notebooks` (and
  JAXRL_TEST_FULL_OPT is not 1): a third to two thirds less compile time.
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


# The longest tests first (longest-processing-time-first scheduling): xdist hands tests to its
# two workers in collection order, and a notebook of two minutes started last leaves one
# worker idle for most of it. Seconds measured in .ci/run's second step (this machine,
# 2026-12-04, cold compile cache).
LONGEST_FIRST = (
    "test_quick_dry_run_writes_every_part",                    # 192 s (2026-12-04, 15:34)
    "test_notebook_runs_fast_and_plots[safe_rl]",              # 127 s
    "test_kill_resume.py",                                     # a group: 70 + 68 + 29 + ... s
    "test_notebook_runs_fast_and_plots[meta_rl]",              # 107 s
    "test_notebook_runs_fast_and_plots[robots_mjx]",           # 77 s
    "test_pearl_learning.py",                                  # 74 s of fixture, one group
    "test_train_tiny_agent_then_evaluate_its_run_directory",   # 70 s
    "test_notebook_runs_fast_and_plots[quickstart",            # 56 s
    "test_four_devices_train_the_same_parameters_as_one",      # 36 s (default suite)
)


def _rank(item) -> int:
    for rank, fragment in enumerate(LONGEST_FIRST):
        if fragment in item.nodeid:
            return rank
    return len(LONGEST_FIRST)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_rank)  # stable: the rest keeps its file order
