"""Study and suite `mpo_vs_sac`: MPO beside SAC at the same budget, seeds and network sizes.

    python -m benchmarks.studies.mpo_vs_sac            # trains what is missing, md + json
    python -m benchmarks.studies.mpo_vs_sac --quick    # smoke run (tiny budgets, no cache)
    python -m launch.benchmark --suite=mpo_vs_sac      # the same rows, md without the notes

Two envs, each with one set of loop knobs shared by both algorithms (env steps, parallel
envs, batch, replay, gradient steps per env step, hidden sizes, warm-up, evaluation) and
Adam 3e-4 for the policy and critic of both (SAC's default; acme's MPO default of 1e-4 learns
pendulum about twice slower, about 20k env steps against 11k with 128 x 128 networks, and
these budgets are short). Everything else is each algorithm's own default: MPO acme's (one
critic, 20 action samples, epsilon 0.1, KL bounds 2.5e-3 / 1e-6 per dimension, targets copied every
100 gradient steps), SAC the paper's (two critics, Polyak 0.005, target entropy -|A|).

* `glucose/adults` with the `ap_adults` preset's knobs (`launch/presets.py`: max 6 U/h,
  16 envs, hidden 128x128, 1 gradient step per 4 env steps), at a smaller step budget.
  After training, the agent doses each of the 10 adults on 20 held-out meal days (seed
  1000; training seeds are 0, 1) with sensor noise on (`envs.glucose.evaluation`, the same
  days as `launch.evaluate`): TIR, TBR<70, TBR<54 in % of blood-glucose readings.
* `mjx/cheetah-run` (1000-step episodes) with 32 envs, hidden 256x256 and 1 gradient step
  per 8 env steps (brax's CheetahRun ratio), a budget far below the papers' 1M+ steps.

Each run (env, algorithm, seed) is cached as `benchmarks/mpo_vs_sac/<env>_<algo>_seed<s>.json`
(its metrics per evaluation, final figures, timings); a cached run is not retrained, so the
suite can be stopped and resumed, and deleting a file retrains that run. Rows: one per run
and one mean over seeds per (env, algorithm). `eval_return` is the training loop's final
evaluation (one deterministic episode on each of 16 eval envs); `steps_per_s` is training env
steps per second over the training chunks (total steps / total chunk time; compilation,
warm-up and evaluations excluded) and `train_wall_s` the whole `train` call.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import NamedTuple

import driver
from benchmarks import DIR, ROOT
from benchmarks.measure import algorithm_throughput, device_name
from benchmarks.report import write_json, write_suite

OUTDIR = DIR
CACHE_DIR = os.path.join(OUTDIR, "mpo_vs_sac")
ALGOS = ("mpo", "sac")
SEEDS = (0, 1)
EVAL_DAYS, EVAL_SEED = 20, 1000  # held-out meal days per adult (launch.evaluate's defaults)
GLUCOSE_METRICS = ("tir", "tbr70", "tbr54", "tar180", "mean")
COMMAND = "python -m benchmarks.studies.mpo_vs_sac"
THROUGHPUT_STEPS = 4_096  # env steps per timed chunk of the back-to-back throughput pairs
ALGO_OVERRIDES = {"mpo": {"policy_lr": 3e-4, "critic_lr": 3e-4}, "sac": {}}  # SAC: 3e-4 already


class Setting(NamedTuple):
    env: str
    env_args: dict
    config: dict  # OffPolicyConfig fields and hidden_sizes, the same for both algorithms
    quick_steps: int


SETTINGS = (
    Setting("glucose/adults", {"max_action_u_per_h": 6.0}, dict(
        total_env_steps=200_000, num_envs=16, batch_size=256, replay_capacity=200_000,
        warmup_steps=2_000, learning_starts=2_000, grad_steps_per_env_step=0.25,
        eval_every_steps=20_000, num_eval_envs=16, hidden_sizes=(128, 128)), 4_096),
    Setting("mjx/cheetah-run", {}, dict(
        total_env_steps=100_000, num_envs=32, batch_size=256, replay_capacity=100_000,
        warmup_steps=5_000, learning_starts=5_000, grad_steps_per_env_step=0.125,
        eval_every_steps=20_000, num_eval_envs=16, hidden_sizes=(256, 256)), 4_096),
)


def make_config(algo_name: str, setting: Setting, quick: bool):
    import algorithms

    config = dict(setting.config, checkpoint_every_evals=0, **ALGO_OVERRIDES[algo_name])
    if quick:
        config.update(total_env_steps=setting.quick_steps, eval_every_steps=setting.quick_steps
                      // 2, warmup_steps=512, learning_starts=512, num_eval_envs=2)
    return algorithms.get(algo_name).Config(**config)


def cache_path(setting: Setting, algo_name: str, seed: int) -> str:
    slug = setting.env.replace("/", "_")
    return os.path.join(CACHE_DIR, f"{slug}_{algo_name}_seed{seed}.json")


def glucose_metrics(env, result, algo_name: str) -> dict:
    """TIR / TBR / TAR (%) and mean glucose (mg/dL) of the trained policy over the group's
    patients on `EVAL_DAYS` held-out meal days each (group mean of per-patient figures)."""
    from envs.glucose import evaluation

    controller = evaluation.policy_controller(result.policy, result.params)
    summary, _ = evaluation.evaluate(env, {algo_name: controller}, EVAL_DAYS, EVAL_SEED)
    group = env.spec.name.split("/", 1)[1]
    values = summary["groups"][group][algo_name]
    return {m: float(values[m]) * (1.0 if m == "mean" else 100.0) for m in GLUCOSE_METRICS}


def train_run(setting: Setting, algo_name: str, seed: int, quick: bool = False) -> dict:
    """Trains one (env, algorithm, seed); returns its record (what the cache file holds)."""
    import jax

    import algorithms
    import envs
    from rlcore import config as config_lib

    algo = algorithms.get(algo_name)
    config = make_config(algo_name, setting, quick)
    env = envs.make(setting.env, **setting.env_args)
    start = time.perf_counter()
    result = driver.train(algo, env, config, seed=seed, progress=False)
    jax.block_until_ready(result.params)
    train_wall_s = time.perf_counter() - start
    history = result.metrics
    chunk_steps = config.iterations_per_eval * config.num_envs
    chunk_s = sum(chunk_steps / row["train/env_steps_per_s"] for row in history)
    last = history[-1]
    record = {
        "env": setting.env, "algo": algo_name, "seed": seed, "env_args": setting.env_args,
        "config": config_lib.to_dict(config),
        "env_steps": int(result.state.training_state.env_steps),  # prefill included
        "grad_steps": int(result.state.training_state.grad_steps),
        "eval_return": float(last["eval/return"]),
        "eval_return_std": float(last["eval/return_std"]),
        "steps_per_s": chunk_steps * len(history) / chunk_s,
        "grad_steps_per_s": config.grad_steps_per_iteration * config.iterations_per_eval
        * len(history) / chunk_s,
        "compile_s": float(last["train/compile_s"]), "train_wall_s": train_wall_s,
        "curve": [{"step": (i + 1) * chunk_steps, "eval/return": float(r["eval/return"])}
                  for i, r in enumerate(history)],
    }
    if setting.env.startswith("glucose/"):
        start = time.perf_counter()
        record.update(glucose_metrics(env, result, algo_name))
        record["glucose_eval_s"] = time.perf_counter() - start
    return record


def load_or_train(setting: Setting, algo_name: str, seed: int, quick: bool = False) -> dict:
    if quick:
        return train_run(setting, algo_name, seed, quick=True)
    path = cache_path(setting, algo_name, seed)
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    record = train_run(setting, algo_name, seed)
    write_json(path, record)
    return record


def _row(record: dict, name: str, device: str) -> dict:
    row = {"suite": "mpo_vs_sac", "name": name, "env_steps": record["env_steps"],
           "grad_steps": record["grad_steps"], "eval_return": round(record["eval_return"], 1)}
    for m in GLUCOSE_METRICS:
        row[m] = round(record[m], 1) if m in record else ""
    row.update({"batch_size": record["config"]["num_envs"],
                "steps_per_s": float(record["steps_per_s"]),
                "grad_steps_per_s": float(record["grad_steps_per_s"]),
                "compile_s": round(record["compile_s"], 1),
                "train_wall_s": float(record["train_wall_s"]), "device": device})
    return row


def mean_record(records: list[dict]) -> dict:
    """Means over seeds of every numeric figure (the config of the first)."""
    out = dict(records[0])
    for key, value in records[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            mean = sum(r[key] for r in records) / len(records)
            out[key] = round(mean) if isinstance(value, int) else mean
    return out


def throughput(quick: bool = False) -> list[dict]:
    """Training env steps/s of MPO and SAC measured back to back on each env, with the
    settings' envs, gradient-step ratio, batch and networks: the second of two chunks of
    `THROUGHPUT_STEPS` env steps (`benchmarks.measure.algorithm_throughput`). The runs above
    are minutes apart on a shared machine; these pairs are seconds apart, so their ratio is
    the one to read. Cached as `benchmarks/mpo_vs_sac/throughput.json`."""
    path = os.path.join(CACHE_DIR, "throughput.json")
    if os.path.exists(path) and not quick:
        with open(path) as f:
            return json.load(f)
    rows = []
    for setting in SETTINGS:
        c = setting.config
        for algo_name in ALGOS:
            measured = algorithm_throughput(
                algo_name, setting.env, c["num_envs"], c["grad_steps_per_env_step"],
                512 if quick else THROUGHPUT_STEPS, hidden_sizes=c["hidden_sizes"],
                batch_size=c["batch_size"])
            rows.append({"suite": "mpo_vs_sac",
                         "name": f"{algo_name} on {setting.env}, throughput pair",
                         **{k: measured[k] for k in ("batch_size", "steps_per_s",
                                                     "grad_steps_per_s", "compile_s",
                                                     "device")}})
    if not quick:
        write_json(path, rows)
    return rows


def run_suite(quick: bool = False) -> list[dict]:
    """Trains (or loads) every run, seed 0 of every setting first; one row per run and one
    mean row per (env, algorithm)."""
    device = device_name()
    seeds = SEEDS[:1] if quick else SEEDS
    records = {}
    for seed in seeds:  # seed-major: an interrupted suite has one seed of everything first
        for setting in SETTINGS:
            for algo_name in ALGOS:
                records[setting.env, algo_name, seed] = load_or_train(setting, algo_name, seed,
                                                                      quick)
                print(f"{algo_name} on {setting.env}, seed {seed}: eval/return "
                      f"{records[setting.env, algo_name, seed]['eval_return']:.1f}", flush=True)
    rows = []
    for setting in SETTINGS:
        for algo_name in ALGOS:
            runs = [records[setting.env, algo_name, s] for s in seeds]
            rows += [_row(r, f"{algo_name} on {setting.env}, seed {r['seed']}", device)
                     for r in runs]
            rows.append(_row(mean_record(runs), f"{algo_name} on {setting.env}, mean of "
                             f"{len(runs)} seed{'s' if len(runs) > 1 else ''}", device))
    return rows + throughput(quick)


def notes(rows: list[dict]) -> str:
    """The budgets and the comparison read off the rows: means with per-seed values, and the
    throughput of the back-to-back pairs."""
    by_name = {r["name"]: r for r in rows}

    def per_seed(algo_name: str, env: str, key: str) -> str:
        values = [r[key] for r in rows if r["name"].startswith(f"{algo_name} on {env}, seed ")]
        return ", ".join(f"{v:.1f}" for v in values)

    lines = []
    for setting in SETTINGS:
        env, c = setting.env, setting.config
        mean = {a: next((r for r in rows if r["name"].startswith(f"{a} on {env}, mean of")),
                        None) for a in ALGOS}
        if None in mean.values():
            continue
        mpo, sac = mean["mpo"], mean["sac"]
        text = (f"* `{env}`: {mpo['env_steps']:,} env steps per run, {c['num_envs']} envs, "
                f"{mpo['grad_steps']:,} gradient steps (1 per "
                f"{1 / c['grad_steps_per_env_step']:g} env steps), batch {c['batch_size']}, "
                f"hidden {c['hidden_sizes']}. Final return, mean (per seed): MPO "
                f"{mpo['eval_return']} ({per_seed('mpo', env, 'eval_return')}) vs SAC "
                f"{sac['eval_return']} ({per_seed('sac', env, 'eval_return')})")
        for key, label in (("tir", "TIR"), ("tbr70", "TBR<70"), ("tbr54", "TBR<54")):
            if mpo[key] != "":
                text += (f"; {label} % MPO {mpo[key]} ({per_seed('mpo', env, key)}) vs SAC "
                         f"{sac[key]} ({per_seed('sac', env, key)})")
        pair = [by_name.get(f"{a} on {env}, throughput pair") for a in ALGOS]
        if None not in pair:
            text += (f". Back to back, MPO trains at {pair[0]['steps_per_s']:,.0f} env steps/s "
                     f"and SAC at {pair[1]['steps_per_s']:,.0f} (SAC "
                     f"{pair[1]['steps_per_s'] / pair[0]['steps_per_s']:.1f}x)")
        text += (f"; whole runs took {mpo['train_wall_s']:,.0f} s (MPO) and "
                 f"{sac['train_wall_s']:,.0f} s (SAC) on average.")
        lines.append(text)
    return "\n".join(lines)


def write(rows: list[dict], outdir: str = OUTDIR, command: str = COMMAND,
          comment: str = "") -> str:
    """`benchmarks.report.write_suite`'s json and md, the md with the notes above the table."""
    json_path, md_path = write_suite("mpo_vs_sac", rows, outdir, command)
    with open(md_path) as f:
        header, table = f.read().split("\n\n| ", 1)
    text = notes(rows) + ("\n\n" + comment.strip() if comment.strip() else "")
    with open(md_path, "w") as f:
        f.write(f"{header}\n\n{text}\n\n| {table}")
    return md_path


COMMENT_FILE = os.path.join(CACHE_DIR, "comment.md")


def main(argv: list[str]) -> None:
    """Runs the suite and writes `benchmarks/mpo_vs_sac.{json,md}`; the md carries the
    generated notes and the hand-written reading in `benchmarks/mpo_vs_sac/comment.md`."""
    quick = "--quick" in argv[1:]
    unknown = [a for a in argv[1:] if a != "--quick"]
    if unknown:
        print(f"error: unknown arguments {unknown}; usage: {COMMAND} [--quick]", file=sys.stderr)
        sys.exit(2)
    rows = run_suite(quick)
    comment = ""
    if os.path.exists(COMMENT_FILE) and not quick:
        with open(COMMENT_FILE) as f:
            comment = f.read()
    outdir = OUTDIR if not quick else os.path.join(ROOT, "runs", "bench_quick")
    print(f"Wrote {write(rows, outdir, COMMAND + (' --quick' if quick else ''), comment)}")


if __name__ == "__main__":
    main(sys.argv)
