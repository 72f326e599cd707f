"""The layers hold: envs < rlcore < algorithms < driver < launch (benchmarks beside launch).

Every import of every module (module level and inside functions) is read with `ast` by
`docs/make_architecture.py`, the script that draws `docs/architecture.png`; an edge up the
order, rlcore into envs, or a learner into a concrete env family fails here.
"""

import glob
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _architecture():
    spec = importlib.util.spec_from_file_location(
        "make_architecture", os.path.join(ROOT, "docs", "make_architecture.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_breaks_the_layering():
    arch = _architecture()
    nodes, edges = arch.import_graph()
    assert {"rlcore/loop", "driver/training", "algorithms/sac", "envs/glucose"} <= nodes
    assert arch.upward(edges) == []


def test_the_rules_catch_a_forbidden_edge():
    # So the test above cannot pass vacuously.
    arch = _architecture()
    bad = {("rlcore/loop", "envs/wrappers"), ("algorithms/sac", "envs/glucose"),
           ("algorithms/pearl", "driver/training"), ("driver/training", "launch/train")}
    assert set(arch.upward(bad | {("algorithms/sac", "envs/base")})) == bad


def test_no_benchmark_suites_under_launch():
    assert glob.glob(os.path.join(ROOT, "launch", "bench_*.py")) == []
