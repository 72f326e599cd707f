"""End-of-run reports: the evaluation table and learning-curve plots."""

from __future__ import annotations

import math
import os


def format_table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    """A plain-text table with aligned columns (floats to 4 significant digits)."""

    def fmt(x):
        if isinstance(x, float):
            return "nan" if math.isnan(x) else f"{x:.4g}"
        return str(x)

    cells = [[fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [title] if title else []
    out += [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(out)


def print_eval_table(history: list[dict[str, float]], title: str = "evaluation") -> str:
    """Prints first / best / final value of every `eval/*` metric; returns the text."""
    if not history:
        print("No evaluation was run.")
        return ""
    names = sorted({k for row in history for k in row if k.startswith(("eval/", "glucose/"))})
    rows = []
    for name in names:
        values = [row[name] for row in history if name in row and not math.isnan(row[name])]
        if not values:
            continue
        lower_is_better = any(w in name for w in ("cost", "tbr", "error", "tar", "risk"))
        best = min(values) if lower_is_better else max(values)
        rows.append([name, values[0], best, values[-1]])
    last = history[-1]
    rows.append(["env steps", "", "", int(last["step"])])
    if "train/env_steps_per_s" in last:
        rows.append(["train/env_steps_per_s", "", "", last["train/env_steps_per_s"]])
    text = format_table(["metric", "first", "best", "final"], rows, title=f"== {title} ==")
    print(text)
    return text


def plot_learning_curves(history: list[dict[str, float]], workdir: str,
                         names: tuple[str, ...] = ("eval/return", "eval/cost", "eval/tir",
                                                   "eval/tbr70", "train/episode_return",
                                                   "train/alpha")) -> str:
    """Saves `<workdir>/learning_curves.png` with the named metrics against env steps (those
    the run has: `eval/tir` and `eval/tbr70` are the glucose envs' time in / below range)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [n for n in names if any(n in row for row in history)]
    fig, axes = plt.subplots(1, max(1, len(present)), figsize=(4 * max(1, len(present)), 3))
    axes = [axes] if len(present) <= 1 else list(axes)
    steps = [row["step"] for row in history]
    for ax, name in zip(axes, present):
        ax.plot(steps, [row.get(name, math.nan) for row in history], marker=".")
        ax.set_title(name)
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = os.path.join(workdir, "learning_curves.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
