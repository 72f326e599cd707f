"""Evaluate insulin controllers on the virtual population: clinical metrics, tables, plots.

    python -m launch.evaluate --controller=basal_bolus --env=glucose/adults
    python -m launch.evaluate --controller=all --env=glucose/all --days=20
    python -m launch.evaluate --workdir=runs/ap               # the trained agent + baselines
    python -m launch.evaluate --workdir=runs/ap --si_scale=0.7   # robustness: -30% sensitivity
    python -m launch.evaluate --workdir=runs/ap --scenario=runs/ap/meals.csv   # replay the days

Every patient of the env's group runs N meal days (`--days`; random days drawn from `--seed`,
or the days of a `--scenario` file), sensor noise on, each controller on the same days. With
`--workdir` the days and seed default to the run's final report (`launch.train --eval_days
--eval_seed`), so both give the same numbers. Prints a table per group (median of its
patients) and per patient of `envs.glucose.metrics.summary` on blood glucose, and writes:

    evaluation.json   {"patients": {name: {controller: summary}}, "groups": {group:
                      {controller: summary of medians + "iqr"}}, "settings": {...}} (the
                      summary keys: `envs.glucose.evaluation`; settings: env, days, seed,
                      scenario, sensor, pump, robustness, env_config)
    metrics_<controller>.csv, traces/<controller>/<patient>.csv, meals.csv
                      (`envs.glucose.exports`; meals.csv replays the days with --scenario)
    agp.png, day_<controller>.png, agp_report/<controller>_<patient>.png (the first
    controller's AGP page per patient, on CGM), cvga.png

into the run directory (or `--outdir`); robustness, sensor and scenario flags write to
`<outdir>/robustness/<flag=value...>/` instead. Unknown names, run directories without a policy
(or of a non-glucose env), missing or malformed scenario files and impossible settings exit
with code 2 and one line `error: ...` before any simulation (docs/exit_codes.md).
"""

from __future__ import annotations

import math
import os

from absl import app, flags, logging

from launch import presets
from launch.presets import usage_error

FLAGS = flags.FLAGS


def _define_flags() -> None:
    """Defined at launch, not at import: `launch.train` imports this module for
    `report_agent` and has flags of the same names."""
    flags.DEFINE_string("workdir", None, "A training run directory: evaluates its agent.")
    from envs.glucose import controllers
    from launch import choices

    flags.DEFINE_list("controller", [], f"Baselines: {', '.join(controllers.NAMES)}, or 'all'. "
                      "With --workdir all baselines run beside the agent unless this is given.")
    flags.DEFINE_string("env", None, "glucose env (patient or group): "
                        + choices.envs_text("glucose/") + "; default: the run's env, else "
                        "glucose/adults.")
    flags.DEFINE_integer("days", None, "Meal days per patient (default: a run's --eval_days, "
                         "else the scenario's days, else 20).")
    flags.DEFINE_integer("seed", None, "Seed of the meal days and sensor noise (default: a run's "
                         "--eval_seed, else 1000; held out from training seeds).")
    flags.DEFINE_string("outdir", None, "Where json, CSVs and plots go (default: --workdir, else "
                        "runs/evaluate). Robustness settings and scenarios write to their own "
                        "subdirectory of it, never over the nominal evaluation.")
    flags.DEFINE_string("scenario", None, "A meal scenario CSV (envs/glucose/scenario.py), e.g. "
                        "an evaluation's meals.csv: replays its days instead of random ones.")
    flags.DEFINE_bool("sensor_noise", True, "CGM noise (false: CGM = subcutaneous glucose).")
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


# Env fields that make an evaluation a robustness test rather than the nominal one.
ROBUSTNESS_FIELDS = ("si_scale", "si_profile_24h", "dawn_egp_mg_kg_min", "meal_scale",
                     "meal_skip_prob", "meal_delay_min", "init_glucose_mg_dl")
_ROBUSTNESS_FLAGS = ("si_scale", "circadian", "meal_scale", "meal_skip_prob", "meal_delay_min",
                     "sensor", "sensor_noise", "scenario")


