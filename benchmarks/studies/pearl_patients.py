"""PEARL on held-out patients: clinical metrics with z from the prior and from the posterior.

    report = evaluate_held_out(env, config, params, test_tasks, num_chains=10, seed=1000)
    print(format_report(report))

For each held-out patient (a task of `test_tasks`: the patient index within the env's
population) R chains (`num_chains`) of K consecutive meal days (K = `config.num_eval_episodes`)
run with deterministic actions, sensor noise as the env has it: day 1 (up to
`num_exploration_episodes` days) with z drawn from the prior N(0, I), day k after them with z
drawn from q(z | every transition of days 1..k-1 of the chain). Each day is one episode from
the patient's steady state at the env's start hour (as `envs.glucose.evaluation`); only the
context carries over. The context is held as running sums of the product of Gaussians, as in
`rollout.make_meta_test`; steps after a termination (blood glucose outside the env's
thresholds) are left out of the context but kept in the glucose trace, as the baselines'
traces keep them.

Baselines (`envs.glucose.controllers`: basal-only, and basal-bolus *with* meal announcement,
which PEARL does not get) run on exactly the same days: a day's reset key depends only on the
seed, the patient index, the chain and the day, so meals and sensor noise are identical.

Metrics (`envs.glucose.metrics.summary` on true blood glucose, a patient's readings pooled
over its days): column `pearl_prior` pools day 1 of every chain, `pearl_posterior_<n>d` day
n + 1 (n days of context), a baseline all R * K days. `mean` averages the patients' metrics.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from algorithms.pearl import encoder as enc
from algorithms.pearl import rollout
from algorithms.pearl.config import Config
from algorithms.pearl.train import make_networks, make_policy
from envs.glucose import controllers as controllers_lib
from envs.glucose import evaluation, metrics
from rlcore.types import Transition

BASELINES = ("basal_only", "basal_bolus")
TABLE_METRICS = ("tir", "tbr70", "tbr54", "tar180", "mean")


def position_names(config: Config) -> list[str]:
    """Column name of each day of a chain: `pearl_prior` (`pearl_prior_day<k>` for later
    exploration days), then `pearl_posterior_<n>d` (n days of context)."""
    explore = config.num_exploration_episodes
    return [("pearl_prior" if k == 0 else f"pearl_prior_day{k + 1}") if k < explore
            else f"pearl_posterior_{k}d" for k in range(config.num_eval_episodes)]


def day_keys(patient_indices: np.ndarray, num_chains: int, num_days: int, seed: int,
             days_first: bool = False) -> jax.Array:
    """Reset keys `(P, R, K)` (`(K, P, R)` with `days_first`): day k of chain r of patient p
    depends on (seed, p, r, k) only."""
    root = jax.random.key(seed)

    def one(p, r, k):
        return jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(root, p), r), k)

    grids = np.meshgrid(np.asarray(patient_indices), np.arange(num_chains),
                        np.arange(num_days), indexing="ij")
    if days_first:  # built in this order: transposing a key array trips the key-reuse checker
        grids = [np.moveaxis(g, -1, 0) for g in grids]
    flat = jax.vmap(one)(*(jnp.asarray(g.ravel()) for g in grids))
    return flat.reshape(grids[0].shape)


def make_chain_rollout(env, config: Config):
    """`rollout(params: PolicyParams, tasks (B, 1), keys (K, B), key) -> traces`.

    Runs B chains of K consecutive days (see the module docstring). Returns leaves `(K, B, T)`:
    `bg`, `cgm`, `insulin_u_per_h`, `meal_g`, `reward` (the env's, after each step), `alive`
    (1 until the step that terminated the day, included), and `z` `(K, B, L)`, `posterior_mean`
    / `posterior_variance` `(K, B, L)` (q(z) the day's z was drawn from). Jittable.
    """
    spec = env.spec
    networks = make_networks(config, spec)
    policy = make_policy(config, spec)
    length = config.episode_length or spec.episode_length
    latent = config.latent_size

    def factors(encoder_params, transition):
        features = enc.context_features(transition, config.use_next_obs_in_context)
        return enc.factors(networks.encoder, encoder_params, features)

    def run(params, tasks, keys, key):
        num_days, batch = keys.shape

        def day(sums, inputs):
            index, keys_day, key_day = inputs
            key_z, key_steps = jax.random.split(key_day)
            q_z = jax.tree.map(
                lambda p, q: jnp.where(index < config.num_exploration_episodes, p, q),
                rollout.prior(batch, latent), enc.posterior_from_sums(sums))
            z = enc.sample(q_z, jax.random.normal(key_z, q_z.mean.shape))
            state = jax.vmap(env.reset)(keys_day, tasks)

            def step(carry, key_step):
                state, alive, sums = carry
                action = policy(params, state.obs, z, key_step, True)
                next_state = jax.vmap(env.step)(state, action)
                transition = Transition(obs=state.obs, action=action, reward=next_state.reward,
                                        cost=next_state.cost, discount=1.0 - next_state.done,
                                        next_obs=next_state.obs)
                sums = enc.accumulate(sums, factors(params.encoder, transition),
                                      config.variance_floor, alive)
                out = {k: next_state.info[k] for k in ("bg", "cgm", "insulin_u_per_h",
                                                       "meal_g")}
                out["reward"], out["alive"] = next_state.reward, alive
                return (next_state, alive * (1.0 - next_state.done), sums), out

            alive = jnp.ones((batch,), jnp.float32)
            (_, _, sums), out = jax.lax.scan(step, (state, alive, sums),
                                             jax.random.split(key_steps, length))
            out = {k: v.T for k, v in out.items()}  # (B, T)
            out.update(z=z, posterior_mean=q_z.mean, posterior_variance=q_z.variance)
            return sums, out

        sums = enc.empty_sums((batch, latent))
        _, traces = jax.lax.scan(day, sums, (jnp.arange(num_days), keys,
                                             jax.random.split(key, num_days)))
        return traces

    return run


def _summaries(bg: np.ndarray) -> list[dict]:
    """`bg (P, N, T)` -> one summary per patient over its N * T readings."""
    pooled = np.asarray(bg).reshape(bg.shape[0], -1)
    s = {k: np.asarray(v) for k, v in metrics.summary(pooled).items()}
    return [{k: float(v[i]) for k, v in s.items()} for i in range(pooled.shape[0])]


def evaluate_held_out(env, config: Config, params, test_tasks, num_chains: int = 10,
                      seed: int = 1000, baselines=BASELINES, return_traces: bool = False):
    """PEARL with z from the prior vs the posterior, and the baselines, on held-out patients.

    Args:
      env: the glucose population env the agent was meta-trained on (`glucose/adults`, ...).
      config: the PEARL config (network sizes; `num_eval_episodes` days per chain).
      params: `PolicyParams` (encoder and policy), e.g. `TrainResult.params`.
      test_tasks: `(P, 1)` held-out patient indices, e.g. `TrainResult.state.test_tasks`.
      num_chains: R independent chains of consecutive days per patient.
      seed: seed of the meal days and sensor noise.
    Returns:
      `{"settings", "patients": {name: {column: summary}}, "mean": {column: summary},
      "terminated_days": {column: count}, "per_day": {column: {"tir" | "tbr70" | "tbr54":
      (P, days) lists}}}` (a pearl column's days in chain order), and with `return_traces`
      the traces `{column: {name: (P, N, T)}}`.
    """
    test_tasks = np.asarray(test_tasks, np.float32).reshape(-1, 1)
    patient_idx = np.round(test_tasks[:, 0]).astype(int)
    names = [env.config.patients[i] for i in patient_idx]
    num_patients, num_days = len(names), config.num_eval_episodes
    chain_keys = day_keys(patient_idx, num_chains, num_days, seed, days_first=True)
    flat_tasks = jnp.asarray(np.repeat(test_tasks, num_chains, axis=0))  # (P * R, 1)
    chain = jax.jit(make_chain_rollout(env, config))
    out = jax.device_get(chain(params, flat_tasks, chain_keys.reshape(num_days, -1),
                               jax.random.fold_in(jax.random.key(seed), 1 << 20)))
    length = out["bg"].shape[-1]

    def per_patient(x):  # (K, P*R, T) -> (K, P, R, T)
        return np.asarray(x).reshape(num_days, num_patients, num_chains, *x.shape[2:])

    traces, terminated = {}, {}
    for k, column in enumerate(position_names(config)):
        traces[column] = {name: per_patient(out[name])[k] for name in (
            "bg", "cgm", "insulin_u_per_h", "meal_g", "reward", "alive")}
        terminated[column] = int((traces[column]["alive"][..., -1] == 0).sum())
    for name in baselines:
        controller = controllers_lib.make(name, env.dt_min)
        rollout_fn = jax.jit(evaluation.make_rollout(env, controller, length))
        keys = day_keys(patient_idx, num_chains, num_days, seed).reshape(-1)  # (P * R * K,)
        run = jax.device_get(rollout_fn(keys, jnp.repeat(flat_tasks, num_days, axis=0)))
        traces[name] = {k: np.asarray(run[k]).reshape(num_patients, num_chains * num_days,
                                                      length)
                        for k in ("bg", "cgm", "insulin_u_per_h", "meal_g")}
        terminated[name] = int((traces[name]["bg"] < env.config.bg_low_mg_dl).any(-1).sum()
                               + (traces[name]["bg"] > env.config.bg_high_mg_dl).any(-1).sum())

    columns = list(baselines) + position_names(config)
    patients = {name: {} for name in names}
    for column in columns:
        for name, s in zip(names, _summaries(traces[column]["bg"])):
            patients[name][column] = s
    mean = {c: {m: float(np.mean([patients[n][c][m] for n in names]))
                for m in metrics.METRIC_NAMES} for c in columns}
    per_day = {}  # {column: {metric: (P, days) nested lists}}: days of a pearl column by chain
    for column in columns:
        day = {k: np.asarray(v) for k, v in metrics.summary(traces[column]["bg"]).items()}
        per_day[column] = {m: np.round(day[m], 5).tolist() for m in ("tir", "tbr70", "tbr54")}
    report = {
        "settings": {"env": env.spec.name, "patients": names, "num_chains": num_chains,
                     "days_per_chain": num_days,
                     "num_exploration_days": config.num_exploration_episodes, "seed": seed,
                     "steps_per_day": int(length), "sensor_noise": env.config.sensor_noise,
                     "announce_meals": env.config.announce_meals,
                     "max_action_u_per_h": env.config.max_action_u_per_h},
        "columns": columns, "patients": patients, "mean": mean,
        "terminated_days": terminated, "per_day": per_day,
        "posterior_std": [float(np.sqrt(np.asarray(out["posterior_variance"][k])).mean())
                          for k in range(num_days)],
    }
    return (report, traces) if return_traces else report


def format_report(report: dict, metric_names=TABLE_METRICS) -> str:
    """A markdown table: one row per held-out patient and column, then the means (in %)."""
    percent = {"tir", "tbr70", "tbr54", "tar180", "tar250", "cv"}
    headers = ["patient", "controller"] + [f"{m} %" if m in percent else m
                                           for m in metric_names]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    sections = list(report["patients"].items()) + [("mean", report["mean"])]
    for name, by_column in sections:
        for column in report["columns"]:
            s = by_column[column]
            cells = [f"{100 * s[m]:.1f}" if m in percent else f"{s[m]:.0f}"
                     for m in metric_names]
            lines.append(f"| {name} | {column} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(env, config: Config, result, num_chains: int, seed: int,
           workdir: str | None) -> dict:
    """The end of `launch.train` for PEARL on a glucose population: evaluates the trained
    agent on its held-out patients, prints the table and writes `pearl_glucose.json`."""
    out = evaluate_held_out(env, config, result.params, result.state.test_tasks,
                            num_chains=num_chains, seed=seed)
    s = out["settings"]
    print(f"\nPEARL on held-out patients {', '.join(s['patients'])}: {num_chains} chains of "
          f"{s['days_per_chain']} consecutive days each, day 1 with z from the prior "
          f"(basal_bolus has meal announcement, PEARL does not)")
    print(format_report(out))
    if workdir:
        path = os.path.join(workdir, "pearl_glucose.json")
        with open(path, "w") as f:
            json.dump(out, f, indent=1)
        print(f"Wrote {path}")
    return out


def load_run(workdir: str):
    """`(env, config, params, test_tasks)` of a `launch.train` PEARL run directory: the saved
    policy, and the held-out patients its seed drew (as `driver.train` draws them)."""
    import envs
    from algorithms.pearl.program import sample_train_test_tasks
    from algorithms.pearl.train import init, policy_params
    from rlcore.checkpoint import load_json, restore_policy
    from rlcore.config import apply_overrides

    saved = load_json(os.path.join(workdir, "flags.json"))
    config = apply_overrides(Config(), saved.get("config_overrides", {}))
    env = envs.make(saved["env"], **saved.get("env_args", {}))
    key_init, key_tasks, _, _ = jax.random.split(jax.random.key(saved.get("seed") or 0), 4)
    _, test_tasks = sample_train_test_tasks(env, config, key_tasks)
    params = restore_policy(workdir, policy_params(init(key_init, config, env.spec)))
    return env, config, params, test_tasks


def evaluate_run(workdir: str, num_chains: int, seed: int) -> dict:
    """`evaluate_held_out` on a run directory's saved policy and held-out patients."""
    env, config, params, test_tasks = load_run(workdir)
    return evaluate_held_out(env, config, params, test_tasks, num_chains=num_chains, seed=seed)
