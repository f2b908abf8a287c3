"""Start values for the staged random starts (NumPy side, in the fit's standardised units).

Three kinds of start, as in the practice of Mplus and OpenMx users:

- k-means on the persons' own least-squares curves (features standardised), the classes
  refitted one by one (the deterministic first start, then with jittered features, random
  k-means seeds and features taken at a random curve parameter);
- random perturbations of those starts: growth-factor means moved by a fraction of the
  spread of the persons' curves, covariances scaled, each class's curve parameter (knot,
  rate) drawn anew over the observed time range;
- splits of a fitted (K-1)-class solution: one class at a time is divided in two along the
  principal axis of its growth-factor covariance, each half taking half its gate probability.

Time-varying covariates ``Z`` enter every start with the pooled within-person estimate of their
effect (outcome and covariates residualised on each person's own curve basis, then least
squares), which is consistent whatever the growth factors are; the persons' curves are fitted
to the outcome less that effect.
"""

from __future__ import annotations

import numpy as np

from solvers.growth_moe import _core


def curve_grid(curve, t_obs):
    """Candidate curve parameters (G,) for the persons' least-squares fits."""
    lo, hi = t_obs.min(), t_obs.max()
    if curve == "bilinear_spline":
        return np.quantile(t_obs, np.linspace(0.15, 0.85, 15))
    rates = np.geomspace(0.2, 20.0, 15) / (hi - lo)
    if curve == "negative_exponential":
        return rates
    if curve == "jenss_bayley":
        return -rates
    return np.zeros(1)


def person_fits(Y0, mask, times0, g, curve):
    """Per-person ridge least squares of the curve with parameter ``g`` (scalar).

    Returns coefficients (n, q) and residual sums of squares (n,)."""
    n = Y0.shape[0]
    lam = _core.basis(times0, np.full((n, 1), g), curve, xp=np)
    lam = lam * mask[:, :, None]
    A = np.einsum("ntq,ntr->nqr", lam, lam)
    scale = np.trace(A, axis1=1, axis2=2)[:, None, None] / A.shape[1] + 1.0
    A = A + 1e-6 * scale * np.eye(A.shape[1])
    coef = np.linalg.solve(A, np.einsum("ntq,nt->nq", lam, Y0)[..., None])[..., 0]
    resid = (Y0 - np.einsum("ntq,nq->nt", lam, coef)) * mask
    return coef, np.sum(resid**2, axis=1)


