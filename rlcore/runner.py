"""The thin driver around `rlcore.loop`: compile once, run chunks, evaluate, log, checkpoint.

Python runs only between evaluations: each chunk is one jitted `lax.scan` over
`iterations_per_eval` iterations. A run directory holds `config.json`, `metrics.csv`,
TensorBoard events and orbax checkpoints; calling `train` again on the same directory
resumes from the newest readable checkpoint (a different config is refused, naming the
fields that differ).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from envs import wrappers
from envs.base import Env
from rlcore import checkpoint as ckpt
from rlcore import logging as rl_logging
from rlcore import loop, sharding
from rlcore.config import OffPolicyConfig, diff


class TrainResult(NamedTuple):
    params: Any  # what `policy` takes: of the final training state, or the best evaluation's
    policy: Callable  # policy(params, obs, key, deterministic) -> action
    metrics: list[dict[str, float]]  # one row per evaluation
    state: loop.LoopState  # the final loop state (training state, env states, key)
    selected_env_steps: int | None = None  # env steps of `params` when the best was selected


class BestEval:
    """The policy parameters of the evaluation with the highest `eval/return` so far.

    With a workdir they are saved under `<workdir>/best_policy` (and their return in
    `best_policy.json`) whenever they improve, so a resumed run keeps them; a saved best from
    past the resumed state (a run killed between an evaluation and its checkpoint) is
    dropped, as the metrics rows after that state are.
    """

    def __init__(self, workdir: str | None, template: Any, resumed_env_steps: int):
        self.workdir, self.params, self.env_steps, self.eval_return = workdir, None, None, None
        info_path = os.path.join(workdir, "best_policy.json") if workdir else None
        if info_path and os.path.exists(info_path):
            info = ckpt.load_json(info_path)
            if info["env_steps"] <= resumed_env_steps:
                try:
                    self.params = ckpt.restore_policy(workdir, template, subdir="best_policy")
                    self.env_steps, self.eval_return = info["env_steps"], info["eval_return"]
                except FileNotFoundError:
                    pass

    def offer(self, env_steps: int, eval_return: float, policy_params: Any) -> None:
        if self.eval_return is not None and not eval_return > self.eval_return:
            return
        # A copy: the next chunk donates the training state these arrays live in.
        self.params = jax.tree.map(lambda x: x.copy(), policy_params)
        self.env_steps, self.eval_return = env_steps, float(eval_return)
        if self.workdir:
            ckpt.save_policy(self.workdir, self.params, subdir="best_policy")
            ckpt.save_json(os.path.join(self.workdir, "best_policy.json"),
                           {"env_steps": env_steps, "eval_return": self.eval_return})


def check_workdir_config(workdir: str, config_dict: dict) -> bool:
    """Writes `config.json`, or checks it against a run being resumed.

    Returns True when the directory holds an earlier run of the same config.

    Raises:
      ValueError: the saved config differs; the message lists the fields.
    """
    path = os.path.join(workdir, "config.json")
    if os.path.exists(path):
        differences = diff(ckpt.load_json(path), config_dict)
        if differences:
            raise ValueError(
                f"Cannot resume {workdir}: the config differs from the saved one in "
                + "; ".join(differences))
        return True
    os.makedirs(workdir, exist_ok=True)
    ckpt.save_json(path, config_dict)
    return False


def start_or_resume(workdir: str | None, config: Any, resuming: bool, state: Any,
                    start: Callable[[Any], Any], place: Callable[[Any], Any] | None = None
                    ) -> tuple[ckpt.Checkpointer | None, Any, int]:
    """The run's checkpointer (None without a workdir or `config.checkpoint_every_evals`),
    its state and the evaluation it resumes at.

    A run being resumed with a checkpoint restores the newest readable one shaped like
    `state` (placed by `place`, e.g. onto a mesh); otherwise `start(state)` begins the run
    (the prefill). Shared by the single-run, multi-seed and PEARL drivers.
    """
    checkpointer = (ckpt.Checkpointer(workdir) if workdir and config.checkpoint_every_evals
                    else None)
    if resuming and checkpointer is not None and checkpointer.steps():
        state, start_eval = checkpointer.restore(state)
        return checkpointer, (state if place is None else place(state)), start_eval
    return checkpointer, start(state), 0


def _constrain_batches(learner: loop.Learner, mesh) -> loop.Learner:
    """`learner` whose update keeps each sampled batch split along the mesh's data axis."""
    def update(state, batch, key):
        return learner.update(state, sharding.constrain_batch(batch, mesh), key)

    return learner._replace(update=update)


