"""Kronecker core of GP-HM against dense computations on tiny grids (to 1e-10 relative)."""

import functools

import jax.numpy as jnp
import numpy as np
import pytest

from mixtures._config import x64
from mixtures.spectral import SpectralMixture, gram, product_gram
from solvers.gp_pde import _core
from solvers.gp_pde.problems import laplacian_operator

JITTER = 1e-3
KEYS = (("u", (0, 0)), ("u_xx", (2, 0)), ("u_yy", (0, 2)))
ORDERS = ((0, 2), (0, 2))


def _kern(rng, q, top):
    return {
        "log_weights": jnp.asarray(np.log(rng.uniform(0.2, 1.0, q))),
        "freqs": jnp.asarray(rng.uniform(0.0, top, q)),
        "log_scales": jnp.asarray(np.log(rng.uniform(0.2, 0.5, q))),
    }


def _rel(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b))


@pytest.fixture(scope="module", params=["gaussian", "student_t"])
def setup(request):
    kind = request.param
    rng = np.random.default_rng(0)
    with x64():
        axes = (jnp.linspace(0.0, 1.0, 6), jnp.linspace(-1.0, 0.5, 5))
        kern = (_kern(rng, 3, 2.0), _kern(rng, 3, 1.5))
        sms = tuple(
            SpectralMixture(p["log_weights"], p["freqs"], p["log_scales"], kind) for p in kern
        )
        # dense per-dimension covariances from mixtures.spectral.gram (independent of the lags)
        C = [np.asarray(gram(a, a, sm)) + JITTER * np.eye(a.shape[0]) for a, sm in zip(axes, sms)]
        z = jnp.asarray(rng.normal(size=(6, 5)))
        chols, gs, covs = _core.factors(kern, axes, kind, ORDERS, JITTER)
        U = np.kron(np.asarray(chols[0]), np.asarray(chols[1])) @ np.asarray(z).ravel()
        yield dict(
            kind=kind,
            axes=axes,
            kern=kern,
            sms=sms,
            C=C,
            z=z,
            U=U,
            chols=chols,
            gs=gs,
            covs=covs,
            rng=rng,
        )


def test_toeplitz_gram_matches_gram(setup):
    with x64():
        x = setup["axes"][0]
        for order in range(5):
            ours = _core.toeplitz_gram(x, setup["sms"][0], order)
            ref = gram(x, x, setup["sms"][0], order, 0)
            assert _rel(ours, ref) < 1e-12


def test_whitened_prior_matches_dense(setup):
    """0.5 log det C + 0.5 U^T C^{-1} U (the GP log-likelihood terms) vs dense."""
    with x64():
        Cd = np.kron(setup["C"][0], setup["C"][1])
        dense = 0.5 * np.linalg.slogdet(Cd)[1] + 0.5 * setup["U"] @ np.linalg.solve(Cd, setup["U"])
        from mixtures.kronecker import kron_logdet

        ours = 0.5 * float(kron_logdet(setup["covs"])) + 0.5 * float(jnp.sum(setup["z"] ** 2))
        assert abs(ours - dense) < 1e-10 * abs(dense)


def test_kronecker_solve_matches_dense(setup):
    with x64():
        alpha = _core._alpha(setup["chols"], setup["z"])
        ref = np.linalg.solve(np.kron(setup["C"][0], setup["C"][1]), setup["U"])
        assert _rel(np.asarray(alpha).ravel(), ref) < 1e-10


def _grid_operators(setup):
    """Dense maps U -> u, u_xx, u_yy of the conditional mean on the grid:
    ``kron_j K_j^{(a_j)} C_j^{-1}`` (the kernel without jitter in every factor, order 0 too)."""
    a0, a1 = setup["axes"]
    sm0, sm1 = setup["sms"]
    f0 = [np.asarray(gram(a0, a0, sm0, a, 0)) @ np.linalg.inv(setup["C"][0]) for a in (0, 2)]
    f1 = [np.asarray(gram(a1, a1, sm1, a, 0)) @ np.linalg.inv(setup["C"][1]) for a in (0, 2)]
    return np.kron(f0[0], f1[0]), np.kron(f0[1], f1[0]), np.kron(f0[0], f1[1])


