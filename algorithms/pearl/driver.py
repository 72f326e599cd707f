"""The PEARL driver: tasks, initial collection, chunks of meta-training, meta-test, logging.

    result = train(env, config, seed=0, workdir=None, progress=None)

Python runs only between evaluations: each chunk is one jitted `lax.scan` over
`eval_every_iterations` meta-training iterations (`train.make_meta_functions`), followed by the
meta-test on the held-out tasks. A run directory holds `config.json`, `metrics.csv`,
TensorBoard events and orbax checkpoints of the whole `MetaState` (buffers and tasks
included); calling `train` again on it resumes from the newest readable checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from algorithms.pearl import train as pearl_train
from algorithms.pearl.config import Config
from envs.base import Env
from rlcore import config as config_lib
from rlcore import logging as rl_logging
from rlcore import loop, runner


def sample_train_test_tasks(env: Env, config: Config, key: jax.Array,
                            max_draws: int = 20) -> tuple[jax.Array, jax.Array]:
    """`num_train_tasks` meta-training and `num_test_tasks` held-out task vectors, disjoint.

    Draws `env.sample_tasks(key_i, T + N)` (at most `max_draws` times) until T + N distinct
    task vectors are found, in draw order: a continuous family needs one draw, a finite one
    sampled with replacement (a patient population) a few. A family with fewer distinct tasks
    than T + N (cheetah-dir's two directions) cycles through the distinct ones in both sets,
    so held-out tasks repeat training tasks (as in oyster's cheetah-dir), and a warning says so.

    Raises:
      ValueError: `env` is not a task family (no `sample_tasks`, or `task_size` 0).
    """
    if env.spec.task_size <= 0 or not hasattr(env, "sample_tasks"):
        raise ValueError(f"PEARL needs a task family (an env with sample_tasks and a task "
                         f"vector); {env.spec.name} has task_size {env.spec.task_size}.")
    total = config.num_train_tasks + config.num_test_tasks
    draws = []
    for i in range(max_draws):
        key_draw = key if i == 0 else jax.random.fold_in(key, i)
        draws.append(np.asarray(env.sample_tasks(key_draw, total), np.float32))
        pool = np.concatenate(draws)
        _, first = np.unique(pool, axis=0, return_index=True)
        if len(first) >= total:
            tasks = pool[np.sort(first)[:total]]
            break
    else:
        distinct = pool[np.sort(first)]
        print(f"WARNING: {env.spec.name} gave {len(distinct)} distinct tasks in {max_draws} "
              f"draws, fewer than num_train_tasks + num_test_tasks = {total}: both sets cycle "
              "through them, so held-out tasks repeat training tasks.")
        index = np.concatenate([np.arange(config.num_train_tasks),
                                np.arange(config.num_test_tasks)]) % len(distinct)
        tasks = distinct[index]
    tasks = jax.numpy.asarray(tasks)
    return tasks[:config.num_train_tasks], tasks[config.num_train_tasks:]


class TrainResult(NamedTuple):
    """What `train` returns. Unlike `rlcore.runner.TrainResult` there is no `policy` of the
    form `policy(params, obs, key, deterministic)`: PEARL's policy also takes z, inferred from
    context (`make_posterior`), so code written for memoryless policies (the glucose report of
    `launch.train`) does not mistake it for one."""

    params: Any  # PolicyParams: encoder and policy networks
    latent_policy: Callable  # policy(params, obs, z, key, deterministic) -> action
    metrics: list[dict[str, float]]  # one row per evaluation
    state: Any  # the final MetaState (training state, tasks, key)


def train(env: Env, config: Config, seed: int = 0, workdir: str | None = None,
          progress: bool | None = None,
          on_eval: Callable[[int, dict], None] | None = None) -> TrainResult:
    """Meta-trains PEARL on the task family `env` (unwrapped) for `config.total_env_steps`.

    Each metrics row (one per evaluation) holds the chunk's mean training metrics
    (`train/...`), its speed (`train/env_steps_per_s`, `train/grad_steps_per_s`, compile time
    excluded and logged as `train/compile_s`) and the meta-test on the held-out tasks
    (`meta_test/return_prior`, `meta_test/return_posterior`, `meta_test/return_episode_k`,
    `eval/return`, ...). Returns the final `PolicyParams` (encoder and policy), the policy
    `latent_policy(params, obs, z, key, deterministic)`, the rows and the final `MetaState`.
    """
    config_dict = dict(config_lib.to_dict(config), algo="pearl", env=env.spec.name)
    resuming = workdir is not None and runner.check_workdir_config(workdir, config_dict)
    key_init, key_tasks, key_loop, key_eval = jax.random.split(jax.random.key(seed), 4)
    train_tasks, test_tasks = sample_train_test_tasks(env, config, key_tasks)
    meta_state = pearl_train.MetaState(
        training_state=pearl_train.init(key_init, config, env.spec), train_tasks=train_tasks,
        test_tasks=test_tasks, key=key_loop)
    # Leaves may share buffers (target = online params at init); donation needs distinct ones.
    meta_state = jax.tree.map(lambda x: x.copy(), meta_state)

    fns = pearl_train.make_meta_functions(env, config)

    def chunk(ms):
        return jax.lax.scan(fns.iteration, ms, None, length=config.eval_every_iterations)

    chunk_jit = jax.jit(chunk, donate_argnums=0)
    meta_test = jax.jit(fns.meta_test)

    checkpointer, meta_state, start_eval = runner.start_or_resume(
        workdir, config, resuming, meta_state,
        jax.jit(fns.initial_collection, donate_argnums=0))
    logger = rl_logging.MetricsLogger(workdir, resume=start_eval > 0)
    logger.truncate_after(int(meta_state.training_state.env_steps))

    compiled_chunk, compile_s = loop.timed_compile(chunk_jit, meta_state)
    steps_per_chunk = config.eval_every_iterations * config.env_steps_per_iteration
    grad_steps_per_chunk = config.eval_every_iterations * config.num_train_steps_per_iteration
    show = progress if progress is not None else workdir is not None
    bar = rl_logging.make_progress(config.num_evals * steps_per_chunk,
                                   initial=start_eval * steps_per_chunk, enabled=show)
    try:
        for eval_index in range(start_eval, config.num_evals):
            start = time.perf_counter()
            meta_state, chunk_metrics = compiled_chunk(meta_state)
            chunk_metrics = jax.device_get(chunk_metrics)
            elapsed = time.perf_counter() - start
            row = loop.summarize(chunk_metrics)
            row["train/env_steps_per_s"] = steps_per_chunk / elapsed
            row["train/grad_steps_per_s"] = grad_steps_per_chunk / elapsed
            row["train/compile_s"] = compile_s
            params = pearl_train.policy_params(meta_state.training_state)
            test = meta_test(params, meta_state.test_tasks, jax.random.fold_in(key_eval,
                                                                              eval_index))
            row.update({k: float(v) for k, v in jax.device_get(test).items()})
            env_steps = int(meta_state.training_state.env_steps)
            logger.write(env_steps, row)
            bar.update(steps_per_chunk)
            bar.set_postfix({"prior": f"{row['meta_test/return_prior']:.1f}",
                             "posterior": f"{row['meta_test/return_posterior']:.1f}",
                             "steps/s": f"{row['train/env_steps_per_s']:.0f}"})
            if on_eval is not None:
                on_eval(env_steps, row)
            last = eval_index + 1 == config.num_evals
            if checkpointer is not None and (
                    (eval_index + 1) % config.checkpoint_every_evals == 0 or last):
                checkpointer.save(eval_index + 1, meta_state)
    finally:
        bar.close()
        logger.close()
        if checkpointer is not None:
            checkpointer.close()
    return TrainResult(params=pearl_train.policy_params(meta_state.training_state),
                       latent_policy=pearl_train.make_policy(config, env.spec),
                       metrics=logger.history, state=meta_state)
