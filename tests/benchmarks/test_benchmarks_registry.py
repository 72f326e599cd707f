"""benchmarks: every registered suite resolves, launch/ holds no benchmark code, the CLI
refuses unknown suites with code 2, and the writers produce the json/md a suite leaves."""

import json
import os
import subprocess
import sys

import pytest

import benchmarks
from benchmarks import report

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("name", list(benchmarks.SUITES))
def test_every_suite_resolves_to_a_function(name):
    assert callable(benchmarks.get(name))


def test_unknown_suite_raises_listing_choices():
    with pytest.raises(KeyError, match="glucose"):
        benchmarks.get("nope")


def test_launch_holds_no_benchmark_modules():
    assert not [f for f in os.listdir(os.path.join(ROOT, "launch")) if f.startswith("bench_")]


def test_cli_unknown_suite_exits_2_and_lists_choices():
    out = subprocess.run([sys.executable, "-m", "launch.benchmark", "--suite=classic,nope"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "Choices:" in out.stderr and "sac_lagrangian_multitask" in out.stderr


def test_write_suite_writes_json_and_markdown(tmp_path):
    rows = [{"suite": "toy", "name": "a", "batch_size": 1, "steps_per_s": 1234.5},
            {"suite": "toy", "name": "b", "batch_size": 8, "steps_per_s": 0.5, "extra": "x"}]
    json_path, md_path = report.write_suite("toy", rows, str(tmp_path), "cmd --suite=toy")
    with open(json_path) as f:
        saved = json.load(f)
    assert saved["rows"] == rows and saved["command"] == "cmd --suite=toy"
    with open(md_path) as f:
        text = f.read()
    assert "| name | batch_size | steps_per_s | extra |" in text
    assert "| a | 1 | 1,234 |  |" in text and "| b | 8 | 0.5 | x |" in text
    assert report.read_suites(str(tmp_path)) == {"toy": rows}