def scenario_args() -> dict:
    """Env overrides of the robustness, sensor and scenario flags."""
    args = {"si_scale": FLAGS.si_scale, "meal_scale": FLAGS.meal_scale,
            "meal_skip_prob": FLAGS.meal_skip_prob, "meal_delay_min": FLAGS.meal_delay_min,
            "sensor_noise": FLAGS.sensor_noise}
    if FLAGS.circadian:
        args.update(si_profile_24h=CIRCADIAN_SI_PROFILE, dawn_egp_mg_kg_min=CIRCADIAN_DAWN_EGP)
    if FLAGS.sensor:
        args["sensor"] = FLAGS.sensor
    if FLAGS.scenario:
        args["scenario"] = FLAGS.scenario
    return args


def result_dir(base: str) -> str:
    """`base` for the nominal evaluation; `base/robustness/<flag=value_...>` when a robustness,
    sensor or scenario flag departs from its default, so nothing overwrites a nominal result."""
    parts = []
    for name in _ROBUSTNESS_FLAGS:
        flag = FLAGS[name]
        if flag.value != flag.default:
            value = os.path.splitext(os.path.basename(flag.value))[0] if name == "scenario" \
                else flag.value
            parts.append(f"{name}={value}".lower())
    return os.path.join(base, "robustness", "_".join(parts)) if parts else base


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
        format_table(headers, rows(evaluation["groups"]),
                     title="== per group (median of its patients) =="),
        format_table(headers, rows(evaluation["patients"]), title="== per patient ==")])
    print(text)
    return text


def run_and_report(env, controllers: dict, days: int, seed: int, outdir: str,
                   return_traces: bool = False, settings: dict | None = None):
    """Evaluates, prints the tables, writes evaluation.json, the CSV exports and the plots;
    returns the dict (and the traces with `return_traces`)."""
    from envs.glucose import evaluation, exports
    from rlcore.checkpoint import save_json

    result, traces = evaluation.evaluate(env, controllers, days, seed)
    os.makedirs(outdir, exist_ok=True)
    first = next(iter(traces))
    used = evaluation.used_scenario(env, traces[first], days)
    meals_path = exports.write_meals(outdir, used)
    result["settings"] = {**evaluation_settings(env, days, seed), **(settings or {}),
                          "meals_csv": os.path.basename(meals_path)}
    save_json(os.path.join(outdir, "evaluation.json"), result)
    print_tables(result)
    for name, trace in traces.items():
        exports.write_traces(outdir, name, env.config.patients, trace, days, env.dt_min,
                             env.config.start_hour)
        exports.write_metrics(outdir, name, {p: by_controller[name] for p, by_controller
                                             in result["patients"].items()})
    write_plots(env, result, traces, outdir)
    print(f"Wrote {os.path.join(outdir, 'evaluation.json')}, metrics_*.csv, traces/, "
          f"meals.csv and the plots ({days} day(s) per patient).")
    return (result, traces) if return_traces else result


def evaluation_settings(env, days: int, seed: int) -> dict:
    """What an evaluation ran on, for `evaluation.json`: enough to rerun it."""
    config = dict(vars(env.config))
    scenario = config.pop("scenario")
    return {"env": env.spec.name, "days": days, "seed": seed,
            "scenario": None if scenario is None else {
                "source": scenario.source, "num_days": scenario.num_days},
            "sensor": env.config.sensor, "sensor_noise": env.config.sensor_noise,
            "pump": env.config.pump, "robustness": {k: config[k] for k in ROBUSTNESS_FIELDS},
            "env_config": config}