def test_collocation_derivative_operators_match_dense(setup):
    """u_xx on the grid = (K_1'' C_1^{-1} kron K_2 C_2^{-1}) U (the derivative of the returned
    conditional mean), likewise u_yy, and u = (K_1 C_1^{-1} kron K_2 C_2^{-1}) U, built
    densely."""
    with x64():
        mean, Dxx, Dyy = _grid_operators(setup)
        for key, D in (((2, 0), Dxx), ((0, 2), Dyy), ((0, 0), mean)):
            ours = _core.derivative_field(setup["z"], setup["gs"], key).ravel()
            assert _rel(ours, D @ setup["U"]) < 1e-10


@pytest.mark.parametrize("orders", [(0, 0), (2, 1)])
def test_conditional_mean_derivatives_match_dense(setup, orders):
    """d^a u(x) = d^a k(x, X) C^{-1} U at off-grid points, dense product_gram reference."""
    with x64():
        rng = np.random.default_rng(1)
        Xq = jnp.asarray(np.column_stack([rng.uniform(0, 1, 7), rng.uniform(-1, 0.5, 7)]))
        Xg = np.stack([m.ravel() for m in np.meshgrid(*setup["axes"], indexing="ij")], -1)
        alpha = np.linalg.solve(np.kron(setup["C"][0], setup["C"][1]), setup["U"])
        ref = np.asarray(product_gram(Xq, jnp.asarray(Xg), setup["sms"], d1=orders)) @ alpha
        ours = _core.predict_points(
            setup["kern"], setup["z"], setup["axes"], JITTER, Xq, kind=setup["kind"], orders=orders
        )
        assert _rel(ours, ref) < 1e-10
        grid_ours = _core.predict_grid(
            setup["kern"],
            setup["z"],
            setup["axes"],
            JITTER,
            (Xq[:3, 0], Xq[:4, 1]),
            kind=setup["kind"],
            orders=orders,
        )
        Xt = np.stack([m.ravel() for m in np.meshgrid(Xq[:3, 0], Xq[:4, 1], indexing="ij")], -1)
        ref_t = (
            np.asarray(product_gram(jnp.asarray(Xt), jnp.asarray(Xg), setup["sms"], d1=orders))
            @ alpha
        )
        assert _rel(np.asarray(grid_ours).ravel(), ref_t) < 1e-10


def test_conditional_variance_matches_dense(setup):
    with x64():
        Xq = jnp.asarray([[0.13, -0.2], [0.6, 0.4], [0.0, -1.0]])
        Xg = jnp.asarray(
            np.stack([m.ravel() for m in np.meshgrid(*setup["axes"], indexing="ij")], -1)
        )
        kx = np.asarray(product_gram(Xq, Xg, setup["sms"]))
        kxx = np.diag(np.asarray(product_gram(Xq, Xq, setup["sms"])))
        Cd = np.kron(setup["C"][0], setup["C"][1])
        ref = kxx - np.einsum("ij,ji->i", kx, np.linalg.solve(Cd, kx.T))
        ours = _core.predict_var_points(
            setup["kern"], setup["axes"], JITTER, Xq, kind=setup["kind"]
        )
        assert np.allclose(ours, np.maximum(ref, 0.0), rtol=1e-8, atol=1e-10 * kxx.max())


def _edge_mask(shape):
    """Boolean mask of the edges of a 2-D grid (the boundary points)."""
    bmask = np.zeros(shape, bool)
    bmask[0], bmask[-1], bmask[:, 0], bmask[:, -1] = True, True, True, True
    return bmask


def _dense_problem(setup):
    """Dense Poisson residual map U -> (D_xx + D_yy) U, the map U -> u and the boundary mask."""
    mean, Dxx, Dyy = _grid_operators(setup)
    return Dxx + Dyy, mean, _edge_mask((6, 5))


