"""Meal scenarios anyone can replay: a small CSV format, read, written and turned into meals.

A scenario file lists meals, one per row, with a header naming the columns:

    patient,day,minute,carbs_g        # every column but carbs_g and the time is optional
    adult#001,0,420,45
    ,0,720,70                         # an empty (or "*") patient: every patient

* time: `minute` (minute of the day, 0 = midnight) or `hour` (hours, as
  simglucose's `CustomScenario` lists `(hour, carbs)` pairs); a time past one day rolls into
  the next day (`hour=31` is day 1, 07:00);
* `day`: the day of the scenario, 0-based (default 0);
* `patient`: a patient name, or empty / `*` for every patient (default: every patient);
* `carbs_g`: carbohydrate in g (also accepted: `carbs`, `CHO`).

Lines starting with `#` are comments. A scenario has `num_days` days (the last day with a
meal plus one, or more with `# days: N`); the env replays day `d` of it in an episode that
starts on scenario day `d` (days after the last one wrap around to day 0). Every evaluation
writes the meals it used in this format (`meals.csv`), one row per meal and patient, so any
reported day replays exactly: same patient, meals, seed -> same sensor noise and trace.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os

import numpy as np

MINUTES_PER_DAY = 1440
ALL_PATIENTS = ""
_CARBS_COLUMNS = ("carbs_g", "carbs", "cho")


@dataclasses.dataclass(frozen=True)
class Scenario:
    """Meals as `(patient, day, minute of the day, carbs g)` rows (hashable: a jit static).

    `patient` is a name or `ALL_PATIENTS` (""); `source` names the file it came from.
    """

    rows: tuple[tuple[str, int, float, float], ...]
    num_days: int = 1
    source: str = "inline"

    def __post_init__(self):
        for patient, day, minute, carbs in self.rows:
            if not (math.isfinite(carbs) and carbs >= 0):
                raise ValueError(f"scenario {self.source}: a meal of {patient or 'every patient'}"
                                 f" on day {day} at minute {minute} has carbs {carbs} g: must be"
                                 " finite and >= 0.")
            if not (0 <= day and 0 <= minute < MINUTES_PER_DAY and minute == round(minute)):
                raise ValueError(f"scenario {self.source}: day {day}, minute {minute} is not a "
                                 "whole minute of a day >= 0.")
        last = max((day for _, day, _, _ in self.rows), default=0)
        if self.num_days < last + 1:
            raise ValueError(f"scenario {self.source}: num_days {self.num_days} < last day "
                             f"{last} + 1.")

    def patients(self) -> set[str]:
        """The named patients (without `ALL_PATIENTS`)."""
        return {p for p, _, _, _ in self.rows if p != ALL_PATIENTS}

    def meals_of(self, patient: str) -> list[tuple[int, float, float]]:
        """`(day, minute, carbs)` of the meals that `patient` eats."""
        return [(d, m, c) for p, d, m, c in self.rows if p in (patient, ALL_PATIENTS)]

    def dense(self, patients: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """`(minute, carbs)` arrays `(P, num_days, M)` for `patients` (M: the most meals of one
        day; empty slots have 0 g). A scenario that names patients must cover each of them."""
        named = self.patients()
        for name in patients:
            if named and name not in named and not self.meals_of(name):
                raise ValueError(f"scenario {self.source} has no meals for {name} (it names "
                                 f"{', '.join(sorted(named))}).")
        per_day = [[[(m, c) for d, m, c in self.meals_of(name) if d == day]
                    for day in range(self.num_days)] for name in patients]
        slots = max([len(meals) for days in per_day for meals in days] + [1])
        minute = np.zeros((len(patients), self.num_days, slots), np.float32)
        carbs = np.zeros_like(minute)
        for i, days in enumerate(per_day):
            for d, meals in enumerate(days):
                for j, (m, c) in enumerate(meals):
                    minute[i, d, j], carbs[i, d, j] = m, c
        return minute, carbs


def from_pairs(pairs, source: str = "inline") -> Scenario:
    """A scenario from `(minute since midnight of day 0, carbs g)` pairs, for every patient."""
    arr = np.asarray(pairs, np.float64).reshape(-1, 2)
    rows = tuple(_row(ALL_PATIENTS, 0, t, c, source) for t, c in arr)
    return Scenario(rows=rows, num_days=_days_needed(rows), source=source)


def _row(patient: str, day: int, minute: float, carbs: float, source: str):
    if not (math.isfinite(minute) and minute >= 0):
        raise ValueError(f"scenario {source}: meal time {minute} min must be finite and >= 0.")
    minute = float(round(minute))
    extra_days, minute = divmod(minute, MINUTES_PER_DAY)
    return (patient, int(day + extra_days), float(minute), float(carbs))


def _days_needed(rows) -> int:
    return max((d for _, d, _, _ in rows), default=0) + 1


def read_csv(path: str) -> Scenario:
    """Parses a scenario file (see the module docstring); errors name the file and line."""
    if not os.path.exists(path):
        raise ValueError(f"scenario file {path} does not exist.")
    with open(path, newline="") as f:
        text = f.read()
    return parse_csv(text, source=path)


def parse_csv(text: str, source: str = "inline") -> Scenario:
    num_days = None
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            key, _, value = stripped[1:].partition(":")
            if key.strip().lower() == "days":
                num_days = int(value)
            continue
        if stripped:
            lines.append(line)
    if not lines:
        raise ValueError(f"scenario {source}: no header line (e.g. 'minute,carbs_g').")
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    fields = {name.strip().lower(): name for name in reader.fieldnames or []}
    time_key = fields.get("minute") or fields.get("hour")
    carbs_key = next((fields[c] for c in _CARBS_COLUMNS if c in fields), None)
    if time_key is None or carbs_key is None:
        raise ValueError(f"scenario {source}: the header needs a time column ('minute' or "
                         f"'hour') and a carbs column ('carbs_g'); got {reader.fieldnames}.")
    per_hour = 60.0 if time_key == fields.get("hour") else 1.0
    rows = []
    for number, record in enumerate(reader, start=2):
        try:
            patient = (record.get(fields.get("patient", ""), "") or "").strip()
            patient = ALL_PATIENTS if patient == "*" else patient
            day = int(record.get(fields.get("day", ""), "") or 0)
            minute = float(record[time_key]) * per_hour
            carbs = float(record[carbs_key])
        except (TypeError, ValueError) as err:
            raise ValueError(f"scenario {source}, line {number}: {err}") from None
        rows.append(_row(patient, day, minute, carbs, f"{source}, line {number}"))
    rows = tuple(rows)
    return Scenario(rows=rows, num_days=max(num_days or 0, _days_needed(rows)), source=source)


def to_csv(scenario: Scenario) -> str:
    lines = [f"# days: {scenario.num_days}", "patient,day,minute,carbs_g"]
    lines += [f"{p},{d},{int(m)},{c:g}" for p, d, m, c in scenario.rows]
    return "\n".join(lines) + "\n"


def write_csv(path: str, scenario: Scenario) -> str:
    with open(path, "w") as f:
        f.write(to_csv(scenario))
    return path


def from_episodes(patient_names, days, meal_minutes, meal_carbs, start_minute: float,
                  episode_minutes: float) -> Scenario:
    """The scenario an evaluation used: episode `i` of patient `patient_names[i]` started on
    scenario day `days[i]` at `start_minute` of the day; its meals (`(M,)` episode minutes and
    carbs each) inside the episode become rows on the days they fall on."""
    rows = []
    for name, day, minutes, carbs in zip(patient_names, days, meal_minutes, meal_carbs):
        for t, c in zip(np.asarray(minutes), np.asarray(carbs)):
            if c > 0 and 0 <= t < episode_minutes:
                rows.append(_row(name, int(day), start_minute + float(t), float(c), "evaluation"))
    rows = tuple(sorted(rows, key=lambda r: (r[0], r[1], r[2])))
    return Scenario(rows=rows, num_days=max(_days_needed(rows), max(days, default=0) + 1),
                    source="evaluation")
