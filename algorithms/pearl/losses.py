"""PEARL losses (Rakelly et al. 2019, section 4.2), built on SAC v2's (`algorithms.sac.losses`).

Shapes: M tasks in the meta-batch, B RL transitions per task, C context transitions per task,
D observation size, L latent size, K encoder input size. A meta-batch carries per-task leaves
`(M, C, ...)` (context) and `(M, B, ...)` (RL data).

Differences from oyster (SAC v1), documented here once:
  * SAC v2 with twin target critics and automatic temperature instead of a V network with a
    fixed temperature. The critic's target uses z with gradients stopped, as oyster's V target.
  * oyster's critic loss is sum_c mean_B (Q_c - y)^2, twice SAC's 1/2 mean_B sum_c (...); the
    KL term below is halved so that the encoder's gradient direction is oyster's
    (J_Q + kl_weight * KL up to a factor 2, which Adam ignores).
  * no mean / log-std regularisers on the policy (oyster: 1e-3 each).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from algorithms.pearl import encoder as enc
from algorithms.sac import losses as sac_losses
from rlcore.networks import FeedForwardNetwork
from rlcore.types import Params, Transition


class Networks(NamedTuple):
    encoder: FeedForwardNetwork  # apply(params, (..., K)) -> (..., 2L)
    sac: sac_losses.Networks  # policy and critics over (s, z), input size D + L


class MetaBatch(NamedTuple):
    context: Transition  # leaves (M, C, ...), from the encoder buffers
    rl: Transition  # leaves (M, B, ...), from the RL buffers


def with_latent(batch: Transition, z: jax.Array, z_next: jax.Array | None = None) -> Transition:
    """Appends z `(M, L)` to every observation of `(M, B, ...)` data; flattens to `(M*B, ...)`.

    `z_next` (default: z) is appended to `next_obs`.
    """
    m, b = batch.reward.shape
    z_next = z if z_next is None else z_next

    def cat(x, latent):
        latent = jnp.broadcast_to(latent[:, None, :], (m, b, latent.shape[-1]))
        return jnp.concatenate([x, latent], axis=-1).reshape(m * b, -1)

    flat = jax.tree.map(lambda x: x.reshape(m * b, *x.shape[2:]), batch)
    return flat._replace(obs=cat(batch.obs, z), next_obs=cat(batch.next_obs, z_next))


def posterior(networks: Networks, encoder_params: Params, context: Transition,
              use_next_obs: bool, variance_floor: float) -> enc.Gaussian:
    """q(z | c) of each task of a meta-batch: `(M, L)`."""
    features = enc.context_features(context, use_next_obs)
    return enc.infer_posterior(networks.encoder, encoder_params, features, variance_floor)


class CriticEncoderStats(NamedTuple):
    critic_loss: jax.Array
    kl: jax.Array  # summed over the meta-batch's tasks and latent dims (oyster)
    q_mean: jax.Array
    target_q_mean: jax.Array
    posterior_variance: jax.Array  # mean over tasks and dims
    z: jax.Array  # (M, L) the sampled task variables, for the actor (gradient stopped)


def critic_encoder_loss(q_and_encoder_params: tuple[Params, Params], policy_params: Params,
                        target_q_params: Params, alpha: jax.Array, batch: MetaBatch,
                        latent_noise: jax.Array, key: jax.Array, networks: Networks,
                        discount: float, reward_scale: float, kl_weight: float,
                        use_next_obs: bool, variance_floor: float
                        ) -> tuple[jax.Array, CriticEncoderStats]:
    """Critic loss that also trains the encoder (section 4.3: L_critic + L_KL), with SAC v2's
    critic in place of oyster's V-network target:

        z_m ~ q(z | c_m) (reparameterised with `latent_noise` (M, L))
        J = J_Q(Q(s, a, z); y(s', sg(z))) + 1/2 * kl_weight * sum_m KL(q(z|c_m) || N(0, I))

    Gradients reach the critics and, through z in Q(s, a, z) and the KL, the encoder.
    """
    q_params, encoder_params = q_and_encoder_params
    q_z = posterior(networks, encoder_params, batch.context, use_next_obs, variance_floor)
    z = enc.sample(q_z, latent_noise)
    kl = jnp.sum(enc.kl_to_standard_normal(q_z))
    flat = with_latent(batch.rl, z, jax.lax.stop_gradient(z))
    critic_loss, stats = sac_losses.critic_loss(q_params, policy_params, target_q_params, alpha,
                                                flat, key, networks.sac, discount, reward_scale)
    loss = critic_loss + 0.5 * kl_weight * kl
    return loss, CriticEncoderStats(critic_loss=critic_loss, kl=kl, q_mean=stats.q_mean,
                                    target_q_mean=stats.target_q_mean,
                                    posterior_variance=q_z.variance.mean(),
                                    z=jax.lax.stop_gradient(z))


def actor_loss(policy_params: Params, q_params: Params, alpha: jax.Array, rl: Transition,
               z: jax.Array, key: jax.Array, networks: Networks
               ) -> tuple[jax.Array, sac_losses.ActorStats]:
    """SAC's policy objective on (s, sg(z)) (section 4.3, L_actor): no gradient to the encoder."""
    flat = with_latent(rl, jax.lax.stop_gradient(z))
    return sac_losses.actor_loss(policy_params, q_params, alpha, flat, key, networks.sac)


alpha_loss = sac_losses.alpha_loss