def write_plots(env, result: dict, traces: dict, outdir: str) -> None:
    """AGP (all controllers), one day per controller, the first controller's per-patient AGP
    report pages (on CGM) and the CVGA of every controller (a point per patient)."""
    import numpy as np

    from envs.glucose import metrics, plots

    cfg, days = env.config, result["settings"]["days"]
    plots.plot_agp({c: t["bg"] for c, t in traces.items()}, env.dt_min,
                   os.path.join(outdir, "agp.png"), title=env.spec.name,
                   start_hour=cfg.start_hour)
    for name, t in traces.items():
        plots.plot_day(t["bg"][0], t["cgm"][0], t["insulin_u_per_h"][0], t["meal_g"][0],
                       env.dt_min, os.path.join(outdir, f"day_{name}.png"),
                       title=f"{cfg.patients[0]}, day 1: {name}", start_hour=cfg.start_hour)
    first = next(iter(traces))
    os.makedirs(os.path.join(outdir, "agp_report"), exist_ok=True)
    cgm = np.asarray(traces[first]["cgm"]).reshape(env.num_patients, days, -1)
    for i, patient in enumerate(cfg.patients):
        plots.plot_agp_report(cgm[i], env.dt_min,
                              os.path.join(outdir, "agp_report", f"{first}_{patient}.png"),
                              title=f"{patient}: {first} (CGM, {days} days)",
                              start_hour=cfg.start_hour, stats=_cgm_stats(
                                  result["patients"][patient][first]))
    points = {}
    for name, t in traces.items():
        x, y = metrics.cvga_point(np.asarray(t["bg"]).reshape(env.num_patients, -1))
        points[name] = (np.asarray(x), np.asarray(y))
    plots.plot_cvga(points, os.path.join(outdir, "cvga.png"),
                    title=f"{env.spec.name}: CVGA (blood glucose, a point per patient)")


def _cgm_stats(summary: dict) -> dict:
    """The CGM half of a patient's summary, unprefixed (the AGP page is on CGM)."""
    return {k[len("cgm_"):]: v for k, v in summary.items() if k.startswith("cgm_")}


def baselines(names, dt_min: float) -> dict:
    from envs.glucose import controllers

    if names == ["all"]:
        names = list(controllers.NAMES)
    return {n: controllers.make(n, dt_min) for n in names}


def report_agent(env, policy, params, days: int, seed: int, workdir: str | None,
                 agent_name: str = "agent", baseline_names=("all",)) -> dict:
    """The trained agent beside the baselines on the same days (end of `launch.train`, and
    `launch.evaluate --workdir`: the same days and seed give the same numbers)."""
    from envs.glucose import evaluation

    controllers = {agent_name: evaluation.policy_controller(policy, params),
                   **baselines(list(baseline_names), env.dt_min)}
    outdir = workdir or os.path.join("runs", "evaluate")
    result, traces = run_and_report(env, controllers, days, seed, outdir, return_traces=True,
                                    settings={"agent": agent_name})
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
    """(env, policy, params, algo name, saved flags) of a training run directory."""
    import jax

    import algorithms
    from rlcore.checkpoint import restore_policy
    from rlcore.config import apply_overrides

    saved = _run_flags(workdir)
    algo = algorithms.get(saved["algo"])
    config = apply_overrides(algo.Config(), saved.get("config_overrides", {}))
    env, _ = presets.make_env(FLAGS.env or saved["env"], {**saved.get("env_args", {}),
                                                          **env_args})
    template = algo.policy_params(algo.init(jax.random.key(0), config, env.spec))
    params = restore_policy(workdir, template)
    return env, algo.make_policy(config, env.spec), params, saved["algo"], saved


def _run_flags(workdir: str) -> dict:
    """The flags.json of a training run directory of a glucose env.

    Raises:
      ValueError: no or an unreadable flags.json, a run on another env family, or one with
        no saved policy yet.
    """
    import json

    path = os.path.join(workdir, "flags.json")
    if not os.path.exists(path):
        raise ValueError(f"--workdir={workdir} is not a run directory (no flags.json).")
    try:
        with open(path) as f:
            saved = json.load(f)
        algo, env = saved["algo"], saved["env"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"--workdir={workdir}: {path} is not a readable flags file "
                         f"({err!r}).") from None
    if not str(env).startswith("glucose/"):
        raise ValueError(f"--workdir={workdir} holds a {algo} run on {env}: launch.evaluate "
                         "evaluates runs on glucose envs.")
    from envs.glucose.evaluation import check_report_seed

    first = int(saved.get("seed", 0))
    check_report_seed(FLAGS.seed if FLAGS.seed is not None else saved.get("eval_seed", 1000),
                      range(first, first + int(saved.get("num_seeds", 1))),
                      flag="--seed" if FLAGS.seed is not None else "the run's --eval_seed")
    if not os.path.isdir(os.path.join(workdir, "policy")):
        raise ValueError(f"--workdir={workdir} has no policy/ yet (a run saves it when it "
                         "ends): train first.")
    return saved


