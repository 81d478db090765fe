"""Mixture-density maths for the MDRNN: a mixture of diagonal Gaussians over (dt, x1..xn).

A network's raw output per step holds, for K mixtures and D dimensions, K mixture logits, K x D
means and K x D log standard deviations. Sampling takes two temperatures, as in IMPSY:
pi_temp divides the logits (which mixture), sigma_temp scales the standard deviations (how
far from the mean: 1 samples as trained, 0 gives the chosen mixture's mean).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

LOG_SIGMA_MIN, LOG_SIGMA_MAX = -7.0, 3.0  # keeps the likelihood finite on repeated values


def mixture_outputs(mixtures: int, dims: int) -> int:
    return mixtures * (1 + 2 * dims)


def split_mixture(raw, mixtures: int, dims: int):
    """(logits [..., K], means [..., K, D], log sigmas [..., K, D]) from the raw outputs."""
    logits = raw[..., :mixtures]
    rest = raw[..., mixtures:].reshape(raw.shape[:-1] + (mixtures, 2 * dims))
    means, log_sigmas = rest[..., :dims], rest[..., dims:]
    return logits, means, jnp.clip(log_sigmas, LOG_SIGMA_MIN, LOG_SIGMA_MAX)


def mixture_nll(raw, target, mixtures: int, dims: int):
    """Negative log-likelihood of target [..., D] under the mixture (nats per vector)."""
    logits, means, log_sigmas = split_mixture(raw, mixtures, dims)
    z = (target[..., None, :] - means) * jnp.exp(-log_sigmas)
    log_normal = -0.5 * z * z - log_sigmas - 0.5 * math.log(2 * math.pi)
    log_mix = jax.nn.log_softmax(logits, axis=-1) + log_normal.sum(-1)
    return -jax.nn.logsumexp(log_mix, axis=-1)


def sample_mixture(raw, key, pi_temp, sigma_temp, mixtures: int, dims: int):
    """One vector [D] from one step's raw outputs [K(1+2D)]."""
    logits, means, log_sigmas = split_mixture(raw, mixtures, dims)
    pick_key, noise_key = jax.random.split(key)
    k = jax.random.categorical(pick_key, logits / pi_temp)
    noise = jax.random.normal(noise_key, (dims,))
    return means[k] + jnp.exp(log_sigmas[k]) * sigma_temp * noise
