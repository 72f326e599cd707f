"""Plots of glucose traces (matplotlib, no display needed).

* `plot_day`: one patient's day: blood glucose and CGM with the 70-180 mg/dL band, delivered
  insulin, and the meals.
* `plot_relevance_day`: what drives an agent's doses over a day: the input attributions of
  each observation group (e.g. LRP relevances) beside glucose and insulin.
* `plot_agp`: an ambulatory glucose profile (AGP) per controller: median, 25-75% and 5-95%
  percentile bands of blood glucose over the time of day, pooled over patients and days.
"""

from __future__ import annotations

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_day(bg_mg_dl, cgm_mg_dl, insulin_u_per_h, meal_g, dt_min: float, path: str,
             title: str = "", start_hour: float = 0.0) -> str:
    """Saves one day's traces (each `(T,)`) to `path`; returns `path`."""
    plt = _pyplot()
    hours = start_hour + np.arange(1, len(bg_mg_dl) + 1) * dt_min / 60.0
    fig, (ax_g, ax_i) = plt.subplots(2, 1, figsize=(9, 5), sharex=True,
                                     gridspec_kw={"height_ratios": [2, 1]})
    ax_g.axhspan(70, 180, color="tab:green", alpha=0.12, label="70-180 mg/dL")
    ax_g.plot(hours, bg_mg_dl, color="tab:red", label="blood glucose")
    ax_g.plot(hours, cgm_mg_dl, color="tab:gray", lw=0.8, alpha=0.8, label="CGM")
    ax_g.set_ylabel("mg/dL")
    ax_g.legend(loc="upper right", fontsize=8)
    ax_g.set_title(title)
    ax_i.step(hours, insulin_u_per_h, where="pre", color="tab:blue", label="insulin (U/h)")
    ax_i.set_ylabel("insulin U/h")
    meals = np.flatnonzero(np.asarray(meal_g) > 0)
    ax_m = ax_i.twinx()
    ax_m.bar(hours[meals], np.asarray(meal_g)[meals], width=0.2, color="tab:orange",
             label="carbs (g)")
    ax_m.set_ylabel("carbs g")
    ax_i.set_xlabel("hour of the day")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_agp(bg_by_controller: dict[str, np.ndarray], dt_min: float, path: str,
             title: str = "", start_hour: float = 0.0) -> str:
    """AGP panels, one per controller; each array is `(episodes, T)` of blood glucose."""
    plt = _pyplot()
    names = list(bg_by_controller)
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), sharey=True,
                             squeeze=False)
    for ax, name in zip(axes[0], names):
        bg = np.asarray(bg_by_controller[name])
        hours = start_hour + np.arange(1, bg.shape[1] + 1) * dt_min / 60.0
        p5, p25, p50, p75, p95 = np.percentile(bg, [5, 25, 50, 75, 95], axis=0)
        ax.axhspan(70, 180, color="tab:green", alpha=0.12)
        ax.fill_between(hours, p5, p95, color="tab:blue", alpha=0.15, label="5-95%")
        ax.fill_between(hours, p25, p75, color="tab:blue", alpha=0.35, label="25-75%")
        ax.plot(hours, p50, color="tab:blue", label="median")
        ax.set_title(name)
        ax.set_xlabel("hour of the day")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("blood glucose mg/dL")
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_relevance_day(bg_mg_dl, insulin_u_per_h, relevance: dict[str, np.ndarray],
                       dt_min: float, path: str, title: str = "", start_hour: float = 0.0
                       ) -> str:
    """Glucose, insulin, and one relevance curve per observation group, each `(T,)`."""
    plt = _pyplot()
    hours = start_hour + np.arange(1, len(bg_mg_dl) + 1) * dt_min / 60.0
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    axes[0].axhspan(70, 180, color="tab:green", alpha=0.12)
    axes[0].plot(hours, bg_mg_dl, color="tab:red")
    axes[0].set_ylabel("blood glucose mg/dL")
    axes[0].set_title(title)
    axes[1].step(hours, insulin_u_per_h, where="pre", color="tab:blue")
    axes[1].set_ylabel("insulin U/h")
    for name, values in relevance.items():
        axes[2].plot(hours, values, label=name)
    axes[2].axhline(0.0, color="k", lw=0.5)
    axes[2].set_ylabel("relevance to the dose")
    axes[2].set_xlabel("hour of the day")
    axes[2].legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
