"""launch.train starts an algorithm's config from its per-family defaults (PEARL's
`defaults_for_env`), under a preset's config and the command line's --steps / --config.*."""

import pytest

from algorithms import pearl
from launch import train


def test_pearl_gets_its_family_defaults_by_env_name():
    point = train.family_defaults("pearl", "mjx/point-goal")
    assert point == pearl.defaults_for_env("mjx/point-goal")
    assert point["hidden_sizes"] == "64,64"  # the CPU-sized point family, not oyster's 300^3
    sparse = train.family_defaults("pearl", "mjx/point-goal-sparse")
    assert sparse["critic_reward_key"] == "dense_reward"
    assert train.family_defaults("pearl", "glucose/adults") == {}  # no family: Config's own


@pytest.mark.parametrize("algo", ["sac", "sac_lagrangian", "mpo", "grbal", "rebal"])
def test_algorithms_without_family_defaults_get_none(algo):
    assert train.family_defaults(algo, "mjx/point-goal") == {}


def test_the_command_line_wins_over_family_defaults():
    from absl import flags

    flags.FLAGS.unparse_flags()
    flags.FLAGS(["launch.train", "--steps=1200", "--num_envs=4"])
    try:
        config, overrides = train.build_config(
            pearl.Config, train.family_defaults("pearl", "mjx/point-goal"),
            {"kl_weight": "0.5"})
    finally:
        flags.FLAGS.unparse_flags()
    assert config.total_env_steps == 1200 and config.num_envs == 4
    assert config.kl_weight == 0.5 and config.hidden_sizes == (64, 64)
    assert overrides["total_env_steps"] == "1200" and overrides["hidden_sizes"] == "64,64"
