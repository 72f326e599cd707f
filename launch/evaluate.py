"""Evaluate insulin controllers on the virtual population: clinical metrics, tables, plots.

    python -m launch.evaluate --controller=basal_bolus --env=glucose/adults
    python -m launch.evaluate --controller=all --env=glucose/all --days=20
    python -m launch.evaluate --workdir=runs/ap               # the trained agent + baselines
    python -m launch.evaluate --workdir=runs/ap --si_scale=0.7   # robustness: -30% sensitivity

Every patient of the env's group runs N random meal days (`--days`, seeds fixed by `--seed`),
sensor noise on, each controller on the same days. Prints a table per patient and per group
of `envs.glucose.metrics.summary` (on blood glucose) and writes `evaluation.json`
(`{"groups": {group: {controller: summary}}, "patients": {name: {controller: summary}}}`),
an AGP plot per controller and one day's trace per controller into the run directory (or
`--outdir`). Unknown names and run directories without a policy exit with code 2.
"""

from __future__ import annotations

import math
import os
import sys

from absl import app, flags, logging

FLAGS = flags.FLAGS


def _define_flags() -> None:
    """Defined at launch, not at import: `launch.train` imports this module for
    `report_agent` and has flags of the same names."""
    flags.DEFINE_string("workdir", None, "A training run directory: evaluates its agent.")
    flags.DEFINE_list("controller", [], "Baselines: basal_bolus, basal_only, pid, or 'all'. With "
                      "--workdir all baselines run beside the agent unless this is given.")
    flags.DEFINE_string("env", None, "glucose env (patient or group); default: the run's env, "
                        "else glucose/adults.")
    flags.DEFINE_integer("days", 20, "Random meal days per patient.")
    flags.DEFINE_integer("seed", 1000, "Seed of the meal days and sensor noise (held out from "
                         "training seeds by default).")
    flags.DEFINE_string("outdir", None, "Where json and plots go (default: --workdir, else "
                        "runs/evaluate).")
    flags.DEFINE_float("si_scale", 1.0, "Insulin-sensitivity multiplier (0.7 / 1.3: +-30%).")
    flags.DEFINE_bool("circadian", False, "Daily insulin-sensitivity profile and dawn phenomenon.")
    flags.DEFINE_float("meal_scale", 1.0, "Meal size multiplier (1.5: meals 50% larger).")
    flags.DEFINE_float("meal_skip_prob", 0.0, "Probability that a drawn meal is missed.")
    flags.DEFINE_float("meal_delay_min", 0.0, "Every meal this many minutes late.")
    flags.DEFINE_string("sensor", None, "CGM model (GuardianRT, Dexcom, Navigator).")


# Our circadian scenario: insulin sensitivity 0.7x at 04:00 rising to 1.3x at 16:00 (a cosine),
# and dawn-phenomenon glucose production peaking at 0.5 mg/kg/min at 06:00. The S2017
# simulator's per-subject profiles are not public; this shape follows its qualitative form.
CIRCADIAN_SI_PROFILE = tuple(round(1.0 - 0.3 * math.cos(2 * math.pi * (h + 0.5 - 4.0) / 24.0), 4)
                             for h in range(24))
CIRCADIAN_DAWN_EGP = 0.5


def _usage_error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def scenario_args() -> dict:
    """Env overrides of the robustness flags."""
    args = {"si_scale": FLAGS.si_scale, "meal_scale": FLAGS.meal_scale,
            "meal_skip_prob": FLAGS.meal_skip_prob, "meal_delay_min": FLAGS.meal_delay_min}
    if FLAGS.circadian:
        args.update(si_profile_24h=CIRCADIAN_SI_PROFILE, dawn_egp_mg_kg_min=CIRCADIAN_DAWN_EGP)
    if FLAGS.sensor:
        args["sensor"] = FLAGS.sensor
    return args


def print_tables(evaluation: dict) -> str:
    """Per-group and per-patient tables (TIR, TBR, TAR in %, mean/sd mg/dL, risk)."""
    from rlcore.report import format_table

    columns = ("tir", "tbr70", "tbr54", "tar180", "tar250", "mean", "cv", "lbgi", "hbgi")
    percent = {"tir", "tbr70", "tbr54", "tar180", "tar250", "cv"}

    def rows(section):
        out = []
        for name, by_controller in section.items():
            for controller, s in by_controller.items():
                out.append([name, controller] + [
                    round(100 * s[c], 1) if c in percent else round(s[c], 2) for c in columns])
        return out

    headers = ["", "controller"] + [f"{c} %" if c in percent else c for c in columns]
    text = "\n\n".join([
        format_table(headers, rows(evaluation["groups"]), title="== per group =="),
        format_table(headers, rows(evaluation["patients"]), title="== per patient ==")])
    print(text)
    return text


