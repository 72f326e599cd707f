"""Run-directory bookkeeping of the driver: the saved config, the best policy, seed summaries."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from rlcore import checkpoint as ckpt
from rlcore import logging as rl_logging
from rlcore import stats
from rlcore.config import diff, migrate_saved, to_dict

SUMMARIZED = ("eval/return", "eval/cost")


def run_record(config, algo: str, env_name: str, seeds) -> dict:
    """What `config.json` holds: the full config, the algorithm, the env's name and the seeds,
    everything that makes a run directory's checkpoints one run's."""
    return dict(to_dict(config), algo=algo, env=env_name, seeds=[int(s) for s in seeds])


def config_differences(workdir: str, config, config_dict: dict) -> list[str] | None:
    """The fields in which `config_dict` (a `run_record`) differs from `<workdir>/config.json`,
    as `field: saved=... now=...` lines; None when the directory holds no config yet. A saved
    config of renamed fields is read in today's names (`rlcore.config.migrate_saved`); one
    written before `seeds` was recorded for single-seed runs is taken to have today's."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return None
    try:
        saved = ckpt.load_json(path)
    except ValueError as err:  # not JSON
        raise ValueError(f"{path} is not a readable config file: {err}") from None
    saved = migrate_saved(config, saved)
    saved.setdefault("seeds", config_dict.get("seeds"))
    return diff(saved, config_dict)


def check_workdir_config(workdir: str, config, config_dict: dict, write: bool = True) -> bool:
    """Writes `config.json` (not with `write=False`), or checks it against the run's.

    Returns True when the directory holds an earlier run of the same config, seeds, algorithm
    and env (calling `driver.train` on it resumes that run).

    Raises:
      ValueError: the saved run differs; the message lists the fields.
    """
    differences = config_differences(workdir, config, config_dict)
    if differences:
        raise ValueError(
            f"{workdir} holds another run: its config.json differs in "
            + "; ".join(differences)
            + ". Give the same settings to resume it, or another run directory.")
    if differences is not None:
        return True
    if write:
        os.makedirs(workdir, exist_ok=True)
        ckpt.save_json(os.path.join(workdir, "config.json"), config_dict)
    return False


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


def make_loggers(workdir: str | None, seeds: Sequence[int], start_eval: int,
                 env_steps: int) -> dict:
    """`{None: the run's logger, seed: that seed's logger under seed_<s>/}`, each cut back to
    `env_steps` (rows past a resumed checkpoint are dropped)."""
    loggers = {None: rl_logging.MetricsLogger(workdir, resume=start_eval > 0)}
    for s in seeds:
        loggers[s] = rl_logging.MetricsLogger(
            None if workdir is None else os.path.join(workdir, f"seed_{s}"),
            resume=start_eval > 0)
    for logger in loggers.values():
        logger.truncate_after(env_steps)
    return loggers


def summary_row(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """One row from per-seed rows: the mean over seeds of each metric (ignoring NaN, e.g.
    no finished training episode), and IQM with its bootstrap 95% CI for `SUMMARIZED`
    (`eval/return_iqm`, `eval/return_iqm_ci_low`, `eval/return_iqm_ci_high`)."""
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


class Unchecked:
    """A jitted function traced with JAX's (experimental) key-reuse checker off.

    The checker reports a false positive on `jit(vmap(f))` where `f` scans over
    `random.split(key, n)` (as the loop's gradient steps do): "In scan, argument 1 is
    already consumed" (JAX 0.10.2), though `jit(f)` passes. vmap adds no use of a key, and
    the single-seed program is checked wherever tests run it.
    """

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        with jax.debug_key_reuse(False):
            return self.fn(*args)

    def lower(self, *args):
        with jax.debug_key_reuse(False):
            return self.fn.lower(*args)
