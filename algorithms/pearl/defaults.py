"""PEARL's settings per task family, chosen by the env's name.

    overrides = pearl.defaults_for_env("mjx/point-goal")   # {field: flag string}
    config = pearl.config_for_env("mjx/point-goal", total_env_steps=60_000)

Each family starts from oyster's config for the same task (katerakelly/oyster
`configs/<family>.json` over `configs/default.py`) and is scaled to what our env needs; the
reasoning, field by field, is in docs/pearl.md ("Defaults per task family"). `Config()`'s own
defaults are oyster's cheetah-vel. The overrides are flag strings, as `launch.train` records
them in `flags.json` (`config_overrides`), so a resumed run gets them back; `--steps` and
`--config.<field>` given on the command line win over them.

The MJX locomotion families keep oyster's budgets (2.6-2.8M env steps, 1-2M gradient steps):
GPU jobs, see benchmarks/pearl_paper.py. The point families are sized for a CPU.
"""

from __future__ import annotations

from algorithms.pearl.config import Config
from rlcore.config import apply_overrides

# oyster's locomotion settings (configs/default.py): 2000 initial steps per train task; per
# iteration 5 tasks x (400 prior + 600 posterior-only) steps and 2000 gradient steps on
# 16 tasks x 256 transitions; 300 x 3 networks; 3 meta-test episodes of 200 steps (600 steps),
# the first 2 with z from the prior (`num_exp_traj_eval` 2 in every locomotion config).
_LOCOMOTION = {
    "num_initial_steps": "2000", "num_tasks_sample": "5", "num_steps_prior": "400",
    "num_steps_posterior": "0", "num_extra_rl_steps_posterior": "600",
    "grad_steps_per_iteration": "2000", "meta_batch": "16", "batch_size": "256",
    "hidden_sizes": "300,300,300", "encoder_hidden_sizes": "200,200,200",
    "num_eval_episodes": "3", "num_exploration_episodes": "2",
    "eval_every_steps": "25000",  # 5 iterations of 5 x 1000 steps
    "checkpoint_every_evals": "1",
}

# Point navigation (mjx/point-goal: 30-step episodes from the origin, goals in [-1, 1]^2 m).
# oyster's point-robot.json, scaled to a CPU; see docs/pearl.md.
_POINT = {
    "num_train_tasks": "80", "num_test_tasks": "40", "total_env_steps": "60000",
    "num_initial_steps": "60", "num_tasks_sample": "5", "num_envs": "2",
    "num_steps_prior": "60", "num_steps_posterior": "0", "num_extra_rl_steps_posterior": "60",
    "grad_steps_per_iteration": "150", "meta_batch": "16", "batch_size": "64",
    "context_size": "30", "hidden_sizes": "64,64", "encoder_hidden_sizes": "64,64",
    "discount": "0.9", "reward_scale": "10", "kl_weight": "0.1",
    "actor_lr": "1e-3", "critic_lr": "1e-3", "alpha_lr": "1e-3", "encoder_lr": "1e-3",
    "rl_buffer_capacity": "6000", "num_eval_episodes": "4", "num_exploration_episodes": "1",
    "eval_every_steps": "6000", "checkpoint_every_evals": "1",
}

