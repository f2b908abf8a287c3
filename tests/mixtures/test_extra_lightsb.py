"""The precision-based component log-density added for LightSB."""

import jax.numpy as jnp
import numpy as np

from mixtures import gaussian
from mixtures.gaussian import GMM


def test_component_log_prob_precision_matches_cholesky_path(x64_context):
    rng = np.random.default_rng(0)
    K, d = 3, 4
    A = rng.standard_normal((K, d, d))
    cov = A @ np.swapaxes(A, 1, 2) / d + 0.2 * np.eye(d)
    means = rng.standard_normal((K, d))
    X = rng.standard_normal((7, d))
    ref = gaussian.component_log_prob(GMM(jnp.zeros(K), jnp.asarray(means), jnp.asarray(cov)), X)
    got = gaussian.component_log_prob_precision(
        jnp.asarray(means),
        jnp.asarray(np.linalg.inv(cov)),
        jnp.asarray(np.linalg.slogdet(cov)[1]),
        X,
    )
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-10)
