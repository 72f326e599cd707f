"""Metrics to CSV + TensorBoard event files, and a progress bar with ETA."""

from __future__ import annotations

import csv
import io
import math
import os

from tqdm.auto import tqdm


class MetricsLogger:
    """Appends one row per log step to `<workdir>/metrics.csv` (columns: `step`, then one per
    metric name in first-seen order) and writes TensorBoard scalars under `<workdir>/tb`.

    Without a workdir it only keeps the history in memory.
    """

    def __init__(self, workdir: str | None, resume: bool = False):
        self.workdir = workdir
        self.history: list[dict[str, float]] = []
        self._writer = None
        self._columns: list[str] | None = None
        if workdir is None:
            return
        os.makedirs(workdir, exist_ok=True)
        self.csv_path = os.path.join(workdir, "metrics.csv")
        if resume and os.path.exists(self.csv_path):
            with open(self.csv_path, newline="") as f:
                text = f.read()
            if text and not text.endswith("\n"):  # a kill mid-append: drop the partial row
                text = text[:text.rfind("\n") + 1]
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
            self.history = [{k: float(v) for k, v in r.items() if v not in ("", None)}
                            for r in rows]
            if rows:
                self._columns = list(rows[0].keys())
        elif os.path.exists(self.csv_path):
            os.remove(self.csv_path)
        try:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(os.path.join(workdir, "tb"))
        except ImportError:  # TensorBoard output is optional
            self._writer = None

    def truncate_after(self, step: int) -> None:
        """Drops rows logged after `step` (a resumed run re-logs them)."""
        self.history = [r for r in self.history if r["step"] <= step]
        if self.workdir is not None and self._columns is not None:
            self._rewrite()

    def _rewrite(self) -> None:
        """Writes the whole file to a temporary one and renames it over `metrics.csv`: a kill
        mid-rewrite leaves the old file or the new one, never a truncated one."""
        tmp = self.csv_path + ".tmp"
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._columns)
            w.writeheader()
            for r in self.history:
                w.writerow({k: r.get(k, "") for k in self._columns})
        os.replace(tmp, self.csv_path)

    def write(self, step: int, metrics: dict[str, float]) -> None:
        row = {"step": float(step), **{k: float(v) for k, v in metrics.items()}}
        self.history.append(row)
        if self.workdir is None:
            return
        new_columns = [k for k in row if self._columns is None or k not in self._columns]
        if self._columns is None or new_columns:
            self._columns = (self._columns or []) + new_columns
            self._rewrite()
        else:
            with open(self.csv_path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self._columns).writerow(
                    {k: row.get(k, "") for k in self._columns})
        if self._writer is not None:
            for k, v in metrics.items():
                if math.isfinite(float(v)):
                    self._writer.add_scalar(k, float(v), step)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def make_progress(total: int, initial: int = 0, enabled: bool = True, desc: str = "train"):
    """A tqdm bar over env steps (ETA included); a no-op object when disabled."""
    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, unit="step",
                dynamic_ncols=True, smoothing=0.1)
