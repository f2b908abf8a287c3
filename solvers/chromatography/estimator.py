"""Fitting measured chromatograms with the linear kinetic column model."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
from scipy import ndimage, optimize, signal
from sklearn.base import BaseEstimator

from mixtures._config import as_generator, x64
from mixtures._validation import (
    ConvergenceWarning,
    check_array,
    check_option,
    check_same_length,
    check_scalar,
)
from solvers.chromatography import _core
from solvers.chromatography.model import Analyte, Column, Injection, _check_times

__all__ = ["ChromatogramFit"]


class ChromatogramFit(BaseEstimator):
    """Per-analyte adsorption/desorption rates from a chromatogram, with standard errors.

    The signal is modelled as ``sum_i area_i c_i(t) / amount + baseline(t)`` with ``c_i`` the
    outlet concentration of analyte ``i`` (linear kinetic model, Laplace solution) for the
    given column and injection. All analytes are fitted jointly by nonlinear least squares
    (``scipy.optimize.least_squares``, exact Jacobian by forward-mode autodiff) in the
    parametrisation ``(log m, log sd, log area)``, with ``m = K t_M`` and
    ``sd^2 = 2 t_M K / k_d`` the mean retention and kinetic variance; the starting values come
    from peak detection (second-derivative minima, so shoulders count) and moments.

    Parameters
    ----------
    n_analytes : int
        Number of analytes (peaks) to fit, >= 1.
    column : Column
        The column (length, velocity, dispersion, phase ratio, pressures) as known.
    injection : Injection
        The injection profile (rectangular, Gaussian or Dirac).
    baseline : {"none", "linear"}, default "none"
        Baseline model added to the peaks.
    random_state : None, int, numpy.random.Generator or JAX key
        Seeds the jitter of the extra starts when ``n_init > 1``.
    n_init : int, default 1
        Number of starts (the first from peak detection, the others jittered by 10 %);
        the lowest residual wins.
    max_iter : int, default 200
        Maximum number of function evaluations of the least-squares solver.
    tol : float, default 1e-10
        ``ftol``, ``xtol`` and ``gtol`` of the least-squares solver.
    n_terms : int, default 128
        Fourier terms of the Laplace inversion (128 reach 1e-13 of the peak height for
        A >= 50).

    Attributes
    ----------
    analytes_ : list of Analyte
        Fitted analytes in elution order (names ``"peak 1"``, ...).
    params_ : ndarray, shape (n_analytes, 3)
        ``(k_a, k_d, area)`` per analyte (1/s, 1/s, signal x s).
    stderr_ : ndarray, shape (n_analytes, 3)
        Standard errors of ``params_`` from the Jacobian at the optimum
        (``residual_std_^2 (J^T J)^-1``, delta method).
    areas_ : ndarray, shape (n_analytes,)
        Peak areas (signal x s).
    retention_factors_ : ndarray, shape (n_analytes,)
        ``K = alpha k_a / k_d``.
    baseline_ : ndarray, shape (2,)
        Baseline intercept and slope (signal, signal/s); zeros for ``baseline="none"``.
    residual_std_ : float
        Root mean squared residual corrected for the degrees of freedom.
    covariance_ : ndarray, shape (n_params, n_params)
        Covariance of the internal parameters ``(log m, log sd, log area)`` per analyte,
        then the baseline coefficients.
    n_iter_ : int
        Function evaluations used.
    converged_ : bool
        Whether the solver met its tolerance.
    """

    def __init__(self, n_analytes, column, injection, baseline="none", random_state=None,
                 n_init=1, max_iter=200, tol=1e-10, n_terms=128):
        self.n_analytes = n_analytes
        self.column = column
        self.injection = injection
        self.baseline = baseline
        self.random_state = random_state
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_terms = n_terms

    # ------------------------------------------------------------------ validation
    def _validate(self):
        check_scalar(self.n_analytes, "n_analytes", kind="int", low=1)
        if not isinstance(self.column, Column):
            raise TypeError(f"column must be a Column, got {type(self.column).__name__}.")
        if not isinstance(self.injection, Injection):
            raise TypeError(f"injection must be an Injection, got {type(self.injection).__name__}.")
        if self.column.dispersion > 0 and self.column.pressure_ratio != 1.0:
            raise ValueError("fitting with dispersion needs a constant-velocity column.")
        check_option(self.baseline, "baseline", ("none", "linear"))
        check_scalar(self.n_init, "n_init", kind="int", low=1)
        check_scalar(self.max_iter, "max_iter", kind="int", low=1)
        check_scalar(self.tol, "tol", low=0.0, low_open=True)
        check_scalar(self.n_terms, "n_terms", kind="int", low=8)

    def _eps(self):
        return 0.0 if self.column.dispersion == 0.0 else 1.0 / self.column.peclet

    def _peaks(self, t, z):
        with x64():
            peaks, jac = _core.unit_peaks(jnp.asarray(t), jnp.asarray(z),
                                          self.column.hold_up_time, self._eps(),
                                          jnp.asarray(self.injection.params), self.injection.kind,
                                          self.n_terms)
            return np.asarray(peaks), np.asarray(jac)

    def _baseline_design(self, t):
        if self.baseline == "none":
            return np.zeros((t.size, 0))
        return np.column_stack([np.ones_like(t), (t - self._t_center) / self._t_scale])

    # ------------------------------------------------------------------ initialisation
    def _initial_guess(self, t, y):
        """Starting values from second-derivative peak detection and moments."""
        dt = float(np.median(np.diff(t)))
        noise = 1.4826 * np.median(np.abs(np.diff(y) - np.median(np.diff(y)))) / np.sqrt(2.0)
        noise = max(noise, 1e-12 * np.abs(y).max())
        design = self._baseline_design(t)
        coef = np.zeros(design.shape[1])
        if design.shape[1]:
            keep = np.ones(t.size, bool)
            for _ in range(5):  # robust line through the peak-free part
                coef = np.linalg.lstsq(design[keep], y[keep], rcond=None)[0]
                keep = y - design @ coef < 3.0 * noise
        y0 = y - design @ coef
        smooth = ndimage.gaussian_filter1d(y0, 2.0)
        main, _ = signal.find_peaks(smooth, prominence=8.0 * noise)
        if main.size == 0:
            raise ValueError("no peak was detected in signal (is it only noise?).")
        widths, _, left, right = signal.peak_widths(smooth, main, rel_height=0.5)
        found = {}  # sample index -> (height, sigma in samples)
        for w, lo, hi in zip(widths, left, right):
            # Minima of the second derivative, smoothed at a quarter of the peak's sd, find
            # shoulders; the threshold is 6 x the filtered white noise's standard deviation.
            scale = max(1.0, 0.25 * w / 2.355)
            curv = -ndimage.gaussian_filter1d(y0, scale, order=2)
            height = ndimage.gaussian_filter1d(y0, scale)
            flat = noise * np.sqrt(3.0 / (8.0 * np.sqrt(np.pi) * scale**5))
            span = slice(max(int(lo - w), 0), min(int(hi + w) + 1, y0.size))
            cand, _ = signal.find_peaks(curv[span], height=6.0 * flat)
            for c in cand + span.start:
                if height[c] > 6.0 * noise:
                    sigma2 = max(height[c] / curv[c] - scale**2, 4.0)
                    found.setdefault(int(c), (height[c], np.sqrt(sigma2)))
        idx = np.array(sorted(found), dtype=int)
        # Two candidates closer than a peak sd are one peak: keep the higher.
        keep = [i for i in idx if not any(abs(j - i) < max(found[i][1], found[j][1])
                                          and found[j][0] > found[i][0] for j in idx)]
        if len(keep) < self.n_analytes:
            raise ValueError(
                f"n_analytes={self.n_analytes} but only {len(keep)} peak(s) were detected in "
                "signal; pass fewer analytes."
            )
        keep = sorted(sorted(keep, key=lambda i: -found[i][0])[: self.n_analytes])
        cand = np.array(keep)
        height = np.array([found[i][0] for i in keep])
        sigma2 = (np.array([found[i][1] for i in keep]) * dt) ** 2
        t_m = self.column.hold_up_time
        m = np.maximum(t[cand] - t_m - self.injection.mean, 0.02 * t_m)
        disp_var = 2.0 * self._eps() * (t_m + m) ** 2
        var_kin = np.maximum(sigma2 - self.injection.variance - disp_var, 0.01 * sigma2)
        area = height * np.sqrt(2.0 * np.pi * sigma2)
        z = np.column_stack([np.log(m), 0.5 * np.log(var_kin), np.log(area)])
        return np.concatenate([z.ravel(), coef])

    # ------------------------------------------------------------------ fitting
    def _residual_and_jacobian(self, x, t, y):
        n_a = self.n_analytes
        z = x[: 3 * n_a].reshape(n_a, 3)
        peaks, jac = self._peaks(t, z[:, :2])
        area = np.exp(z[:, 2])
        design = self._baseline_design(t)
        resid = area @ peaks + design @ x[3 * n_a:] - y
        cols = np.concatenate([area[:, None, None] * jac, (area[:, None] * peaks)[:, :, None]],
                              axis=2)  # (n_a, n_t, 3)
        J = np.concatenate([cols.transpose(1, 0, 2).reshape(t.size, 3 * n_a), design], axis=1)
        return resid, J

    def fit(self, t, signal):
        """Fit the model to a chromatogram.

        Parameters
        ----------
        t : array-like, shape (n_t,)
            Strictly increasing times (s) since the start of the injection.
        signal : array-like, shape (n_t,)
            Detector signal.

        Returns
        -------
        self
        """
        self._validate()
        t = _check_times(t)
        y = check_array(signal, "signal", ndim=1)
        check_same_length(t, y, ("t", "signal"))
        n_par = 3 * self.n_analytes + (2 if self.baseline == "linear" else 0)
        if t.size <= n_par:
            raise ValueError(f"need more than {n_par} samples to fit, got {t.size}.")
        self._t_center, self._t_scale = float(t.mean()), float(np.ptp(t) / 2.0)
        x0 = self._initial_guess(t, y)
        rng = as_generator(self.random_state)
        cache = {}

        def evaluate(x):
            key = x.tobytes()
            if key not in cache:
                cache.clear()
                cache[key] = self._residual_and_jacobian(x, t, y)
            return cache[key]

        best = None
        for start in range(self.n_init):
            xs = x0.copy()
            if start:
                xs[: 3 * self.n_analytes] += 0.1 * rng.standard_normal(3 * self.n_analytes)
            res = optimize.least_squares(lambda x: evaluate(x)[0], xs,
                                         jac=lambda x: evaluate(x)[1], method="trf",
                                         x_scale="jac", ftol=self.tol, xtol=self.tol,
                                         gtol=self.tol, max_nfev=self.max_iter)
            if not np.all(np.isfinite(res.fun)):
                raise FloatingPointError("the fit diverged (non-finite residuals).")
            if best is None or res.cost < best.cost:
                best = res
        self._store(best, t)
        if not self.converged_:
            warnings.warn(
                f"ChromatogramFit did not converge within max_iter={self.max_iter} function "
                "evaluations; increase max_iter (converged_ is False).",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _store(self, res, t):
        n_a = self.n_analytes
        x = res.x
        J = res.jac
        dof = max(t.size - x.size, 1)
        self.residual_std_ = float(np.sqrt(2.0 * res.cost / dof))
        cov = np.linalg.pinv(J.T @ J) * self.residual_std_**2
        z = x[: 3 * n_a].reshape(n_a, 3)
        order = np.argsort(z[:, 0])
        m, sd, area = np.exp(z[:, 0]), np.exp(z[:, 1]), np.exp(z[:, 2])
        k_d = 2.0 * m / sd**2
        k_a = m * k_d / (self.column.phase_ratio * self.column.hold_up_time)
        stderr = np.zeros((n_a, 3))
        for i in range(n_a):
            block = cov[3 * i: 3 * i + 3, 3 * i: 3 * i + 3]
            T = np.array([[2 * k_a[i], -2 * k_a[i], 0.0], [k_d[i], -2 * k_d[i], 0.0],
                          [0.0, 0.0, area[i]]])
            stderr[i] = np.sqrt(np.diag(T @ block @ T.T))
        perm = np.concatenate([(3 * order[:, None] + np.arange(3)).ravel(),
                               np.arange(3 * n_a, x.size)])
        self.covariance_ = cov[np.ix_(perm, perm)]
        self.params_ = np.column_stack([k_a, k_d, area])[order]
        self.stderr_ = stderr[order]
        self.areas_ = self.params_[:, 2].copy()
        self.retention_factors_ = self.column.phase_ratio * self.params_[:, 0] / self.params_[:, 1]
        self.analytes_ = [Analyte(float(a), float(d), f"peak {i + 1}")
                          for i, (a, d) in enumerate(self.params_[:, :2])]
        coef = x[3 * n_a:]
        if coef.size:
            slope = coef[1] / self._t_scale
            self.baseline_ = np.array([coef[0] - slope * self._t_center, slope])
        else:
            self.baseline_ = np.zeros(2)
        self.n_iter_ = int(res.nfev)
        self.converged_ = bool(res.status > 0)

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self):
        if not hasattr(self, "params_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("ChromatogramFit is not fitted yet; call fit first.")

    def predict_components(self, t):
        """Each analyte's contribution to the signal.

        Parameters
        ----------
        t : array-like, shape (n_t,)

        Returns
        -------
        ndarray, shape (n_analytes, n_t)
        """
        self._check_fitted()
        t = _check_times(t)
        k_a, k_d, area = self.params_.T
        A = self.column.phase_ratio * k_a * self.column.hold_up_time
        with x64():
            peaks = _core.outlet_profiles(jnp.asarray(t), self.column.hold_up_time,
                                          jnp.asarray(A), jnp.asarray(k_d), self._eps(),
                                          jnp.asarray(self.injection.params),
                                          self.injection.kind, self.n_terms)
            peaks = np.asarray(peaks)
        return (area / self.injection.amount)[:, None] * peaks

    def predict(self, t):
        """Fitted signal (peaks plus baseline), shape (n_t,)."""
        comps = self.predict_components(t)
        t = np.asarray(t, dtype=float)
        return comps.sum(axis=0) + self.baseline_[0] + self.baseline_[1] * t

    def score(self, t, signal):
        """Coefficient of determination R^2 of the fitted signal."""
        t = _check_times(t)
        y = check_array(signal, "signal", ndim=1)
        check_same_length(t, y, ("t", "signal"))
        resid = y - self.predict(t)
        return float(1.0 - np.sum(resid**2) / np.sum((y - y.mean()) ** 2))
