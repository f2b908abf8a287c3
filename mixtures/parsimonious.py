"""The fourteen parsimonious Gaussian covariance models of Celeux & Govaert (1995).

Each component covariance is decomposed as ``Sigma_k = lambda_k D_k A_k D_k^T``: volume
``lambda_k > 0``, orientation ``D_k`` (orthogonal), shape ``A_k`` (diagonal, ``det A_k = 1``).
A model's three letters say whether volume, shape and orientation are Equal across
components, Variable, or the Identity (``I``: ``A = I`` in the second letter, ``D = I`` in the
third), as in mclust:

======  ===========================  ==========  ============================================
model   covariance                   stored as   M-step
======  ===========================  ==========  ============================================
EII     ``lambda I``                 spherical   closed form
VII     ``lambda_k I``               spherical   closed form (scikit-learn's ``spherical``)
EEI     ``lambda A``                 diag        closed form
VEI     ``lambda_k A``               diag        alternating, Celeux & Govaert (1995)
EVI     ``lambda A_k``               diag        closed form
VVI     ``lambda_k A_k``             diag        closed form (scikit-learn's ``diag``)
EEE     ``lambda D A D^T``           tied        closed form (scikit-learn's ``tied``)
VEE     ``lambda_k D A D^T``         full        alternating (common ``C = D A D^T``)
EVE     ``lambda D A_k D^T``         full        Jacobi rotations for ``D`` (Flury 1988)
VVE     ``lambda_k D A_k D^T``       full        Jacobi rotations for ``D`` (Flury 1988)
EEV     ``lambda D_k A D_k^T``       full        closed form (eigen-decompositions)
VEV     ``lambda_k D_k A D_k^T``     full        alternating, Celeux & Govaert (1995)
EVV     ``lambda D_k A_k D_k^T``     full        closed form
VVV     ``lambda_k D_k A_k D_k^T``   full        closed form (scikit-learn's ``full``)
======  ===========================  ==========  ============================================

The M-steps are functions of the sufficient statistics only: the weights ``N_k`` and the
weighted scatter matrices ``W_k = sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T`` (their diagonals
for the diagonal models, their traces for the spherical ones), so statistics accumulated over
chunks of data feed them unchanged. Each maximises the expected complete-data
log-likelihood over the covariances,

    Q = -1/2 sum_k [ N_k log det Sigma_k + tr(W_k Sigma_k^{-1}) ],

exactly (closed forms) or by a monotone inner iteration run to convergence.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "MODELS",
    "ALIASES",
    "STORAGE",
    "canonical",
    "storage_type",
    "n_covariance_parameters",
    "n_parameters",
    "covariances_from_scatter",
    "expected_log_likelihood",
]

MODELS = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
          "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV")  # fmt: skip
ALIASES = {"spherical": "VII", "diag": "VVI", "tied": "EEE", "full": "VVV"}
_LEGACY = {v: k for k, v in ALIASES.items()}
# shape of the stored covariances: the scikit-learn type with the same array layout
STORAGE = {m: "spherical" if m[1:] == "II" else "diag" if m[2] == "I" else "full"
           for m in MODELS}  # fmt: skip
STORAGE["EEE"] = "tied"

# inner iterations of the iterative M-steps: they stop when Q changes by less than
# _INNER_TOL relative, or after _INNER_MAX steps
_INNER_MAX = 200
_INNER_TOL = 1e-12
# Jacobi sweeps of the common orientation (EVE, VVE) from the pooled covariance's
# orientation: each costs d(d-1)/2 rotations; the first sweeps take nearly all of the gain
_SWEEPS_MAX = 30
# from a given orientation (EM's previous one) a few sweeps keep each M-step an ascent of Q;
# EM's own iterations continue the search
_WARM_SWEEPS = 1


def canonical(covariance_type: str) -> str:
    """The mclust name of a covariance type (``"full"`` -> ``"VVV"``, ...)."""
    name = ALIASES.get(covariance_type, covariance_type)
    if name not in MODELS:
        raise ValueError(
            f"covariance_type must be one of {MODELS + tuple(ALIASES)}, got {covariance_type!r}."
        )
    return name


def storage_type(covariance_type: str) -> str:
    """The scikit-learn covariance type whose array layout stores ``covariance_type``."""
    return STORAGE[canonical(covariance_type)]


def n_covariance_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """Free parameters of the covariances (mclust's ``nVarParams``)."""
    G, d = n_components, n_features
    m = canonical(covariance_type)
    vol = 1 if m[0] == "E" else G
    shape = 0 if m[1] == "I" else (d - 1) * (1 if m[1] == "E" else G)
    orient = 0 if m[2] == "I" else d * (d - 1) // 2 * (1 if m[2] == "E" else G)
    return vol + shape + orient


def n_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """Free parameters of the mixture: covariances, means and weights (mclust's
    ``nMclustParams``)."""
    G, d = n_components, n_features
    return n_covariance_parameters(covariance_type, G, d) + G * d + G - 1


# ------------------------------------------------------------------------ helpers
def _geomean(x, axis=-1):
    return jnp.exp(jnp.mean(jnp.log(x), axis=axis))


def _iterate(step, init, objective, max_steps=_INNER_MAX):
    """Run ``state = step(state)`` until ``objective(state)`` changes by less than
    ``_INNER_TOL`` relative (each step must not decrease it) or ``max_steps`` steps."""

    def cond(c):
        it, _, q, q_old = c
        return (it < max_steps) & (jnp.abs(q - q_old) > _INNER_TOL * (1.0 + jnp.abs(q)))

    def body(c):
        it, s, q, _ = c
        s = step(s)
        return it + 1, s, objective(s), q

    q0 = objective(init)
    _, state, _, _ = lax.while_loop(cond, body, (0, init, q0, q0 - jnp.inf))
    return state


# ------------------------------------------------------------------------ M-steps
def covariances_from_scatter(covariance_type: str, nk, W, mask=None, orientation=None):
    """Covariances maximising the expected complete-data log-likelihood ``Q``.

    Parameters
    ----------
    covariance_type : str
        One of :data:`MODELS` or the aliases ``full``/``tied``/``diag``/``spherical``.
    nk : array, shape (K,)
        Positive (weighted) counts ``N_k``.
    W : array
        Scatter matrices, positive definite (add a ridge first if needed): ``(K, d, d)`` for
        the models stored as full or tied, their diagonals ``(K, d)`` for those stored as
        diag or spherical (the spherical models use only the sums of the diagonals).
    mask : array of {0, 1}, shape (K,), optional
        Components that exist; a masked one (0) enters no pooled sum (its own covariance is
        still finite). Default: all.
    orientation : array, shape (d, d), optional
        EVE and VVE only: the orthogonal matrix the search for the common orientation starts
        from (in EM, the previous iteration's, so that each M-step increases ``Q`` and needs
        few sweeps). Default: the eigenvectors of the pooled covariance.

    Returns
    -------
    array
        Covariances in the storage layout of :func:`storage_type` (``(K,)``, ``(K, d)``,
        ``(d, d)`` or ``(K, d, d)``).
    """
    m = canonical(covariance_type)
    nk = jnp.asarray(nk)
    mask = jnp.ones_like(nk) if mask is None else jnp.asarray(mask, nk.dtype)
    N = jnp.sum(mask * nk)
    d = W.shape[-1]
    if m in ("EII", "VII"):
        tr = jnp.sum(W, axis=-1)
        if m == "VII":
            return tr / (nk * d)
        return jnp.broadcast_to(jnp.sum(mask * tr) / (N * d), nk.shape)
    if m == "VVI":
        return W / nk[:, None]
    if m == "EEI":
        return jnp.broadcast_to(jnp.einsum("k,kj->j", mask, W) / N, W.shape)
    if m == "EVI":
        g = _geomean(W)
        return (jnp.sum(mask * g) / N) * (W / g[:, None])
    if m == "VEI":
        return _vei(nk, W, mask)
    if m == "EEE":
        return jnp.einsum("k,kij->ij", mask, W) / N
    if m == "VVV":
        return W / nk[:, None, None]
    if m == "EVV":
        g = jnp.exp(jnp.linalg.slogdet(W)[1] / d)
        return (jnp.sum(mask * g) / N) * (W / g[:, None, None])
    if m == "VEE":
        return _vee(nk, W, mask)
    if m in ("EEV", "VEV"):
        return _xev(m, nk, W, mask)
    return _xve(m, nk, W, mask, orientation)  # EVE, VVE


def _vei(nk, W, mask):
    """``lambda_k B``: alternate ``B`` (det 1) given the volumes and the volumes given ``B``."""
    d = W.shape[-1]

    def step(lam):
        B = jnp.einsum("k,kj->j", mask / lam, W)
        B = B / _geomean(B)
        return jnp.sum(W / B, axis=-1) / (nk * d)

    def objective(lam):
        B = jnp.einsum("k,kj->j", mask / lam, W)
        B = B / _geomean(B)
        return -jnp.sum(mask * (nk * d * jnp.log(lam) + jnp.sum(W / B, axis=-1) / lam))

    lam = _iterate(step, jnp.sum(W, axis=-1) / (nk * d), objective)
    B = jnp.einsum("k,kj->j", mask / lam, W)
    return lam[:, None] * (B / _geomean(B))


def _vee(nk, W, mask):
    """``lambda_k C``: alternate ``C`` (det 1) given the volumes and the volumes given ``C``."""
    d = W.shape[-1]

    def shape_of(lam):
        C = jnp.einsum("k,kij->ij", mask / lam, W)
        return C / jnp.exp(jnp.linalg.slogdet(C)[1] / d)

    def step(lam):
        C = shape_of(lam)
        return jnp.trace(jnp.linalg.solve(C, W), axis1=-2, axis2=-1) / (nk * d)

    def objective(lam):
        tr = jnp.trace(jnp.linalg.solve(shape_of(lam), W), axis1=-2, axis2=-1)
        return -jnp.sum(mask * (nk * d * jnp.log(lam) + tr / lam))

    init = jnp.trace(W, axis1=-2, axis2=-1) / (nk * d)
    lam = _iterate(step, init, objective)
    return lam[:, None, None] * shape_of(lam)[None]


def _xev(m, nk, W, mask):
    """``lambda(_k) D_k A D_k^T``: ``D_k`` are the eigenvectors of ``W_k`` (eigenvalues in
    decreasing order, paired with the common shape's); ``A`` and the volume(s) follow."""
    d = W.shape[-1]
    omega, L = jnp.linalg.eigh(W)
    omega, L = omega[:, ::-1], L[:, :, ::-1]
    if m == "EEV":
        S = jnp.einsum("k,kj->j", mask, omega)
        g = _geomean(S)
        lam = jnp.broadcast_to(g / jnp.sum(mask * nk), nk.shape)
        A = S / g
    else:

        def shape_of(lam):
            S = jnp.einsum("k,kj->j", mask / lam, omega)
            return S / _geomean(S)

        def step(lam):
            return jnp.sum(omega / shape_of(lam), axis=-1) / (nk * d)

        def objective(lam):
            tr = jnp.sum(omega / shape_of(lam), axis=-1)
            return -jnp.sum(mask * (nk * d * jnp.log(lam) + tr / lam))

        lam = _iterate(step, jnp.sum(omega, axis=-1) / (nk * d), objective)
        A = shape_of(lam)
    return jnp.einsum("k,kij,j,klj->kil", lam, L, A, L)


def _round_robin(d):
    """Index pairs ``(I, J)``, shape (rounds, d // 2 or so), covering every pair ``i < j``
    once, each round's pairs disjoint (a round-robin tournament; with d odd one index per
    round sits out, paired with itself)."""
    m = d + d % 2
    players = list(range(m))
    I, J = [], []
    for _ in range(m - 1):
        pi, pj = [], []
        for p in range(m // 2):
            a, b = players[p], players[m - 1 - p]
            if a >= d:
                a = b
            if b >= d:
                b = a
            pi.append(min(a, b))
            pj.append(max(a, b))
        I.append(pi)
        J.append(pj)
        players = [players[0], players[-1], *players[1:-1]]
    return np.array(I), np.array(J)


def _xve(m, nk, W, mask, D0=None):
    """``lambda(_k) D A_k D^T``: the diagonal factors given ``D`` are closed-form; ``D`` is
    improved by Jacobi sweeps of plane rotations (in rounds of disjoint planes), each the
    exact maximiser of ``Q`` over its angle with the diagonal factors refitted first (the
    problem of Flury & Gautschi's common principal components), so every rotation increases
    ``Q``. At most ``_SWEEPS_MAX`` sweeps."""
    d = W.shape[-1]
    I, J = (jnp.asarray(x) for x in _round_robin(d))

    def diagonals(Z):  # Z = diag(D^T W_k D), shape (K, d)
        if m == "VVE":
            return Z / nk[:, None]
        g = _geomean(Z)
        return (jnp.sum(mask * g) / jnp.sum(mask * nk)) * (Z / g[:, None])

    def rotate(r, state):
        # one round: rotations in disjoint planes (I[r, p], J[r, p]) leave each other's terms
        # of the objective unchanged, so their optimal angles are found together
        D, Wr = state
        i, j = I[r], J[r]
        gamma = 1.0 / diagonals(jnp.einsum("kii->ki", Wr))
        dg = mask[:, None] * (gamma[:, i] - gamma[:, j])
        A = 0.5 * jnp.sum(dg * (Wr[:, i, i] - Wr[:, j, j]), axis=0)
        B = jnp.sum(dg * Wr[:, i, j], axis=0)
        # the objective along a rotation is C + A cos(2t) + B sin(2t): minimal at
        # (cos 2t, sin 2t) = -(A, B) / |(A, B)|; an unpaired index (j == i) does not turn
        t = jnp.where(i == j, 0.0, 0.5 * jnp.arctan2(-B, -A))
        c, s = jnp.cos(t), jnp.sin(t)
        R = jnp.zeros((d, d), W.dtype).at[j, i].set(s).at[i, j].set(-s)
        R = R.at[i, i].set(c).at[j, j].set(c)
        return D @ R, jnp.einsum("ai,kab,bj->kij", R, Wr, R)

    def step(state):
        return lax.fori_loop(0, I.shape[0], rotate, state)

    def objective(state):
        Z = jnp.einsum("kii->ki", state[1])
        delta = diagonals(Z)
        return -jnp.sum(mask * (nk * jnp.sum(jnp.log(delta), -1) + jnp.sum(Z / delta, -1)))

    sweeps = _WARM_SWEEPS
    if D0 is None:  # start from the orientation of the pooled covariance
        pooled = jnp.einsum("k,kij->ij", mask / nk, W)
        D0 = jnp.linalg.eigh(pooled)[1]
        sweeps = _SWEEPS_MAX
    D, Wr = _iterate(step, (D0, jnp.einsum("ai,kab,bj->kij", D0, W, D0)), objective, sweeps)
    return jnp.einsum("ij,kj,lj->kil", D, diagonals(jnp.einsum("kii->ki", Wr)), D)


def expected_log_likelihood(covariances, covariance_type: str, nk, W):
    """``Q = -1/2 sum_k [N_k log det Sigma_k + tr(W_k Sigma_k^{-1})]`` (up to a constant).

    Parameters
    ----------
    covariances : array
        In the storage layout of ``covariance_type``.
    covariance_type : str
    nk : array, shape (K,)
    W : array, shape (K, d, d)
        Full scatter matrices.

    Returns
    -------
    scalar
    """
    st = storage_type(covariance_type)
    K, d = W.shape[0], W.shape[-1]
    if st == "spherical":
        S = covariances[:, None, None] * jnp.eye(d)
    elif st == "diag":
        S = jax.vmap(jnp.diag)(covariances)
    elif st == "tied":
        S = jnp.broadcast_to(covariances, (K, d, d))
    else:
        S = covariances
    logdet = jnp.linalg.slogdet(S)[1]
    tr = jnp.trace(jnp.linalg.solve(S, W), axis1=-2, axis2=-1)
    return -0.5 * jnp.sum(nk * logdet + tr)