def within_effect(Y0, Z0, mask, times0, grid, curve):
    """Pooled within-person least-squares effect (pz,) of time-varying covariates ``Z0``
    (n, T, pz) on the outcome ``Y0`` (n, T): both residualised on each person's own curve
    basis (at the middle curve parameter of ``grid``), then one regression over all observed
    occasions."""
    n, T, pz = Z0.shape
    lam = _core.basis(times0, np.full((n, 1), grid[grid.size // 2]), curve, xp=np)
    lam = lam * mask[:, :, None]
    A = np.einsum("ntq,ntr->nqr", lam, lam)
    scale = np.trace(A, axis1=1, axis2=2)[:, None, None] / A.shape[1] + 1.0
    A = A + 1e-6 * scale * np.eye(A.shape[1])
    R = np.concatenate([Y0[:, :, None], Z0], axis=2)  # (n, T, 1 + pz)
    coef = np.linalg.solve(A, np.einsum("ntq,ntr->nqr", lam, R))
    res = (R - lam @ coef) * mask[:, :, None]
    res = res[mask]
    kappa, *_ = np.linalg.lstsq(res[:, 1:], res[:, 0], rcond=None)
    return kappa


class StartGenerator:
    """Start values for one data set (standardised units); the persons' least-squares fits
    over the curve-parameter grid are computed once and shared by every start."""

    def __init__(self, Y, mask, times, Xg, Xe, Xj, K, curve, Z=None, random_knot=False):
        self.Y0, self.t0 = np.where(mask, Y, 0.0), np.where(mask, times, 0.0)
        self.mask, self.Xg, self.Xe, self.Xj, self.K, self.curve = mask, Xg, Xe, Xj, K, curve
        self.q, self.c = _core.N_FACTORS[curve], _core.N_CURVE_PARAMS[curve]
        self.r = int(random_knot)
        t_obs = times[mask]
        self.lo, self.hi = float(t_obs.min()), float(t_obs.max())
        self.grid = curve_grid(curve, t_obs)
        self.kappa0 = np.zeros(0)
        if Z is not None and Z.shape[2]:
            Z0 = np.where(mask[:, :, None], Z, 0.0)
            self.kappa0 = within_effect(self.Y0, Z0, mask, self.t0, self.grid, curve)
            self.Y0 = self.Y0 - (Z0 @ self.kappa0) * mask
        fits = [person_fits(self.Y0, mask, self.t0, g, curve) for g in self.grid]
        self.coefs = np.array([f[0] for f in fits])  # (G, n, q)
        self.rss = np.array([f[1] for f in fits])  # (G, n)
        self.g0 = int(np.argmin(self.rss.sum(axis=1)))

    # ---------------------------------------------------------------------- k-means starts
    def kmeans(self, rng, kind=0):
        """``kind`` 0: the deterministic start; 1: jittered features; 2: features at a random
        curve parameter and a random class-wise curve parameter (perturbed start)."""
        n, K = self.Y0.shape[0], self.K
        j = self.g0 if kind < 2 else int(rng.integers(self.grid.size))
        feats = self.coefs[j]
        feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-12)
        if kind:
            feats = feats + 0.3 * kind * rng.standard_normal(feats.shape)
        if K > 1:
            from sklearn.cluster import KMeans

            seed = 0 if kind == 0 else int(rng.integers(2**31 - 1))
            labels = KMeans(K, n_init=3, random_state=seed).fit_predict(feats)
        else:
            labels = np.zeros(n, dtype=int)
        p = self.from_labels(labels, rng)
        if kind:
            p = self.perturb(p, rng, redraw_curve=kind == 2)
        return p

    def from_labels(self, labels, rng):
        """Class-wise refits of the persons' curves for a partition ``labels`` (n,)."""
        n, K, q, c = self.Y0.shape[0], self.K, self.q, self.c
        n_obs = self.mask.sum(axis=1)
        pe, pej = self.Xe.shape[1], self.Xj.shape[1]
        Z = np.concatenate([np.ones((n, 1)), self.Xe], axis=1)
        alpha, beta = np.zeros((K, q)), np.zeros((K, q, pe))
        psi, theta, gk = np.zeros((K, q, q)), np.zeros(K), np.zeros((K, c))
        mux, phi = np.zeros((K, pej)), np.zeros((K, pej, pej))
        var_y = np.var(self.Y0[self.mask])
        for k in range(K):
            idx = np.flatnonzero(labels == k)
            if idx.size < q + 2 + pe:
                idx = rng.choice(n, size=min(n, max(q + 2 + pe, n // K)), replace=False)
            j = int(np.argmin(self.rss[:, idx].sum(axis=1)))
            coef = self.coefs[j][idx]
            if c:
                gk[k, 0] = self.grid[j]
            sol, *_ = np.linalg.lstsq(Z[idx], coef, rcond=None)
            alpha[k], beta[k] = sol[0], sol[1:].T
            res = coef - Z[idx] @ sol
            spread = np.var(coef, axis=0) + 1e-3
            psi[k] = np.cov(res.T).reshape(q, q) * 0.7 + np.diag(0.05 * spread)
            df = np.maximum(n_obs[idx] - q, 0).sum()
            theta[k] = max(self.rss[j][idx].sum() / max(df, 1), 1e-3 * var_y)
            if pej:
                mux[k] = self.Xj[idx].mean(0)
                phi[k] = np.cov(self.Xj[idx].T).reshape(pej, pej) + 1e-3 * np.eye(pej)
        if self.r:
            # the random knot's deviation starts independent of the growth factors, with a
            # spread of a tenth of the time range
            aug = np.zeros((K, q + 1, q + 1))
            aug[:, :q, :q], aug[:, q, q] = psi, (0.1 * (self.hi - self.lo)) ** 2
            psi = aug
        props = np.bincount(labels, minlength=K) / n + 1e-2
        return {
            "gate_intercept": np.log(props[1:] / props[0]),
            "gate_coef": np.zeros((K - 1, self.Xg.shape[1])),
            "alpha": alpha,
            "beta": beta,
            "psi": psi,
            "theta": theta,
            "curve": gk,
            "mux": mux,
            "phi": phi,
            "kappa": np.tile(self.kappa0, (K, 1)),
        }

    # ------------------------------------------------------------------- perturbations
    def perturb(self, p, rng, redraw_curve=False):
        """Random perturbation of a start: means moved by 0.3 standard deviations of the
        persons' curves, covariances scaled by up to about 20 %, curve parameters jittered
        (or, with ``redraw_curve``, drawn anew over the time range)."""
        p = {k: np.array(v, copy=True) for k, v in p.items()}
        sd = self.coefs[self.g0].std(0) + 1e-12
        p["alpha"] = p["alpha"] + 0.3 * sd * rng.standard_normal(p["alpha"].shape)
        p["psi"] = p["psi"] * np.exp(0.2 * rng.standard_normal((self.K, 1, 1)))
        if self.c:
            p["curve"] = self._draw_curve(p["curve"], rng, redraw_curve)
        return p

    def _draw_curve(self, g, rng, redraw):
        span = self.hi - self.lo
        if self.curve == "bilinear_spline":
            new = (
                rng.uniform(self.lo + 0.1 * span, self.hi - 0.1 * span, g.shape)
                if redraw
                else g + 0.05 * span * rng.standard_normal(g.shape)
            )
            return np.clip(new, self.lo + 0.05 * span, self.hi - 0.05 * span)
        if redraw:  # rates: log-uniform over the grid's range, same sign
            lg = np.log(np.abs(self.grid))
            return np.sign(self.grid[0]) * np.exp(rng.uniform(lg.min(), lg.max(), g.shape))
        return g * np.exp(0.1 * rng.standard_normal(g.shape))

    # -------------------------------------------------------------------------- splits
    def splits(self, prev):
        """Starts from a (K-1)-class solution ``prev`` (dict of :class:`_core.Params` fields,
        standardised units): class ``k`` divided along the principal axis of its
        growth-factor covariance, for every ``k``. Returns a list of K-1 starts."""
        K = self.K
        out = []
        a0 = np.concatenate([[0.0], prev["gate_intercept"]])
        b0 = np.concatenate([np.zeros((1, self.Xg.shape[1])), prev["gate_coef"]], axis=0)
        for k in range(K - 1):
            vals, vecs = np.linalg.eigh(prev["psi"][k][: self.q, : self.q])
            shift = np.sqrt(max(vals[-1], 1e-12)) * vecs[:, -1]
            p = {}
            for name in ("alpha", "beta", "psi", "theta", "curve", "mux", "phi", "kappa"):
                v = prev[name]
                p[name] = np.concatenate([v, v[k : k + 1]], axis=0)
            p["alpha"][k] = prev["alpha"][k] - shift
            p["alpha"][K - 1] = prev["alpha"][k] + shift
            psi = prev["psi"][k].copy()
            psi[: self.q, : self.q] -= 0.75 * vals[-1] * np.outer(vecs[:, -1], vecs[:, -1])
            psi[: self.q, self.q :] = psi[self.q :, : self.q] = 0.0  # keeps it positive definite
            p["psi"][k] = p["psi"][K - 1] = psi
            a = np.concatenate([a0, a0[k : k + 1]]) - np.log(2.0) * (np.arange(K) % K == k)
            a[K - 1] -= np.log(2.0)
            b = np.concatenate([b0, b0[k : k + 1]], axis=0)
            p["gate_intercept"], p["gate_coef"] = a[1:] - a[0], b[1:] - b[0]
            out.append(p)
        return out

    # -------------------------------------------------------------------------- all of it
    def starts(self, n, rng, prev=None, fresh=False):
        """``n`` starts: the deterministic k-means start, the splits of ``prev`` (if given),
        then k-means with jittered features, perturbed starts with redrawn curve
        parameters and perturbed splits, in turn. ``fresh=True`` leaves out the
        deterministic starts (k-means and exact splits), which an earlier round already ran."""
        split = self.splits(prev) if prev is not None and self.K > 1 else []
        out = [] if fresh else [self.kmeans(rng, 0)] + split[: max(n - 1, 0)]
        i = 0
        while len(out) < n:
            if split and i % 3 == 2:
                out.append(self.perturb(split[(i // 3) % len(split)], rng))
            else:
                out.append(self.kmeans(rng, 1 + i % 2))
            i += 1
        return out[:n]
