"""The iterative model-based loop shared by MB, MB+DE, GrBAL and ReBAL.

Algorithm 1 of Nagabandi, Clavera et al. (2019): collect episodes with uniform random
actions, then repeat: fit the model on segments of all data, collect episodes with MPC on
the model adapted from the last M transitions before every step (plus exploration noise),
aggregate. Evaluation runs the planner without noise on test tasks and reports
`eval/return`, `eval/model_error_adapted` and `eval/model_error_unadapted` (one-step MSE of
normalised deltas on the K transitions after each window of M, adapted from those M or not).

`make_program` hands the loop to `driver.train`: one compiled chunk is a `lax.scan` over
collection rounds, each a `rollout` (a `lax.scan` over the episode, vmapped over envs) and a
`fit` (buffer write, normaliser refit, a `lax.scan` of gradient steps).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from algorithms import dynamics as dyn
from algorithms import mpc
from algorithms.mb.config import ModelBasedConfig
from envs.base import Env
from rlcore.program import Program


@struct.dataclass
class TrainingState:
    params: Any  # the model's meta-parameters
    opt_state: optax.OptState
    normalizer: dyn.Normalizer
    buffer: dyn.TrajectoryBuffer
    env_steps: jax.Array  # int32
    grad_steps: jax.Array  # int32


class PolicyParams(NamedTuple):
    """What the MPC policy needs: meta-parameters and the normaliser."""

    params: Any
    normalizer: dyn.Normalizer


def episode_length(env: Env, config: ModelBasedConfig) -> int:
    length = config.episode_length or env.spec.episode_length
    config.check_episode_length(length)
    return length


def num_iterations(config: ModelBasedConfig, length: int) -> int:
    """Collection rounds (the first one random) covering `total_env_steps`."""
    return max(2, math.ceil(config.total_env_steps / (config.num_envs * length)))


def get_reward_fn(env: Env) -> Callable:
    """The env's pure `reward_fn(obs, action, next_obs, task)`, looked up through wrappers."""
    for candidate in (env, getattr(env, "unwrapped", None)):
        fn = getattr(candidate, "reward_fn", None)
        if fn is not None:
            return fn
    raise ValueError(f"{env.spec.name} has no pure reward_fn(obs, action, next_obs, task); "
                     "model-based planning needs one.")


def sample_tasks(env: Env, key: jax.Array, num: int, split: str) -> jax.Array:
    """Tasks of `split` ("train"/"test") where the env's `sample_tasks` takes a split."""
    params = inspect.signature(env.sample_tasks).parameters
    if "split" in params:
        return env.sample_tasks(key, num, split=split)
    return env.sample_tasks(key, num)


def make_policy(model: dyn.AdaptiveDynamics, env: Env, config: ModelBasedConfig) -> Callable:
    """`policy(PolicyParams, context (M, ...), obs (D,), task, key) -> action (A,)`: adapt from
    the last M transitions (from the meta-learned parameters each time), then plan."""
    plan = mpc.make_planner(dyn.next_obs_fn(model), get_reward_fn(env), env.spec.action_low,
                            env.spec.action_high, config.planner_config())

    def policy(policy_params, context, obs, task, key):
        adapted = model.adapt(policy_params.params, policy_params.normalizer, context)
        return plan((adapted, policy_params.normalizer), obs, task, key)[0]

    return policy


