"""Fitting measured chromatograms with the linear kinetic column model."""

from __future__ import annotations

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
)

__all__ = ["ChromatogramFit"]

# Smallest analyte bucket of the fit with run-level parameters.
_MIN_FREE_ANALYTES = 8
# Beyond |R| of about 10 the second-order (Haarhoff-van der Linde) peak is off the
# equilibrium-dispersive PDE by a quarter of its height or more, and a large loading only
# trades with the area (the peak scales as 1/R): "auto" does not keep such a loading.
_MAX_LOADING = 10.0


def _check_n_analytes(value, name):
    if isinstance(value, str) and value == "auto":
        return value
    return Integer(low=1).check(value, name)


_SHAPES = ("kinetic", "overload", "auto")


def _check_peak_shape(value, name):
    if isinstance(value, str):
        if value not in _SHAPES:
            raise ValueError(f"{name} must be one of {_SHAPES} or a sequence of those per peak.")
        return value
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{name} must be a string or a sequence of strings.") from None
    if not items or any(v not in ("kinetic", "overload") for v in items):
        raise ValueError(f"{name} as a sequence must hold 'kinetic' or 'overload' per peak.")
    return value


def _check_retention_times(value, name):
    if value is None:
        return None
    out = check_array(value, name, ndim=1)
    if out.size == 0:
        raise ValueError(f"{name} must hold at least one time.")
    return out


def _check_column(value, name):
    if value is None:
        return None
    if not isinstance(value, Column):
        raise TypeError(f"{name} must be a Column, got {type(value).__name__}.")
    if value.dispersion > 0 and value.pressure_ratio != 1.0:
        raise ValueError("fitting with dispersion needs a constant-velocity column.")


