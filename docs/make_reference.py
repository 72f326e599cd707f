"""Writes `docs/reference.md` from the code: the env contract, `GlucoseConfig`, the run-directory
layout and the `evaluation.json` schema.

    python docs/make_reference.py

`tests/notebooks/test_docs.py` renders it again and fails when the file on disk differs, so the
page cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = os.path.join(ROOT, "docs", "reference.md")


def _doc(obj) -> str:
    return inspect.cleandoc(obj.__doc__ or "")


def _attributes(doc: str) -> dict[str, str]:
    """`{name: text}` of a Google-style `Attributes:` section (`a, b: text` lines allowed)."""
    out, names = {}, []
    section = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    for line in section.splitlines():
        match = re.match(r"^\s{2}(\w+(?:,\s*\w+)*):\s*(.*)$", line)
        if match:
            names = [n.strip() for n in match.group(1).split(",")]
            for n in names:
                out[n] = match.group(2).strip()
        elif line.strip() and names:
            for n in names:
                out[n] += " " + line.strip()
    return out


def env_contract() -> list[str]:
    from envs import base

    lines = ["## The env contract (`envs/base.py`)", "", _doc(base), "",
             "### `State`", "", "```", _doc(base.State), "```", "",
             "### `EnvSpec`", "", "```", _doc(base.EnvSpec), "```", "",
             "### Methods an env provides (`envs.base.Env`, helpers in `EnvBase`)", ""]
    for name in ("reset", "step", "sample_tasks", "evaluation_trace", "evaluation_metrics",
                 "check_action"):
        member = getattr(base.EnvBase, name, None) or getattr(base.Env, name)
        summary = _doc(member).split("\n\n")[0].replace("\n", " ") or "(see `envs/base.py`)"
        lines.append(f"* `{name}{inspect.signature(member)}`: {summary}")
    return lines + [""]


def glucose_config() -> list[str]:
    from envs.glucose.env import GlucoseConfig

    text = _attributes(_doc(GlucoseConfig))
    lines = ["## `GlucoseConfig` (`envs/glucose/env.py`)", "",
             "Keyword overrides of `envs.make(\"glucose/...\", **kwargs)` and of "
             "`launch.train --env_arg=key=value`.", "",
             "| field | default | meaning |", "|---|---|---|"]
    for field in dataclasses.fields(GlucoseConfig):
        meaning = text.get(field.name, "").replace("|", "/")
        lines.append(f"| `{field.name}` | `{field.default!r}` | {meaning} |")
    return lines + [""]


def run_directory() -> list[str]:
    from launch import train

    lines = ["## The run directory (`launch.train --workdir`, `launch.evaluate`)", "",
             "| path | written by | content |", "|---|---|---|"]
    for path, (writer, content) in train.RUN_DIRECTORY.items():
        lines.append(f"| `{path}` | {writer} | {content} |")
    return lines + [""]


def evaluation_json() -> list[str]:
    import envs
    from envs.glucose import evaluation, metrics
    from launch import evaluate

    settings = evaluate.evaluation_settings(envs.make("glucose/adult#001"), 20, 1000)
    keys = list(metrics.METRIC_NAMES)
    lines = ["## `evaluation.json` (`launch.evaluate`, the end of `launch.train` on glucose)", "",
             _doc(evaluation).split("\n\n", 1)[1], "",
             "```",
             '{"patients": {patient: {controller: summary}},',
             ' "groups":   {group: {controller: summary of medians + "iqr": {key: [p25, p75]}}},',
             ' "settings": {' + ", ".join(f'"{k}"' for k in settings) + "}}",
             "```", "",
             "Summary keys, on blood glucose: " + ", ".join(f"`{k}`" for k in keys) + "; on CGM: "
             "the same names prefixed `cgm_`; and `total_daily_insulin_u`. Their definitions and "
             "sources: `envs/glucose/metrics.py`:", "", "```", _doc(metrics), "```", "",
             "`settings.robustness`: " + ", ".join(f"`{k}`" for k in settings["robustness"])
             + ". `settings.env_config`: every `GlucoseConfig` field but the scenario.", ""]
    return lines


def render() -> str:
    parts = ["# Reference", "",
             "Generated from the code by `python docs/make_reference.py`; "
             "`tests/notebooks/test_docs.py` fails when this page is stale.", ""]
    for section in (env_contract, glucose_config, run_directory, evaluation_json):
        parts += section()
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    with open(PATH, "w") as f:
        f.write(render())
    print(f"wrote {PATH}")
