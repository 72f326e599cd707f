"""The main job over many seeds: final policies on held-out days, IQM and bootstrap interval.

    python -m benchmarks.artificial_pancreas_seeds --preset=artificial_pancreas --num_seeds=5

Trains the preset for seeds seed0..seed0+N-1 in one vmapped program (`rlcore.seeds`), then
evaluates every seed's **final** policy (no selection) on `--days` meal days per patient
drawn from `--eval_seed` (1000 by default, the stream of `launch.evaluate`; no training seed,
training evaluation or selection uses it). Writes `<outdir>/<preset>_seeds.json` and prints
a markdown table: one row per seed, then the interquartile mean of each metric with its 95%
bootstrap interval over seeds (`rlcore.stats`). With `--workdir`, each seed's final policy is
saved as a run directory `<workdir>/seed_<s>/` (`flags.json` + `policy/`), so
`python -m launch.evaluate --workdir=<workdir>/seed_<s>` reports it with the clinical exports.
Rerunning the command on a finished workdir restores the last checkpoint and trains no more.
"""

from __future__ import annotations

import json
import os
import time

import jax
import numpy as np
from absl import app, flags

flags.DEFINE_string("preset", "artificial_pancreas", "A preset of launch/presets.py.")
flags.DEFINE_integer("num_seeds", 5, "Seeds seed0 .. seed0 + num_seeds - 1.")
flags.DEFINE_integer("seed0", 0, "First training seed.")
flags.DEFINE_integer("days", 20, "Held-out meal days per patient for each seed's report.")
flags.DEFINE_integer("eval_seed", 1000, "Seed of the held-out days (not a training seed).")
flags.DEFINE_multi_string("override", [], "config overrides field=value (after the preset).")
flags.DEFINE_string("algo", None, "An algorithm instead of the preset's (its config fields).")
flags.DEFINE_multi_string("env_arg", [], "env arguments key=value (after the preset's).")
flags.DEFINE_string("outdir", "benchmarks", "Where the json goes.")
flags.DEFINE_string("workdir", None, "Run directory of the training (checkpoints, curves).")
FLAGS = flags.FLAGS

METRICS = ("tir", "tbr70", "tbr54", "tar180", "mean")


def save_seed_run(run_dir: str, params, seed: int, env_name: str, algo: str, overrides: dict,
                  env_args: dict) -> None:
    """A run directory `launch.evaluate --workdir` reads: flags.json and the policy."""
    from rlcore.checkpoint import save_json, save_policy

    os.makedirs(run_dir, exist_ok=True)
    save_policy(run_dir, params)
    save_json(os.path.join(run_dir, "flags.json"), {
        "algo": algo, "env": env_name, "seed": seed, "preset": FLAGS.preset,
        "config_overrides": overrides, "env_args": env_args, "eval_days": FLAGS.days,
        "eval_seed": FLAGS.eval_seed})


def final_alpha(rows: list[dict]) -> float:
    return float(rows[-1].get("train/alpha", float("nan")))


def main(argv):
    del argv
    import algorithms
    import driver
    import envs
    from envs.glucose import evaluation
    from launch import presets
    from rlcore import config as config_lib
    from rlcore import stats

    preset = presets.get(FLAGS.preset)
    algo = algorithms.get(FLAGS.algo or preset.algo)
    overrides = dict(preset.config)
    for item in FLAGS.override:
        name, _, value = item.partition("=")
        overrides[name] = value
    overrides["select_best_eval"] = "false"  # final policies only
    config = config_lib.apply_overrides(algo.Config(), overrides)
    env_args = {**preset.env_args, **presets.parse_env_args(FLAGS.env_arg)}
    env = envs.make(preset.env, **env_args)
    seeds = list(range(FLAGS.seed0, FLAGS.seed0 + FLAGS.num_seeds))
    start = time.perf_counter()
    result = driver.train(algo, env, config, seeds=seeds, workdir=FLAGS.workdir, progress=True)
    train_s = time.perf_counter() - start

    rows = []
    for i, seed in enumerate(seeds):
        params = jax.tree.map(lambda x, i=i: x[i], result.params)
        if FLAGS.workdir:
            save_seed_run(os.path.join(FLAGS.workdir, f"seed_{seed}"), params, seed, preset.env,
                          FLAGS.algo or preset.algo, overrides, env_args)
        controller = evaluation.policy_controller(result.policy, params)
        report, _ = evaluation.evaluate(env, {"agent": controller}, FLAGS.days, FLAGS.eval_seed)
        per_patient = [v["agent"] for v in report["patients"].values()]
        row = {"seed": seed, **{m: float(np.mean([p[m] for p in per_patient]))
                                for m in METRICS},
               "alpha": final_alpha(result.per_seed[seed]),
               "train_eval_tir": float(result.per_seed[seed][-1].get("eval/tir", np.nan)),
               "best_train_eval_tir": float(np.nanmax(
                   [r.get("eval/tir", np.nan) for r in result.per_seed[seed]]))}
        rows.append(row)
    summary = {m: stats.summarize(np.array([r[m] for r in rows]))
               for m in (*METRICS, "alpha", "best_train_eval_tir")}
    out = {"preset": FLAGS.preset, "algo": FLAGS.algo or preset.algo, "overrides": overrides,
           "env_args": env_args, "seeds": seeds,
           "days": FLAGS.days, "eval_seed": FLAGS.eval_seed, "train_wall_s": train_s,
           "device": str(jax.devices()[0].platform), "rows": rows, "summary": summary}
    os.makedirs(FLAGS.outdir, exist_ok=True)
    path = os.path.join(FLAGS.outdir, f"{FLAGS.preset}_seeds.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(markdown(out))
    print(f"Wrote {path}")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def markdown(out: dict) -> str:
    lines = ["| seed | TIR 70-180 % | TBR<70 % | TBR<54 % | TAR>180 % | mean mg/dL | final alpha "
             "| best training-eval TIR % |", "|---|---|---|---|---|---|---|---|"]
    for r in out["rows"]:
        lines.append(f"| {r['seed']} | {_pct(r['tir'])} | {_pct(r['tbr70'])} | "
                     f"{_pct(r['tbr54'])} | {_pct(r['tar180'])} | {r['mean']:.0f} | "
                     f"{r['alpha']:.3g} | {_pct(r['best_train_eval_tir'])} |")
    s = out["summary"]

    def iqm(m, pct=True):
        f = _pct if pct else (lambda x: f"{x:.3g}")
        return f"{f(s[m]['iqm'])} [{f(s[m]['iqm_ci_low'])}, {f(s[m]['iqm_ci_high'])}]"

    lines.append(f"| IQM [95% CI] | {iqm('tir')} | {iqm('tbr70')} | {iqm('tbr54')} | "
                 f"{iqm('tar180')} | {s['mean']['iqm']:.0f} | {iqm('alpha', False)} | "
                 f"{iqm('best_train_eval_tir')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    app.run(main)
