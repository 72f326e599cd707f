"""The probabilistic context encoder q(z|c) of PEARL (Rakelly et al. 2019, section 4.1).

Each transition c_n = (s, a, r[, s']) goes through one MLP to a Gaussian factor
Psi(z | c_n) = N(mu_n, var_n) (var_n = softplus of the second half of the output); the
posterior is their normalised product (section 4.1, the permutation-invariant encoder):

    q(z | c_1:N) ∝ prod_n N(z; mu_n, var_n)
    var = 1 / sum_n (1 / var_n),   mu = var * sum_n (mu_n / var_n)

which does not depend on the order of the transitions. Variances are clamped from below
(`variance_floor`, oyster's 1e-7) before the product. With no transition the posterior is the
prior N(0, I). Shapes: N transitions, L latent size, leading batch axes allowed.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlcore.networks import FeedForwardNetwork, make_mlp
from rlcore.types import Params, Transition


class Gaussian(NamedTuple):
    """Diagonal Gaussian: `mean`, `variance` `(..., L)`."""

    mean: jax.Array
    variance: jax.Array


def product_of_gaussians(mus: jax.Array, variances: jax.Array, variance_floor: float = 1e-7,
                         mask: jax.Array | None = None) -> Gaussian:
    """Normalised product of N diagonal Gaussian factors, over axis -2.

    Args:
      mus, variances: `(..., N, L)` factor means and variances.
      variance_floor: each variance is clamped to at least this before the product.
      mask: optional `(..., N)` weights in {0, 1}; masked factors are left out. Where no factor
        is left, the result is the prior N(0, I).
    Returns:
      The product's mean and variance, `(..., L)`.
    """
    if mus.shape != variances.shape or mus.ndim < 2:
        raise ValueError(f"mus {mus.shape} and variances {variances.shape} must both be "
                         "(..., N, L)")
    precisions = 1.0 / jnp.maximum(variances, variance_floor)
    if mask is not None:
        precisions = precisions * mask[..., None]
    return _from_sums(jnp.sum(precisions, axis=-2), jnp.sum(precisions * mus, axis=-2))


def _from_sums(precision_sum: jax.Array, weighted_mean_sum: jax.Array) -> Gaussian:
    """The Gaussian of the accumulated natural parameters; the prior where nothing was seen."""
    seen = precision_sum > 0
    variance = jnp.where(seen, 1.0 / jnp.where(seen, precision_sum, 1.0), 1.0)
    return Gaussian(mean=jnp.where(seen, variance * weighted_mean_sum, 0.0), variance=variance)


class PosteriorSums(NamedTuple):
    """Running natural parameters of the product, for contexts that grow one step at a time
    (meta-test): sum_n 1/var_n and sum_n mu_n/var_n, each `(..., L)`."""

    precision: jax.Array
    weighted_mean: jax.Array


def empty_sums(shape: tuple[int, ...]) -> PosteriorSums:
    return PosteriorSums(jnp.zeros(shape, jnp.float32), jnp.zeros(shape, jnp.float32))


def accumulate(sums: PosteriorSums, factor: Gaussian, variance_floor: float,
               weight: jax.Array) -> PosteriorSums:
    """Adds one factor `(..., L)` with `weight` `(...)` (0 leaves the sums unchanged)."""
    precision = weight[..., None] / jnp.maximum(factor.variance, variance_floor)
    return PosteriorSums(sums.precision + precision,
                         sums.weighted_mean + precision * factor.mean)


def posterior_from_sums(sums: PosteriorSums) -> Gaussian:
    return _from_sums(sums.precision, sums.weighted_mean)


def kl_to_standard_normal(q: Gaussian) -> jax.Array:
    """KL(N(mean, variance) || N(0, I)), summed over the last axis:

        KL = 1/2 sum_l (variance_l + mean_l^2 - 1 - log variance_l)
    """
    return 0.5 * jnp.sum(q.variance + q.mean**2 - 1.0 - jnp.log(q.variance), axis=-1)


def sample(q: Gaussian, noise: jax.Array) -> jax.Array:
    """Reparameterised z = mean + sqrt(variance) * noise, noise ~ N(0, I) of q's shape."""
    return q.mean + jnp.sqrt(q.variance) * noise


def feature_size(obs_size: int, action_size: int, use_next_obs: bool) -> int:
    """Length of one transition's encoder input (s, a, r[, s'])."""
    return obs_size + action_size + 1 + (obs_size if use_next_obs else 0)


def context_features(transitions: Transition, use_next_obs: bool) -> jax.Array:
    """Concatenates (s, a, r[, s']) of transitions with leaves `(..., D)` into `(..., K)`."""
    parts = [transitions.obs, transitions.action, transitions.reward[..., None]]
    if use_next_obs:
        parts.append(transitions.next_obs)
    return jnp.concatenate(parts, axis=-1)


def make_encoder_network(input_size: int, hidden_sizes, latent_size: int
                         ) -> FeedForwardNetwork:
    """Per-transition MLP `(..., K) -> (..., 2L)`: factor mean and raw variance."""
    return make_mlp(input_size, hidden_sizes, 2 * latent_size)


def factors(encoder: FeedForwardNetwork, params: Params, features: jax.Array) -> Gaussian:
    """The Gaussian factor Psi(z | c_n) of each transition, `(..., L)` each."""
    out = encoder.apply(params, features)
    mean, raw_variance = jnp.split(out, 2, axis=-1)
    return Gaussian(mean=mean, variance=jax.nn.softplus(raw_variance))


def infer_posterior(encoder: FeedForwardNetwork, params: Params, features: jax.Array,
                    variance_floor: float = 1e-7, mask: jax.Array | None = None) -> Gaussian:
    """q(z | c) for contexts `(..., N, K)` (optionally masked `(..., N)`): `(..., L)`."""
    f = factors(encoder, params, features)
    return product_of_gaussians(f.mean, f.variance, variance_floor, mask)
