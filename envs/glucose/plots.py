"""Plots of glucose traces (matplotlib, no display needed).

* `plot_day`: one patient's day: blood glucose and CGM with the 70-180 mg/dL band, delivered
  insulin, and the meals.
* `plot_relevance_day`: what drives an agent's doses over a day: the input attributions of
  each observation group (e.g. LRP relevances) beside glucose and insulin.
* `plot_agp`: an ambulatory glucose profile (AGP) per controller: median, 25-75% and 5-95%
  percentile bands of blood glucose over the time of day, pooled over patients and days.
* `plot_agp_report`: one patient's AGP page as in the standard AGP report (Battelino et al.,
  Diabetes Care 2019; the IDC AGP report v4): glucose statistics, the five time-in-ranges
  bands as a stacked bar, and the 5/25/50/75/95% percentiles over the time of day, wrapped at
  midnight (`agp_percentiles`).
* `plot_cvga`: the control-variability grid analysis (Magni et al., J Diabetes Sci Technol
  2008), one point per patient and one colour per controller (`envs.glucose.metrics`).
"""

from __future__ import annotations

import numpy as np

from envs.glucose import metrics

AGP_PERCENTILES = (5.0, 25.0, 50.0, 75.0, 95.0)
# The five consensus bands, top to bottom as the AGP report stacks them: (summary key, label,
# colour). Conventional colours: >250 orange, 181-250 yellow, 70-180 green, 54-69 red, <54
# dark red.
TIR_BANDS = (("tar250", "Very high >250", "#f28c28"),
             ("tar181_250", "High 181-250", "#f5d033"),
             ("tir", "Target 70-180", "#3a9a46"),
             ("tbr54_69", "Low 54-69", "#e03a3a"),
             ("tbr54", "Very low <54", "#8b0000"))
CVGA_COLOURS = {"A": "#3fbf3f", "B": "#1e7a1e", "C": "#f2e14c", "D": "#f29a3a", "E": "#d93030"}


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


