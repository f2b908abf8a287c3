"""Data-driven initial spectral mixture (NumPy; runs once per fit, before the jitted loop).

The solution's power spectrum is estimated from the data the solver has, before any fit:

1. the source ``f`` on the grid, windowed (Hann, per dimension) and Fourier transformed, then
   divided by the operator's symbol: for ``L[u] = sum_k c_k d^{a_k} u`` (coefficients ``c_k``
   of the operator linearised at ``u = 0``, averaged over the grid) a Fourier mode
   ``exp(2 pi i s . x)`` of ``u`` gives ``sigma(s) = sum_k c_k prod_j (2 pi i s_j)^{a_kj}``
   times itself in ``f``, so ``|u_hat(s)|^2 ~ |f_hat(s)|^2 / |sigma(s)|^2``;
2. in two or more dimensions, the Dirichlet data on each face of the box (the solution
   itself there), windowed and transformed along the face;
3. each dimension's marginal power (the sum over the other frequencies, folded to ``s >= 0``).

Components are placed at the peaks of each marginal, strongest first, then at the strongest
remaining frequency bins (the neighbours of the peaks: the spacing ``1 / L`` of the bins is the
resolution a component needs to find a frequency by gradient steps); a few zero-frequency
components of long correlation length carry the smooth trend that a periodogram cannot
resolve. Weights follow the estimated power, with a floor so that no component starts pruned.
"""

from __future__ import annotations

import numpy as np

__all__ = ["marginal_spectra", "initial_mixture"]

# relative power below which a frequency bin counts as empty (windowed leakage and rounding)
_EMPTY = 1e-12
# weight floor, relative to the mean weight: log-weights move by about learning_rate per step,
# so a component far below the floor would take hundreds of steps to come back
_FLOOR = 1e-2


def _hann(m):
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * (np.arange(m) + 0.5) / m)


def _periodogram(values, spacings):
    """Power per FFT bin of a windowed D-dim array, normalised to mean-square units (the
    sum over bins is the window-weighted mean square). Returns power and the frequency
    grids (cycles per unit length)."""
    w = np.ones(())
    for j, m in enumerate(values.shape):
        shape = [1] * values.ndim
        shape[j] = m
        w = w * _hann(m).reshape(shape)
    F = np.fft.fftn(values * w)
    power = np.abs(F) ** 2 / (np.sum(w**2) * values.size)
    freqs = [np.fft.fftfreq(m, h) for m, h in zip(values.shape, spacings)]
    return power, freqs


