"""Results on disk: `<outdir>/<suite>.json` (rows plus a stamp: device, JAX version, date,
command), `<outdir>/<suite>.md` (the same as a markdown table) and the throughput plot."""

from __future__ import annotations

import datetime
import json
import os

from benchmarks.measure import device_name


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    """One column per key met in `rows` (first-seen order, `suite` left out)."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns and k != "suite"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_format(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def stamp(command: str) -> dict:
    import jax

    return {"device": device_name(), "jax": jax.__version__,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": command}


def write_suite(name: str, rows: list[dict], outdir: str, command: str) -> tuple[str, str]:
    """Writes `<outdir>/<name>.json` and `.md`; returns both paths."""
    os.makedirs(outdir, exist_ok=True)
    meta = stamp(command)
    json_path = os.path.join(outdir, f"{name}.json")
    with open(json_path, "w") as f:
        json.dump({**meta, "rows": rows}, f, indent=2)
    md_path = os.path.join(outdir, f"{name}.md")
    with open(md_path, "w") as f:
        f.write(f"# Benchmark: {name}\n\n`{command}`\n\n{meta['device']}, JAX {meta['jax']}, "
                f"{meta['date']}.\n\n{markdown_table(rows)}\n")
    return json_path, md_path


def read_suites(outdir: str) -> dict[str, list]:
    """The rows of every `<outdir>/*.json`, by file stem."""
    on_disk = {}
    for file in sorted(os.listdir(outdir)):
        if file.endswith(".json"):
            with open(os.path.join(outdir, file)) as f:
                on_disk[file[:-5]] = json.load(f).get("rows", [])
    return on_disk


def write_json(path: str, value, indent: int = 1) -> str:
    """`value` as json at `path` (its folder made, the file replaced whole, so a run killed
    while writing leaves no half cache file); returns `path`."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=indent)
    os.replace(path + ".tmp", path)
    return path


def pyplot():
    """`matplotlib.pyplot` on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str, dpi: int = 110) -> str:
    """Lays out, saves and closes `fig`; returns `path`."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_throughput(rows_by_suite: dict[str, list[dict]], path: str) -> None:
    """Env steps/s against batch size, one line per env/algorithm name, log-log."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for rows in rows_by_suite.values():
        rows = [r for r in rows if isinstance(r, dict) and "name" in r and "batch_size" in r]
        names = sorted({r["name"] for r in rows})
        for name in names:
            points = sorted((r["batch_size"], r["steps_per_s"]) for r in rows
                            if r["name"] == name and r.get("steps_per_s"))
            if len(points) > 1:
                ax.plot(*zip(*points), marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size (parallel envs)")
    ax.set_ylabel("steps / s")
    ax.set_title(f"Throughput on {device_name()}")
    ax.legend(fontsize=7)
    save_figure(fig, path, dpi=120)
