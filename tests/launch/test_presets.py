"""Every preset names a registered algorithm and env, and its values build a valid config and
env: a typo in a preset fails here, not minutes into a user's run."""

import pytest

import algorithms
import envs
from launch import presets
from rlcore import config as config_lib


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_preset_builds_its_config_and_env(name):
    preset = presets.get(name)
    algo = algorithms.get(preset.algo)
    config = config_lib.apply_overrides(algo.Config(), preset.config)
    # Every preset field is a field of its config under today's name (not a migrated one).
    assert set(preset.config) <= set(config_lib.to_dict(config)), name
    env = envs.make(preset.env, **preset.env_args)
    assert env.spec.action_size >= 1


def test_constrained_tir_preset_prices_time_in_range_under_a_hypoglycaemia_limit():
    preset = presets.get("ap_tir_constrained")
    config = config_lib.apply_overrides(algorithms.get(preset.algo).Config(), preset.config)
    assert preset.algo == "sac_lagrangian" and config.cost_limit_per_step == 0.02
    env = envs.make(preset.env, **preset.env_args)
    assert env.config.reward == "tir" and env.spec.action_high == (6.0,)
