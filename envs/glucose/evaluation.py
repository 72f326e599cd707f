"""Closed-loop evaluation on the virtual population: every patient over N meal days.

Every controller sees the same days: the reset key of (patient p, day d) depends only on the
seed, p and d, so meals and sensor noise are identical across controllers. Each day is an
episode from the patient's steady state at `start_hour`. Axis letters: P patients, N days,
T control steps.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from envs.glucose import metrics, population
from envs.glucose.controllers import Controller
from envs.glucose.env import GlucoseEnv


def day_keys_and_tasks(env: GlucoseEnv, num_days: int, seed: int):
    """`(keys (P*N,), tasks (P*N, 1))`: patient-major, the same for every controller."""
    root = jax.random.key(seed)
    p_idx, d_idx = np.meshgrid(np.arange(env.num_patients), np.arange(num_days), indexing="ij")
    keys = jax.vmap(lambda p, d: jax.random.fold_in(jax.random.fold_in(root, p), d))(
        jnp.asarray(p_idx.reshape(-1)), jnp.asarray(d_idx.reshape(-1)))
    tasks = jnp.asarray(p_idx.reshape(-1, 1), jnp.float32)
    return keys, tasks


def make_rollout(env: GlucoseEnv, controller: Controller, num_steps: int) -> Callable:
    """`rollout(keys (B,), tasks (B, 1)) -> traces`, each `(B, T)`: bg, cgm, insulin_u_per_h,
    meal_g (true blood glucose, CGM readings, delivered insulin, carbs started), and `obs0`
    `(T, D)`, the observations the controller saw in the first episode. Jittable."""

    def rollout(keys, tasks):
        state = jax.vmap(env.reset)(keys, tasks)
        carry = controller.init(state)

        def body(c, _):
            state, carry = c
            action, carry = controller.act(carry, state)
            obs0 = state.obs[0]
            state = jax.vmap(env.step)(state, action)
            out = {k: state.info[k] for k in ("bg", "cgm", "insulin_u_per_h", "meal_g")}
            return (state, carry), (out, obs0)

        _, (traces, obs0) = jax.lax.scan(body, (state, carry), None, length=num_steps)
        return {**{k: v.T for k, v in traces.items()}, "obs0": obs0}

    return rollout


def summarize(env: GlucoseEnv, bg: np.ndarray, num_days: int) -> tuple[dict, dict]:
    """Per-patient and per-group summaries of blood glucose `(P*N, T)`.

    A patient's metrics pool the readings of its N days; a group's are the means of its
    patients' metrics. Returns `(patients, groups)`: `{name: summary}`, `{group: summary}`.
    """
    per_patient = np.asarray(bg).reshape(env.num_patients, -1)
    summary = {k: np.asarray(v) for k, v in metrics.summary(per_patient).items()}
    patients = {name: {k: float(v[i]) for k, v in summary.items()}
                for i, name in enumerate(env.config.patients)}
    groups = {}
    for group, members in population.GROUPS.items():
        idx = [i for i, n in enumerate(env.config.patients) if n in members]
        if idx and (group != "all" or len(idx) == len(env.config.patients) > 10):
            groups[group] = {k: float(np.mean(v[idx])) for k, v in summary.items()}
    return patients, groups


def evaluate(env: GlucoseEnv, controllers: dict[str, Controller], num_days: int, seed: int
             ) -> tuple[dict, dict]:
    """Runs every controller on the same days.

    Returns `(evaluation, traces)`: evaluation is `{"groups": {group: {controller: summary}},
    "patients": {name: {controller: summary}}}`; traces is `{controller: {name: (P*N, T)}}`.
    """
    keys, tasks = day_keys_and_tasks(env, num_days, seed)
    num_steps = env.spec.episode_length
    result = {"groups": {}, "patients": {}}
    traces = {}
    for name, controller in controllers.items():
        out = jax.device_get(jax.jit(make_rollout(env, controller, num_steps))(keys, tasks))
        traces[name] = out
        patients, groups = summarize(env, out["bg"], num_days)
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
