"""PEARL's meta-training as a `Program` for `driver.train`: tasks, initial collection,
chunks of `iterations_per_chunk` meta-training iterations, meta-test on held-out tasks.

    result = driver.train("pearl", env, config, seed=0, workdir=None)

The state is the whole `MetaState` (buffers and tasks included), so a checkpoint resumes
meta-training exactly. `result.policy` is None: PEARL's policy also takes z, inferred from
context (`train.make_policy(config, spec)`, `train.make_posterior`), so code written for
memoryless policies (the glucose report of `launch.train`) does not mistake it for one.
Each row holds the chunk's mean training metrics and the meta-test on the held-out tasks
(`meta_test/return_prior`, `meta_test/return_posterior`, `meta_test/return_episode_k`,
`eval/return`, ...).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from algorithms.pearl import train as pearl_train
from algorithms.pearl.config import Config
from envs.base import Env
from rlcore import loop
from rlcore.program import Program

ITERATION_RAN = "iteration_ran"  # chunk metric: 1 for an iteration that ran, 0 past the budget


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


def make_program(env: Env, config: Config, mesh=None) -> Program:
    """Meta-training on the task family `env` (unwrapped). Keys: `run_key` splits into
    (init, tasks, loop, eval); meta-test i uses `fold_in(eval, i)`.

    Raises:
      ValueError: `env` is not a task family, or a mesh is given (PEARL runs one seed on one
        device; several seeds split across devices through `driver.train`).
    """
    if mesh is not None:
        raise ValueError("PEARL does not split one run across devices; use num_seeds with "
                         "devices to split seeds.")
    fns = pearl_train.make_meta_functions(env, config)

    def init(run_key):
        key_init, key_tasks, key_loop, _ = jax.random.split(run_key, 4)
        train_tasks, test_tasks = sample_train_test_tasks(env, config, key_tasks)
        return pearl_train.MetaState(
            training_state=pearl_train.init(key_init, config, env.spec),
            train_tasks=train_tasks, test_tasks=test_tasks, key=key_loop)

    per_chunk = config.iterations_per_chunk

    def guarded_iteration(meta_state, _=None):
        """One iteration while fewer than `num_iterations` have run (counted by the gradient
        steps taken), else nothing: the last chunk stops at the budget without a second
        compiled chunk. Under a vmap over seeds `cond` computes both branches and selects."""
        done = meta_state.training_state.grad_steps // config.grad_steps_per_iteration
        run = done < config.num_iterations
        shapes = jax.eval_shape(fns.iteration, meta_state)[1]

        def skip(ms, _):
            return ms, jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes)

        meta_state, metrics = jax.lax.cond(run, fns.iteration, skip, meta_state, None)
        return meta_state, {**metrics, ITERATION_RAN: run.astype(jnp.float32)}

    def chunk(meta_state):
        if config.num_iterations % per_chunk == 0:  # whole chunks: no iteration to skip
            return jax.lax.scan(fns.iteration, meta_state, None, length=per_chunk)
        return jax.lax.scan(guarded_iteration, meta_state, None, length=per_chunk)

    def summarize(metrics):
        ran = metrics.pop(ITERATION_RAN, None)
        if ran is not None:  # the iterations of the chunk that ran
            keep = np.asarray(ran) > 0
            metrics = {name: np.asarray(values)[keep] for name, values in metrics.items()}
        return loop.summarize(metrics)

    def evaluate(meta_state, run_key, eval_index):
        key_eval = jax.random.split(run_key, 4)[3]
        return fns.meta_test(pearl_train.policy_params(meta_state.training_state),
                             meta_state.test_tasks, jax.random.fold_in(key_eval, eval_index))

    return Program(
        init=init, start=fns.initial_collection, chunk=chunk, summarize=summarize,
        evaluate=evaluate,
        policy_params=lambda meta_state: pearl_train.policy_params(meta_state.training_state),
        env_steps=lambda meta_state: meta_state.training_state.env_steps,
        num_chunks=config.num_evals,
        env_steps_per_chunk=config.iterations_per_chunk * config.env_steps_per_iteration,
        grad_steps_per_chunk=config.iterations_per_chunk * config.grad_steps_per_iteration,
        progress_metrics=("meta_test/return_prior", "meta_test/return_posterior"))