def make_rollout(env: Env, model: dyn.AdaptiveDynamics, config: ModelBasedConfig,
                 length: int) -> Callable:
    """`rollout(policy_params, tasks (B, ...), key, noise_scale, random_actions)` ->
    `(trajectories Context (B, T, ...), returns (B,))`; `random_actions` is a traced bool."""
    spec = env.spec
    low = jnp.asarray(spec.action_low, jnp.float32)
    high = jnp.asarray(spec.action_high, jnp.float32)
    policy = make_policy(model, env, config)
    batched_policy = jax.vmap(policy, in_axes=(None, 0, 0, 0, 0))

    def rollout(policy_params, tasks, key, noise_scale, random_actions):
        num = jax.tree.leaves(tasks)[0].shape[0]
        key_reset, key_steps = jax.random.split(key)
        states = jax.vmap(lambda k, t: env.reset(k, task=t))(jax.random.split(key_reset, num),
                                                             tasks)
        contexts = jax.vmap(lambda _: dyn.empty_context(config.M, spec.obs_size,
                                                         spec.action_size))(jnp.arange(num))

        def step(carry, key_t):
            states, contexts, alive = carry
            key_act, key_noise = jax.random.split(key_t)
            actions = jax.lax.cond(
                random_actions,
                lambda: jax.random.uniform(key_act, (num, spec.action_size), minval=low,
                                           maxval=high),
                lambda: batched_policy(policy_params, contexts, states.obs, states.task,
                                       jax.random.split(key_act, num)))
            noise = jax.random.normal(key_noise, actions.shape) * (high - low) / 2
            actions = jnp.clip(actions + noise_scale * noise, low, high)
            next_states = jax.vmap(env.step)(states, actions)
            valid = alive * jnp.all(jnp.isfinite(next_states.obs), axis=-1)
            # Steps after a termination are padding; NaNs never enter the data (0 * NaN = NaN).
            clean = lambda x: jnp.where(valid.reshape(-1, *([1] * (x.ndim - 1))) > 0, x, 0.0)
            obs, next_obs = clean(states.obs), clean(next_states.obs)
            contexts = jax.vmap(dyn.push_context)(contexts, obs, actions, next_obs, valid)
            out = (dyn.Context(obs=obs, action=actions, next_obs=next_obs, mask=valid),
                   next_states.reward * valid)
            alive = valid * (1.0 - next_states.done)
            return (next_states, contexts, alive), out

        init = (states, contexts, jnp.ones((num,)))
        _, (traj, rewards) = jax.lax.scan(step, init, jax.random.split(key_steps, length))
        traj = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), traj)  # (T, B, ...) -> (B, T, ...)
        return traj, rewards.sum(0)

    return rollout


def make_fit(model: dyn.AdaptiveDynamics, config: ModelBasedConfig) -> Callable:
    """`fit(state, trajectories (B, T, ...), key) -> (state, metrics)`: aggregate, refit the
    normaliser on all data, take `grad_steps_per_iteration` Adam steps on M + K segments."""
    optimizer = optax.adam(config.model_lr)
    loss_grad = jax.value_and_grad(model.loss, has_aux=True)

    def fit(state: TrainingState, traj: dyn.Context, key: jax.Array):
        buffer = dyn.buffer_add(state.buffer, traj)
        norm = dyn.buffer_normalizer(buffer)

        def grad_step(carry, key_step):
            params, opt_state = carry
            key_sample, key_loss = jax.random.split(key_step)
            batch = dyn.sample_segments(buffer, key_sample, config.batch_size,
                                        config.M + config.K)
            (loss, stats), grads = loss_grad(params, norm, batch, key_loss)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), dict(stats, loss=loss)

        keys = jax.random.split(key, config.grad_steps_per_iteration)
        (params, opt_state), stats = jax.lax.scan(grad_step, (state.params, state.opt_state),
                                                  keys)
        state = state.replace(params=params, opt_state=opt_state, normalizer=norm, buffer=buffer,
                              env_steps=state.env_steps + jnp.sum(traj.mask).astype(jnp.int32),
                              grad_steps=state.grad_steps + config.grad_steps_per_iteration)
        metrics = {f"train/{k}": v[-1] for k, v in stats.items()}
        return state, metrics

    return fit


def make_model_errors(model: dyn.AdaptiveDynamics, config: ModelBasedConfig) -> Callable:
    """`errors(policy_params, trajectories (B, T, ...)) -> (adapted, unadapted)`."""

    def errors(policy_params, traj):
        windows = dyn.trajectory_windows(traj, config.M + config.K, config.K)
        return dyn.prediction_errors(model, policy_params.params, policy_params.normalizer,
                                     windows, config.M)

    return errors


def init_state(key: jax.Array, model: dyn.AdaptiveDynamics, config: ModelBasedConfig,
               env: Env, length: int, iterations: int) -> TrainingState:
    spec = env.spec
    params = model.init(key)
    capacity = config.buffer_trajectories or iterations * config.num_envs
    return TrainingState(
        params=params, opt_state=optax.adam(config.model_lr).init(params),
        normalizer=dyn.identity_normalizer(spec.obs_size, spec.action_size),
        buffer=dyn.buffer_init(capacity, length, spec.obs_size, spec.action_size),
        env_steps=jnp.zeros((), jnp.int32), grad_steps=jnp.zeros((), jnp.int32))


def make_eval_env(env: Env) -> Env:
    """The env of held-out dynamics: `env` itself where its `sample_tasks` takes a split (the
    "test" split is asked for), the registered family's "test" split where the env was built
    with a `split` (the MJX families), else `env` (no task family: nothing is held out)."""
    if "split" in inspect.signature(env.sample_tasks).parameters:
        return env
    if getattr(env, "split", None) == "train":
        from envs.base import make  # the registry only; no concrete env is imported

        return make(env.spec.name, split="test", episode_length=env.spec.episode_length)
    return env


