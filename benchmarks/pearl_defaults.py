"""PEARL with nothing but its per-family defaults (`algorithms.pearl.defaults`): several seeds
on a point family, the adaptation curve on held-out tasks, the bar of issue #30.

    python -m benchmarks.pearl_defaults --env=mjx/point-goal --seed=0 --num_seeds=5
    python -m benchmarks.pearl_defaults --env=mjx/point-goal-sparse --seed=0 --num_seeds=5
    python -m benchmarks.pearl_defaults --report      # benchmarks/pearl_defaults.{json,png}

A run is exactly `launch.train --algo=pearl --env=<env> --seed=<s> --num_seeds=<n>
[--steps=<N>]` once launch.train applies `pearl.defaults_for_env` (the same
`driver.train(pearl, env, config_for_env(env), ...)` call, one vmapped program for the seeds).
Each run's rows (per seed) and wall time go into `benchmarks/pearl_defaults.json`; after the
run, each seed's final policy is meta-tested again `--repeats` times on its held-out tasks
(fresh keys, the same protocol as the rows) for a less noisy final figure.

The bar (issue #30), per seed, on the held-out tasks after meta-training: the posterior after
one context episode (episode 2) beats the prior (episode 1) by at least 25% of the prior's
|return|; on the sparse family the same with the success rate.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from benchmarks import DIR

PATH = os.path.join(DIR, "pearl_defaults.json")
PNG = os.path.join(DIR, "pearl_defaults.png")
BAR = 0.25  # posterior - prior >= BAR * |prior|


def _load() -> dict:
    if os.path.exists(PATH):
        with open(PATH) as f:
            return json.load(f)
    return {"runs": {}}


def _save(record: dict) -> None:
    from benchmarks.report import write_json

    write_json(PATH, record)


def final_meta_test(env, config, result, seeds, repeats: int) -> dict[int, dict]:
    """Per seed: the mean over `repeats` fresh meta-tests of the final policy on the seed's
    held-out tasks, per episode: `{"return": [...], "success": [...] or None}`."""
    import jax

    from algorithms import pearl

    fns = pearl.make_meta_functions(env, config)
    meta_test = jax.jit(fns.meta_test)
    out = {}
    for i, seed in enumerate(seeds):
        pick = (lambda x, i=i: x[i]) if len(seeds) > 1 else (lambda x: x)
        params = jax.tree.map(pick, result.params)
        tasks = pick(result.state.test_tasks)
        key = jax.random.fold_in(jax.random.key(10_000 + seed), 1)
        rows = [jax.device_get(meta_test(params, tasks, jax.random.fold_in(key, r)))
                for r in range(repeats)]
        per_episode = lambda name, rows=rows: [
            float(np.mean([r[f"meta_test/{name}_episode_{k}"] for r in rows]))
            for k in range(1, config.num_eval_episodes + 1)]
        out[seed] = {"return": per_episode("return"),
                     "success": (per_episode("success")
                                 if "meta_test/success_episode_1" in rows[0] else None)}
    return out


def run(env_name: str, seed: int, num_seeds: int, steps: int | None, repeats: int,
        workdir: str | None) -> dict:
    import driver
    import envs
    from algorithms import pearl
    from benchmarks.measure import device_name

    env = envs.make(env_name)
    fields = {} if steps is None else {"total_env_steps": steps}
    config = pearl.config_for_env(env_name, **fields)
    seeds = list(range(seed, seed + num_seeds))
    start = time.perf_counter()
    result = driver.train(pearl, env, config, seed=seed, num_seeds=num_seeds, workdir=workdir,
                          progress=False)
    wall_s = time.perf_counter() - start
    per_seed = result.per_seed if num_seeds > 1 else {seed: result.metrics}
    final = final_meta_test(env, config, result, seeds, repeats)
    entry = {"env": env_name, "seeds": seeds, "asked_env_steps": config.total_env_steps,
             "env_steps": int(per_seed[seeds[0]][-1]["step"]), "wall_s": wall_s,
             "device": device_name(), "repeats": repeats,
             "overrides": pearl.defaults_for_env(env_name) | {
                 k: str(v) for k, v in fields.items()},
             "rows": {str(s): per_seed[s] for s in seeds},
             "final": {str(s): final[s] for s in seeds}}
    record = _load()
    record["runs"][f"{env_name} seeds {seeds[0]}-{seeds[-1]} steps {config.total_env_steps}"] = (
        entry)
    _save(record)
    return entry


def seed_table(entry: dict) -> list[dict]:
    """Per seed: prior, posterior after 1 episode, last episode; from the last row and from
    the repeated final meta-test; and whether the bar is met."""
    out = []
    for seed in entry["seeds"]:
        last = entry["rows"][str(seed)][-1]
        final = entry["final"][str(seed)]
        row = {"seed": seed, "row_prior": last["meta_test/return_episode_1"],
               "row_posterior": last["meta_test/return_episode_2"],
               "final_return": final["return"]}
        row["row_bar"] = row["row_posterior"] - row["row_prior"] >= BAR * abs(row["row_prior"])
        prior, post = final["return"][0], final["return"][1]
        row["final_bar"] = post - prior >= BAR * abs(prior)
        if final["success"] is not None:
            row["row_success"] = [last[f"meta_test/success_episode_{k}"]
                                  for k in range(1, len(final["success"]) + 1)]
            row["final_success"] = final["success"]
            s_prior, s_post = final["success"][0], final["success"][1]
            row["success_bar"] = s_post - s_prior >= BAR * abs(s_prior) and s_post > s_prior
        out.append(row)
    return out


def curve(entry: dict, name: str = "return") -> dict:
    """IQM over seeds and its 95% bootstrap interval, per context episode, of the repeated
    final meta-test."""
    from rlcore import stats

    values = np.array([entry["final"][str(s)][name] for s in entry["seeds"]])  # (S, K)
    summaries = [stats.summarize(values[:, k]) for k in range(values.shape[1])]
    return {key: [s[key] for s in summaries] for key in ("iqm", "iqm_ci_low", "iqm_ci_high")}


def report() -> str:
    """Writes the figure; returns the markdown of each run's per-seed table and curve."""
    from benchmarks.report import pyplot, save_figure

    record = _load()
    runs = record["runs"]
    plt = pyplot()
    fig, axes = plt.subplots(len(runs), 2, figsize=(11, 3.6 * len(runs)), squeeze=False)
    lines = []
    for (title, entry), ax in zip(runs.items(), axes):
        table = seed_table(entry)
        sparse = table[0].get("final_success") is not None
        names = ("return", "success") if sparse else ("return",)
        lines.append(f"### {title}\n")
        lines.append(f"{entry['env_steps']:,} env steps per seed ({entry['asked_env_steps']:,}"
                     f" asked), {entry['wall_s'] / 60:.1f} min for all seeds on "
                     f"{entry['device']}.\n")
        head = "| seed | last row: ep 1 (prior) | ep 2 | final x{r}: ep 1..K return |".format(
            r=entry["repeats"])
        head += " bar (final) |" + (" final success ep 1..K | success bar |" if sparse else "")
        lines.append(head)
        lines.append("|" + "---|" * (head.count("|") - 1))
        for row in table:
            text = (f"| {row['seed']} | {row['row_prior']:.1f} | {row['row_posterior']:.1f} | "
                    + " / ".join(f"{v:.1f}" for v in row["final_return"])
                    + f" | {'yes' if row['final_bar'] else 'NO'} |")
            if sparse:
                text += (" " + " / ".join(f"{v:.2f}" for v in row["final_success"])
                         + f" | {'yes' if row['success_bar'] else 'NO'} |")
            lines.append(text)
        for name in names:
            c = curve(entry, name)
            lines.append(f"\nIQM over seeds of the final {name} per context episode "
                         "[95% bootstrap interval]: " + ", ".join(
                             f"{k + 1}: {m:.2f} [{lo:.2f}, {hi:.2f}]" for k, (m, lo, hi) in
                             enumerate(zip(c["iqm"], c["iqm_ci_low"], c["iqm_ci_high"]))))
        lines.append("")
        # Left: the adaptation curve; right: prior vs posterior over meta-training.
        left, right = ax
        for name, axis in zip(names, (left, left.twinx()) if sparse else (left,)):
            c = curve(entry, name)
            k = np.arange(1, len(c["iqm"]) + 1)
            style = "-o" if name == "return" else "--s"
            axis.plot(k, c["iqm"], style, label=f"{name} (IQM)",
                      color="C0" if name == "return" else "C3")
            axis.fill_between(k, c["iqm_ci_low"], c["iqm_ci_high"], alpha=0.2,
                              color="C0" if name == "return" else "C3")
            axis.set_ylabel(name)
        left.set_xlabel("context episode k (1: z from the prior; k > 1: z ~ q(z | episodes < k))")
        left.set_title(f"{entry['env']}: held-out tasks, {len(entry['seeds'])} seeds", fontsize=9)
        left.grid(alpha=0.3)
        from rlcore import stats

        for metric, label in (("meta_test/return_episode_1", "episode 1 (prior)"),
                              ("meta_test/return_episode_2", "episode 2 (posterior)")):
            steps = [r["step"] for r in entry["rows"][str(entry["seeds"][0])]]
            values = np.array([[r[metric] for r in entry["rows"][str(s)]]
                               for s in entry["seeds"]])
            summaries = [stats.summarize(values[:, i]) for i in range(values.shape[1])]
            right.plot(steps, [s["iqm"] for s in summaries], label=label)
            right.fill_between(steps, [s["iqm_ci_low"] for s in summaries],
                               [s["iqm_ci_high"] for s in summaries], alpha=0.2)
        right.set_xlabel("meta-training env steps")
        right.set_ylabel("held-out return (IQM over seeds)")
        right.grid(alpha=0.3)
        right.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, PNG)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="mjx/point-goal")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=None,
                        help="total env steps (default: the family's)")
    parser.add_argument("--repeats", type=int, default=10,
                        help="fresh meta-tests of each final policy")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.report:
        print(report())
        return
    entry = run(args.env, args.seed, args.num_seeds, args.steps, args.repeats, args.workdir)
    for row in seed_table(entry):
        print(row)
    print(f"wall {entry['wall_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
