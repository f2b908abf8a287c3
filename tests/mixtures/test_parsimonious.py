"""The fourteen covariance models: M-steps against brute-force maximisation, parameter counts."""

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize

from mixtures import parsimonious as pm

D_FEAT, K = 3, 2


def _skew(v):
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def _unpack(model, theta):
    """Covariances of the model from an unconstrained parameter vector (its length is the
    number of free covariance parameters)."""
    d, i = D_FEAT, 0

    def take(n):
        nonlocal i
        out = theta[i : i + n]
        i += n
        return out

    lam = np.exp(take(1 if model[0] == "E" else K)) * np.ones(K)
    if model[1] == "I":
        A = np.ones((K, d))
    else:
        a = take((d - 1) * (1 if model[1] == "E" else K)).reshape(-1, d - 1)
        A = np.exp(np.concatenate([a, -a.sum(1, keepdims=True)], axis=1)) * np.ones((K, 1))
    if model[2] == "I":
        D = np.broadcast_to(np.eye(d), (K, d, d))
    else:
        v = take(3 * (1 if model[2] == "E" else K)).reshape(-1, 3)
        D = np.stack([scipy.linalg.expm(_skew(r)) for r in v]) * np.ones((K, 1, 1))
    assert i == len(theta)
    return np.einsum("k,kij,kj,klj->kil", lam, D, A, D)


def _q(S, nk, W):
    return -0.5 * sum(
        n * np.linalg.slogdet(s)[1] + np.trace(np.linalg.solve(s, w))
        for n, s, w in zip(nk, S, W, strict=True)
    )


@pytest.fixture(scope="module")
def stats():
    rng = np.random.default_rng(0)
    nk = np.array([7.0, 12.0])
    W = []
    for n, scale in zip(nk, [1.0, 3.0], strict=True):
        X = rng.normal(size=(int(n), D_FEAT)) @ rng.normal(size=(D_FEAT, D_FEAT)) * scale
        X -= X.mean(0)
        W.append(X.T @ X)
    return nk, np.array(W)


def _ours(model, nk, W):
    st = pm.storage_type(model)
    Wi = np.einsum("kii->ki", W) if st in ("diag", "spherical") else W
    cov = np.asarray(pm.covariances_from_scatter(model, nk, Wi))
    if st == "spherical":
        return cov[:, None, None] * np.eye(D_FEAT)
    if st == "diag":
        return cov[:, :, None] * np.eye(D_FEAT)
    if st == "tied":
        return np.broadcast_to(cov, (K, D_FEAT, D_FEAT))
    return cov


@pytest.mark.parametrize("model", pm.MODELS)
def test_m_step_maximises_q(model, stats):
    from mixtures import x64

    nk, W = stats
    n_par = pm.n_covariance_parameters(model, K, D_FEAT)
    with x64():
        S = _ours(model, nk, W)
    q_ours = _q(S, nk, W)
    # brute force: the model's own parametrisation (as many parameters as counted)
    best, S_best = -np.inf, None
    rng = np.random.default_rng(1)
    for _ in range(2):
        res = scipy.optimize.minimize(
            lambda t: -_q(_unpack(model, t), nk, W),
            rng.normal(size=n_par) * 0.5,
            method="BFGS",
            options={"gtol": 1e-8},
        )
        if -res.fun > best:
            best, S_best = -res.fun, _unpack(model, res.x)
    assert q_ours >= best - 1e-7 * abs(best)
    # the maximiser is unique: ours is the brute-force covariance
    np.testing.assert_allclose(S, S_best, rtol=1e-3, atol=1e-4 * np.abs(S).max())


def test_parameter_counts():
    # mclust's nMclustParams written out per model (d = 4, G = 3)
    d, G = 4, 3
    r = d * (d - 1) // 2
    expected = {
        "EII": 1, "VII": G, "EEI": d, "VEI": G + d - 1, "EVI": 1 + G * (d - 1),
        "VVI": G * d, "EEE": r + d, "VEE": G + d - 1 + r, "EVE": 1 + G * (d - 1) + r,
        "VVE": G * d + r, "EEV": d + G * r, "VEV": G + d - 1 + G * r,
        "EVV": G * (r + d) - G + 1, "VVV": G * d * (d + 1) // 2,
    }  # fmt: skip
    for model, n_cov in expected.items():
        assert pm.n_covariance_parameters(model, G, d) == n_cov
        assert pm.n_parameters(model, G, d) == n_cov + G * d + G - 1
    assert pm.canonical("full") == "VVV" and pm.storage_type("tied") == "tied"
    with pytest.raises(ValueError, match="covariance_type"):
        pm.canonical("XXX")


@pytest.mark.parametrize("model", ["EVE", "VVE"])
def test_m_step_from_a_given_orientation_ascends(model, stats):
    """EM's warm start: from any orientation D0 the M-step's Q is at least the best Q with D
    held at D0 (the model's diagonal factors there maximised by BFGS), and from the
    optimal orientation it stays at the optimum."""
    from mixtures import x64

    nk, W = stats
    D0 = scipy.linalg.expm(_skew(np.array([0.4, -1.1, 0.7])))
    n_diag = pm.n_covariance_parameters(model, K, D_FEAT) - 3  # without the rotation

    def at_d0(t):
        return _unpack(model, np.concatenate([t, np.zeros(3)])).copy()

    def q_at_d0(t):
        S = np.einsum("ij,kjl,ml->kim", D0, at_d0(t), D0)
        return _q(S, nk, W)

    res = scipy.optimize.minimize(lambda t: -q_at_d0(t), np.zeros(n_diag), method="BFGS")
    with x64():
        S = np.asarray(pm.covariances_from_scatter(model, nk, W, orientation=D0))
        S_opt = _ours(model, nk, W)
        D_opt = np.linalg.eigh(S_opt[0])[1]
        S_again = np.asarray(pm.covariances_from_scatter(model, nk, W, orientation=D_opt))
    assert _q(S, nk, W) >= -res.fun - 1e-9 * abs(res.fun)
    q_opt = _q(S_opt, nk, W)
    assert _q(S_again, nk, W) >= q_opt - 1e-9 * abs(q_opt)
    np.testing.assert_allclose(S_again, S_opt, rtol=1e-4, atol=1e-6 * np.abs(S_opt).max())
