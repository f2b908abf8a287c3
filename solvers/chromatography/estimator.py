"""Fitting measured chromatograms with the linear kinetic column model."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy import ndimage, optimize, signal

from mixtures import as_generator, x64
from mixtures.base import (
    DivergenceError,
    Integer,
    MixturesEstimator,
    Options,
    Real,
    check_array,
    check_same_length,
    pad_axis,
    padded_length,
)
from solvers.chromatography import _core
from solvers.chromatography.model import (
    Analyte,
    Column,
    Injection,
    _check_times,
    _pad_analytes,
    laplace_profiles,
)

__all__ = ["ChromatogramFit"]


def _check_column(value, name):
    if not isinstance(value, Column):
        raise TypeError(f"{name} must be a Column, got {type(value).__name__}.")
    if value.dispersion > 0 and value.pressure_ratio != 1.0:
        raise ValueError("fitting with dispersion needs a constant-velocity column.")


def _check_injection(value, name):
    if not isinstance(value, Injection):
        raise TypeError(f"{name} must be an Injection, got {type(value).__name__}.")


def _scaled_injection(injection, tau):
    """Injection parameters with times divided by ``tau`` (amounts are concentration x time)."""
    p = np.array(injection.params, dtype=float)
    if injection.kind == "rectangular":
        return np.array([p[0] / tau, p[1], 0.0])
    if injection.kind == "gaussian":
        return np.array([p[0] / tau, p[1] / tau, p[2] / tau])
    return np.array([0.0, 0.0, p[2] / tau])


class ChromatogramFit(MixturesEstimator):
    """Per-analyte adsorption/desorption rates from a chromatogram, with standard errors.

    The signal is modelled as ``sum_i area_i c_i(t) / amount + baseline(t)`` with ``c_i`` the
    outlet concentration of analyte ``i`` (linear kinetic model, Laplace solution) for the
    given column and injection. All analytes are fitted jointly by nonlinear least squares
    (``scipy.optimize.least_squares``, exact Jacobian by forward-mode autodiff) in the
    parametrisation ``(log m, log sd, log area)``, with ``m = K t_M`` and
    ``sd^2 = 2 t_M K / k_d`` the mean retention and kinetic variance; the starting values come
    from peak detection (second-derivative minima, so shoulders count) and moments.

    **Units.** Times may be in any unit T (seconds, minutes, ...) provided ``t``, the
    column's velocity (m/T) and dispersion (m^2/T) and the injection's times use the same
    one; rates then come out in 1/T and areas in signal x T. The fit is carried out in
    standardised units (times divided by the hold-up time, signal divided by its largest
    magnitude), so a change of time unit or of signal unit changes the fitted model only by
    that change of units: rates scale with 1/T, areas with signal x T, ``score`` is
    unchanged.

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
        ``ftol``, ``xtol`` and ``gtol`` of the least-squares solver, applied to the
        standardised problem (so they mean the same for any units).
    n_terms : int, default 128
        Fourier terms of the Laplace inversion (128 reach 1e-13 of the peak height for
        A >= 50).

    Attributes
    ----------
    analytes_ : list of Analyte
        Fitted analytes in elution order (names ``"peak 1"``, ...).
    params_ : ndarray, shape (n_analytes, 3)
        ``(k_a, k_d, area)`` per analyte (1/T, 1/T, signal x T).
    stderr_ : ndarray, shape (n_analytes, 3)
        Standard errors of ``params_`` from the Jacobian at the optimum
        (``residual_std_^2 (J^T J)^-1``, delta method).
    areas_ : ndarray, shape (n_analytes,)
        Peak areas (signal x T).
    retention_factors_ : ndarray, shape (n_analytes,)
        ``K = alpha k_a / k_d`` (dimensionless).
    baseline_ : ndarray, shape (2,)
        Baseline intercept and slope (signal, signal/T); zeros for ``baseline="none"``.
    residual_std_ : float
        Root mean squared residual corrected for the degrees of freedom (signal units).
    covariance_ : ndarray, shape (n_params, n_params)
        Covariance of the internal parameters ``(log m, log sd, log area)`` per analyte,
        then the baseline coefficients (intercept at the centre of ``t`` and change over
        half the span of ``t``, signal units).
    n_iter_ : int
        Function evaluations used (at most ``max_iter``).
    converged_ : bool
        Whether the solver met its tolerance on the standardised problem; a
        ConvergenceWarning is emitted when it did not.
    """

    _parameter_constraints = {
        "n_analytes": Integer(low=1),
        "column": _check_column,
        "injection": _check_injection,
        "baseline": Options(("none", "linear")),
        "random_state": None,
        "n_init": Integer(low=1),
        "max_iter": Integer(low=1),
        "tol": Real(low=0.0, low_open=True),
        "n_terms": Integer(low=8),
    }

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

    def _eps(self):
        return 0.0 if self.column.dispersion == 0.0 else 1.0 / self.column.peclet

    def _peaks(self, t_pad, n_t, z, inj):
        """Unit-area peaks and their Jacobian in standardised time, on shape buckets.

        ``t_pad`` is already padded; the analytes are padded here to a power of two with
        copies of the first one. Each time point and analyte is computed independently, so
        the padded entries are dropped (weight zero) and the result equals the unpadded one.
        """
        n_a = z.shape[0]
        z_pad = pad_axis(z, _pad_analytes(n_a), axis=0)
        z_pad[n_a:] = z[0]
        with x64():
            # hold-up time is 1 in standardised time
            peaks, jac = _core.unit_peaks(jnp.asarray(t_pad), jnp.asarray(z_pad), 1.0,
                                          self._eps(), jnp.asarray(inj), self.injection.kind,
                                          self.n_terms)
            return np.asarray(peaks)[:n_a, :n_t], np.asarray(jac)[:n_a, :n_t]

    def _baseline_design(self, t):
        if self.baseline == "none":
            return np.zeros((t.size, 0))
        center, half_span = float(t.mean()), float(np.ptp(t) / 2.0)
        return np.column_stack([np.ones_like(t), (t - center) / half_span])

    # ------------------------------------------------------------------ initialisation
    def _initial_guess(self, t, y, inj_mean, inj_var):
        """Starting values from second-derivative peak detection and moments.

        ``t`` and ``y`` are standardised (hold-up time 1), as are the injection's mean and
        variance ``inj_mean``, ``inj_var``.
        """
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
        m = np.maximum(t[cand] - 1.0 - inj_mean, 0.02)
        disp_var = 2.0 * self._eps() * (1.0 + m) ** 2
        var_kin = np.maximum(sigma2 - inj_var - disp_var, 0.01 * sigma2)
        area = height * np.sqrt(2.0 * np.pi * sigma2)
        z = np.column_stack([np.log(m), 0.5 * np.log(var_kin), np.log(area)])
        return np.concatenate([z.ravel(), coef])

    # ------------------------------------------------------------------ fitting
    def _residual_and_jacobian(self, x, t, t_pad, y, inj):
        n_a = self.n_analytes
        z = x[: 3 * n_a].reshape(n_a, 3)
        peaks, jac = self._peaks(t_pad, t.size, z[:, :2], inj)
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
            Strictly increasing times (T, the time unit of the column and injection) since
            the start of the injection.
        signal : array-like, shape (n_t,)
            Detector signal (any unit).

        Returns
        -------
        self
        """
        self._validate_params()
        t = _check_times(t)
        y = check_array(signal, "signal", ndim=1)
        check_same_length(t, y, ("t", "signal"))
        n_a = self.n_analytes
        n_par = 3 * n_a + (2 if self.baseline == "linear" else 0)
        if t.size <= n_par:
            raise ValueError(f"need more than {n_par} samples to fit, got {t.size}.")
        # Standardise: time in hold-up times, signal in units of its largest magnitude, so
        # that the optimiser's tolerances and steps mean the same for any units.
        tau = self.column.hold_up_time
        sig = float(np.max(np.abs(y)))
        if sig == 0.0:
            raise ValueError("signal is identically zero; there is no peak to fit.")
        ts, ys = t / tau, y / sig
        inj = _scaled_injection(self.injection, tau)
        # The time axis goes to a bucketed length, so a new signal length compiles nothing.
        t_pad = pad_axis(ts, padded_length(ts.size), value=ts[-1])
        x0 = self._initial_guess(ts, ys, self.injection.mean / tau,
                                 self.injection.variance / tau**2)
        rng = as_generator(self.random_state)
        cache = {}

        def evaluate(x):
            key = x.tobytes()
            if key not in cache:
                cache.clear()
                cache[key] = self._residual_and_jacobian(x, ts, t_pad, ys, inj)
            return cache[key]

        best = None
        for start in range(self.n_init):
            xs = x0.copy()
            if start:
                xs[: 3 * n_a] += 0.1 * rng.standard_normal(3 * n_a)
            r0, j0 = evaluate(xs)
            if not (np.all(np.isfinite(r0)) and np.all(np.isfinite(j0))):
                raise DivergenceError(
                    "the model is not finite at the starting values (check the column and "
                    "injection against the times in t)."
                )
            res = optimize.least_squares(lambda x: evaluate(x)[0], xs,
                                         jac=lambda x: evaluate(x)[1], method="trf",
                                         x_scale="jac", ftol=self.tol, xtol=self.tol,
                                         gtol=self.tol, max_nfev=self.max_iter)
            if not (np.all(np.isfinite(res.fun)) and np.all(np.isfinite(res.x))):
                raise DivergenceError("the fit diverged (non-finite residuals).")
            if best is None or res.cost < best.cost:
                best = res
        self._store(best, ts, tau, sig)
        self._set_convergence(best.status > 0, best.nfev, self.max_iter,
                              hint="increase max_iter")
        return self

    def _store(self, res, ts, tau, sig):
        """Fitted attributes in the user's units from the standardised solution ``res``."""
        n_a = self.n_analytes
        x = res.x
        J = res.jac
        dof = max(ts.size - x.size, 1)
        std = float(np.sqrt(2.0 * res.cost / dof))  # standardised signal units
        cov = np.linalg.pinv(J.T @ J) * std**2
        z = x[: 3 * n_a].reshape(n_a, 3)
        order = np.argsort(z[:, 0])
        # back to user units: times x tau, areas x sig x tau
        m, sd = np.exp(z[:, 0]) * tau, np.exp(z[:, 1]) * tau
        area = np.exp(z[:, 2]) * sig * tau
        k_d = 2.0 * m / sd**2
        k_a = m * k_d / (self.column.phase_ratio * tau)
        stderr = np.zeros((n_a, 3))
        for i in range(n_a):
            block = cov[3 * i: 3 * i + 3, 3 * i: 3 * i + 3]
            T = np.array([[2 * k_a[i], -2 * k_a[i], 0.0], [k_d[i], -2 * k_d[i], 0.0],
                          [0.0, 0.0, area[i]]])
            stderr[i] = np.sqrt(np.diag(T @ block @ T.T))
        perm = np.concatenate([(3 * order[:, None] + np.arange(3)).ravel(),
                               np.arange(3 * n_a, x.size)])
        # the baseline coefficients are in standardised signal units
        unit = np.concatenate([np.ones(3 * n_a), np.full(x.size - 3 * n_a, sig)])
        self.covariance_ = (cov * np.outer(unit, unit))[np.ix_(perm, perm)]
        self.residual_std_ = std * sig
        self.params_ = np.column_stack([k_a, k_d, area])[order]
        self.stderr_ = stderr[order]
        self.areas_ = self.params_[:, 2].copy()
        self.retention_factors_ = self.column.phase_ratio * self.params_[:, 0] / self.params_[:, 1]
        self.analytes_ = [Analyte(float(a), float(d), f"peak {i + 1}")
                          for i, (a, d) in enumerate(self.params_[:, :2])]
        coef = x[3 * n_a:] * sig
        if coef.size:
            center, half_span = float(ts.mean()) * tau, float(np.ptp(ts) / 2.0) * tau
            slope = coef[1] / half_span
            self.baseline_ = np.array([coef[0] - slope * center, slope])
        else:
            self.baseline_ = np.zeros(2)

    # ------------------------------------------------------------------ prediction
    def predict_components(self, t):
        """Each analyte's contribution to the signal.

        Parameters
        ----------
        t : array-like, shape (n_t,)
            Strictly increasing times (T).

        Returns
        -------
        ndarray, shape (n_analytes, n_t)
            Signal units.
        """
        self._check_fitted()
        t = _check_times(t)
        k_a, k_d, area = self.params_.T
        A = self.column.phase_ratio * k_a * self.column.hold_up_time
        peaks = laplace_profiles(t, self.column.hold_up_time, A, k_d, self._eps(),
                                 self.injection.params, self.injection.kind, self.n_terms)
        return (area / self.injection.amount)[:, None] * peaks

    def predict(self, t):
        """Fitted signal (peaks plus baseline).

        Parameters
        ----------
        t : array-like, shape (n_t,)
            Strictly increasing times (T).

        Returns
        -------
        ndarray, shape (n_t,)
            Signal units.
        """
        comps = self.predict_components(t)
        t = _check_times(t)
        return comps.sum(axis=0) + self.baseline_[0] + self.baseline_[1] * t

    def score(self, t, signal):
        """Coefficient of determination R^2 of the fitted signal (higher is better).

        Parameters
        ----------
        t : array-like, shape (n_t,)
            Strictly increasing times (T).
        signal : array-like, shape (n_t,)
            Detector signal.

        Returns
        -------
        float
            ``1 - sum (signal - predict(t))^2 / sum (signal - mean(signal))^2``; 1 is a
            perfect fit; unchanged by a change of time or signal units.
        """
        self._check_fitted()
        t = _check_times(t)
        y = check_array(signal, "signal", ndim=1)
        check_same_length(t, y, ("t", "signal"))
        resid = y - self.predict(t)
        return float(1.0 - np.sum(resid**2) / np.sum((y - y.mean()) ** 2))
