"""MB+DE: MB's regression-trained MLP, adapted by plain SGD on recent data at test time.

The paper's "MB+DE" baseline (dynamic evaluation): no meta-training, so the prior is not
trained to be adaptable; the same M-transition context and step rule as GrBAL otherwise.
"""

from __future__ import annotations

import jax

from algorithms import dynamics as dyn
from algorithms.mb import loop
from algorithms.mb.train import regression_loss
from algorithms.mbde.config import Config
from envs.base import Env, EnvSpec


def make_model(config: Config, spec: EnvSpec) -> dyn.AdaptiveDynamics:
    network = dyn.make_delta_mlp(spec.obs_size, spec.action_size, config.hidden_sizes)
    return dyn.AdaptiveDynamics(
        init=network.init,
        adapt=lambda params, norm, context: dyn.sgd_adapt(
            network, params, config.adapt_lr, norm, context, config.adapt_steps,
            first_order=True),
        predict=lambda params, norm, obs, action: dyn.mlp_delta(network, params, norm, obs,
                                                                action),
        loss=lambda params, norm, segments, key: regression_loss(network, params, norm,
                                                                 segments, key))


def init(key: jax.Array, config: Config, spec: EnvSpec):
    return make_model(config, spec).init(key)


def make_policy(config: Config, env: Env):
    """`policy(PolicyParams, context (M, ...), obs, task, key) -> action`."""
    return loop.make_policy(make_model(config, env.spec), env, config)


def make_program(env: Env, config: Config, mesh=None, eval_env: Env | None = None):
    """The model-based loop (`algorithms.mb.loop`) with this model, for `driver.train`;
    evaluated on `eval_env` (default: the family's held-out test tasks)."""
    return loop.make_program(env, make_model(config, env.spec), config, mesh=mesh,
                             eval_env=eval_env)

