"""Many independent training runs in one compiled program, the PureJaxRL way.

`train_seeds` runs `rlcore.runner.train_off_policy` for N seeds at once: `jax.vmap` over a
leading seed axis S of the whole loop state (each seed its own key, parameters, optimiser
states, replay buffer and envs), inside one `jax.jit`. Seed s of the batch computes what
`train_off_policy(..., seed=s)` computes (the same key derivation), up to float summation
order. On an accelerator, or on a CPU where one small run leaves cores idle, N seeds cost
much less than N times one seed.

Each evaluation gives one metrics row per seed and a summary row: the mean over seeds of
every metric under its own name, and for `eval/return` and `eval/cost` the interquartile
mean and its bootstrap 95% confidence interval over seeds (`rlcore.stats`), named
`eval/return_iqm`, `eval/return_iqm_ci_low`, `eval/return_iqm_ci_high`.

With `devices=D` the seed axis is split across D devices (`jax.sharding`: each device runs
S / D seeds; nothing crosses devices, as the seeds are independent). With a run directory
and `config.checkpoint_every_evals`, the S-seed state is checkpointed like a single run and
calling `train_seeds` again on the directory resumes it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs import wrappers
from envs.base import Env
from rlcore import logging as rl_logging
from rlcore import loop, runner, sharding, stats
from rlcore.config import OffPolicyConfig

SUMMARIZED = ("eval/return", "eval/cost")


class SeedsProgram(NamedTuple):
    """The compiled pieces of an S-seed run; every state leaf has a leading seed axis S."""

    state: loop.LoopState  # fresh (before prefill)
    prefill: Callable  # jitted, donating: state -> state
    chunk: Callable  # jitted, donating: state -> (state, metrics {name: (S, iterations)})
    evaluate: Callable  # jitted: (policy_params (S, ...), keys (S,)) -> {name: (S,)}
    eval_keys: jax.Array  # (S,) per-seed evaluation root keys
    seeds: tuple[int, ...]
    put: Callable  # places a restored state as `state` is placed (split across devices)


class SeedsResult(NamedTuple):
    params: Any  # policy params of every seed, leading axis S
    policy: Callable  # policy(params of one seed, obs, key, deterministic) -> action
    metrics: list[dict[str, float]]  # one summary row per evaluation (see module doc)
    per_seed: dict[int, list[dict[str, float]]]  # seed -> its rows, one per evaluation
    state: loop.LoopState  # final loop state, leading axis S


def make_program(env: Env, learner: loop.Learner, config: OffPolicyConfig,
                 seeds: Sequence[int], devices: int | None = None) -> SeedsProgram:
    """Builds the S-seed initial state and the jitted prefill / chunk / evaluate.

    `devices` > 1 splits the seed axis of the state across that many devices.

    Raises:
      ValueError: no seeds, a seed given twice, or S not divisible by `devices`.
    """
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("train_seeds needs at least one seed.")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}.")
    mesh = None
    if devices is not None and devices != 1:
        mesh = sharding.make_mesh(devices)
        sharding.check_divisible("num_seeds", len(seeds), mesh)
    # Per seed, the keys `train_off_policy(seed=s)` derives, stacked: four (S,) arrays.
    key_init, key_env, key_loop, key_eval = jax.vmap(
        lambda seed: tuple(jax.random.split(jax.random.key(seed), 4)))(
            jnp.asarray(seeds, jnp.int32))

    train_env = wrappers.wrap_for_training(env, config.episode_length)

    def reset(key):
        return train_env.reset(jax.random.split(key, config.num_envs))

    state = loop.LoopState(training_state=jax.vmap(learner.init)(key_init),
                           env_state=jax.vmap(reset)(key_env), key=key_loop)
    state = jax.tree.map(lambda x: x.copy(), state)  # distinct buffers, for donation

    iteration, prefill, _ = loop.make_iteration(train_env, learner, config)

    def chunk(state):
        return jax.lax.scan(iteration, state, None, length=config.iterations_per_eval)

    evaluate = loop.make_evaluate(env, learner, config.num_eval_envs, config.episode_length)
    if mesh is None:
        put = lambda tree: tree  # noqa: E731
        chunk_jit = jax.jit(jax.vmap(chunk), donate_argnums=0)
        prefill_jit = jax.jit(jax.vmap(prefill), donate_argnums=0)
    else:
        # Every leaf has the seed axis first: split it, so each device runs its own seeds.
        state_shardings = sharding.batch_shardings(state, mesh)
        put = lambda tree: jax.device_put(tree, state_shardings)  # noqa: E731
        state = put(state)
        chunk_jit = jax.jit(jax.vmap(chunk), donate_argnums=0, in_shardings=(state_shardings,),
                            out_shardings=(state_shardings, sharding.batch_sharded(mesh)))
        prefill_jit = jax.jit(jax.vmap(prefill), donate_argnums=0,
                              in_shardings=(state_shardings,), out_shardings=state_shardings)
    return SeedsProgram(
        state=state, prefill=_Unchecked(prefill_jit), chunk=_Unchecked(chunk_jit),
        evaluate=_Unchecked(jax.jit(jax.vmap(evaluate))), eval_keys=key_eval, seeds=seeds,
        put=put)


class _Unchecked:
    """A jitted function traced with JAX's (experimental) key-reuse checker off.

    The checker reports a false positive on `jit(vmap(f))` where `f` scans over
    `random.split(key, n)` (as the loop's gradient steps do): "In scan, argument 1 is
    already consumed" (JAX 0.10.2), though `jit(f)` passes. vmap adds no use of a key, and
    the single-seed loop is checked wherever tests run it.
    """

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        with jax.debug_key_reuse(False):
            return self.fn(*args)

    def lower(self, *args):
        with jax.debug_key_reuse(False):
            return self.fn.lower(*args)


def summary_row(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """One row from per-seed rows: the mean over seeds of each metric (ignoring NaN, e.g.
    no finished training episode), and IQM with its bootstrap 95% CI for `SUMMARIZED`."""
    out = {}
    for name in rows[0]:
        values = np.array([r[name] for r in rows], np.float64)
        finite = values[np.isfinite(values)]
        out[name] = float(finite.mean()) if finite.size else float("nan")
        if name in SUMMARIZED:
            summary = stats.summarize(values)
            for k in ("iqm", "iqm_ci_low", "iqm_ci_high"):
                out[f"{name}_{k}"] = summary[k]
    return out


def train_seeds(env: Env, learner: loop.Learner, config: OffPolicyConfig, config_dict: dict,
                seeds: Sequence[int] = (0,), workdir: str | None = None,
                progress: bool | None = None,
                on_eval: Callable[[int, dict], None] | None = None,
                devices: int | None = None) -> SeedsResult:
    """Runs `config.total_env_steps` of training (per seed) for every seed in one program.

    Args:
      env, learner, config, config_dict, progress, on_eval: as `runner.train_off_policy`
        (`on_eval` gets the summary row).
      seeds: the seeds, one independent run each (`range(s0, s0 + N)` for `--num_seeds=N`).
      workdir: run directory: `config.json`, the summary `metrics.csv` and TensorBoard events,
        each seed's own under `seed_<s>/`, and (with `config.checkpoint_every_evals`) orbax
        checkpoints of the S-seed state; a second call on the directory resumes from the
        newest readable one (a killed run loses at most one checkpoint interval).
      devices: split the seeds across this many devices (S must be divisible by it).

    `train/env_steps_per_s` counts the env steps of all seeds.
    """
    resuming = workdir is not None and runner.check_workdir_config(
        workdir, dict(config_dict, seeds=list(seeds)))
    program = make_program(env, learner, config, seeds, devices)
    checkpointer, state, start_eval = runner.start_or_resume(
        workdir, config, resuming, program.state, program.prefill, program.put)
    chunk, compile_s = loop.timed_compile(program.chunk, state)
    env_steps_now = int(np.asarray(jax.device_get(state.training_state.env_steps))[0])
    logger = rl_logging.MetricsLogger(workdir, resume=start_eval > 0)
    seed_loggers = {s: rl_logging.MetricsLogger(
        None if workdir is None else os.path.join(workdir, f"seed_{s}"), resume=start_eval > 0)
        for s in program.seeds}
    for each in (logger, *seed_loggers.values()):
        each.truncate_after(env_steps_now)
    num_seeds = len(program.seeds)
    steps_per_chunk = config.iterations_per_eval * config.num_envs
    show = progress if progress is not None else workdir is not None
    bar = rl_logging.make_progress(config.num_evals * steps_per_chunk,
                                   initial=start_eval * steps_per_chunk, enabled=show)
    try:
        for eval_index in range(start_eval, config.num_evals):
            start = time.perf_counter()
            state, chunk_metrics = chunk(state)
            chunk_metrics = jax.device_get(chunk_metrics)
            elapsed = time.perf_counter() - start
            keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(program.eval_keys,
                                                                   eval_index)
            evals = jax.device_get(program.evaluate(
                jax.vmap(learner.policy_params)(state.training_state), keys))
            env_steps = np.asarray(jax.device_get(state.training_state.env_steps))
            rows = []
            for i, seed in enumerate(program.seeds):
                row = loop.summarize({k: v[i] for k, v in chunk_metrics.items()})
                row["train/env_steps_per_s"] = num_seeds * steps_per_chunk / elapsed
                row["train/grad_steps_per_s"] = (num_seeds * config.iterations_per_eval
                                                 * config.grad_steps_per_iteration / elapsed)
                row["train/compile_s"] = compile_s
                row.update({k: float(v[i]) for k, v in evals.items()})
                seed_loggers[seed].write(int(env_steps[i]), row)
                rows.append(row)
            summary = summary_row(rows)
            logger.write(int(env_steps[0]), summary)
            bar.update(steps_per_chunk)
            bar.set_postfix({"eval/return_iqm": f"{summary['eval/return_iqm']:.1f}"})
            if on_eval is not None:
                on_eval(int(env_steps[0]), summary)
            last = eval_index + 1 == config.num_evals
            if checkpointer is not None and (
                    (eval_index + 1) % config.checkpoint_every_evals == 0 or last):
                checkpointer.save(eval_index + 1, state)
    finally:
        bar.close()
        for each in (logger, *seed_loggers.values()):
            each.close()
        if checkpointer is not None:
            checkpointer.close()
    return SeedsResult(params=jax.vmap(learner.policy_params)(state.training_state),
                       policy=learner.policy, metrics=logger.history,
                       per_seed={s: seed_loggers[s].history for s in program.seeds},
                       state=state)