def _check_injection(value, name):
    if value is None:
        return None
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
    n_analytes : int or "auto", default "auto"
        Number of analytes (peaks) to fit, >= 1; ``"auto"`` fits the detected main peaks
        and up to two more candidates (shoulders) and keeps the count with the lowest BIC.
    column : Column or None, default None
        The column (length, velocity, dispersion, phase ratio, pressures, boundary
        conditions: ``Column(..., boundary="danckwerts")`` fits the finite column) as known.
        ``None``: the hold-up time is fitted (shared by all analytes, phase ratio 1, no
        dispersion, so the boundary conditions do not matter) together with a first-order
        extra-column lag.
    injection : Injection or None, default None
        The injection profile. ``None``: a Gaussian of sd ``dt / sqrt(12)`` (the detector's
        averaging over one sampling step ``dt``); with ``column=None`` a given injection
        must be Gaussian. When either is None, times ``t`` are times since injection.
    baseline : {"none", "linear", "snip", "asls", "auto"}, default "none"
        ``"linear"``: a line fitted jointly with the peaks. ``"snip"``/``"asls"``: a curved
        baseline from ``pybaselines`` subtracted first (smoothing scale from the widest
        detected peak), then a line fitted jointly. ``"auto"``: SNIP on runs longer than
        ten peak bases, the joint line otherwise.
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
    retention_times : array-like of shape (n_hints,) or None
        Known retention times (T) used as starting positions before detected peaks.
    prominence : float in [0, 1), default 0.01
        Smallest prominence of a detected peak (and height of a shoulder) as a fraction of
        the tallest, besides 10 noise sd: the peak-reject threshold of data systems
        and of hplc-py; 0 keeps every peak above the noise threshold.
    peak_shape : {"kinetic", "overload", "auto"} or sequence, default "kinetic"
        ``"kinetic"``: the linear kinetic model for every peak. ``"overload"``: every peak
        overloaded (nonlinear Langmuir or anti-Langmuir isotherm), the Haarhoff-van der
        Linde peak with one more parameter, the loading ``R`` (< 0: steep front and tail,
        > 0: fronting), fitted with the others. ``"auto"``: the peak count is chosen with
        kinetic peaks; then every peak gets a loading, those whose loading the data
        determine (Wald statistic ``(R / se)^2`` above the BIC penalty ``log n_t``, and
        ``|R| <= 10``, where the shape holds) keep it, and that model and the all-kinetic
        one are compared by BIC. A
        sequence gives the shape of each peak in elution order (needs an integer
        ``n_analytes``). Only with ``column`` or ``injection`` None (fitted run
        parameters).

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
    n_analytes_ : int
        Number of analytes fitted.
    run_params_ : ndarray, shape (3,)
        Only when ``column`` or ``injection`` is None: hold-up time, injection sd and
        extra-column lag (T); ``run_stderr_`` their standard errors (0 where held fixed).
    time_scale_ : float
        Only when ``column`` or ``injection`` is None: the time unit of the internal fit (T).
    baseline_curve_ : ndarray, shape (2, n_t)
        Times and the baseline subtracted before the fit (zeros for "none"/"linear").
    peak_shapes_ : ndarray of str, shape (n_analytes,)
        ``"kinetic"`` or ``"overload"`` per peak (elution order).
    loadings_, loading_stderr_ : ndarray, shape (n_analytes,)
        Fitted loading ``R`` of each overloaded peak and its standard error (0 and NaN for
        kinetic peaks).
    peak_table_ : pandas.DataFrame
        One row per peak in elution order: ``retention_time`` (apex, T), ``area``,
        ``area_stderr``, ``height``, ``width_half_height`` (T), ``tailing_factor`` (USP, at
        5 % height), ``plates`` (``5.545 (t_R / w_half)^2``), ``resolution_next``
        (``1.18 dt_R / (w_1 + w_2)``, NaN for the last), ``k_a``, ``k_a_stderr``, ``k_d``,
        ``k_d_stderr``, ``retention_factor``, ``loading``.
    n_iter_ : int
        Function evaluations used (at most ``max_iter``).
    converged_ : bool
        Whether the solver met its tolerance on the standardised problem; a
        ConvergenceWarning is emitted when it did not.
    """

    _parameter_constraints = {
        "n_analytes": _check_n_analytes,
        "column": _check_column,
        "injection": _check_injection,
        "baseline": Options(("none", "linear", "snip", "asls", "auto")),
        "retention_times": _check_retention_times,
        "prominence": Real(low=0.0, high=1.0, high_open=True),
        "random_state": None,
        "n_init": Integer(low=1),
        "max_iter": Integer(low=1),
        "tol": Real(low=0.0, low_open=True),
        "n_terms": Integer(low=8),
        "peak_shape": _check_peak_shape,
    }

    def __init__(
        self,
        n_analytes="auto",
        column=None,
        injection=None,
        baseline="none",
        random_state=None,
        n_init=1,
        max_iter=200,
        tol=1e-10,
        n_terms=128,
        retention_times=None,
        prominence=0.01,
        peak_shape="kinetic",
    ):
        self.n_analytes = n_analytes
        self.column = column
        self.injection = injection
        self.baseline = baseline
        self.retention_times = retention_times
        self.prominence = prominence
        self.random_state = random_state
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_terms = n_terms
        self.peak_shape = peak_shape

    def _eps(self):
        return 0.0 if self.column.dispersion == 0.0 else 1.0 / self.column.peclet

    def _boundary(self):
        # The column's boundary conditions; without dispersion both models coincide.
        return self.column.boundary if self._eps() > 0.0 else "dirichlet"

    # Set during fit when the data do not determine the hold-up time (sharp peaks).
    _hold_t_m = False
    _n_local = None
    # Overloaded analytes (bool mask over the rows of the parameter vector) during a fit.
    _over = None

    def _free(self):
        """Whether run-level parameters (hold-up time, injection width, lag) are fitted."""
        return self.column is None or self.injection is None

    def _peaks(self, t_pad, n_t, z, inj):
        """Unit-area peaks and their Jacobian in standardised time, on shape buckets.

        ``t_pad`` is already padded: one time axis ``(n_t_pad,)`` shared by the peaks or one
        row per peak ``(n_a, n_t_pad)``; the analytes are padded here to a bucket with
        copies of the first one. Each time point and analyte is computed independently, so
        the padded entries are dropped (weight zero) and the result equals the unpadded one;
        with run-level parameters the padded analytes are not evaluated at all. ``inj`` is
        the standardised injection (known column) or the run-level vector
        ``(log t_m, log w, log tau_x)`` (fitted run parameters).
        """
        n_a = z.shape[0]
        # With run-level parameters the peak count is usually chosen automatically and
        # tried at several values: buckets of 8 analytes (at least 8) serve them all.
        if self._free():
            n_pad = _MIN_FREE_ANALYTES * -(-n_a // _MIN_FREE_ANALYTES)
        else:
            n_pad = _pad_analytes(n_a)
        z_pad = pad_axis(z, n_pad, axis=0)
        z_pad[n_a:] = z[0]
        # One row of times per analyte, always: the fit (copies of one axis) and the peak
        # table (a fine grid per peak) then run the same compiled program.
        rows = np.empty((n_pad, t_pad.shape[-1]))
        rows[:] = t_pad if t_pad.ndim == 1 else t_pad[0]
        if t_pad.ndim == 2:
            rows[:n_a] = t_pad
        # NumPy arguments go in as they are: jnp.asarray would compile a transfer program.
        with x64():
            if self._free():
                n_local = self._local_length(rows[0], n_t, z, inj)
                for size in (n_local, None) if n_local else (None,):
                    # A trial step that widens a peak past its slice is evaluated whole.
                    peaks, jac, covered = _core.unit_peaks_shared(
                        rows, z_pad, np.asarray(inj, float), self.n_terms, size, np.int32(n_a)
                    )
                    if bool(covered):
                        break
            else:
                # hold-up time is 1 in standardised time
                peaks, jac = _core.unit_peaks(
                    rows,
                    z_pad,
                    1.0,
                    self._eps(),
                    np.asarray(inj, float),
                    self.injection.kind,
                    self.n_terms,
                    self._boundary(),
                )
            return np.asarray(peaks)[:n_a, :n_t], np.asarray(jac)[:n_a, :n_t]

    def _local_length(self, t_pad, n_t, z, run):
        """Samples per peak for :func:`_core.unit_peaks_shared` (None: the whole run).

        A peak's series lives on ``(_LEFT + _RIGHT)`` outlet sd; the slice is that, for the
        widest peak at the start of the fit with room to widen, rounded up to a bucket and
        kept for the rest of the fit, so a fit compiles one size (and the whole run for a
        trial step that widens a peak past it).
        """
        if self._n_local is not None:
            return self._n_local or None  # 0: the whole run
        dt = float(np.median(np.diff(t_pad[:n_t])))
        sd = np.sqrt(np.exp(2.0 * z[:, 1]).max() + np.exp(2.0 * run[1]) + np.exp(2.0 * run[2]))
        need = 2.0 * (_core._LEFT + _core._RIGHT) * sd / dt
        n_local = padded_length(int(need) + 2, minimum=64)
        self._n_local = n_local if 2 * n_local <= t_pad.size else 0
        return self._n_local or None

    def _baseline_design(self, t):
        if self.baseline == "none":
            return np.zeros((t.size, 0))
        center, half_span = float(t.mean()), float(np.ptp(t) / 2.0)
        return np.column_stack([np.ones_like(t), (t - center) / half_span])

    # ------------------------------------------------------------------ detection
    @staticmethod
    def _noise(y):
        """Robust white-noise standard deviation from first differences (MAD)."""
        d = np.diff(y)
        noise = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0)
        return max(noise, 1e-12 * np.abs(y).max())

    def _detect(self, y0, noise):
        """Peak candidates in a baseline-free signal, strongest first.

        Main peaks are local maxima with a prominence above 10 noise standard deviations
        (the usual limit of quantitation) and ``prominence`` times the tallest peak;
        shoulders are minima of the second derivative, smoothed at a quarter of the peak's
        sd, above 6 x the filtered noise's sd and as high as a main peak must be prominent.
        Returns a list of ``(index, height, sigma in samples, is_main)``.
        """
        smooth = ndimage.gaussian_filter1d(y0, 1.0)
        floor = max(10.0 * noise, self.prominence * float(smooth.max()))
        main, _ = signal.find_peaks(smooth, prominence=floor, width=1.0)
        if main.size == 0:
            raise ValueError("no peak was detected in signal (is it only noise?).")
        widths, _, left, right = signal.peak_widths(smooth, main, rel_height=0.5)
        found = {}
        for w, lo, hi in zip(widths, left, right):
            scale = max(1.0, 0.25 * w / 2.355)
            curv = -ndimage.gaussian_filter1d(y0, scale, order=2)
            height = ndimage.gaussian_filter1d(y0, scale)
            flat = noise * np.sqrt(3.0 / (8.0 * np.sqrt(np.pi) * scale**5))
            span = slice(max(int(lo - w), 0), min(int(hi + w) + 1, y0.size))
            cand, _ = signal.find_peaks(curv[span], height=6.0 * flat)
            for c in cand + span.start:
                if height[c] > max(6.0 * noise, floor):
                    sigma = np.sqrt(max(height[c] / curv[c] - scale**2, 1.0))
                    found.setdefault(int(c), [height[c], sigma, False])
        for i, w in zip(main, widths):
            near = [c for c in found if abs(c - i) <= max(found[c][1], 1.0)]
            if near:
                found[min(near, key=lambda c: abs(c - i))][2] = True
            else:
                found[int(i)] = [smooth[i], max(w / 2.355, 1.0), True]
        idx = sorted(found)
        # Two candidates closer than a peak sd are one peak: keep the main or higher one.
        rank = {i: (found[i][2], found[i][0]) for i in idx}
        keep = [
            i
            for i in idx
            if not any(
                abs(j - i) < max(found[i][1], found[j][1]) and rank[j] > rank[i] for j in idx
            )
        ]
        keep.sort(key=lambda i: (not found[i][2], -found[i][0]))
        return [(i, *found[i]) for i in keep]

    def _starts(self, t, cands, n, hints):
        """``n`` starting peaks ``(index, height, sigma in samples)``, hints first."""
        chosen = []
        if hints is not None:
            for h in hints:
                i = int(np.clip(np.searchsorted(t, h), 0, t.size - 1))
                near = min(cands, key=lambda c: abs(c[0] - i))
                chosen.append((i, near[1], near[2]))
        for c in cands:
            if len(chosen) >= n:
                break
            if all(abs(c[0] - d[0]) >= max(c[2], d[2]) for d in chosen):
                chosen.append(c[:3])
        if len(chosen) < n:
            raise ValueError(
                f"n_analytes={n} but only {len(chosen)} peak(s) were detected in signal; "
                "pass fewer analytes."
            )
        return sorted(chosen[:n])

    def _initial_guess(self, t, starts, coef, inj_mean, inj_var, run=None):
        """Starting vector from detected peaks and moments (standardised units)."""
        dt = float(np.median(np.diff(t)))
        cand = np.array([s[0] for s in starts])
        height = np.array([s[1] for s in starts])
        sigma2 = (np.array([s[2] for s in starts]) * dt) ** 2
        area = height * np.sqrt(2.0 * np.pi * sigma2)
        if self._free():
            sd_min = np.sqrt(sigma2.min())
            w = np.sqrt(inj_var)
            lag = 0.2 * sd_min
            if not self._shared_free()[0]:
                t_m = float(np.exp(run[0]))
            else:
                # The hold-up time is at most the first peak's start; half of it to begin.
                t_m = 0.5 * max(t[cand[0]] - 4.0 * np.sqrt(sigma2[0]), 0.1 * t[cand[0]])
            m = np.maximum(t[cand] - t_m - lag, 0.05 * t[cand])
            var_kin = np.maximum(sigma2 - w**2 - lag**2, 0.25 * sigma2)
            shared = np.log([t_m, w, lag])[self._shared_free()]
            z = np.column_stack([np.log(m), 0.5 * np.log(var_kin), np.log(area)])
            return np.concatenate([z.ravel(), shared, coef])
        m = np.maximum(t[cand] - 1.0 - inj_mean, 0.02)
        disp_var = 2.0 * self._eps() * (1.0 + m) ** 2
        var_kin = np.maximum(sigma2 - inj_var - disp_var, 0.01 * sigma2)
        z = np.column_stack([np.log(m), 0.5 * np.log(var_kin), np.log(area)])
        return np.concatenate([z.ravel(), coef])

    def _shared_free(self):
        """Which of ``(log t_m, log w, log tau_x)`` are fitted (free-run model)."""
        # The injection width is not fitted: for the nearly Gaussian peaks of real columns it
        # only trades variance with the kinetic width, and the fit wanders along that ridge.
        return np.array([self.column is None and not self._hold_t_m, False, True])

    def _shared_vector(self, x, n_a, fixed):
        """The full run-level vector from the fitted entries of ``x`` and the fixed ones."""
        out = np.array(fixed, dtype=float)
        mask = self._shared_free()
        out[mask] = x[3 * n_a : 3 * n_a + mask.sum()]
        return out

    # ------------------------------------------------------------------ fitting
    def _residual_and_jacobian(self, x, t, t_pad, y, inj, n_a):
        z = x[: 3 * n_a].reshape(n_a, 3)
        n_sh = int(self._shared_free().sum()) if self._free() else 0
        run = self._shared_vector(x, n_a, inj) if self._free() else inj
        peaks, jac = self._peaks(t_pad, t.size, z[:, :2], run)
        over = self._over if self._over is not None else np.zeros(n_a, bool)
        n_ov = int(over.sum())
        if n_ov:
            rows = np.broadcast_to(t_pad, (n_ov, t_pad.shape[-1]))
            p_ov, j_ov = self._overload_peaks(rows, t.size, z[over, :2], run, x[x.size - n_ov :])
            peaks, jac = np.array(peaks), np.array(jac)
            peaks[over], jac[over] = p_ov, j_ov[:, :, [0, 1, 3, 4, 5]]
        area = np.exp(z[:, 2])
        design = self._baseline_design(t)
        resid = area @ peaks + design @ x[3 * n_a + n_sh : x.size - n_ov] - y
        cols = np.concatenate(
            [area[:, None, None] * jac[:, :, :2], (area[:, None] * peaks)[:, :, None]], axis=2
        )  # (n_a, n_t, 3)
        blocks = [cols.transpose(1, 0, 2).reshape(t.size, 3 * n_a)]
        if n_sh:
            shared = np.einsum("a,atk->tk", area, jac[:, :, 2:])
            blocks.append(shared[:, self._shared_free()])
        blocks.append(design)
        if n_ov:
            blocks.append((area[over, None] * j_ov[:, :, 2]).T)
        J = np.concatenate(blocks, axis=1)
        return resid, J

    def _overload_peaks(self, rows, n_t, z, run, loading):
        """Overloaded unit peaks (n, n_t) and their Jacobian (n, n_t, 6) on padded ``rows``
        (n, n_t_pad) of standardised time; analytes padded to the fit's bucket of 8."""
        n = z.shape[0]
        n_pad = _MIN_FREE_ANALYTES * -(-n // _MIN_FREE_ANALYTES)
        zz = np.empty((n_pad, 3))
        zz[:] = np.append(z[0], loading[0])
        zz[:n, :2], zz[:n, 2] = z, loading
        rr = np.empty((n_pad, rows.shape[-1]))
        rr[:] = rows[0]
        rr[:n] = rows
        with x64():
            peaks, jac = _core.overload_peaks_shared(rr, zz, np.asarray(run, float))
        return np.asarray(peaks)[:n, :n_t], np.asarray(jac)[:n, :n_t]

    def _pre_baseline(self, t, y, noise):
        """Curved baseline subtracted before the fit (pybaselines), zeros for none/linear."""
        if self.baseline in ("none", "linear"):
            return np.zeros_like(y)
        rough = y - np.median(y)
        try:
            cands = self._detect(rough, noise)
        except ValueError:
            cands = []
        # The baseline's smoothing scale follows the widest peak: a peak's base is about
        # 4 sd wide, and the baseline must not bend inside it.
        base = 4.0 * max([c[2] for c in cands if c[3]], default=3.0)
        if self.baseline == "auto" and t.size < 10.0 * base:
            return np.zeros_like(y)  # a short window: the joint linear baseline suffices
        if self.baseline == "asls":
            from pybaselines.whittaker import asls

            return asls(y, lam=(2.0 * base) ** 4, p=0.01)[0]
        from pybaselines.smooth import snip

        return snip(y, max_half_window=int(np.ceil(base)), decreasing=True, smooth_half_window=1)[0]

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
        self._hold_t_m = False
        self._n_local = None
        self._over = None
        if self.peak_shape != "kinetic" and not self._free():
            raise ValueError(
                "peak_shape other than 'kinetic' needs fitted run parameters "
                "(column=None or injection=None)."
            )
        if not isinstance(self.peak_shape, str) and self.n_analytes == "auto":
            raise ValueError("a peak_shape per peak needs an integer n_analytes.")
        if self.column is None and self.injection is not None and self.injection.kind != "gaussian":
            raise ValueError("with column=None the injection must be Gaussian or None.")
        if self._free() and self.column is not None and self.column.dispersion > 0:
            raise ValueError("fitting run-level parameters needs a dispersion-free column.")
        t = _check_times(t)
        y = check_array(signal, "signal", ndim=1)
        check_same_length(t, y, ("t", "signal"))
        if t[0] < 0.0 and self._free():
            raise ValueError("t must be times since injection (>= 0).")
        # Standardise: time in hold-up times (or in units of the last time when the hold-up
        # time is fitted), signal in units of its largest magnitude, so that the optimiser's
        # tolerances and steps mean the same for any units.
        tau = self.column.hold_up_time if self.column is not None else float(t[-1])
        sig = float(np.max(np.abs(y)))
        if sig == 0.0:
            raise ValueError("signal is identically zero; there is no peak to fit.")
        ts, ys = t / tau, y / sig
        noise = self._noise(ys)
        pre = self._pre_baseline(ts, ys, noise)
        ys_fit = ys - pre
        joint = self.baseline != "none"
        design = self._baseline_design(ts) if joint else np.zeros((ts.size, 0))
        coef = np.zeros(design.shape[1])
        if joint:
            keep = np.ones(ts.size, bool)
            for _ in range(5):  # robust line through the peak-free part
                coef = np.linalg.lstsq(design[keep], ys_fit[keep], rcond=None)[0]
                keep = ys_fit - design @ coef < 3.0 * noise
        cands = self._detect(ys_fit - design @ coef, noise)
        hints = None if self.retention_times is None else self.retention_times / tau
        if self._free():
            if self.injection is not None:
                inj_var = self.injection.variance / tau**2
            else:
                # Unknown injection: the detector's averaging over one sampling interval,
                # a rectangle of one step (variance step^2 / 12), is the narrowest input.
                inj_var = float(np.median(np.diff(ts))) ** 2 / 12.0
            inj_mean = 0.0
            t_m_fixed = 1.0 if self.column is not None else np.nan
            inj = np.log([t_m_fixed, np.sqrt(inj_var), 1.0])
        else:
            inj = _scaled_injection(self.injection, tau)
            inj_mean, inj_var = self.injection.mean / tau, self.injection.variance / tau**2
        if self.n_analytes == "auto":
            n_main = sum(c[3] for c in cands)
            n_hint = 0 if hints is None else hints.size
            low = max(n_main, n_hint, 1)
            counts = range(low, min(len(cands) + n_hint, low + 2) + 1)
        else:
            counts = [self.n_analytes]
        # The time axis goes to a bucketed length, so a new signal length compiles nothing.
        t_pad = pad_axis(ts, padded_length(ts.size), value=ts[-1])
        best, best_bic, self.n_analytes_ = None, np.inf, None
        previous = None
        for n in counts:
            n_par = (
                3 * n + design.shape[1] + (int(self._shared_free().sum()) if self._free() else 0)
            )
            if ts.size <= n_par:
                if best is None:
                    raise ValueError(f"need more than {n_par} samples to fit, got {t.size}.")
                break
            try:
                starts = self._starts(ts, cands, n, hints)
            except ValueError:
                if best is None:
                    raise
                break
            x0 = self._initial_guess(ts, starts, coef, inj_mean, inj_var, inj)
            if previous is not None and previous[1].size - 3 * len(previous[0]) == (
                x0.size - 3 * n
            ):
                x0 = self._warm_start(x0, starts, *previous)
            res = self._solve_run(x0, ts, t_pad, ys_fit, inj, n)
            if self.n_analytes == "auto":
                # A peak the fit shrank below the detection limit (3 noise sd high) is not an
                # analyte: drop it and refit from the remaining starts.
                z = res.x[: 3 * n].reshape(n, 3)
                heights = np.exp(z[:, 2] - z[:, 1]) / np.sqrt(2.0 * np.pi)
                if np.any(heights < 3.0 * noise) and np.sum(heights >= 3.0 * noise) >= 1:
                    starts = [s for s, h in zip(starts, heights) if h >= 3.0 * noise]
                    n = len(starts)
                    x0 = self._initial_guess(ts, starts, coef, inj_mean, inj_var, inj)
                    res = self._solve_run(x0, ts, t_pad, ys_fit, inj, n)
            previous = (starts, res.x)
            rss = 2.0 * res.cost
            # Bayesian information criterion of a Gaussian-noise least-squares fit.
            bic = ts.size * np.log(max(rss, 1e-300) / ts.size) + res.x.size * np.log(ts.size)
            if bic < best_bic:
                best, best_bic, self.n_analytes_ = res, bic, n
                best_run = (self._hold_t_m, inj.copy())
        self._hold_t_m, inj = best_run
        if self.peak_shape != "kinetic":
            best = self._fit_shapes(best, best_bic, ts, t_pad, ys_fit, inj, self.n_analytes_)
        self._store(best, ts, tau, sig, inj, self.n_analytes_)
        self.baseline_curve_ = np.vstack([t, pre * sig])
        self._set_convergence(best.status > 0, best.nfev, self.max_iter, hint="increase max_iter")
        self._peak_table(t)
        return self

    def _fit_shapes(self, best, best_bic, ts, t_pad, ys, inj, n):
        """Give peaks a loading (overload shape) as ``peak_shape`` asks; BIC picks for "auto".

        ``best`` is the kinetic fit of ``n`` peaks; loadings are appended to its parameter
        vector and start at 0 (the Gaussian, where the loading's gradient is not zero).
        Leaves ``self._over`` set for the returned solution.
        """

        def bic(res):
            rss = max(2.0 * res.cost, 1e-300)
            return ts.size * np.log(rss / ts.size) + res.x.size * np.log(ts.size)

        if isinstance(self.peak_shape, str):
            over = np.ones(n, bool)
        else:
            over = np.asarray(self.peak_shape) == "overload"
            if over.size != n:
                raise ValueError(f"peak_shape has {over.size} entries for {n} peaks.")
            if not over.any():
                return best
        self._over = over
        x0 = np.append(best.x, np.zeros(over.sum()))
        # A lag the kinetic fit drove towards zero (log lag -> -inf, no gradient) stalls the
        # trust region; a thousandth of a sampling step is the same model with a gradient.
        lag = 3 * n + int(self._shared_free().sum()) - 1
        x0[lag] = max(x0[lag], np.log(1e-3 * float(np.median(np.diff(ts)))))
        if self.peak_shape != "auto":
            return self._solve(x0, ts, t_pad, ys, inj, n)

        def attempt(mask, x0):
            # In "auto", a shape model whose fit breaks down is not chosen.
            self._over = mask
            try:
                res = self._solve(x0, ts, t_pad, ys, inj, n)
            except (ValueError, DivergenceError, np.linalg.LinAlgError):
                return None
            return res if np.isfinite(res.cost) else None

        res = attempt(over, x0)
        if res is None:
            self._over = None
            return best
        # Per peak: keep the loading where the data determine it (Wald statistic above the
        # BIC's penalty per parameter), then let BIC choose between that and all-kinetic.
        dof = max(ts.size - res.x.size, 1)
        cov = np.linalg.pinv(res.jac.T @ res.jac) * (2.0 * res.cost / dof)
        loading = res.x[res.x.size - n :]
        se = np.sqrt(np.maximum(np.diag(cov)[res.x.size - n :], 1e-300))
        keep = ((loading / se) ** 2 > np.log(ts.size)) & (np.abs(loading) <= _MAX_LOADING)
        options = [(best_bic, best, None)]
        if keep.all():
            options.append((bic(res), res, over))
        elif keep.any():
            # from the kinetic fit, with the kept loadings: the dropped ones may have moved
            # their peaks while they traded with the areas
            sub = attempt(keep, np.concatenate([x0[: x0.size - n], loading[keep]]))
            if sub is not None:
                options.append((bic(sub), sub, keep))
        _, chosen, self._over = min(options, key=lambda o: o[0])
        return chosen

    @staticmethod
    def _warm_start(x0, starts, prev_starts, prev_x):
        """Start the next peak count from the last fit: its peaks, run parameters and
        baseline, with only the added candidates at their detected values."""
        n, n_prev = len(starts), len(prev_starts)
        x = x0.copy()
        rows = prev_x[: 3 * n_prev].reshape(n_prev, 3)
        index = {s[0]: k for k, s in enumerate(prev_starts)}
        for k, s in enumerate(starts):
            if s[0] in index:
                x[3 * k : 3 * k + 3] = rows[index[s[0]]]
        x[3 * n :] = prev_x[3 * n_prev :]
        return x

    def _solve_run(self, x0, ts, t_pad, ys, inj, n_a):
        """:meth:`_solve`, holding the hold-up time where the data do not determine it.

        Sharp peaks (A of 1e4 and more) are nearly Gaussian whatever the hold-up time, so
        the fit would drift along a flat valley without converging. When the log hold-up
        time is uncertain by more than 10 % (from the Jacobian at the start, or where the
        fit stopped at ``max_iter``), the hold-up time is held there (``run_stderr_[0]`` is
        NaN) and the other parameters are fitted.
        """
        if not self._shared_free()[0]:
            return self._solve(x0, ts, t_pad, ys, inj, n_a)

        def undetermined(x, resid, jac):
            dof = max(ts.size - x.size, 1)
            cov = np.linalg.pinv(jac.T @ jac) * (resid @ resid / dof)
            return np.sqrt(max(cov[3 * n_a, 3 * n_a], 0.0)) > 0.1

        def hold(x):
            inj[0] = x[3 * n_a]
            self._hold_t_m = True
            return self._solve(np.delete(x, 3 * n_a), ts, t_pad, ys, inj, n_a)

        if undetermined(x0, *self._residual_and_jacobian(x0, ts, t_pad, ys, inj, n_a)):
            return hold(x0)
        res = self._solve(x0, ts, t_pad, ys, inj, n_a)
        if res.status > 0 or not undetermined(res.x, res.fun, res.jac):
            return res
        return hold(res.x)

    def _solve(self, x0, ts, t_pad, ys, inj, n_a):
        rng = as_generator(self.random_state)
        cache = {}

        def evaluate(x):
            key = x.tobytes()
            if key not in cache:
                cache.clear()
                r, J = self._residual_and_jacobian(x, ts, t_pad, ys, inj, n_a)
                if not np.all(np.isfinite(J)):
                    # a non-finite residual makes the trust-region solver reject the step
                    r = np.full_like(r, np.nan)
                cache[key] = (r, J)
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
            res = optimize.least_squares(
                lambda x: evaluate(x)[0],
                xs,
                jac=lambda x: evaluate(x)[1],
                method="trf",
                x_scale="jac",
                ftol=self.tol,
                xtol=self.tol,
                gtol=self.tol,
                max_nfev=self.max_iter,
            )
            if not (np.all(np.isfinite(res.fun)) and np.all(np.isfinite(res.x))):
                raise DivergenceError("the fit diverged (non-finite residuals).")
            if best is None or res.cost < best.cost:
                best = res
        return best

    def _store(self, res, ts, tau, sig, inj, n_a):
        """Fitted attributes in the user's units from the standardised solution ``res``."""
        x = res.x
        J = res.jac
        dof = max(ts.size - x.size, 1)
        std = float(np.sqrt(2.0 * res.cost / dof))  # standardised signal units
        cov = np.linalg.pinv(J.T @ J) * std**2
        z = x[: 3 * n_a].reshape(n_a, 3)
        order = np.argsort(z[:, 0])
        n_sh = int(self._shared_free().sum()) if self._free() else 0
        alpha = self.column.phase_ratio if self.column is not None else 1.0
        if self._free():
            run = self._shared_vector(x, n_a, inj)
            t_m = float(np.exp(run[0]))
            self.time_scale_ = tau
            self.run_params_ = np.exp(run) * tau  # hold-up time, injection sd, lag (T)
            run_err = np.zeros(3)
            idx = 3 * n_a + np.arange(n_sh)
            run_err[self._shared_free()] = (
                np.sqrt(np.diag(cov)[idx]) * self.run_params_[self._shared_free()]
            )
            if self._hold_t_m:
                run_err[0] = np.nan  # held: not determined by the data
            self.run_stderr_ = run_err
        else:
            t_m = 1.0
        # back to user units: times x tau, areas x sig x tau
        m, sd = np.exp(z[:, 0]) * tau, np.exp(z[:, 1]) * tau
        area = np.exp(z[:, 2]) * sig * tau
        k_d = 2.0 * m / sd**2
        k_a = m * k_d / (alpha * t_m * tau)
        stderr = np.zeros((n_a, 3))
        t_m_free = self._free() and self._shared_free()[0]
        for i in range(n_a):
            # d log(k_a, k_d, area) / d(log m, log sd, log area[, log t_m])
            rows = [3 * i, 3 * i + 1, 3 * i + 2] + ([3 * n_a] if t_m_free else [])
            block = cov[np.ix_(rows, rows)]
            G = np.array([[2.0, -2.0, 0.0], [1.0, -2.0, 0.0], [0.0, 0.0, 1.0]])
            if t_m_free:
                G = np.column_stack([G, [-1.0, 0.0, 0.0]])
            scale = np.array([k_a[i], k_d[i], area[i]])
            stderr[i] = scale * np.sqrt(np.diag(G @ block @ G.T))
        perm = np.concatenate(
            [(3 * order[:, None] + np.arange(3)).ravel(), np.arange(3 * n_a, x.size)]
        )
        over = self._over if self._over is not None else np.zeros(n_a, bool)
        n_ov = int(over.sum())
        n_coef = x.size - 3 * n_a - n_sh - n_ov
        # the baseline coefficients are in standardised signal units, the loadings unitless
        unit = np.concatenate([np.ones(3 * n_a + n_sh), np.full(n_coef, sig), np.ones(n_ov)])
        self.covariance_ = (cov * np.outer(unit, unit))[np.ix_(perm, perm)]
        self.residual_std_ = std * sig
        self.params_ = np.column_stack([k_a, k_d, area])[order]
        self.stderr_ = stderr[order]
        self.areas_ = self.params_[:, 2].copy()
        self.retention_factors_ = alpha * self.params_[:, 0] / self.params_[:, 1]
        self.analytes_ = [
            Analyte(float(a), float(d), f"peak {i + 1}")
            for i, (a, d) in enumerate(self.params_[:, :2])
        ]
        loadings, load_err = np.zeros(n_a), np.full(n_a, np.nan)
        loadings[over] = x[x.size - n_ov :]
        load_err[over] = np.sqrt(np.maximum(np.diag(cov)[x.size - n_ov :], 0.0))
        self.loadings_, self.loading_stderr_ = loadings[order], load_err[order]
        self.peak_shapes_ = np.where(over, "overload", "kinetic")[order]
        coef = x[3 * n_a + n_sh : 3 * n_a + n_sh + n_coef] * sig
        if coef.size:
            center, half_span = float(ts.mean()) * tau, float(np.ptp(ts) / 2.0) * tau
            slope = coef[1] / half_span
            self.baseline_ = np.array([coef[0] - slope * center, slope])
        else:
            self.baseline_ = np.zeros(2)

    # ------------------------------------------------------------------ prediction
    def _unit_model(self):
        """Time unit ``tau``, peaks ``z = (log m, log sd)`` (n_a, 2) and the injection or
        run-level vector of the fitted model, in the standardised units of the fit."""
        k_a, k_d, _ = self.params_.T
        alpha = self.column.phase_ratio if self.column is not None else 1.0
        if self._free():
            tau = self.time_scale_
            t_m, w, lag = self.run_params_
            inj = np.log(np.array([t_m, w, lag]) / tau)
        else:
            tau = t_m = self.column.hold_up_time
            inj = _scaled_injection(self.injection, tau)
        A = alpha * k_a * t_m
        z = np.log(np.column_stack([A / k_d, np.sqrt(2.0 * A) / k_d]) / tau)
        return tau, z, inj

    def _components_on(self, t, n_t):
        """Components (n_a, n_t) on padded standardised times ``t``, (n_t_pad,) or one row
        per analyte (n_a, n_t_pad), in signal units."""
        tau, z, inj = self._unit_model()
        peaks, _ = self._peaks(t / tau, n_t, z, inj)
        over = self.peak_shapes_ == "overload"
        if over.any():
            rows = np.broadcast_to(t / tau, z.shape[:1] + t.shape[-1:]) if t.ndim == 1 else t / tau
            peaks = np.array(peaks)
            peaks[over] = self._overload_peaks(rows[over], n_t, z[over], inj, self.loadings_[over])[
                0
            ]
        return (self.params_[:, 2] / tau)[:, None] * peaks

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
        # Padded to the fit's bucket: a prediction on the fitted times compiles nothing.
        return self._components_on(pad_axis(t, padded_length(t.size), value=t[-1]), t.size)

    def predict_baseline(self, t):
        """Baseline (subtracted curve interpolated, plus the jointly fitted line).

        Parameters
        ----------
        t : array-like, shape (n_t,)
            Strictly increasing times (T).

        Returns
        -------
        ndarray, shape (n_t,)
            Signal units.
        """
        self._check_fitted()
        t = _check_times(t)
        curve_t, curve = self.baseline_curve_
        return np.interp(t, curve_t, curve) + self.baseline_[0] + self.baseline_[1] * t

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
        return comps.sum(axis=0) + self.predict_baseline(t)

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

    # ------------------------------------------------------------------ peak table
    def _peak_table(self, t):
        """Chromatographic figures of merit of each fitted peak, on a fine time grid."""
        import pandas as pd

        # Each peak is measured on its own fine grid from below its 5 % height to above it.
        # The grids are the rows of one array of the fitted times' bucket, so the table runs
        # the fit's compiled program; with the sliced free-run core, each grid has as many
        # points as a peak's slice (the rest repeats its end), so every peak stays inside it.
        coarse = self.predict_components(t)
        dt = float(np.median(np.diff(t)))
        n_bucket = padded_length(t.size)
        n_grid = min(n_bucket, self._n_local) if self._free() and self._n_local else n_bucket
        grids = np.empty((coarse.shape[0], n_bucket))
        for i, c0 in enumerate(coarse):
            k0 = int(np.argmax(c0))
            fwhm = max(float(np.sum(c0 >= 0.5 * c0[k0])) * dt, 2.0 * dt)
            below = np.nonzero(c0 < 0.05 * c0[k0])[0]
            lo = below[below < k0].max(initial=0)
            hi = below[below > k0].min(initial=t.size - 1)
            grids[i, :n_grid] = np.linspace(
                max(t[lo] - fwhm, t[0]), min(t[hi] + fwhm, t[-1]), n_grid
            )
            grids[i, n_grid:] = grids[i, n_grid - 1]
        fine = self._components_on(grids, n_grid)
        rows = []
        for i, c in enumerate(fine):
            grid = grids[i, :n_grid]
            k = int(np.clip(np.argmax(c), 1, n_grid - 2))
            # apex: vertex of the parabola through the largest value and its neighbours
            c_l, c_0, c_r = c[k - 1], c[k], c[k + 1]
            curv = c_l - 2.0 * c_0 + c_r
            shift = 0.5 * (c_l - c_r) / curv if curv < 0 else 0.0
            height = float(c_0 - 0.25 * (c_l - c_r) * shift)
            t_r = float(grid[k] + shift * (grid[1] - grid[0]))

            def crossing(frac, c=c, k=k, height=height, grid=grid):
                level = frac * height
                left = np.nonzero(c[:k] < level)[0]
                right = np.nonzero(c[k:] < level)[0]
                a = (
                    np.interp(level, [c[left[-1]], c[left[-1] + 1]], grid[left[-1] : left[-1] + 2])
                    if left.size
                    else grid[0]
                )
                j = k + right[0] if right.size else grid.size - 1
                b = (
                    np.interp(level, [c[j], c[j - 1]], [grid[j], grid[j - 1]])
                    if right.size
                    else grid[-1]
                )
                return a, b

            a50, b50 = crossing(0.5)
            a5, b5 = crossing(0.05)
            fwhm = b50 - a50
            rows.append(
                {
                    "retention_time": t_r,
                    "area": self.areas_[i],
                    "area_stderr": self.stderr_[i, 2],
                    "height": height,
                    "width_half_height": fwhm,
                    "tailing_factor": (b5 - a5) / (2.0 * (t_r - a5)) if t_r > a5 else np.nan,
                    "plates": 5.545 * (t_r / fwhm) ** 2 if fwhm > 0 else np.nan,
                    "k_a": self.params_[i, 0],
                    "k_a_stderr": self.stderr_[i, 0],
                    "k_d": self.params_[i, 1],
                    "k_d_stderr": self.stderr_[i, 1],
                    "retention_factor": self.retention_factors_[i],
                    "loading": self.loadings_[i],
                }
            )
        table = pd.DataFrame(rows)
        order = np.argsort(table["retention_time"].to_numpy())
        table = table.iloc[order].reset_index(drop=True)
        tr, w = table["retention_time"].to_numpy(), table["width_half_height"].to_numpy()
        res = np.full(tr.size, np.nan)
        res[:-1] = 1.18 * (tr[1:] - tr[:-1]) / (w[1:] + w[:-1])
        table.insert(6, "resolution_next", res)
        table.index = pd.RangeIndex(1, len(table) + 1, name="peak")
        self.peak_table_ = table

    def plot(self, t, signal, ax=None):
        """Data, fitted peaks, baseline and residual.

        Parameters
        ----------
        t, signal : array-like, shape (n_t,)
            The chromatogram the estimator was fitted to (T, signal units).
        ax : pair of matplotlib Axes or None
            Top (signal) and bottom (residual) panels; new figure when None.

        Returns
        -------
        fig, (ax_top, ax_bottom)
        """
        from solvers.chromatography.plotting import plot_chromatogram

        self._check_fitted()
        return plot_chromatogram(self, t, signal, axes=ax)
