"""The virtual population: 30 UVA/Padova patients and their therapy table.

The parameter table (`data/vpatient_params.csv`) and the therapy table (`data/Quest.csv`) are
the public ones that simglucose 0.2.11 ships (MIT, see `data/LICENSE.txt`): 10 adolescents,
10 adults and 10 children of the UVA/Padova 2008 simulator. Names and order follow
simglucose: adolescent#001..010, adult#001..010, child#001..010.
"""

from __future__ import annotations

import csv
import functools
import os
from typing import NamedTuple

_DATA_DIR = os.path.join(os.path.dirname(__file__), "data")
PARAMS_CSV = os.path.join(_DATA_DIR, "vpatient_params.csv")
QUEST_CSV = os.path.join(_DATA_DIR, "Quest.csv")


@functools.cache
def _read(path: str) -> tuple[tuple[str, dict[str, str]], ...]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return tuple((row["Name"], row) for row in rows)


@functools.cache
def population() -> list[str]:
    """The 30 patient names in simglucose's order."""
    return [name for name, _ in _read(PARAMS_CSV)]


def _group(prefix: str) -> list[str]:
    return [n for n in population() if n.startswith(prefix + "#")]


GROUPS: dict[str, list[str]] = {
    "adolescents": _group("adolescent"),
    "adults": _group("adult"),
    "children": _group("child"),
    "all": population(),
}


def check_name(name: str) -> str:
    """Returns `name` if it is a patient of the population, else raises a ValueError."""
    if name not in population():
        raise ValueError(f"Unknown patient {name!r}; valid names: {', '.join(population())}")
    return name


def raw_params(name: str) -> dict[str, float]:
    """The patient's row of vpatient_params.csv as floats (columns as in the file)."""
    check_name(name)
    row = dict(_read(PARAMS_CSV))[name]
    return {k.strip(): float(v) for k, v in row.items() if k != "Name"}


class Therapy(NamedTuple):
    """A patient's conventional therapy (Quest.csv) and body weight."""

    carb_ratio_g_per_u: float  # grams of carbohydrate covered by 1 U (CR)
    correction_factor_mg_dl_per_u: float  # glucose drop per U of correction insulin (CF)
    total_daily_insulin_u: float  # TDI, U/day
    age_years: float
    body_weight_kg: float  # BW from the parameter table


def therapy(name: str) -> Therapy:
    """The patient's carb ratio, correction factor, TDI, age and body weight."""
    check_name(name)
    q = dict(_read(QUEST_CSV))[name]
    return Therapy(carb_ratio_g_per_u=float(q["CR"]),
                   correction_factor_mg_dl_per_u=float(q["CF"]),
                   total_daily_insulin_u=float(q["TDI"]), age_years=float(q["Age"]),
                   body_weight_kg=raw_params(name)["BW"])


def basal_u_per_h(name: str) -> float:
    """The basal rate (U/h) that holds the patient at its steady state.

    u2ss (pmol/kg/min) * BW (kg) / 6000 (pmol/U) gives U/min, as simglucose's BBController;
    times 60 gives U/h.
    """
    p = raw_params(name)
    return p["u2ss"] * p["BW"] / 6000.0 * 60.0