@struct.dataclass
class LoopState:
    """The model-based loop between evaluations (checkpointed whole)."""

    training_state: TrainingState
    key: jax.Array  # the loop's key: round r uses fold_in(key, r)
    iteration: jax.Array  # int32, collection rounds done


def make_program(env: Env, model: dyn.AdaptiveDynamics, config: ModelBasedConfig,
                 mesh=None, eval_env: Env | None = None) -> Program:
    """Algorithm 1 on `env` (training tasks) as a `Program` for `driver.train`, evaluated on
    `eval_env` (default `make_eval_env(env)`: the held-out "test" tasks where the family has
    them) after every `iterations_per_eval` rounds (`eval_every_steps` in whole rounds) and
    after the last.

    A chunk is a `lax.scan` over that many rounds (collect with MPC, then fit); rounds past
    the run's last are skipped. Keys: `run_key` splits into (init, loop); round r draws its
    tasks, rollout, fit and the evaluation after it from `fold_in(loop, r)` alone, so a
    resumed run continues the same stream.

    Raises:
      ValueError: a mesh (one model-based run is not split across devices), or an
        episode length the config cannot use.
    """
    if mesh is not None:
        raise ValueError("The model-based loop does not split one run across devices; use "
                         "num_seeds with devices to split seeds.")
    length = episode_length(env, config)
    iterations = num_iterations(config, length)
    every = config.iterations_per_eval(config.num_envs * length)
    eval_env = eval_env or make_eval_env(env)
    rollout = make_rollout(env, model, config, length)
    eval_rollout = rollout if eval_env is env else make_rollout(eval_env, model, config,
                                                                  length)
    # Rollout and fit stay two compiled functions inside the chunk (nested jit), as before the
    # one-driver refactor: fusing them changes float rounding, and the pins test exact rows.
    fit, errors = jax.jit(make_fit(model, config)), make_model_errors(model, config)
    rollout = jax.jit(rollout)

    def init(run_key):
        key_init, key_loop = jax.random.split(run_key)
        return LoopState(training_state=init_state(key_init, model, config, env, length,
                                                   iterations),
                         key=key_loop, iteration=jnp.zeros((), jnp.int32))

    def one_round(state):
        key_tasks, key_roll, key_fit, _, _ = jax.random.split(
            jax.random.fold_in(state.key, state.iteration), 5)
        ts = state.training_state
        tasks = sample_tasks(env, key_tasks, config.num_envs, "train")
        traj, returns = rollout(PolicyParams(ts.params, ts.normalizer), tasks, key_roll,
                                jnp.float32(config.exploration_noise), state.iteration == 0)
        ts, metrics = fit(ts, traj, key_fit)
        metrics = dict(metrics, episode_returns=returns, valid=jnp.ones((), jnp.float32))
        return state.replace(training_state=ts, iteration=state.iteration + 1), metrics

    def chunk(state):
        def body(state, _):
            shapes = jax.eval_shape(one_round, state)[1]
            skip = lambda s: (s, jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes))
            return jax.lax.cond(state.iteration < iterations, one_round, skip, state)

        return jax.lax.scan(body, state, None, length=every)

    def summarize(metrics):  # the last round of the chunk that ran
        last = int(np.nonzero(np.asarray(metrics.pop("valid")))[0][-1])
        returns = np.asarray(metrics.pop("episode_returns"))[last]
        row = {k: float(np.asarray(v)[last]) for k, v in metrics.items()}
        row["train/episode_return"] = float(jnp.mean(returns))
        return row

    def evaluate(state, run_key, eval_index):
        del run_key, eval_index  # the keys of the round just done
        _, _, _, key_eval_tasks, key_eval = jax.random.split(
            jax.random.fold_in(state.key, state.iteration - 1), 5)
        ts = state.training_state
        pp = PolicyParams(ts.params, ts.normalizer)
        eval_tasks = sample_tasks(eval_env, key_eval_tasks, config.num_eval_envs, "test")
        traj, returns = eval_rollout(pp, eval_tasks, key_eval, jnp.float32(0.0),
                                     jnp.asarray(False))
        adapted, unadapted = errors(pp, traj)
        return {"eval/return": jnp.mean(returns), "eval/model_error_adapted": adapted,
                "eval/model_error_unadapted": unadapted}

    return Program(
        init=init, start=lambda state: state, chunk=chunk, summarize=summarize,
        evaluate=evaluate,
        policy_params=lambda state: PolicyParams(state.training_state.params,
                                                 state.training_state.normalizer),
        env_steps=lambda state: state.training_state.env_steps,
        num_chunks=math.ceil(iterations / every),
        env_steps_per_chunk=every * config.num_envs * length,
        grad_steps_per_chunk=every * config.grad_steps_per_iteration)