def _data(setup, bmask, f, g):
    pts = np.stack([m.ravel() for m in np.meshgrid(*setup["axes"], indexing="ij")], -1)
    return {
        "axes": setup["axes"],
        "points": jnp.asarray(pts),
        "source": jnp.asarray(f),
        "bvalues": jnp.asarray(g),
        "bmask": jnp.asarray(bmask, dtype=jnp.float64),
        "bidx": jnp.asarray(np.flatnonzero(bmask)),
        "jitter": jnp.asarray(JITTER),
        "boundary_weight": jnp.asarray(200.0),
    }


def test_loss_matches_dense(setup):
    with x64():
        P, mean, bmask = _dense_problem(setup)
        rng = np.random.default_rng(2)
        f, g = rng.normal(size=(6, 5)), rng.normal(size=(6, 5)) * bmask
        data = _data(setup, bmask, f, g)
        params = {
            "kern": setup["kern"],
            "log_tau_b": jnp.asarray(0.3),
            "log_tau_r": jnp.asarray(-0.7),
        }
        ours = _core.loss(
            params,
            setup["z"],
            data,
            kind=setup["kind"],
            keys=KEYS,
            operator=laplacian_operator(("x", "y")),
            orders=ORDERS,
        )
        U = setup["U"]
        Cd = np.kron(setup["C"][0], setup["C"][1])
        rc = P @ U - f.ravel()
        rb = (mean @ U - g.ravel())[bmask.ravel()]
        tb, tr = np.exp(0.3), np.exp(-0.7)
        dense = (
            0.5 * np.linalg.slogdet(Cd)[1]
            + 0.5 * U @ np.linalg.solve(Cd, U)
            + 200.0 * (-0.5 * rb.size * 0.3 + 0.5 * tb * rb @ rb)
            + (-0.5 * rc.size * -0.7 + 0.5 * tr * rc @ rc)
        )
        assert abs(float(ours) - dense) < 1e-10 * abs(dense)


def test_cg_solve_matches_dense_minimiser(setup):
    """One Gauss-Newton step (CG, Kronecker matvecs) = the dense minimiser over U."""
    with x64():
        P, mean, bmask = _dense_problem(setup)
        rng = np.random.default_rng(3)
        f, g = rng.normal(size=(6, 5)), rng.normal(size=(6, 5)) * bmask
        data = _data(setup, bmask, f, g)
        params = {
            "kern": setup["kern"],
            "log_tau_b": jnp.asarray(0.0),
            "log_tau_r": jnp.asarray(0.0),
        }
        z = _core.gn_solve(
            params,
            jnp.zeros((6, 5)),
            data,
            jnp.asarray(1e-12),
            kind=setup["kind"],
            keys=KEYS,
            jkeys=KEYS[1:],  # the Laplacian's u coefficient is zero
            operator=laplacian_operator(("x", "y")),
            orders=ORDERS,
            n_steps=1,
            method="cg",
            cg_iters=300,
        )
        # dense: minimise |z|^2/2 + |P Lz - f|^2/2 + 200 |B (mean Lz - g)|^2/2
        L = np.kron(np.asarray(setup["chols"][0]), np.asarray(setup["chols"][1]))
        B = np.eye(30)[bmask.ravel()]
        J = np.vstack([P @ L, np.sqrt(200.0) * B @ mean @ L])
        r = np.concatenate([f.ravel(), np.sqrt(200.0) * g.ravel()[bmask.ravel()]])
        zd = np.linalg.solve(np.eye(30) + J.T @ J, J.T @ r)
        assert _rel(np.asarray(z).ravel(), zd) < 1e-7


