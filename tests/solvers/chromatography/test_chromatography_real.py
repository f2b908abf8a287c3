"""ChromatogramFit with everything automatic, on a real GC-FID run and on synthetic BTEX.

All fits here share one compiled program (1024-sample bucket, 8-analyte bucket).
"""

import warnings

import numpy as np
import pytest

from solvers.chromatography import (
    ChromatogramFit,
    datasets,
    outlet_concentration,
    read_chromatogram,
)
from tests.contract import count_compilations


def _fit(t, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ChromatogramFit(**kwargs).fit(t, y)


@pytest.fixture(scope="module")
def gc():
    run = read_chromatogram(datasets.data_path("agilent_gc_fid.ch")).window(370.0, 500.0)
    return run, _fit(run.t, run.signal, baseline="linear")


def test_real_run_count_fit_and_area(gc):
    run, fit = gc
    # hplc-py finds one peak in 370-400 s and two in 460-500 s; the 419 s peak lies between
    assert fit.n_analytes_ == 4 and fit.converged_
    assert fit.score(run.t, run.signal) > 0.999
    # independent area of the isolated 384 s peak: trapezoid above the line joining the
    # signal's means just before and after it
    part = run.window(374.0, 396.0)
    t, y = part.t, part.signal
    base = np.interp(t, [t[0], t[-1]], [y[:5].mean(), y[-5:].mean()])
    area = np.trapezoid(y - base, t)
    assert fit.peak_table_["area"].iloc[0] == pytest.approx(area, rel=0.02)
    assert np.all(fit.areas_ > 0.0)
    t_m, w, lag = fit.run_params_
    assert 0.0 < t_m < run.t[0] and lag > 0.0 and w == pytest.approx(0.2 / np.sqrt(12), 1e-3)


def test_peak_table(gc):
    run, fit = gc
    table = fit.peak_table_
    row = table.iloc[0]
    apex = run.t[np.argmax(run.signal)]
    assert abs(row["retention_time"] - apex) < 0.2  # one sampling step
    # half-height width read straight off the data, by linear interpolation
    part = run.window(374.0, 396.0)
    y = part.signal - fit.predict_baseline(part.t)
    half = 0.5 * y.max()
    above = np.nonzero(y >= half)[0]
    lo, hi = above[0], above[-1]
    left = np.interp(half, [y[lo - 1], y[lo]], part.t[lo - 1 : lo + 1])
    right = np.interp(half, [y[hi + 1], y[hi]], [part.t[hi + 1], part.t[hi]])
    assert row["width_half_height"] == pytest.approx(right - left, rel=0.1)
    tr, w = table["retention_time"].to_numpy(), table["width_half_height"].to_numpy()
    np.testing.assert_allclose(table["plates"], 5.545 * (tr / w) ** 2)
    np.testing.assert_allclose(
        table["resolution_next"].to_numpy()[:-1], 1.18 * np.diff(tr) / (w[1:] + w[:-1])
    )
    assert np.all(np.diff(tr) > 0) and np.isnan(table["resolution_next"].iloc[-1])
    assert np.all((table["tailing_factor"] > 0.8) & (table["tailing_factor"] < 2.0))
    assert np.all(table["area_stderr"] > 0) and np.all(np.isfinite(table["k_d_stderr"]))


def test_new_run_length_compiles_nothing(gc):
    run = read_chromatogram(datasets.data_path("agilent_gc_fid.ch")).window(365.0, 480.0)
    with count_compilations() as c:
        fit = _fit(run.t, run.signal, baseline="linear")
    assert c.count == 0 and fit.n_analytes_ == 3


def test_first_fit_compiles_once_and_a_new_length_nothing():
    """The fit and its peak table run one compiled program; a new length in the bucket none.

    ``n_terms=96`` is used by no other test, so the first fit here compiles from scratch.
    """
    gc_run = read_chromatogram(datasets.data_path("agilent_gc_fid.ch"))
    a, b = gc_run.window(280.0, 320.0), gc_run.window(370.0, 400.0)  # 200 and 150 samples
    with count_compilations() as first:
        _fit(a.t, a.signal, baseline="linear", n_terms=96)
    with count_compilations() as refit:
        fit = _fit(b.t, b.signal, baseline="linear", n_terms=96)
    assert (first.count, refit.count) == (1, 0)
    assert fit.n_analytes_ == 1 and len(fit.peak_table_) == 1
    # known column and injection: the other core, also once
    data = datasets.btex("sharp", noise=0.01, random_state=0, sampling_rate=1.0)
    with count_compilations() as known:
        fit = _fit(
            data.t,
            data.signal,
            n_analytes=4,
            column=data.column,
            injection=data.injection,
            n_terms=96,
        )
    assert known.count == 1
    # the table's apex, height and half-height width against the fitted model evaluated
    # densely by the independent single-profile inversion (the shapes of the test below)
    table = fit.peak_table_
    for i, row in table.iterrows():
        fine = np.linspace(row["retention_time"] - 10.0, row["retention_time"] + 10.0, 1000)
        c = outlet_concentration(data.column, fit.analytes_, data.injection, fine)[i - 1]
        c = c * fit.areas_[i - 1] / data.injection.amount
        k = int(np.argmax(c))
        assert abs(row["retention_time"] - fine[k]) <= fine[1] - fine[0]
        assert row["height"] == pytest.approx(c[k], rel=1e-4)
        above = np.nonzero(c >= 0.5 * c[k])[0]
        width = (above[-1] - above[0]) * (fine[1] - fine[0])
        assert row["width_half_height"] == pytest.approx(width, abs=2 * (fine[1] - fine[0]))


def test_automatic_count_and_snip_baseline_on_synthetic_btex(gc):
    data = datasets.btex("sharp", noise=0.01, random_state=0, sampling_rate=1.0, drift=0.2)
    fit = _fit(data.t, data.signal, baseline="snip")
    assert fit.n_analytes_ == 4
    # apexes of the true model, each on a fine grid around it (same shapes as the data's)
    apex = []
    for i, t_r in enumerate(datasets.RETENTION_TIMES):
        fine = np.linspace(t_r - 10.0, t_r + 10.0, 1000)
        truth = outlet_concentration(data.column, data.analytes, data.injection, fine)[i]
        apex.append(fine[np.argmax(truth)])
    np.testing.assert_allclose(fit.peak_table_["retention_time"], apex, atol=0.3)
    np.testing.assert_allclose(fit.areas_, data.areas, rtol=0.03)


def test_units_do_not_change_the_fit(gc):
    run, fit = gc
    minutes = _fit(run.t / 60.0, run.signal * 1e3, baseline="linear")
    ref, new = fit.peak_table_, minutes.peak_table_
    np.testing.assert_allclose(new["retention_time"] * 60.0, ref["retention_time"], rtol=1e-7)
    np.testing.assert_allclose(new["area"] * 60.0 / 1e3, ref["area"], rtol=1e-6)
    np.testing.assert_allclose(new["tailing_factor"], ref["tailing_factor"], rtol=1e-5)
    np.testing.assert_allclose(minutes.run_params_ * 60.0, fit.run_params_, rtol=1e-6)
    assert minutes.score(run.t / 60.0, run.signal * 1e3) == pytest.approx(
        fit.score(run.t, run.signal), abs=1e-10
    )


def test_local_slices_equal_the_whole_run_evaluation():
    """Peaks summed on per-peak slices equal the whole-run sums (values and Jacobian)."""
    import jax.numpy as jnp

    from mixtures import x64
    from solvers.chromatography import _core

    # the shapes of the fits above (1024 samples, 8 analytes, 128 terms, 512-sample slices)
    t = np.linspace(0.0, 1.0, 1024)
    # narrow peaks at both ends and inside, one tailing (A = 2 m^2 / sd^2 = 89); 512 samples
    # hold 52 outlet sd of each
    z = np.log([[0.02, 0.003], [0.4, 0.002], [0.41, 0.0035], [0.98, 0.002]] * 2)
    wide = z.copy()
    wide[2, 1] = np.log(0.05)  # 52 sd no longer fit in 512 samples
    shared = np.log([0.02, 0.001, 0.002])
    with x64():
        args = (jnp.asarray(t), jnp.asarray(z), jnp.asarray(shared), 128)
        whole = [np.asarray(a) for a in _core.unit_peaks_shared(*args)]
        local = [np.asarray(a) for a in _core.unit_peaks_shared(*args, 512)]
        short = _core.unit_peaks_shared(args[0], jnp.asarray(wide), args[2], 128, 512)
        # as the estimator calls it: one row of times per analyte, only the first 6 computed
        rows = np.tile(t, (8, 1))
        first = [np.asarray(a) for a in _core.unit_peaks_shared(rows, z, shared, 128, 512, 6)]
    assert bool(whole[2]) and bool(local[2]) and not bool(short[2]) and bool(first[2])
    scale = np.abs(whole[0]).max()
    np.testing.assert_allclose(local[0], whole[0], rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(local[1], whole[1], rtol=0, atol=1e-12 * np.abs(whole[1]).max())
    np.testing.assert_allclose(first[0][:6], whole[0][:6], rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(
        first[1][:6], whole[1][:6], rtol=0, atol=1e-12 * np.abs(whole[1]).max()
    )
    assert not np.any(first[0][6:]) and not np.any(first[1][6:])
