"""docs/<algo>.md documents every field of the algorithm's Config with its current default.

Runs in the default suite (fast, no notebook execution): adding, renaming or re-defaulting a
config field without updating its doc page fails here, naming the field.
"""

from __future__ import annotations

import ast
import dataclasses
import pathlib
import re

import pytest

import algorithms

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"
PAGES = {"sac": "sac.md", "sac_lagrangian": "sac_lagrangian.md", "mpo": "mpo.md",
         "pearl": "pearl.md", "grbal": "grbal.md", "rebal": "rebal.md", "mb": "mb.md",
         "mbde": "mb.md"}
ROW = re.compile(r"^\|\s*`(?P<name>\w+)`\s*\|\s*`(?P<default>[^`]*)`\s*\|(?P<rest>.*)\|\s*$")


def field_rows(text: str) -> dict[str, list[str]]:
    """`{field: [default text, ...]}` of the rows `| `name` | `default` | unit | meaning |`."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = ROW.match(line.strip())
        if match:
            rows.setdefault(match["name"], []).append(match["default"])
    return rows


def parse_default(text: str):
    return ast.literal_eval(text.replace("_", "") if re.fullmatch(r"[\d_.e+-]+", text) else text)


def test_every_algorithm_has_a_page():
    assert set(PAGES) >= set(algorithms.ALGORITHMS), set(algorithms.ALGORITHMS) - set(PAGES)
    for page in set(PAGES.values()) | {"index.md"}:
        assert (DOCS / page).is_file(), page
    index = (DOCS / "index.md").read_text()
    for page in set(PAGES.values()):
        assert f"({page})" in index, f"docs/index.md does not link {page}"


@pytest.mark.parametrize("algo", sorted(PAGES))
def test_page_lists_every_config_field_with_its_default(algo):
    text = (DOCS / PAGES[algo]).read_text()
    rows = field_rows(text)
    missing, wrong = [], []
    for field in dataclasses.fields(algorithms.get(algo).Config):
        if field.name not in rows:
            missing.append(field.name)
            continue
        default = field.default
        if not any(parse_default(d) == default for d in rows[field.name]):
            wrong.append(f"{field.name}: code {default!r}, docs {rows[field.name]}")
    assert not missing, f"docs/{PAGES[algo]} has no table row for {algo}.Config fields {missing}"
    assert not wrong, f"docs/{PAGES[algo]} states stale defaults: {wrong}"


@pytest.mark.parametrize("page", sorted(set(PAGES.values())))
def test_page_names_its_paper_and_equations(page):
    text = (DOCS / page).read_text()
    assert "$$" in text, f"docs/{page} has no display equation"
    assert re.search(r"(19|20)\d\d", text), f"docs/{page} cites no paper year"


def test_reference_page_is_current():
    """docs/reference.md is rendered from the code (docs/make_reference.py): a changed env
    contract, GlucoseConfig field, run-directory entry or evaluation schema fails here."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_reference", DOCS / "make_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (DOCS / "reference.md").read_text()
    assert module.render() == current, "docs/reference.md is stale: python docs/make_reference.py"