def run_and_report(env, controllers: dict, days: int, seed: int, outdir: str,
                   return_traces: bool = False):
    """Evaluates, prints the tables, writes evaluation.json and the plots; returns the dict
    (and the traces with `return_traces`)."""
    import numpy as np

    from envs.glucose import evaluation, plots
    from rlcore.checkpoint import save_json

    result, traces = evaluation.evaluate(env, controllers, days, seed)
    os.makedirs(outdir, exist_ok=True)
    result["settings"] = {"env": env.spec.name, "days": days, "seed": seed,
                          "env_config": {k: v for k, v in vars(env.config).items()}}
    save_json(os.path.join(outdir, "evaluation.json"), result)
    print_tables(result)
    agp = plots.plot_agp({c: t["bg"] for c, t in traces.items()}, env.dt_min,
                         os.path.join(outdir, "agp.png"), title=env.spec.name,
                         start_hour=env.config.start_hour)
    first = env.config.patients[0]
    for name, t in traces.items():
        plots.plot_day(t["bg"][0], t["cgm"][0], t["insulin_u_per_h"][0], t["meal_g"][0],
                       env.dt_min, os.path.join(outdir, f"day_{name}.png"),
                       title=f"{first}, day 1: {name}", start_hour=env.config.start_hour)
    print(f"Wrote {os.path.join(outdir, 'evaluation.json')}, {agp} and day_*.png "
          f"({np.asarray(traces[next(iter(traces))]['bg']).shape[0]} patient-days each).")
    return (result, traces) if return_traces else result


def baselines(names, dt_min: float) -> dict:
    from envs.glucose import controllers

    if names == ["all"]:
        names = list(controllers.NAMES)
    return {n: controllers.make(n, dt_min) for n in names}


def report_agent(env, policy, params, days: int, seed: int, workdir: str | None,
                 agent_name: str = "agent", baseline_names=("all",)) -> dict:
    """The trained agent beside the baselines on the same days (end of `launch.train`)."""
    from envs.glucose import evaluation

    controllers = {agent_name: evaluation.policy_controller(policy, params),
                   **baselines(list(baseline_names), env.dt_min)}
    outdir = workdir or os.path.join("runs", "evaluate")
    result, traces = run_and_report(env, controllers, days, seed, outdir, return_traces=True)
    explain_day(env, params, traces[agent_name], outdir, agent_name)
    return result


def explain_day(env, params, trace: dict, outdir: str, agent_name: str) -> str | None:
    """LRP relevances of the agent's dose over the first evaluated day, per observation group
    (`explain.png`). Needs an MLP policy under `params.policy` fed raw observations."""
    import numpy as np

    from envs.glucose import plots
    from rlcore import explain

    policy_params = getattr(params, "policy", None)
    if policy_params is None:
        return None
    relevance = explain.lrp_epsilon(policy_params, trace["obs0"], output_index=0)
    groups = {k: np.asarray(v) for k, v in
              explain.group_relevance(relevance, env.observation_groups()).items()}
    path = plots.plot_relevance_day(
        trace["bg"][0], trace["insulin_u_per_h"][0], groups, env.dt_min,
        os.path.join(outdir, "explain.png"),
        title=f"{env.config.patients[0]}: what drives {agent_name}'s dose (LRP, epsilon rule)",
        start_hour=env.config.start_hour)
    print(f"Explanation: {path}")
    return path


def load_agent(workdir: str, env_args: dict):
    """(env, policy, params, algo name) of a training run directory."""
    import jax

    import algorithms
    import envs
    from rlcore.checkpoint import load_json, restore_policy
    from rlcore.config import apply_overrides

    flags_path = os.path.join(workdir, "flags.json")
    if not os.path.exists(flags_path):
        raise FileNotFoundError(f"{workdir} is not a run directory (no flags.json).")
    saved = load_json(flags_path)
    algo = algorithms.get(saved["algo"])
    config = apply_overrides(algo.Config(), saved.get("config_overrides", {}))
    env = envs.make(FLAGS.env or saved["env"], **{**saved.get("env_args", {}), **env_args})
    template = algo.policy_params(algo.init(jax.random.key(0), config, env.spec))
    params = restore_policy(workdir, template)
    return env, algo.make_policy(config, env.spec), params, saved["algo"]


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import envs

    if FLAGS.env is not None and (not FLAGS.env.startswith("glucose/")
                                  or FLAGS.env not in envs.names()):
        groups = [n for n in envs.names() if n.startswith("glucose/")]
        _usage_error(f"unknown glucose env {FLAGS.env!r}. Choices: {', '.join(groups)}")
    if FLAGS.days < 1:
        _usage_error("--days must be >= 1.")
    try:
        if FLAGS.workdir:
            env, policy, params, algo_name = load_agent(FLAGS.workdir, scenario_args())
            report_agent(env, policy, params, FLAGS.days, FLAGS.seed,
                         FLAGS.outdir or FLAGS.workdir, agent_name=algo_name,
                         baseline_names=FLAGS.controller or ["all"])
            return
        if not FLAGS.controller:
            _usage_error("give --workdir=RUN (a trained agent) or --controller=NAME[,NAME].")
        env = envs.make(FLAGS.env or "glucose/adults", **scenario_args())
        controllers = baselines(FLAGS.controller, env.dt_min)
    except (FileNotFoundError, ValueError) as err:
        _usage_error(str(err))
    run_and_report(env, controllers, FLAGS.days, FLAGS.seed,
                   FLAGS.outdir or os.path.join("runs", "evaluate"))


def run():
    _define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