def agp_percentiles(cgm_mg_dl, dt_min: float, start_hour: float = 0.0, bin_min: float = 15.0,
                    percentiles=AGP_PERCENTILES):
    """Percentiles of readings binned by time of day, wrapped at midnight (pure numpy).

    `cgm_mg_dl` is `(T,)` or `(episodes, T)`, every episode starting at `start_hour`; reading k
    is at minute `(start_hour * 60 + k * dt_min) mod 1440` of the day and falls in bin
    `floor(minute / bin_min)`. The readings of all episodes in a bin are pooled; non-finite
    readings are ignored, and a bin without readings gets NaN.

    Returns `(bin_hours, values)`: `bin_hours` `(B,)` the start hour of each bin (0, 0.25, ...),
    `values` `(len(percentiles), B)` with B = 1440 / bin_min.
    """
    g = np.atleast_2d(np.asarray(cgm_mg_dl, np.float64))
    if g.ndim != 2 or dt_min <= 0 or bin_min <= 0:
        raise ValueError(f"agp_percentiles: needs (episodes, T), dt_min > 0 and bin_min > 0, got "
                         f"{g.shape}, {dt_min}, {bin_min}.")
    num_bins = int(round(metrics.MINUTES_PER_DAY / bin_min))
    minute = np.mod(start_hour * 60.0 + np.arange(g.shape[1]) * dt_min, metrics.MINUTES_PER_DAY)
    bins = np.minimum((minute // bin_min).astype(int), num_bins - 1)
    values = np.full((len(percentiles), num_bins), np.nan)
    for b in range(num_bins):  # small fixed structure: the bins of one day
        x = g[:, bins == b].ravel()
        x = x[np.isfinite(x)]
        if x.size:
            values[:, b] = np.percentile(x, percentiles)
    return np.arange(num_bins) * bin_min / 60.0, values


def _agp_stats(cgm: np.ndarray, dt_min: float) -> dict:
    """Statistics of `(episodes, T)` readings for the AGP page: bands, mean, CV and GMI of the
    pooled finite readings; events counted per episode (no run spans two episodes), summed,
    and divided by all days."""
    finite = np.isfinite(cgm)
    per_episode = {k: np.asarray(v) for k, v in metrics.summary(cgm, dt_min).items()}
    pooled = {k: np.asarray(v) for k, v in metrics.summary(cgm[finite], dt_min).items()}
    days = cgm.size * dt_min / metrics.MINUTES_PER_DAY
    events = float(np.sum(per_episode["hypo_events"]))
    stats = {k: float(pooled[k]) for k in ("mean", "sd", "cv", "gmi", "titr")}
    stats.update({k: float(pooled[k]) for k, _, _ in TIR_BANDS})
    stats.update(hypo_events=events, hypo_events_per_day=events / days, days=days,
                 cgm_active=float(np.mean(finite)))
    return stats


def plot_agp_report(cgm_mg_dl, dt_min: float, path: str, title: str = "",
                    start_hour: float = 0.0, stats: dict | None = None,
                    bin_min: float = 15.0) -> str:
    """Saves one patient's AGP page for CGM readings `(episodes, T)` to `path`; returns `path`.

    Panels as in the standard AGP report (Battelino et al., Diabetes Care 2019; IDC AGP v4):
    statistics (days, % CGM active, mean glucose, GMI, CV, TIR, TITR, level-2 hypo events),
    the five time-in-ranges bands as one stacked bar with their percentages, and the AGP: the
    5/25/50/75/95% percentiles per `bin_min` minutes of the day (`agp_percentiles`, episodes
    folded onto 0-24 h from `start_hour`) over the 70-180 mg/dL target band. The statistics
    are computed from the readings (`envs.glucose.metrics.summary` with `dt_min`); entries of
    `stats` (e.g. a table's summary of the same patient) replace them key by
    key (numeric scalars only). Needs at least two finite readings.
    """
    plt = _pyplot()
    cgm = np.atleast_2d(np.asarray(cgm_mg_dl, np.float64))
    values = _agp_stats(cgm, dt_min)
    values.update({k: float(v) for k, v in (stats or {}).items()
                   if np.ndim(v) == 0 and np.issubdtype(np.asarray(v).dtype, np.number)})

    fig = plt.figure(figsize=(11, 7.5))
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.4], width_ratios=[1.5, 1])
    ax_text = fig.add_subplot(grid[0, 0])
    ax_bar = fig.add_subplot(grid[0, 1])
    ax_agp = fig.add_subplot(grid[1, :])

    lines = [("Days of readings", f"{values['days']:.1f}"),
             ("% time CGM active", f"{100 * values['cgm_active']:.0f}%"),
             ("Mean glucose", f"{values['mean']:.0f} mg/dL"),
             ("GMI", f"{values['gmi']:.1f}%"),
             ("Glucose variability (CV)", f"{100 * values['cv']:.1f}%  (target <= 36%)"),
             ("Time in range 70-180", f"{100 * values['tir']:.1f}%  (target > 70%)"),
             ("Time in tight range 70-140", f"{100 * values['titr']:.1f}%"),
             ("Level-2 hypo events (>= 15 min < 54)",
              f"{values['hypo_events']:.0f}  ({values['hypo_events_per_day']:.2f}/day)")]
    ax_text.axis("off")
    ax_text.set_title("Glucose statistics and targets", loc="left", fontsize=11)
    for i, (name, value) in enumerate(lines):
        y = 0.92 - i * 0.115
        ax_text.text(0.0, y, name, fontsize=9, transform=ax_text.transAxes)
        ax_text.text(0.62, y, value, fontsize=9, weight="bold", transform=ax_text.transAxes)

    bottom = 1.0
    for i, (key, label, colour) in enumerate(TIR_BANDS):  # top (>250) to bottom (<54)
        frac = values[key]
        bottom -= frac
        ax_bar.bar(0.0, frac, bottom=bottom, width=0.5, color=colour, edgecolor="white")
        y = 0.9 - i * 0.2  # labels evenly spaced, so that thin bands stay readable
        ax_bar.text(0.45, y, f"{label} mg/dL: {100 * frac:.1f}%", va="center", fontsize=9,
                    color="black")
    ax_bar.set_xlim(-0.3, 2.2)
    ax_bar.set_ylim(0.0, 1.0)
    ax_bar.axis("off")
    ax_bar.set_title("Time in ranges", loc="left", fontsize=11)

    bin_hours, (p5, p25, p50, p75, p95) = agp_percentiles(cgm, dt_min, start_hour, bin_min)
    hours = bin_hours + bin_min / 120.0  # bin centres
    ax_agp.axhspan(metrics.TIR_LOW, metrics.TIR_HIGH, color="#3a9a46", alpha=0.08)
    for level, colour in ((metrics.TIR_LOW, "#3a9a46"), (metrics.TIR_HIGH, "#3a9a46"),
                          (metrics.TBR_SEVERE, "#8b0000"), (metrics.TAR_SEVERE, "#f28c28")):
        ax_agp.axhline(level, color=colour, lw=0.8, ls="-" if level in (70, 180) else "--")
    ax_agp.fill_between(hours, p5, p95, color="tab:blue", alpha=0.15, label="5-95%")
    ax_agp.fill_between(hours, p25, p75, color="tab:blue", alpha=0.4, label="25-75%")
    ax_agp.plot(hours, p50, color="tab:blue", lw=2, label="median")
    ax_agp.plot(hours, p5, color="tab:blue", lw=0.6, ls="--")
    ax_agp.plot(hours, p95, color="tab:blue", lw=0.6, ls="--")
    ax_agp.set_xlim(0, 24)
    ax_agp.set_xticks(range(0, 25, 3))
    ax_agp.set_xticklabels([f"{h:02d}:00" for h in range(0, 25, 3)])
    ax_agp.set_ylim(0, max(350.0, float(np.nanmax(p95)) + 20.0) if np.isfinite(p95).any()
                    else 350.0)
    ax_agp.set_ylabel("glucose mg/dL")
    ax_agp.set_xlabel("time of day")
    ax_agp.set_title("Ambulatory glucose profile (AGP)", loc="left", fontsize=11)
    ax_agp.legend(loc="upper right", fontsize=8)
    ax_agp.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def cvga_grid_coordinates(lower_bg, upper_bg):
    """Plot coordinates of CVGA points on Magni's grid of equal squares, each in [0, 60].

    x: lower BG 110 -> 0, 90 -> 20, 70 -> 40, 50 -> 60 (reversed, clipped to [50, 110]);
    y: upper BG 110 -> 0, 180 -> 20, 300 -> 40, 400 -> 60 (piecewise linear, clipped to
    [110, 400]).
    """
    x = np.interp(np.asarray(lower_bg, np.float64), [50.0, 70.0, 90.0, 110.0], [60, 40, 20, 0])
    y = np.interp(np.asarray(upper_bg, np.float64), [110.0, 180.0, 300.0, 400.0], [0, 20, 40, 60])
    return x, y