def _fold(power_1d, m):
    """Fold a two-sided 1-D spectrum (FFT order) onto the bins ``k = 0 .. m // 2``."""
    k = np.rint(np.abs(np.fft.fftfreq(m) * m)).astype(int)
    out = np.zeros(m // 2 + 1)
    np.add.at(out, k, power_1d)
    return out


def marginal_spectra(source, face_values, spacings, symbol_terms):
    """Estimated power spectrum of the solution, per dimension, on the FFT bins.

    Parameters
    ----------
    source : ndarray, shape (M_1, ..., M_D)
        ``f`` on the grid.
    face_values : list of (j, ndarray)
        Dirichlet data on the faces: ``(j, g)`` with ``g`` the values on a face normal to
        dimension ``j`` (shape of the grid with axis ``j`` removed).
    spacings : sequence of D floats
        Grid spacings ``h_j`` (units of the inputs).
    symbol_terms : list of (coefficient, orders)
        The linearised operator: ``sum_k c_k d^{orders_k}``.

    Returns
    -------
    list of D arrays, shape (M_j // 2 + 1,)
        Power (mean-square units of ``u``) at ``s = k / (M_j h_j)``, ``k = 0 .. M_j // 2``.
    """
    D = source.ndim
    power, freqs = _periodogram(source - source.mean(), spacings)
    mesh = np.meshgrid(*freqs, indexing="ij")
    sym = np.zeros(source.shape, dtype=complex)
    for c, orders in symbol_terms:
        term = np.full(source.shape, complex(c))
        for j, a in enumerate(orders):
            term = term * (2j * np.pi * mesh[j]) ** a
        sym = sym + term
    mag = np.abs(sym)
    ok = mag > 1e-12 * max(mag.max(), 1e-300)
    pu = np.where(ok, power / np.where(ok, mag, 1.0) ** 2, 0.0)
    out = []
    for j in range(D):
        other = tuple(i for i in range(D) if i != j)
        p = _fold(pu.sum(axis=other) if other else pu, source.shape[j])
        for jf, g in face_values:
            if jf == j or g.ndim == 0:
                continue
            # the face lacks axis jf; axis j of the grid is axis j - (jf < j) of the face
            jj = j - (jf < j)
            sp = [h for i, h in enumerate(spacings) if i != jf]
            pg, _ = _periodogram(g - g.mean(), sp)
            rest = tuple(i for i in range(g.ndim) if i != jj)
            n_faces = sum(1 for jf2, _ in face_values if jf2 != j)
            p = p + _fold(pg.sum(axis=rest) if rest else pg, g.shape[jj]) / n_faces
        out.append(p)
    return out


def _peaks(p):
    """Indices ``k >= 1`` of local maxima of ``p`` above the empty level, strongest first."""
    top = p[1:].max() if p.size > 1 else 0.0
    if top <= 0.0:
        return np.zeros(0, int)
    left = np.concatenate([[-np.inf], p[:-1]])
    right = np.concatenate([p[1:], [-np.inf]])
    k = np.flatnonzero((p >= left) & (p >= right) & (p > _EMPTY * top))
    k = k[k >= 1]
    return k[np.argsort(-p[k], kind="stable")]


def _refine(p, k):
    """Sub-bin peak position by a parabola through the log power at ``k - 1, k, k + 1``."""
    if k < 1 or k + 1 >= p.size or min(p[k - 1], p[k], p[k + 1]) <= 0.0:
        return float(k)
    a, b, c = np.log(p[k - 1]), np.log(p[k]), np.log(p[k + 1])
    den = a - 2.0 * b + c
    return float(k + (0.5 * (a - c) / den if den < 0 else 0.0))


def initial_mixture(spectrum, length, n_components, n_low):
    """Frequencies, weights and scales of one dimension's initial mixture.

    Parameters
    ----------
    spectrum : ndarray, shape (M // 2 + 1,)
        Estimated power at ``s = k / length``.
    length : float
        ``M h``: the period of the FFT bins (units of the input).
    n_components : int
        Q.
    n_low : int
        Zero-frequency components (trend), ``1 <= n_low <= Q``.

    Returns
    -------
    freqs, weights, scales : ndarrays, shape (Q,)
        Cycles per unit length; weights sum to 1; scales in cycles per unit length.
    """
    Q = n_components
    p = np.maximum(np.asarray(spectrum, float), 0.0)
    n_high = Q - n_low
    bins = []
    if n_high > 0 and p.size > 1 and p[1:].max() > 0.0:
        peaks = _peaks(p)
        bins = [_refine(p, int(k)) for k in peaks[:n_high]]
        used = set(int(k) for k in peaks[:n_high])
        rest = [int(k) for k in np.argsort(-p, kind="stable") if k >= 1 and k not in used]
        rest = [k for k in rest if p[k] > _EMPTY * p[1:].max()]
        bins += [float(k) for k in rest[: n_high - len(bins)]]
    n_fill = n_high - len(bins)
    if n_fill > 0:
        # nothing left in the spectrum: spread the rest over the band that holds power
        hi = max(bins) if bins else max(p.size - 1, 1) / 4.0
        bins += list(np.linspace(0.0, 2.0 * hi, n_fill + 2)[1:-1])
    k = np.asarray(bins, float)
    freqs = np.concatenate([np.zeros(n_low), k / length])
    pk = np.interp(k, np.arange(p.size), p) if k.size else np.zeros(0)
    # the trend's power is unknown to the periodogram: the zero-frequency components together
    # get the weight of the strongest component
    high = pk / pk.sum() if pk.size and pk.sum() > 0 else np.full(k.size, 1.0 / max(k.size, 1))
    low = np.full(n_low, max(high.max() if high.size else 1.0, 1.0 / Q) / n_low)
    w = np.concatenate([low, high])
    w = np.maximum(w / w.sum(), _FLOOR / Q)
    w = w / w.sum()
    # one bin's width: the peaks are resolved to this; the trend components are one and four
    # domain lengths of correlation
    scales = np.full(Q, 1.0 / (2.0 * np.pi * length))
    scales[:n_low] = np.geomspace(1.0, 4.0, n_low) / (2.0 * np.pi * length)
    return freqs, w, scales
