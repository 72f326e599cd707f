"""Named training presets: an algorithm, an environment, env arguments and config overrides.

    python -m launch.train --preset=artificial_pancreas --workdir=runs/ap

Flags given on the command line override a preset's values (`--steps`, `--config.x=...`,
`--env_arg=k=v`). The artificial-pancreas presets dose insulin with no meal announcement
(Lee et al., IEEE JBHI 2020: the agent sees CGM, insulin history and insulin on board only).
"""

from __future__ import annotations

import ast
from typing import NamedTuple


class Preset(NamedTuple):
    algo: str
    env: str
    env_args: dict
    config: dict
    description: str


# One adult, no meal announcement, sensor noise on: minutes on a 2-core CPU.
_AP_CONFIG = {
    "total_env_steps": "200000", "num_envs": "16", "batch_size": "256",
    "replay_capacity": "200000", "warmup_steps": "2000", "learning_starts": "2000",
    "grad_steps_per_env_step": "0.25", "eval_every_steps": "20000", "num_eval_envs": "8",
    "hidden_sizes": "128,128", "checkpoint_every_evals": "1",
}
# The presets report the final policy: `--config.select_best_eval=true` keeps the best
# training evaluation's instead (selection on the run's own evaluation days, a stream apart
# from the report's held-out days, `launch.train --eval_seed`).
_AP_ENV = {"max_action_u_per_h": 6.0}
# PEARL over a cohort: each collection phase runs 4 envs x one whole day (288 steps) per task;
# 0.25 gradient steps (4 tasks x 64 transitions) per env step, as _AP_CONFIG's 256 x 0.25.
_AP_PEARL_CONFIG = {
    "num_train_tasks": "7", "num_test_tasks": "3", "total_env_steps": "400000",
    "num_envs": "4", "num_initial_steps": "1152", "num_tasks_sample": "4",
    "num_steps_prior": "1152", "num_extra_rl_steps_posterior": "1152",
    "grad_steps_per_iteration": "2304", "meta_batch": "4", "batch_size": "64",
    "context_size": "100", "hidden_sizes": "128,128", "encoder_hidden_sizes": "64,64",
    "rl_buffer_capacity": "60000", "num_eval_episodes": "3",
    "eval_every_steps": "36864",  # 4 iterations of 4 tasks x (1152 + 1152) steps
    "checkpoint_every_evals": "3",
}

PRESETS: dict[str, Preset] = {
    "artificial_pancreas": Preset(
        "sac", "glucose/adult#001", _AP_ENV, _AP_CONFIG,
        "SAC doses insulin for adult#001 with no meal announcement (the README's main job)."),
    "ap_adults": Preset(
        "sac", "glucose/adults", _AP_ENV, {**_AP_CONFIG, "total_env_steps": "400000"},
        "One SAC agent for the 10 adults (a patient drawn per episode)."),
    "ap_adolescents": Preset(
        "sac", "glucose/adolescents", _AP_ENV, {**_AP_CONFIG, "total_env_steps": "400000"},
        "One SAC agent for the 10 adolescents."),
    "ap_children": Preset(
        "sac", "glucose/children", {"max_action_u_per_h": 3.0},
        {**_AP_CONFIG, "total_env_steps": "400000"}, "One SAC agent for the 10 children."),
    "ap_population": Preset(
        "sac", "glucose/all", _AP_ENV, {**_AP_CONFIG, "total_env_steps": "600000"},
        "One population-wide SAC agent across all 30 patients."),
    "ap_lagrangian": Preset(
        "sac_lagrangian", "glucose/adults", _AP_ENV,
        {**_AP_CONFIG, "cost_limit_per_step": "0.01"},
        "Lagrangian SAC for the 10 adults with the hypoglycaemia constraint: at most 1% of "
        "steps below 70 mg/dL (the multiplier follows the recent cost rate of collection)."),
    "ap_tir_constrained": Preset(
        "sac_lagrangian", "glucose/adult#001", {**_AP_ENV, "reward": "tir"},
        {**_AP_CONFIG, "cost_limit_per_step": "0.02", "lambda_lr": "1e-3"},
        "Lagrangian SAC for adult#001 with no meal announcement: maximise time in range "
        "(reward 1 inside 70-180 mg/dL) subject to at most 2% of steps below 70 mg/dL. "
        "Seeds 10-14 meet #21's bar (benchmarks/artificial_pancreas.md)."),
    "ap_pearl": Preset(
        "pearl", "glucose/adults", _AP_ENV, _AP_PEARL_CONFIG,
        "PEARL over the adults: the patient is the task; 7 train, 3 held-out patients (the "
        "split follows --seed), reported with z from the prior vs the posterior."),
    "pendulum": Preset("sac", "classic/pendulum", {}, {}, "SAC on the pendulum smoke test."),
}


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Presets: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


def parse_env_args(items: list[str]) -> dict:
    """`["k=v", ...]` -> `{k: value}`; values are Python literals where they parse, else strings.

    Raises:
      ValueError: an item without `=`.
    """
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--env_arg needs key=value, got {item!r}.")
        key, text = item.split("=", 1)
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        out[key.strip()] = value
    return out