def train_off_policy(env: Env, learner: loop.Learner, config: OffPolicyConfig,
                     config_dict: dict, seed: int = 0, workdir: str | None = None,
                     progress: bool | None = None,
                     on_eval: Callable[[int, dict], None] | None = None,
                     devices: int | None = None) -> TrainResult:
    """Runs `config.total_env_steps` of off-policy training of `learner` on `env`.

    Args:
      env: an unwrapped env (`envs.make(...)`); training and eval wrappers are added here.
      learner: the algorithm's pure functions.
      config: loop settings (an algorithm's Config inherits them).
      config_dict: the full algorithm config as a dict, saved with the run.
      seed: the root of every key of the run.
      workdir: run directory (None: nothing is written and nothing resumes).
      progress: show a progress bar (default: when stdout is a terminal or a workdir is set).
      on_eval: called as `on_eval(env_steps, row)` after each evaluation.
      devices: split the env batch, the replay buffer and every sampled batch across the
        first `devices` of `jax.devices()` (`rlcore.sharding`), parameters replicated and
        gradients averaged across them; the same computation as on one device, up to float
        summation order. None or 1: one device. Multi-host: see `rlcore.sharding`.

    Raises:
      ValueError: `devices` exceeds the devices JAX sees, or num_envs, batch_size or
        replay_capacity is not divisible by it.
    """
    mesh = None
    if devices is not None and devices != 1:
        mesh = sharding.make_mesh(devices)
        sharding.check_loop_divisible(config, mesh)
        learner = _constrain_batches(learner, mesh)
    resuming = workdir is not None and check_workdir_config(workdir, config_dict)
    key_init, key_env, key_loop, key_eval = jax.random.split(jax.random.key(seed), 4)

    train_env = wrappers.wrap_for_training(env, config.episode_length)
    env_state = train_env.reset(jax.random.split(key_env, config.num_envs))
    loop_state = loop.LoopState(training_state=learner.init(key_init), env_state=env_state,
                                key=key_loop)
    # Leaves may share buffers (target = online params at init); donation needs distinct ones.
    loop_state = jax.tree.map(lambda x: x.copy(), loop_state)

    iteration, prefill, _ = loop.make_iteration(train_env, learner, config)

    def chunk(state):
        return jax.lax.scan(iteration, state, None, length=config.iterations_per_eval)

    if mesh is None:
        chunk_jit = jax.jit(chunk, donate_argnums=0)
        prefill_jit = jax.jit(prefill, donate_argnums=0)
    else:
        state_shardings = sharding.loop_state_shardings(loop_state, mesh)
        loop_state = jax.device_put(loop_state, state_shardings)
        chunk_jit = jax.jit(chunk, donate_argnums=0, in_shardings=(state_shardings,),
                            out_shardings=(state_shardings, sharding.replicated(mesh)))
        prefill_jit = jax.jit(prefill, donate_argnums=0, in_shardings=(state_shardings,),
                              out_shardings=state_shardings)
    evaluate = jax.jit(loop.make_evaluate(env, learner, config.num_eval_envs,
                                          config.episode_length))

    place = None if mesh is None else (lambda x: jax.device_put(x, state_shardings))
    checkpointer, loop_state, start_eval = start_or_resume(workdir, config, resuming, loop_state,
                                                           prefill_jit, place)
    logger = rl_logging.MetricsLogger(workdir, resume=start_eval > 0)
    logger.truncate_after(int(loop_state.training_state.env_steps))
    best = (BestEval(workdir, learner.policy_params(loop_state.training_state),
                     int(loop_state.training_state.env_steps))
            if config.select_best_eval else None)

    compiled_chunk, compile_s = loop.timed_compile(chunk_jit, loop_state)
    steps_per_chunk = config.iterations_per_eval * config.num_envs
    total = config.num_evals * steps_per_chunk
    show = progress if progress is not None else workdir is not None
    bar = rl_logging.make_progress(total, initial=start_eval * steps_per_chunk, enabled=show)
    try:
        for eval_index in range(start_eval, config.num_evals):
            start = time.perf_counter()
            loop_state, chunk_metrics = compiled_chunk(loop_state)
            chunk_metrics = jax.device_get(chunk_metrics)
            elapsed = time.perf_counter() - start
            row = loop.summarize(chunk_metrics)
            row["train/env_steps_per_s"] = steps_per_chunk / elapsed
            row["train/grad_steps_per_s"] = (config.iterations_per_eval
                                             * config.grad_steps_per_iteration / elapsed)
            row["train/compile_s"] = compile_s
            eval_key = jax.random.fold_in(key_eval, eval_index)
            policy_params = learner.policy_params(loop_state.training_state)
            row.update({k: float(v) for k, v in
                        jax.device_get(evaluate(policy_params, eval_key)).items()})
            env_steps = int(loop_state.training_state.env_steps)
            logger.write(env_steps, row)
            if best is not None:
                best.offer(env_steps, row["eval/return"], policy_params)
            bar.update(steps_per_chunk)
            bar.set_postfix({"eval/return": f"{row['eval/return']:.1f}",
                             "steps/s": f"{row['train/env_steps_per_s']:.0f}"})
            if on_eval is not None:
                on_eval(env_steps, row)
            last = eval_index + 1 == config.num_evals
            if checkpointer is not None and ((eval_index + 1) % config.checkpoint_every_evals == 0
                                             or last):
                checkpointer.save(eval_index + 1, loop_state)
    finally:
        bar.close()
        logger.close()
        if checkpointer is not None:
            checkpointer.close()
    params, selected = learner.policy_params(loop_state.training_state), None
    if best is not None and best.params is not None:
        params, selected = best.params, best.env_steps
    return TrainResult(params=params, policy=learner.policy, metrics=logger.history,
                       state=loop_state, selected_env_steps=selected)
