"""ReBAL: the recurrent model, its parameters and the driver (see `algorithms.mb.loop`)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from algorithms import dynamics as dyn
from algorithms.mb import loop
from algorithms.rebal import losses
from algorithms.rebal.config import Config
from envs.base import Env, EnvSpec


def make_networks(config: Config, spec: EnvSpec) -> tuple[nn.GRUCell, object]:
    cell = nn.GRUCell(features=config.gru_size)
    network = dyn.make_delta_mlp(spec.obs_size, spec.action_size, config.hidden_sizes,
                                 context_size=config.gru_size)
    return cell, network


def init(key: jax.Array, config: Config, spec: EnvSpec) -> losses.ReBALParams:
    cell, network = make_networks(config, spec)
    key_gru, key_mlp = jax.random.split(key)
    x = jnp.zeros((2 * spec.obs_size + spec.action_size,))
    gru = cell.init(key_gru, jnp.zeros((config.gru_size,)), x)
    return losses.ReBALParams(gru=gru, mlp=network.init(key_mlp))


def make_model(config: Config, spec: EnvSpec) -> dyn.AdaptiveDynamics:
    cell, network = make_networks(config, spec)
    return dyn.AdaptiveDynamics(
        init=lambda key: init(key, config, spec),
        adapt=lambda params, norm, context: losses.adapt(cell, params, norm, context),
        predict=lambda adapted, norm, obs, action: losses.predict(network, adapted, norm, obs,
                                                                  action),
        loss=lambda params, norm, segments, key: losses.loss(
            cell, network, params, norm, segments, key, config.M,
            config.random_context_length))


def make_policy(config: Config, env: Env):
    """`policy(PolicyParams, context (M, ...), obs, task, key) -> action`."""
    return loop.make_policy(make_model(config, env.spec), env, config)


def make_program(env: Env, config: Config, mesh=None, eval_env: Env | None = None):
    """The model-based loop (`algorithms.mb.loop`) with this model, for `driver.train`;
    evaluated on `eval_env` (default: the family's held-out test tasks)."""
    return loop.make_program(env, make_model(config, env.spec), config, mesh=mesh,
                             eval_env=eval_env)