def test_gauss_newton_nonlinear_matches_scipy():
    """Allen-Cahn (u_xx + u^3 - u = f), 1-D: Gauss-Newton on z = scipy least_squares."""
    from scipy.optimize import least_squares

    from solvers.gp_pde.problems import allen_cahn_operator

    with x64():
        rng = np.random.default_rng(4)
        x = jnp.linspace(0.0, 1.0, 9)
        kern = (_kern(rng, 2, 2.0),)
        sm = SpectralMixture(kern[0]["log_weights"], kern[0]["freqs"], kern[0]["log_scales"])
        C = np.asarray(gram(x, x, sm)) + JITTER * np.eye(9)
        L = np.linalg.cholesky(C)
        Dxx = np.asarray(gram(x, x, sm, 2, 0)) @ np.linalg.inv(C)
        mean = (C - JITTER * np.eye(9)) @ np.linalg.inv(C)
        f = rng.normal(size=9)
        g = np.zeros(9)
        g[[0, -1]] = [0.3, -0.2]
        bmask = np.zeros(9, bool)
        bmask[[0, -1]] = True
        data = {
            "axes": (x,),
            "points": x[:, None],
            "source": jnp.asarray(f),
            "bvalues": jnp.asarray(g),
            "bmask": jnp.asarray(bmask, dtype=jnp.float64),
            "bidx": jnp.asarray([0, 8]),
            "jitter": jnp.asarray(JITTER),
            "boundary_weight": jnp.asarray(200.0),
        }
        params = {"kern": kern, "log_tau_b": jnp.asarray(0.0), "log_tau_r": jnp.asarray(0.0)}
        z = _core.gn_solve(
            params,
            jnp.zeros(9),
            data,
            jnp.asarray(1e-12),
            kind="gaussian",
            keys=(("u", (0,)), ("u_xx", (2,))),
            jkeys=(("u", (0,)), ("u_xx", (2,))),
            operator=allen_cahn_operator(("x",)),
            orders=((0, 2),),
            n_steps=30,
            method="dense",
            cg_iters=1,
        )

        def resid(zz):
            U = L @ zz
            u = mean @ U  # the conditional mean on the grid
            return np.concatenate([zz, Dxx @ U + u**3 - u - f, np.sqrt(200.0) * (u - g)[bmask]])

        # Levenberg-Marquardt: the default trust-region method stops ~1e-8 short along the
        # flattest direction (same objective to 1e-15 relative)
        ref = least_squares(resid, np.zeros(9), xtol=1e-15, ftol=1e-15, gtol=1e-15, method="lm").x
        assert _rel(z, ref) < 1e-8


@pytest.mark.parametrize(
    "keys, orders",
    [
        (KEYS, ORDERS),  # Allen-Cahn-like: u, u_xx, u_yy
        ((("u", (0, 0)), ("u_t", (0, 1)), ("u_x", (1, 0))), ((0, 1), (0, 1))),  # advection
    ],
)
def test_kron_jacobi_preconditioner_exact_diagonal(keys, orders):
    """The preconditioner's diagonal is the exact diagonal of the dense Gauss-Newton matrix
    ``N = I + sr^2 J_c^T J_c + sb^2 J_b^T J_b`` (built here with np.kron, pointwise
    coefficients, boundary rows) in its Kronecker basis, and ``P^{-1} N`` is far better
    conditioned than ``N``."""
    rng = np.random.default_rng(3)
    shape = (14, 12)
    with x64():
        axes = (jnp.linspace(0.0, 1.0, 14), jnp.linspace(0.0, 1.0, 12))
        kern = (_kern(rng, 3, 3.0), _kern(rng, 3, 3.0))
        _, gs, _ = _core.factors(kern, axes, "student_t", orders, JITTER)
        coef = {
            name: jnp.asarray(c + 0.3 * rng.normal(size=shape))
            for (name, _), c in zip(keys, (0.5, 1.0, 20.0))
        }
        bmask = _edge_mask(shape).astype(float)
        sr, sb = jnp.asarray(30.0), jnp.asarray(100.0)
        orth, diag = _core._kron_jacobi(gs, keys, coef, sr, sb, jnp.asarray(bmask))
        apply = functools.partial(_core._apply_preconditioner, orth, diag)
        eye = np.eye(14 * 12)
        P_inv = np.stack(
            [np.asarray(apply(jnp.asarray(e.reshape(shape)))).ravel() for e in eye], axis=1
        )
    G = [{a: np.asarray(M) for a, M in g.items()} for g in gs]
    Jc = sum(
        np.asarray(coef[n]).ravel()[:, None] * np.kron(G[0][o[0]], G[1][o[1]]) for n, o in keys
    )
    Jb = np.kron(G[0][0], G[1][0])[bmask.ravel() > 0]
    N = eye + 30.0**2 * Jc.T @ Jc + 100.0**2 * Jb.T @ Jb
    O = np.kron(np.asarray(orth[0]), np.asarray(orth[1]))
    np.testing.assert_allclose(O @ O.T, eye, atol=1e-10)
    np.testing.assert_allclose(np.asarray(diag).ravel(), np.diag(O @ N @ O.T), rtol=1e-9)
    np.testing.assert_allclose(P_inv, P_inv.T, atol=1e-10 * np.abs(P_inv).max())
    assert np.linalg.eigvalsh(0.5 * (P_inv + P_inv.T)).min() > 0
    # P^{-1} N is similar to the SPD P^{-1/2} N P^{-1/2}: real positive spectrum
    ev = np.sort(np.linalg.eigvals(P_inv @ N).real)
    assert ev[0] > 0
    assert ev[-1] / ev[0] < 1e-3 * np.linalg.cond(N)