def plot_cvga(points_by_controller: dict, path: str, title: str = "") -> str:
    """Saves the CVGA (Magni et al. 2008) to `path`; returns `path`.

    `points_by_controller` maps a controller to `(lower_bg, upper_bg)`, each `(patients,)` in
    mg/dL (`envs.glucose.metrics.cvga_point`). One colour per controller, one point per
    patient; the legend gives each controller's share of patients per zone.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    names = {(0, 0): "A", (0, 1): "Lower B", (0, 2): "Lower C", (1, 0): "Upper B",
             (1, 1): "B", (1, 2): "Lower D", (2, 0): "Upper C", (2, 1): "Upper D",
             (2, 2): "E"}
    for (row, column), name in names.items():
        zone = metrics.CVGA_GRID[row][column]
        ax.add_patch(plt.Rectangle((20 * column, 20 * row), 20, 20, facecolor=CVGA_COLOURS[zone],
                                   edgecolor="white", lw=2, alpha=0.85, zorder=0))
        ax.text(20 * column + 10, 20 * row + 10, name, ha="center", va="center", fontsize=11,
                weight="bold", color="white" if zone == "B" else "black", alpha=0.8, zorder=1)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (controller, (lower, upper)) in enumerate(points_by_controller.items()):
        frac = metrics.cvga_zone_fractions(lower, upper)
        share = ", ".join(f"{z} {100 * frac[z]:.0f}%" for z in metrics.CVGA_ZONES)
        x, y = cvga_grid_coordinates(lower, upper)
        ax.scatter(x, y, s=40, color=colours[i % len(colours)], edgecolors="black", zorder=3,
                   clip_on=False, label=f"{controller} ({share})")  # clipped points on the edge
    ax.set_xlim(0, 60)
    ax.set_ylim(0, 60)
    ax.set_aspect("equal")
    ax.set_xticks([0, 20, 40, 60], [">110", "90", "70", "<50"])
    ax.set_yticks([0, 20, 40, 60], ["<110", "180", "300", ">400"])
    ax.set_xlabel("lower BG mg/dL (2.5th percentile)")
    ax.set_ylabel("upper BG mg/dL (97.5th percentile)")
    ax.set_title(title or "Control-variability grid analysis")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, ncol=1)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
