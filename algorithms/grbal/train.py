"""GrBAL: the model, its initial parameters and the driver (see `algorithms.mb.loop`)."""

from __future__ import annotations

import jax

from algorithms import dynamics as dyn
from algorithms.grbal import losses
from algorithms.grbal.config import Config
from algorithms.mb import loop
from envs.base import Env, EnvSpec


def make_network(config: Config, spec: EnvSpec):
    return dyn.make_delta_mlp(spec.obs_size, spec.action_size, config.hidden_sizes)


def init(key: jax.Array, config: Config, spec: EnvSpec) -> losses.GrBALParams:
    """theta from the network initialiser; psi = inner_lr everywhere."""
    theta = make_network(config, spec).init(key)
    return losses.GrBALParams(theta=theta,
                              psi=jax.tree.map(lambda t: t * 0 + config.inner_lr, theta))


def make_model(config: Config, spec: EnvSpec) -> dyn.AdaptiveDynamics:
    """adapt = one (num_inner_steps) psi-scaled gradient step from the meta-learned theta."""
    network = make_network(config, spec)
    kw = dict(num_steps=config.num_inner_steps, learn_step_size=config.learn_step_size,
              first_order=config.first_order)
    return dyn.AdaptiveDynamics(
        init=lambda key: init(key, config, spec),
        adapt=lambda params, norm, context: losses.inner_step(network, params, norm, context,
                                                              **kw),
        predict=lambda theta, norm, obs, action: dyn.mlp_delta(network, theta, norm, obs,
                                                               action),
        loss=lambda params, norm, segments, key: losses.meta_loss(
            network, params, norm, segments, config.M, **kw, key=key,
            random_context_length=config.random_context_length))


def make_policy(config: Config, env: Env):
    """`policy(PolicyParams, context (M, ...), obs, task, key) -> action`."""
    return loop.make_policy(make_model(config, env.spec), env, config)


def make_program(env: Env, config: Config, mesh=None, eval_env: Env | None = None):
    """The model-based loop (`algorithms.mb.loop`) with this model, for `driver.train`;
    evaluated on `eval_env` (default: the family's held-out test tasks)."""
    return loop.make_program(env, make_model(config, env.spec), config, mesh=mesh,
                             eval_env=eval_env)

