"""A new off-policy algorithm on the shared driver: DDPG (Lillicrap et al. 2016), one file.

The walkthrough of docs/driver.md. Everything but `make_program` is the algorithm itself
(config, losses, one update, the policy); `make_program` hands it to the loop. Real packages
split this into config.py / losses.py / train.py under algorithms/<name>/ and add the name to
`algorithms.ALGORITHMS`.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from algorithms import off_policy
from rlcore import loop
from rlcore.config import OffPolicyConfig
from rlcore.networks import make_policy_network, make_q_network
from rlcore.targets import polyak


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(OffPolicyConfig):
    hidden_sizes: tuple[int, ...] = (64, 64)
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    discount: float = 0.99
    tau: float = 0.005
    exploration_std: float = 0.1  # of the normalised action, [-1, 1]


@struct.dataclass
class TrainingState:
    params: dict  # policy, q, target_policy, target_q
    opt_state: dict  # policy, q
    buffer: object
    normalizer: object
    env_steps: jax.Array


def make_learner(config: Config, spec) -> loop.Learner:
    policy_net = make_policy_network(spec.obs_size, spec.action_size, config.hidden_sizes)
    q_net = make_q_network(spec.obs_size, spec.action_size, config.hidden_sizes, 1)
    low, high = jnp.asarray(spec.action_low), jnp.asarray(spec.action_high)
    optimizers = {"policy": optax.adam(config.actor_lr), "q": optax.adam(config.critic_lr)}

    def act(policy_params, obs):  # tanh-squashed, rescaled to the env's box
        return low + (jnp.tanh(policy_net.apply(policy_params, obs)) + 1) * (high - low) / 2

    def init(key):
        key_policy, key_q = jax.random.split(key)
        nets = {"policy": policy_net.init(key_policy), "q": q_net.init(key_q)}
        params = dict(nets, target_policy=nets["policy"], target_q=nets["q"])
        buffer, normalizer = loop.init_buffers(config, spec.obs_size, spec.action_size)
        return TrainingState(params=params, opt_state={k: optimizers[k].init(v) for k, v in
                                                       nets.items()},
                             buffer=buffer, normalizer=normalizer,
                             env_steps=jnp.zeros((), jnp.int32))

    def critic_loss(q_params, p, batch):
        next_q = q_net.apply(p["target_q"], batch.next_obs, act(p["target_policy"],
                                                                 batch.next_obs))[..., 0]
        target = batch.reward + config.discount * batch.discount * next_q
        q = q_net.apply(q_params, batch.obs, batch.action)[..., 0]
        return jnp.mean((q - jax.lax.stop_gradient(target)) ** 2)

    def actor_loss(policy_params, q_params, batch):
        return -jnp.mean(q_net.apply(q_params, batch.obs, act(policy_params, batch.obs)))

    def update(state, batch, key):
        del key
        p, opt = state.params, state.opt_state
        q_loss, q_grads = jax.value_and_grad(critic_loss)(p["q"], p, batch)
        q_updates, q_opt = optimizers["q"].update(q_grads, opt["q"])
        q_params = optax.apply_updates(p["q"], q_updates)
        pi_loss, pi_grads = jax.value_and_grad(actor_loss)(p["policy"], q_params, batch)
        pi_updates, pi_opt = optimizers["policy"].update(pi_grads, opt["policy"])
        policy_params = optax.apply_updates(p["policy"], pi_updates)
        params = {"policy": policy_params, "q": q_params,
                  "target_policy": polyak(p["target_policy"], policy_params, config.tau),
                  "target_q": polyak(p["target_q"], q_params, config.tau)}
        state = state.replace(params=params, opt_state={"policy": pi_opt, "q": q_opt})
        return state, {"train/critic_loss": q_loss, "train/actor_loss": pi_loss}

    def policy(policy_params, obs, key, deterministic=False):
        action = act(policy_params, obs)
        if deterministic:
            return action
        noise = config.exploration_std * (high - low) / 2 * jax.random.normal(key, action.shape)
        return jnp.clip(action + noise, low, high)

    return loop.Learner(init=init, policy_params=lambda state: state.params["policy"],
                        policy=policy, update=update)


def make_program(env, config: Config, mesh=None):
    """All the driver needs: the learner in the shared off-policy loop."""
    return off_policy.make_program(env, make_learner(config, env.spec), config, mesh)
