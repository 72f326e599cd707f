"""Behaviour pinned across refactors: a short fixed-seed run of SAC, MPO, Lagrangian SAC,
PEARL and GrBAL gives bit-identical metrics rows (every metric but the timing ones) and final
policy parameters to `pins.json`, written by `make_pins.py` on the code before the refactor;
`launch.train --num_seeds=2 --devices=2` likewise against `pins_cli.json` (a launch.train
process: marked slow). The pins hold at XLA's default optimisation, so they run
in .ci/run's second step (`full_opt`); run alone under the default suite's lowered level, each
goes to a fresh, fully optimised interpreter.

A deliberate change of an algorithm's numbers regenerates the pins (see make_pins.py) in the
same commit, saying why.
"""

import json
import math
import os
import subprocess
import sys

import pytest

from tests.driver.make_pins import ALGOS, CLI_PINS, CLI_RUNS, PINS, ROOT, run, run_cli
from tests.xla_flags import without_lowered_opt

MAKE_PINS = os.path.join(ROOT, "tests", "driver", "make_pins.py")


def _same(got, pinned):
    """Exact float equality, NaN equal to NaN."""
    got, pinned = json.loads(json.dumps(got)), json.loads(json.dumps(pinned))
    if isinstance(pinned, float) and math.isnan(pinned):
        return isinstance(got, float) and math.isnan(got)
    if isinstance(pinned, dict):
        return got.keys() == pinned.keys() and all(_same(got[k], pinned[k]) for k in pinned)
    if isinstance(pinned, list):
        return len(got) == len(pinned) and all(_same(a, b) for a, b in zip(got, pinned))
    return got == pinned


def _load(path):
    with open(path) as f:
        return json.load(f)


def _run_fully_optimised(name):
    """`run(name)` with XLA's default optimisation (the pins' build): in this process when it
    has it (.ci/run's second step), else in a fresh interpreter without the lowered level
    that tests/conftest.py sets for the default selection."""
    flags = without_lowered_opt(os.environ.get("XLA_FLAGS", ""))
    if flags == " ".join(os.environ.get("XLA_FLAGS", "").split()):
        return json.loads(json.dumps(run(name)))
    proc = subprocess.run([sys.executable, MAKE_PINS, "--one", name], cwd=ROOT,
                          capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, XLA_FLAGS=flags, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("PIN")]
    return json.loads(line[3:])


@pytest.mark.full_opt  # the pins' build: .ci/run's second step runs these in-process
@pytest.mark.parametrize("name", ALGOS)
def test_metrics_rows_and_params_are_bit_identical_to_the_pins(name):
    pinned = _load(PINS)[name]
    got = _run_fully_optimised(name)
    assert len(got["rows"]) == len(pinned["rows"]) > 0
    for i, (row, pin) in enumerate(zip(got["rows"], pinned["rows"])):
        assert _same(row, pin), (i, {k: (row.get(k), v) for k, v in pin.items()
                                      if not _same(row.get(k), v)})
    assert got["params_sha256"] == pinned["params_sha256"]
    assert got["selected_env_steps"] == pinned["selected_env_steps"]


@pytest.mark.slow  # a launch.train process with two host devices
@pytest.mark.skipif(not os.path.exists(CLI_PINS), reason="no pins_cli.json")
@pytest.mark.parametrize("name", CLI_RUNS)
def test_launch_seeds_and_devices_rows_are_bit_identical_to_the_pins(name):
    pinned = _load(CLI_PINS)[name]
    got = run_cli(name)
    assert got.keys() == pinned.keys()
    for path in pinned:
        assert _same(got[path], pinned[path]), path