def test_fold_frequencies_gives_the_grid_alias():
    """A folded frequency lies in [0, Nyquist] and has the same cosines of the grid lags (what
    the kernels see) as the original; frequencies within [-Nyquist, Nyquist] are kept."""
    rng = np.random.default_rng(3)
    m, low, high = 41, -1.0, 3.0
    x = np.linspace(low, high, m)
    nyquist = (m - 1) / (2.0 * (high - low))
    f = rng.uniform(-5 * nyquist, 5 * nyquist, 200)
    with x64():
        folded_jax = np.asarray(_core.fold_frequencies(jnp.asarray(f), nyquist))
    for out in (_core.fold_frequencies(f, nyquist), folded_jax):
        inside = np.abs(f) <= nyquist
        assert np.array_equal(out[inside], f[inside])
        assert np.all((out[~inside] >= 0.0) & (out[~inside] <= nyquist))
        lag = x - x[0]
        np.testing.assert_allclose(
            np.cos(2 * np.pi * np.outer(out, lag)), np.cos(2 * np.pi * np.outer(f, lag)), atol=1e-9
        )
        assert np.any(~inside) and np.any(inside)


def test_boundary_faces_match_the_masked_field_and_its_transpose(setup):
    """The boundary rows evaluated on the faces only equal the conditional mean on the grid
    masked to its edges (each edge node once), and the face transpose is the adjoint."""
    with x64():
        faces = _core._faces((6, 5))
        z = setup["z"]
        full = np.asarray(_core.derivative_field(z, setup["gs"], (0, 0)))
        ub = _core.boundary_values(z, setup["gs"], faces)
        taken = _core._take_faces(jnp.asarray(full), faces)
        w = [jnp.asarray(setup["rng"].normal(size=f.shape)) for f in ub]
        zt = np.asarray(_core.boundary_values_t(w, setup["gs"], faces))
    for a, b in zip(ub, taken):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)
    # each edge node appears in exactly one face
    count = np.zeros((6, 5))
    for j, side, mask in faces:
        idx = [slice(None), slice(None)]
        idx[j] = slice(side % (6, 5)[j], side % (6, 5)[j] + 1)
        count[tuple(idx)] += mask
    np.testing.assert_array_equal(count, _edge_mask((6, 5)).astype(float))
    lhs = sum(float(np.sum(np.asarray(a) * np.asarray(b))) for a, b in zip(ub, w))
    assert abs(lhs - float(np.sum(np.asarray(z) * zt))) < 1e-10 * abs(lhs)
