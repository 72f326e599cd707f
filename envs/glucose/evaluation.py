"""Closed-loop evaluation on the virtual population: every patient over N meal days.

Every controller sees the same days: the reset key of (patient p, day d) depends only on the
seed, p and d, so meals and sensor noise are identical across controllers. Each day is an
episode from the patient's steady state at `start_hour`; with a scenario (`GlucoseConfig.
scenario`) day d replays the scenario's day d (wrapping after its last), with the same keys,
so a scenario written from an evaluation's meals (`used_scenario`) replays it exactly. Axis
letters: P patients, N days, T control steps.

Metrics per patient (`envs.glucose.metrics.summary`, pooled over the patient's days): the
unprefixed names on true blood glucose, the same names prefixed `cgm_` on the CGM readings, and
`total_daily_insulin_u` (U/day delivered). A group row is the median over its patients of each
per-patient value, with the interquartile range under `"iqr"` (`{name: [p25, p75]}`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from envs.glucose import metrics, population
from envs.glucose.controllers import Controller
from envs.glucose.env import GlucoseEnv


def check_report_seed(eval_seed: int, training_seeds, flag: str = "--eval_seed") -> None:
    """Refuses a report seed that is one of the training seeds.

    A report's day keys are `fold_in(fold_in(key(eval_seed), patient), day)`; a training run
    derives every key from `key(seed)` by `split` and `fold_in`, and the two meet
    (`split(k, n)[i] == fold_in(k, i)`), so with `eval_seed == seed` both draw from one root.
    Today's key paths happen to stay apart (no meal day of a training reset reappears in the
    report; tests/launch/test_report_stream.py checks it day by day), but that rests on the
    depth of each path, which any change to the loop could align. Distinct roots make the
    held-out days independent of the training stream by construction, not by accident.

    Raises:
      ValueError: `eval_seed` is in `training_seeds` (the message names it `flag`).
    """
    seeds = sorted(int(s) for s in training_seeds)
    if int(eval_seed) in seeds:
        raise ValueError(
            f"{flag}={eval_seed} is a training seed ({', '.join(map(str, seeds))}): the "
            "report's meal days and sensor noise would come from the training run's root key, "
            "so held-out days would not be independent of training. "
            f"Give another {flag}.")


def day_keys_and_tasks(env: GlucoseEnv, num_days: int, seed: int):
    """`(keys (P*N,), tasks (P*N, 1))`: patient-major, the same for every controller. Apart
    from training only when `seed` is not a training seed (`check_report_seed`)."""
    root = jax.random.key(seed)
    p_idx, d_idx = np.meshgrid(np.arange(env.num_patients), np.arange(num_days), indexing="ij")
    keys = jax.vmap(lambda p, d: jax.random.fold_in(jax.random.fold_in(root, p), d))(
        jnp.asarray(p_idx.reshape(-1)), jnp.asarray(d_idx.reshape(-1)))
    tasks = jnp.asarray(p_idx.reshape(-1, 1), jnp.float32)
    return keys, tasks


def day_indices(env: GlucoseEnv, num_days: int) -> np.ndarray:
    """`(P*N,)` the day index of each evaluated episode (patient-major, as the keys)."""
    return np.tile(np.arange(num_days), env.num_patients)


TRACE_KEYS = ("bg", "cgm", "insulin_u_per_h", "meal_g", "reward", "cost")


def make_rollout(env: GlucoseEnv, controller: Controller, num_steps: int) -> Callable:
    """`rollout(keys (B,), tasks (B, 1), days (B,) = None) -> traces`, each `(B, T)`: bg, cgm,
    insulin_u_per_h, meal_g, reward, cost (true blood glucose, CGM readings, delivered insulin,
    carbs started, the env's reward and cost after each step); `meal_time_min` and
    `meal_carbs_g` `(B, M)`, each episode's meals; and `obs0` `(T, D)`, the observations the
    controller saw in the first episode. `days` picks scenario days (envs with a scenario).
    Jittable."""

    def rollout(keys, tasks, days=None):
        if days is None:
            state = jax.vmap(env.reset)(keys, tasks)
        else:
            state = jax.vmap(lambda k, t, d: env.reset(k, t, scenario_day=d))(keys, tasks, days)
        carry = controller.init(state)

        def body(c, _):
            state, carry = c
            action, carry = controller.act(carry, state)
            obs0 = state.obs[0]
            state = jax.vmap(env.step)(state, action)
            out = {k: state.info[k] for k in TRACE_KEYS[:4]}
            out.update(reward=state.reward, cost=state.cost)
            return (state, carry), (out, obs0)

        meals = state.env_state.meals
        _, (traces, obs0) = jax.lax.scan(body, (state, carry), None, length=num_steps)
        return {**{k: v.T for k, v in traces.items()}, "obs0": obs0,
                "meal_time_min": meals.time_min, "meal_carbs_g": meals.carbs_g}

    return rollout


def patient_summaries(env: GlucoseEnv, trace: dict, num_days: int) -> dict[str, np.ndarray]:
    """Metrics per patient `(P,)` of one controller's traces `(P*N, T)` (module docstring)."""
    num_patients, dt = env.num_patients, env.dt_min
    out = {}
    for prefix, key in (("", "bg"), ("cgm_", "cgm")):
        by_day = np.asarray(trace[key]).reshape(num_patients, num_days, -1)
        pooled = metrics.summary(by_day.reshape(num_patients, -1), dt_min=dt)
        # Events are counted per day (episode): a run may not join two episodes.
        events = np.asarray(metrics.summary(by_day, dt_min=dt)["hypo_events"]).sum(-1)
        pooled = {k: np.asarray(v) for k, v in pooled.items()}
        pooled["hypo_events"] = events
        pooled["hypo_events_per_day"] = events / (by_day.shape[1] * by_day.shape[2] * dt / 1440.0)
        out.update({prefix + k: v for k, v in pooled.items()})
    insulin = np.asarray(trace["insulin_u_per_h"]).reshape(num_patients, -1)
    out["total_daily_insulin_u"] = np.asarray(metrics.total_daily_insulin_u(insulin, dt))
    return out


def summarize(env: GlucoseEnv, trace: dict, num_days: int) -> tuple[dict, dict]:
    """Per-patient and per-group summaries of one controller's traces `(P*N, T)`.

    Returns `(patients, groups)`: `{name: summary}`, `{group: summary with "iqr"}`.
    """
    summary = patient_summaries(env, trace, num_days)
    patients = {name: {k: float(v[i]) for k, v in summary.items()}
                for i, name in enumerate(env.config.patients)}
    groups = {}
    for group, members in population.GROUPS.items():
        idx = [i for i, n in enumerate(env.config.patients) if n in members]
        if idx and (group != "all" or len(idx) == len(env.config.patients) > 10):
            row = {k: float(np.median(v[idx])) for k, v in summary.items()}
            row["iqr"] = {k: [float(q) for q in np.percentile(v[idx], [25, 75])]
                          for k, v in summary.items()}
            groups[group] = row
    return patients, groups


def used_scenario(env: GlucoseEnv, trace: dict, num_days: int):
    """The meals of an evaluation's episodes as a `scenario.Scenario` (one row per meal, per
    patient and day), to be written with `scenario.write_csv` and replayed."""
    from envs.glucose import scenario

    names = np.repeat(np.asarray(env.config.patients), num_days)
    return scenario.from_episodes(
        names, day_indices(env, num_days), trace["meal_time_min"], trace["meal_carbs_g"],
        env.config.start_hour * 60.0, env.spec.episode_length * env.dt_min)


def evaluate(env: GlucoseEnv, controllers: dict[str, Controller], num_days: int, seed: int
             ) -> tuple[dict, dict]:
    """Runs every controller on the same days.

    Returns `(evaluation, traces)`: evaluation is `{"groups": {group: {controller: summary}},
    "patients": {name: {controller: summary}}}`; traces is `{controller: {name: (P*N, T)}}`.
    """
    keys, tasks = day_keys_and_tasks(env, num_days, seed)
    days = None if env.config.scenario is None else jnp.asarray(day_indices(env, num_days))
    num_steps = env.spec.episode_length
    result = {"groups": {}, "patients": {}}
    traces = {}
    for name, controller in controllers.items():
        out = jax.device_get(jax.jit(make_rollout(env, controller, num_steps))(keys, tasks, days))
        traces[name] = out
        patients, groups = summarize(env, out, num_days)
        for patient_name, s in patients.items():
            result["patients"].setdefault(patient_name, {})[name] = s
        for group, s in groups.items():
            result["groups"].setdefault(group, {})[name] = s
    return result, traces


def policy_controller(policy: Callable, params) -> Controller:
    """A learned policy `policy(params, obs, key, deterministic)` as a deterministic controller."""

    def act(carry, state):
        return policy(params, state.obs, carry, True), carry

    return Controller(init=lambda state: jax.random.key(0), act=act)