def check_flags() -> None:
    """Every flag checked before any simulation: names, counts, the scenario file."""
    import envs
    from envs.glucose import controllers, sensor
    from envs.glucose import scenario as scenario_lib

    if FLAGS.env is not None and (not FLAGS.env.startswith("glucose/")
                                  or FLAGS.env not in envs.names()):
        glucose = [n for n in envs.names() if n.startswith("glucose/")]
        usage_error(f"--env={FLAGS.env!r} is not a glucose env. Choices: {', '.join(glucose)}")
    if FLAGS.days is not None and FLAGS.days < 1:
        usage_error(f"--days must be >= 1, got {FLAGS.days}.")
    if not FLAGS.workdir and not FLAGS.controller:
        usage_error("give --workdir=RUN (a trained agent) or --controller=NAME[,NAME].")
    names = ("all", *controllers.NAMES)
    unknown = [c for c in FLAGS.controller if c not in names]
    if unknown or ("all" in FLAGS.controller and len(FLAGS.controller) > 1):
        usage_error(f"unknown --controller={','.join(unknown or FLAGS.controller)!r}. "
                    f"Choices: {', '.join(controllers.NAMES)}, or all alone.")
    if FLAGS.sensor is not None and FLAGS.sensor not in sensor.SENSORS:
        usage_error(f"unknown --sensor={FLAGS.sensor!r}. Choices: {', '.join(sensor.SENSORS)}")
    if FLAGS.scenario is not None:
        if not os.path.isfile(FLAGS.scenario):
            usage_error(f"--scenario={FLAGS.scenario}: no such file.")
        try:
            scenario_lib.read_csv(FLAGS.scenario)
        except (OSError, ValueError) as err:
            usage_error(f"--scenario={FLAGS.scenario}: {err}")
    if FLAGS.workdir:
        try:
            _run_flags(FLAGS.workdir)
        except ValueError as err:
            usage_error(str(err))


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)

    check_flags()
    try:
        if FLAGS.workdir:
            env, policy, params, algo_name, saved = load_agent(FLAGS.workdir, scenario_args())
            days, seed = _days_and_seed(env, saved)
            report_agent(env, policy, params, days, seed,
                         result_dir(FLAGS.outdir or FLAGS.workdir), agent_name=algo_name,
                         baseline_names=FLAGS.controller or ["all"])
            return
        env, _ = presets.make_env(FLAGS.env or "glucose/adults", scenario_args())
        controllers = baselines(FLAGS.controller, env.dt_min)
    except (FileNotFoundError, ValueError) as err:
        usage_error(str(err))
    days, seed = _days_and_seed(env, {})
    run_and_report(env, controllers, days, seed,
                   result_dir(FLAGS.outdir or os.path.join("runs", "evaluate")))


def _days_and_seed(env, saved: dict) -> tuple[int, int]:
    """--days / --seed, else the run's final-report settings, else the scenario's days / 20
    and the held-out seed 1000."""
    days = FLAGS.days or (env.scenario_days if FLAGS.scenario else None) or saved.get(
        "eval_days") or 20
    seed = FLAGS.seed if FLAGS.seed is not None else saved.get("eval_seed", 1000)
    return days, seed


def run():
    _define_flags()
    app.run(main, flags_parser=presets.parse_flags)


if __name__ == "__main__":
    run()
