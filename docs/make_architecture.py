"""Draws the layers of the code base from its imports: `docs/architecture.png`.

    python docs/make_architecture.py

Every module of the project's top-level packages is parsed with `ast`; a node is a
subpackage or top-level module (`envs/glucose`, `rlcore/replay`, `algorithms/sac`, ...),
placed in the row of its layer (envs < rlcore < algorithms < driver < launch, benchmarks
above), and an arrow goes from each node to every node it imports. An arrow that breaks the layering
(up the order, rlcore into envs, a learner into a concrete env family) is drawn red and
printed (there should be none; `tests/test_import_rules.py` enforces the same rules).
"""

from __future__ import annotations

import ast
import collections
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ("envs", "rlcore", "algorithms", "driver", "launch", "benchmarks")


def node_of(module: str) -> str | None:
    """`envs.glucose.patient` -> `envs/glucose`; `rlcore.replay` -> `rlcore/replay`."""
    parts = module.split(".")
    if parts[0] not in LAYERS:
        return None
    return "/".join(parts[:2]) if len(parts) > 1 else parts[0]


def module_name(path: str) -> str:
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def imports(path: str) -> set[str]:
    """Project modules imported by the file at `path` (absolute and relative imports)."""
    tree = ast.parse(open(path).read(), path)
    package = module_name(path).rsplit(".", 0 if path.endswith("__init__.py") else 1)[0]
    found = set()
    for item in ast.walk(tree):
        if isinstance(item, ast.Import):
            found.update(alias.name for alias in item.names)
        elif isinstance(item, ast.ImportFrom):
            base = item.module or ""
            if item.level:
                up = package.split(".")[:len(package.split(".")) - item.level + 1]
                base = ".".join(up + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in item.names)
    return {m for m in found if m.split(".")[0] in LAYERS}


def import_graph() -> tuple[set[str], set[tuple[str, str]]]:
    nodes, edges = set(), set()
    for layer in LAYERS:
        for folder, _, files in os.walk(os.path.join(ROOT, layer)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                source = node_of(module_name(path))
                nodes.add(source)
                for target in map(node_of, imports(path)):
                    if target is not None and target != source and (
                            target.split("/")[0] in LAYERS):
                        edges.add((source, target))
    known = {n for n in nodes}
    # `from rlcore import replay` names the module rlcore/replay: keep only real nodes,
    # falling back to the package node.
    fixed = set()
    for source, target in edges:
        if target not in known:
            target = target.split("/")[0]
        if target != source:
            fixed.add((source, target))
    return nodes, fixed


RANK = {"envs": 0, "rlcore": 1, "algorithms": 2, "driver": 3, "launch": 4, "benchmarks": 4}
# Beyond the order: rlcore is pure building blocks (no env), and learners see the env
# contract only (envs/base, envs/wrappers), never a concrete family.
FORBIDDEN = {("rlcore", "envs"), ("algorithms", "envs/glucose"), ("algorithms", "envs/mjx"),
             ("algorithms", "envs/classic"), ("algorithms", "envs/icu")}


def upward(edges) -> list[tuple[str, str]]:
    """Edges that break the layering: up the order, or one of `FORBIDDEN`."""
    def broken(s, t):
        top_s, top_t = s.split("/")[0], t.split("/")[0]
        if top_s != top_t and RANK[top_t] > RANK[top_s]:
            return not (top_s == "launch" and top_t == "benchmarks")  # the suite registry
        return (top_s, top_t) in FORBIDDEN or (top_s, t) in FORBIDDEN

    return sorted((s, t) for s, t in edges if broken(s, t))


def draw(nodes, edges, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = collections.defaultdict(list)
    for n in sorted(nodes):
        rows[n.split("/")[0]].append(n)
    width = max(len(v) for v in rows.values())
    fig, ax = plt.subplots(figsize=(max(12, width * 1.25), 1.7 * len(LAYERS)))
    where = {}
    for layer in LAYERS:
        members = rows.get(layer, [])
        y = RANK[layer] + (0.55 if layer == "benchmarks" else 0.0)
        for i, n in enumerate(members):
            x = (i + 0.5) * width / max(len(members), 1)
            where[n] = (x, y)
        ax.text(-0.6, y, layer, ha="right", va="center", fontsize=12, weight="bold")
    bad = set(upward(edges))
    for s, t in sorted(edges):
        if s.split("/")[0] == t.split("/")[0]:
            continue  # within a layer: counted, not drawn (they would cross the labels)
        (x0, y0), (x1, y1) = where[s], where[t]
        ax.annotate("", xy=(x1, y1 + 0.12), xytext=(x0, y0 - 0.12),
                    arrowprops=dict(arrowstyle="->", lw=0.5 if (s, t) not in bad else 2,
                                    color="red" if (s, t) in bad else "0.6", alpha=0.6))
    for n, (x, y) in where.items():
        label = n.split("/", 1)[1] if "/" in n else n
        ax.text(x, y, label, ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round", fc="#dde8f5", ec="#4a6fa5"))
    ax.set_xlim(-2.5, width + 0.5)
    ax.set_ylim(-0.6, max(RANK.values()) + 1.0)
    ax.axis("off")
    ax.set_title("Imports point down: each package sees only the layers below it "
                 "(generated by docs/make_architecture.py)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    nodes, edges = import_graph()
    out = os.path.join(ROOT, "docs", "architecture.png")
    draw(nodes, edges, out)
    print(f"Wrote {out}: {len(nodes)} modules, {len(edges)} import edges.")
    for s, t in upward(edges):
        print(f"upward import: {s} -> {t}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
