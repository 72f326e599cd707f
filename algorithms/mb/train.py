"""MB: an MLP dynamics model fitted to all data, planned on without adaptation.

The paper's "MB" baseline (Nagabandi, Clavera et al. 2019, Sec. 6): the same network,
normalisers, data and MPC as GrBAL, trained by plain regression of normalised deltas.
"""

from __future__ import annotations

import jax

from algorithms import dynamics as dyn
from algorithms.mb import loop
from algorithms.mb.config import Config, ModelBasedConfig
from envs.base import Env, EnvSpec


def regression_loss(network, params, norm: dyn.Normalizer, segments: dyn.Context, key=None):
    """MSE of normalised deltas over every transition of the segments `(B, M+K, ...)`."""
    del key
    flat = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), segments)
    loss = dyn.mlp_context_loss(network, params, norm, flat)
    return loss, {"model_loss": loss}


def make_model(config: ModelBasedConfig, spec: EnvSpec) -> dyn.AdaptiveDynamics:
    """An `AdaptiveDynamics` whose `adapt` ignores the context."""
    network = dyn.make_delta_mlp(spec.obs_size, spec.action_size, config.hidden_sizes)
    return dyn.AdaptiveDynamics(
        init=network.init,
        adapt=lambda params, norm, context: params,
        predict=lambda params, norm, obs, action: dyn.mlp_delta(network, params, norm, obs,
                                                                action),
        loss=lambda params, norm, segments, key: regression_loss(network, params, norm,
                                                                 segments, key))


def init(key: jax.Array, config: Config, spec: EnvSpec):
    """Fresh model parameters."""
    return make_model(config, spec).init(key)


def make_policy(config: Config, env: Env):
    """`policy(PolicyParams, context, obs, task, key) -> action` (MPC on the model)."""
    return loop.make_policy(make_model(config, env.spec), env, config)


def make_program(env: Env, config: Config, mesh=None, eval_env: Env | None = None):
    """The model-based loop (`algorithms.mb.loop`) with this model, for `driver.train`;
    evaluated on `eval_env` (default: the family's held-out test tasks)."""
    return loop.make_program(env, make_model(config, env.spec), config, mesh=mesh,
                             eval_env=eval_env)



__all__ = ["Config", "init", "make_model", "make_policy", "regression_loss", "make_program"]