FAMILY_DEFAULTS: dict[str, dict[str, str]] = {
    "mjx/point-goal": _POINT,
    # oyster's sparse-point-robot.json: the critic learns from the dense reward while the
    # context holds the sparse one ("rewards are always dense" in its SAC update), discount
    # 0.9, KL weight 1.0, reward scale 100, most collection with z from the posterior (100
    # prior + 900 posterior steps per task), contexts that hold most of the task's recent data
    # (1024 in oyster, 64 of 240 here). Whole episodes per phase (2 envs x 30 steps prior,
    # 2 x 90 posterior) and 0.5 gradient steps per env step (oyster: 0.1 over 10x the steps).
    # 6 meta-test episodes show the exploration. Chosen from 3 candidates on seeds 0-1
    # (docs/pearl.md); reported on seeds 100-104.
    "mjx/point-goal-sparse": {
        **_POINT, "critic_reward_key": "dense_reward", "kl_weight": "1.0",
        "reward_scale": "100", "num_steps_prior": "60", "num_steps_posterior": "180",
        "num_extra_rl_steps_posterior": "0", "context_size": "64",
        "grad_steps_per_iteration": "600", "eval_every_steps": "12000",
        "num_eval_episodes": "6",
    },
    # configs/cheetah-vel.json: 100 / 30 tasks, contexts of 100 transitions, KL 0.1; 500
    # iterations: 100 x 2000 + 500 x 5 x 1000 = 2.7M env steps, 1M gradient steps.
    "mjx/cheetah-vel": {
        **_LOCOMOTION, "num_train_tasks": "100", "num_test_tasks": "30", "context_size": "100",
        "kl_weight": "0.1", "total_env_steps": "2700000",
    },
    # configs/cheetah-dir.json: the two directions (train = test), meta batch 4, contexts of
    # 256, 1000 + 1000 steps per task; both tasks collect each iteration (oyster draws 5 of 2
    # with replacement), 500 iterations: 2 x 2000 + 500 x 2 x 2000 = 2.004M env steps.
    "mjx/cheetah-dir": {
        **_LOCOMOTION, "num_train_tasks": "2", "num_test_tasks": "2", "num_tasks_sample": "2",
        "meta_batch": "4", "context_size": "256", "num_steps_prior": "1000",
        "num_extra_rl_steps_posterior": "1000", "total_env_steps": "2004000",
        "eval_every_steps": "20000",
    },
    # configs/ant-dir.json has 2 directions; mjx/ant-dir draws the angle from U[0, 2 pi), a
    # continuous family like ant-goal, so it takes ant-goal's task counts and meta batch
    # with ant-dir's 4000 gradient steps per iteration and KL 0.1.
    "mjx/ant-dir": {
        **_LOCOMOTION, "num_train_tasks": "150", "num_test_tasks": "30", "meta_batch": "10",
        "context_size": "256", "grad_steps_per_iteration": "4000", "kl_weight": "0.1",
        "total_env_steps": "2800000",
    },
    # configs/ant-goal.json: 150 / 30 tasks, meta batch 10, contexts of 256, 4000 gradient
    # steps per iteration, KL 1.0: 150 x 2000 + 500 x 5 x 1000 = 2.8M env steps, 2M
    # gradient steps.
    "mjx/ant-goal": {
        **_LOCOMOTION, "num_train_tasks": "150", "num_test_tasks": "30", "meta_batch": "10",
        "context_size": "256", "grad_steps_per_iteration": "4000", "kl_weight": "1.0",
        "total_env_steps": "2800000",
    },
    # configs/walker_rand_params.json: 40 / 10 tasks, (s, a, r, s') contexts of 100, meta
    # batch 10, 4000 gradient steps per iteration: 40 x 2000 + 500 x 5 x 1000 = 2.58M.
    "mjx/walker-params": {
        **_LOCOMOTION, "num_train_tasks": "40", "num_test_tasks": "10", "meta_batch": "10",
        "context_size": "100", "use_next_obs_in_context": "true",
        "grad_steps_per_iteration": "4000", "kl_weight": "0.1", "total_env_steps": "2580000",
    },
}


def defaults_for_env(env_name: str) -> dict[str, str]:
    """PEARL's config overrides for the task family `env_name` (flag strings, a fresh dict);
    `{}` for an env without family defaults (Config's own, oyster's cheetah-vel, apply)."""
    return dict(FAMILY_DEFAULTS.get(env_name, {}))


def config_for_env(env_name: str, **fields) -> Config:
    """`Config` with `env_name`'s family defaults, then `fields` (values, not strings)."""
    import dataclasses

    return dataclasses.replace(apply_overrides(Config(), defaults_for_env(env_name)), **fields)
