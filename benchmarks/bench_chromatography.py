"""Benchmark of the chromatography solver.

1. Outlet profile at equal accuracy (1e-4 of the peak height): closed form and Laplace
   inversion against the method-of-lines PDE solver (grid doubled until it reaches 1e-4).
2. A whole four-analyte BTEX fit, after compilation.
3. Batch evaluation of 1,000 parameter sets: ``jax.vmap`` against a Python loop.
4. Parameter recovery over 20 seeds (sharp and tailing sets, 1 % noise): median relative
   error of (k_a, k_d) and coverage of the 95 % intervals from ``stderr_``.
5. Real chromatograms (the files shipped in ``solvers/chromatography/data``), window by
   window, side by side with hplc-py (skew-normal peaks on a SNIP baseline; GPL, installed
   by the user for the comparison only, ``pip install hplc-py``; its column is skipped when
   missing): R^2 against the raw signal (peaks plus each method's own baseline), number of
   parameters, automatic peak count, retention times, areas and time. Written to
   ``docs/benchmarks.md`` (section ``chromatography-real``).

The paper (Cabrera-Codony et al. 2024) reports no timings or errors in its abstract ("much
faster than the full numerical solution"); the goals below are the issue's.

   Each window is also fitted with ``peak_shape="auto"`` (overloaded Haarhoff-van der Linde
   peaks where BIC keeps them).
6. Overload and temperature programmes against their PDE references (section
   ``chromatography-extensions``): the Haarhoff-van der Linde peak against the
   method-of-lines equilibrium-dispersive model with a Langmuir isotherm, and the programmed
   retention time and width against the kinetic PDE with time-varying rates.

Parts 1-4 are written to ``docs/benchmarks.md`` (section ``chromatography-synthetic``).

Run: ``python benchmarks/bench_chromatography.py [--quick] [--sharp-pde] [--real-only |
--synthetic-only | --extensions-only] [--no-write]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mixtures import x64
from solvers.chromatography import (
    Analyte,
    ChromatogramFit,
    Column,
    Injection,
    _core,
    datasets,
    outlet_concentration,
)


def best_time(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def pde_at_accuracy(column, item, inj, t, ref, tol=1e-4, start=50, max_cells=16000):
    """Smallest doubling of the grid reaching ``tol``; returns (cells, error, seconds)."""
    n = start
    while True:
        begin = time.perf_counter()
        out = outlet_concentration(column, item, inj, t, method="pde", n_cells=n)
        elapsed = time.perf_counter() - begin
        err = np.max(np.abs(out - ref)) / np.max(ref)
        if err <= tol or 2 * n > max_cells:
            return n, err, elapsed
        n *= 2


def laplace_at_accuracy(column, item, inj, t, ref, tol=1e-4):
    """Fewest Fourier terms (powers of 2 from 16) reaching ``tol``, timed after compilation."""
    n = 16
    while True:
        out = outlet_concentration(column, item, inj, t, n_terms=n)
        err = np.max(np.abs(out - ref)) / np.max(ref)
        if err <= tol or n >= 1024:
            secs = best_time(lambda n=n: outlet_concentration(column, item, inj, t, n_terms=n))
            return n, err, secs
        n *= 2


def bench_profiles(sharp_pde):
    rows = []
    # (a) D = 0, broad tailing peak, rectangular injection: closed form as reference.
    col = Column(length=1.0, velocity=1.0 / 60.0)
    cases = [
        (
            "D=0, A=50, rect. 1 s",
            col,
            Analyte(50.0 / 60.0, 0.5),
            Injection.rectangular(1.0),
            np.linspace(0.0, 400.0, 801),
        )
    ]
    if sharp_pde:
        cases.append(
            (
                "D=0, A=1e4, rect. 1 s",
                col,
                Analyte(1e4 / 60.0, 70.0),
                Injection.rectangular(1.0),
                np.linspace(150.0, 260.0, 551),
            )
        )
    for name, column, item, inj, t in cases:
        exact = outlet_concentration(column, item, inj, t, method="analytic")
        t_exact = best_time(
            lambda c=column, a=item, i=inj, tt=t: outlet_concentration(
                c, a, i, tt, method="analytic"
            )
        )
        n_terms, err_l, t_lap = laplace_at_accuracy(column, item, inj, t, exact)
        cells, err_p, t_pde = pde_at_accuracy(
            column,
            item,
            inj,
            t,
            exact,
            start=50 if "A=50" in name else 800,
            max_cells=16000 if "A=50" in name else 6400,
        )
        rows.append((name, t_exact, n_terms, err_l, t_lap, cells, err_p, t_pde))
    # (b) Pe = 1e3, Gaussian injection: Laplace (n_terms = 512) as reference.
    disp = Column(length=1.0, velocity=1.0 / 60.0, dispersion=1.0 / 60e3)
    item = Analyte(50.0 / 60.0, 0.5)
    inj = Injection.gaussian(10.0, 2.0)
    t = np.linspace(0.0, 450.0, 901)
    ref = outlet_concentration(disp, item, inj, t)
    n_terms, err_l, t_lap = laplace_at_accuracy(disp, item, inj, t, ref)
    cells, err_p, t_pde = pde_at_accuracy(disp, item, inj, t, ref)
    rows.append(("Pe=1e3, A=50, Gauss 2 s", np.nan, n_terms, err_l, t_lap, cells, err_p, t_pde))
    print("\n1. Outlet profile at equal accuracy (1e-4 of peak height), warm timings")
    print(
        f"{'case':<24}{'closed form':>12}{'Laplace (terms, err, s)':>30}"
        f"{'PDE (cells, err, s)':>30}{'PDE/Laplace':>13}"
    )
    for name, t_e, n, e_l, t_l, c, e_p, t_p in rows:
        ce = "-" if np.isnan(t_e) else f"{t_e * 1e3:.2f} ms"
        print(
            f"{name:<24}{ce:>12}{n:>8d}{e_l:>10.1e}{t_l * 1e3:>9.2f} ms"
            f"{c:>8d}{e_p:>10.1e}{t_p:>10.2f} s{t_p / t_l:>12.0f}x"
        )


def bench_fit(quick):
    print("\n2. Whole BTEX fit (4 analytes, 3600 samples), after compilation")
    for kind in ("sharp", "tailing"):
        data = datasets.btex(kind, random_state=0)
        est = ChromatogramFit(4, data.column, data.injection)
        est.fit(data.t, data.signal)  # compile
        cpu = time.process_time()
        secs = best_time(
            lambda est=est, data=data: est.fit(data.t, data.signal), repeats=2 if quick else 5
        )
        cpu = (time.process_time() - cpu) / (2 if quick else 5)
        print(
            f"   {kind:<8}: {secs:.3f} s wall (best), {cpu:.3f} s CPU (mean)  "
            f"({est.n_iter_} function+Jacobian evaluations; goal < 1 s)"
        )


def bench_vmap(quick):
    n_sets = 1000
    n_t, n_terms = 300, 64
    print(
        f"\n3. Batch of {n_sets} parameter sets (one analyte, {n_t} time points, {n_terms} terms)"
    )
    rng = np.random.default_rng(0)
    A = rng.uniform(100.0, 2e4, n_sets)
    k_d = rng.uniform(0.5, 80.0, n_sets)
    t = np.linspace(0.0, 600.0, n_t)
    inj = jnp.array(Injection.rectangular(1.0).params)
    with x64():
        tj, Aj, kj = jnp.asarray(t), jnp.asarray(A), jnp.asarray(k_d)
        batched = jax.jit(
            jax.vmap(
                lambda a, kd: _core.outlet_profile(
                    tj, 60.0, a, kd, 0.0, inj, "rectangular", n_terms
                )
            )
        )
        batched(Aj, kj).block_until_ready()
        t_vmap = best_time(lambda: batched(Aj, kj).block_until_ready())
        # vmap in chunks of 16 (lax.map with batch_size) keeps the Horner state in cache.
        chunked = jax.jit(
            lambda a, kd: jax.lax.map(
                lambda p: _core.outlet_profile(
                    tj, 60.0, p[0], p[1], 0.0, inj, "rectangular", n_terms
                ),
                (a, kd),
                batch_size=16,
            )
        )
        chunked(Aj, kj).block_until_ready()
        t_chunk = best_time(lambda: chunked(Aj, kj).block_until_ready())
        single = jax.jit(
            lambda a, kd: _core.outlet_profile(tj, 60.0, a, kd, 0.0, inj, "rectangular", n_terms)
        )
        single(Aj[0], kj[0]).block_until_ready()
        n_loop = 100 if quick else n_sets
        start = time.perf_counter()
        for i in range(n_loop):
            single(Aj[i], kj[i]).block_until_ready()
        t_loop = (time.perf_counter() - start) * n_sets / n_loop
    col = Column(length=30.0, velocity=0.5)
    injection = Injection.rectangular(1.0)
    n_pub = 50 if quick else 200
    outlet_concentration(col, Analyte(A[0] / 60.0, k_d[0]), injection, t, n_terms=n_terms)
    start = time.perf_counter()
    for i in range(n_pub):
        outlet_concentration(col, Analyte(A[i] / 60.0, k_d[i]), injection, t, n_terms=n_terms)
    t_pub = (time.perf_counter() - start) * n_sets / n_pub
    print(f"   {'':<28}{'seconds':>9}{'loop(core)/this':>17}{'loop(public)/this':>19}")
    for name, secs in (
        ("vmap", t_vmap),
        ("vmap in chunks of 16", t_chunk),
        ("loop over jitted core", t_loop),
        ("loop over outlet_concentration", t_pub),
    ):
        print(f"   {name:<28}{secs:>9.3f}{t_loop / secs:>16.1f}x{t_pub / secs:>18.1f}x")
    print("   goal: batch >= 50x faster than a Python loop")


def bench_recovery(quick):
    seeds = range(5 if quick else 20)
    print(
        f"\n4. Recovery over {len(seeds)} seeds, 1 % noise (goal: median rel. error <= 1 % "
        "sharp, <= 2 % tailing)"
    )
    print(
        f"{'set':<9}{'med |err| k_a':>15}{'med |err| k_d':>15}{'max |err|':>11}"
        f"{'95% cover':>11}{'fit s':>8}{'failed':>8}"
    )
    for kind in ("sharp", "tailing"):
        errs, inside, times, failed = [], [], [], 0
        for seed in seeds:
            data = datasets.btex(kind, noise=0.01, random_state=seed)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = ChromatogramFit(4, data.column, data.injection).fit(data.t, data.signal)
            times.append(time.perf_counter() - start)
            failed += not fit.converged_
            errs.append(np.abs(fit.params_[:, :2] / data.params[:, :2] - 1.0))
            err = np.abs(fit.params_[:, :2] - data.params[:, :2])
            inside.append(err < 1.96 * fit.stderr_[:, :2])
        errs = np.array(errs)
        print(
            f"{kind:<9}{np.median(errs[..., 0]):>14.2%} {np.median(errs[..., 1]):>14.2%}"
            f"{errs.max():>11.2%}{np.mean(inside):>11.0%}{np.median(times):>8.2f}{failed:>8d}"
        )


# (file, channel, window in s, tuned on it?) -- defaults were set looking at the GC run only.
REAL = [
    ("agilent_gc_fid.ch", None, (280.0, 320.0), True, "linear"),
    ("agilent_gc_fid.ch", None, (370.0, 400.0), True, "linear"),
    ("agilent_gc_fid.ch", None, (460.0, 500.0), True, "linear"),
    ("agilent_gc_fid.ch", None, (570.0, 600.0), True, "linear"),
    ("agilent_gc_fid.ch", None, (180.0, 720.0), True, "auto"),
    ("agilent_lc_mwd_210nm.ch", None, (270.0, 340.0), False, "linear"),
    ("chromeleon_ic_std_mix2.txt", None, (450.0, 1450.0), False, "linear"),
    ("chromeleon_ic_sample_a1.txt", None, (300.0, 700.0), False, "linear"),
    ("shimadzu_fsec.txt", "Detector B", (240.0, 360.0), False, "linear"),
]


def r2(y, model):
    return 1.0 - np.sum((y - model) ** 2) / np.sum((y - y.mean()) ** 2)


def run_hplc(t, y):
    """hplc-py on the same window (time in minutes, its convention); None when missing."""
    try:
        import pandas as pd
        from hplc.quant import Chromatogram
    except ImportError:
        return None
    df = pd.DataFrame({"time": t / 60.0, "signal": y})
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c = Chromatogram(df, cols={"time": "time", "signal": "signal"})
            c.fit_peaks(verbose=False)
    except Exception as err:  # report the peer's failure in its cell
        return {"error": f"{type(err).__name__}"}
    secs = time.perf_counter() - start
    model = c.unmixed_chromatograms.sum(axis=1)
    if "estimated_background" in c.df:
        model = model + c.df["estimated_background"].to_numpy()
    peaks = c.peaks.sort_values("retention_time")
    # areas integrated from hplc-py's own unmixed peaks, in signal x s like ours
    order = np.argsort(c.peaks["retention_time"].to_numpy())
    areas = np.trapezoid(c.unmixed_chromatograms, t, axis=0)[order]
    return {
        "r2": r2(y, model),
        "n": len(peaks),
        "n_par": 4 * len(peaks),
        "rt": peaks["retention_time"].to_numpy() * 60.0,
        "area": areas,
        "s": secs,
    }


def bench_real(write):
    from solvers.chromatography import ChromatogramFit, read_chromatogram

    data = Path(__file__).resolve().parent.parent / "solvers" / "chromatography" / "data"
    lines = [
        "| chromatogram | window (s) | tuned on | R^2 hplc-py | R^2 ours | peaks hplc-py "
        "| peaks ours | params hplc-py / ours | retention times ours (s) "
        "| area ours / hplc-py (isolated) | time hplc-py / ours (s) "
        "| R^2 ours, peak_shape auto | overloaded peaks: loading R (+- se) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n5. Real chromatograms, side by side with hplc-py")
    for name, channel, (lo, hi), tuned, baseline in REAL:
        run = read_chromatogram(data / name, channel=channel).window(lo, hi)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ChromatogramFit(baseline=baseline).fit(run.t, run.signal)
        secs = time.perf_counter() - start
        ours_r2 = fit.score(run.t, run.signal)
        table = fit.peak_table_
        # per peak (m, sd, area); run: lag and, where determined, hold-up time; baseline line
        n_par = 3 * fit.n_analytes_ + 1 + int(np.isfinite(fit.run_stderr_[0])) + 2
        peer = run_hplc(run.t, run.signal)
        if peer is None:
            peer_cells = ["not installed"] * 2
            ratio = "-"
        elif "error" in peer:
            peer_cells = [f"failed ({peer['error']})"] * 2
            ratio = "-"
        else:
            peer_cells = [f"{peer['r2']:.5f}", str(peer["n"])]
            # areas on isolated peaks (resolution >= 1.5 to both neighbours, ours)
            rt = table["retention_time"].to_numpy()
            res = table["resolution_next"].to_numpy()
            iso = np.ones(rt.size, bool)
            iso[:-1] &= ~(res[:-1] < 1.5)
            iso[1:] &= ~(res[:-1] < 1.5)
            # and whole inside the window (apex 3 half-height widths from either end)
            w_half = table["width_half_height"].to_numpy()
            iso &= (rt - 3.0 * w_half > lo) & (rt + 3.0 * w_half < hi)
            ratios = []
            for k in np.nonzero(iso)[0]:
                j = int(np.argmin(np.abs(peer["rt"] - rt[k])))
                if abs(peer["rt"][j] - rt[k]) < table["width_half_height"].iloc[k]:
                    ratios.append(table["area"].iloc[k] / peer["area"][j])
            ratio = ", ".join(f"{x:.3f}" for x in ratios) or "-"
        peer_par = "-" if not peer or "error" in peer else str(peer["n_par"])
        peer_s = "-" if not peer or "error" in peer else f"{peer['s']:.2f}"
        rts = ", ".join(f"{x:.1f}" for x in table["retention_time"])
        if fit.n_analytes_ <= 12:  # the whole GC run (22 peaks) is left to the kinetic model
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                auto = ChromatogramFit(baseline=baseline, peak_shape="auto").fit(run.t, run.signal)
            over = np.nonzero(auto.peak_shapes_ == "overload")[0]
            auto_cells = [
                f"{auto.score(run.t, run.signal):.5f}",
                ", ".join(
                    f"{auto.peak_table_['retention_time'].iloc[k]:.0f} s: "
                    f"{auto.loadings_[k]:+.2f} (+- {auto.loading_stderr_[k]:.2f})"
                    for k in over
                )
                or "none",
            ]
        else:
            auto_cells = ["-", "not tried"]
        lines.append(
            f"| {name}{' ' + channel if channel else ''} | {lo:.0f}-{hi:.0f} ({baseline}) "
            f"| {'yes' if tuned else 'no'} | {peer_cells[0]} | {ours_r2:.5f} "
            f"| {peer_cells[1]} | {fit.n_analytes_} | {peer_par} / {n_par} | {rts} "
            f"| {ratio} | {peer_s} / {secs:.2f} | {auto_cells[0]} | {auto_cells[1]} |"
        )
        print(lines[-1], flush=True)
    text = "\n".join(
        [
            "## Chromatography on real chromatograms (vs hplc-py)",
            "",
            "Produced by `python benchmarks/bench_chromatography.py --real-only` (CPU). Each",
            "window is fitted by `ChromatogramFit(baseline=...)` (baseline in the window",
            "column) with everything else automatic: peak count by BIC, hold-up time (held",
            "where the peak shapes do not determine it) and extra-column lag fitted. hplc-py runs",
            "`Chromatogram.fit_peaks()` with its defaults (time in minutes). R^2 is against the",
            "raw signal, each model with its own baseline. Parameters: ours 3 per peak + lag",
            "(+ hold-up time where determined) + 2 baseline; hplc-py 4 per peak (its SNIP",
            "baseline not counted). Areas (ours / hplc-py's, both integrated in signal x s) on",
            "our peaks with resolution >= 1.5 to both neighbours and 3 half-widths inside the",
            "window, matched to hplc-py's nearest peak. Times include JAX compilation on the",
            "first window of each size bucket.",
            "Defaults were set looking at the GC run only (`tuned on`). The last two columns",
            'refit with `peak_shape="auto"`: every peak gets a loading R (Haarhoff-van der',
            "Linde, R < 0 Langmuir tailing, R > 0 fronting), a peak keeps it when",
            "(R / se)^2 > log n_t, and BIC chooses between that and all-kinetic; no",
            "constant of this rule was set on these windows.",
            "",
            *lines,
        ]
    )
    if write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _results import write_section

        write_section("chromatography-real", text)


def bench_extensions(write):
    """Overload (Haarhoff-van der Linde) and temperature programmes against the PDE."""
    from solvers.chromatography import OvenProgram, _pde, overload_profile, programmed_peak

    print("\n6. Overload and temperature programmes against their PDE references")
    lines = [
        "| case | max error / height | Gaussian (linear) error | CPU PDE / closed form (s) |",
        "|---|---|---|---|",
    ]
    L, u, D, F, a, amount, width = 1.0, 1.0, 1e-3, 1.0, 2.0, 0.2, 0.002
    t = np.linspace(2.2, 3.8, 801)
    K, pe = F * a, u * L / D
    t_r = L / u * (1.0 + K) + width / 2.0
    sd = np.sqrt(2.0 * t_r**2 / pe + width**2 / 12.0)
    for b in (0.0, 0.005, 0.05, -0.05, 0.2):
        loading = -pe * K * b * amount / ((1.0 + K) ** 2 * (L / u))
        start = time.process_time()
        c = _pde.solve_equilibrium_dispersive(
            t, L, u, D, F, a, b, "rectangular", np.array([width, amount / width, 0.0]), 1000
        )
        pde_s = time.process_time() - start
        overload_profile(t, t_r, sd, loading, amount)  # compiled once
        start = time.process_time()
        f = overload_profile(t, t_r, sd, loading, amount)
        hv_s = time.process_time() - start
        g = overload_profile(t, t_r, sd, 0.0, amount)
        lines.append(
            f"| ED Langmuir, Pe 1000, K 2, b {b:+.3f} (R {loading:+.2f}) "
            f"| {np.abs(c - f).max() / c.max():.4f} | {np.abs(c - g).max() / c.max():.4f} "
            f"| {pde_s:.2f} / {hv_s:.4f} |"
        )
        print(lines[-1], flush=True)
    lines += [
        "",
        "| programme | t_R error (rel.) | sd error (rel.) | isothermal at T0: t_R, sd "
        "| CPU PDE / ODE (s) |",
        "|---|---|---|---|---|",
    ]
    a_, b_ = -9.0, 3500.0
    center, w = 0.02, 0.004
    k_d = lambda T: 100.0 * np.exp(-1000.0 * (1.0 / T - 1.0 / 350.0))
    for rate in (10.0, 40.0):
        prog = OvenProgram(350.0, rate, hold=0.5, final=500.0)
        later = OvenProgram(350.0, rate, hold=0.5 - center, final=500.0)

        def rates(tt, prog=prog):
            T = prog.temperature(tt)
            return np.array([np.exp(a_ + b_ / T) * k_d(T)]), np.array([k_d(T)])

        tt = np.linspace(0.5, 4.5, 800)
        start = time.process_time()
        c = _pde.solve(
            tt,
            1.0,
            lambda x: np.ones_like(x),
            0.0,
            1.0,
            np.zeros(1),
            np.zeros(1),
            "gaussian",
            np.array([center, w, 1.0]),
            n_cells=400,
            rtol=1e-8,
            rates=rates,
        )[0]
        pde_s = time.process_time() - start
        start = time.process_time()
        tr, sdr = programmed_peak(1.0, a_, b_, later, k_d=k_d, injection_sd=w)
        ode_s = time.process_time() - start
        area = np.trapezoid(c, tt)
        mean = np.trapezoid(c * tt, tt) / area
        sd_pde = np.sqrt(np.trapezoid(c * (tt - mean) ** 2, tt) / area)
        K0 = np.exp(a_ + b_ / 350.0)
        lines.append(
            f"| 350 K, hold 0.5 s, {rate:.0f} K/s to 500 K (t_M 1 s) "
            f"| {(tr + center) / mean - 1.0:+.1e} | {sdr / sd_pde - 1.0:+.1e} "
            f"| {1.0 + K0:.2f} s vs {mean:.2f} s, {np.sqrt(2 * K0 / k_d(350.0)):.3f} s vs "
            f"{sd_pde:.3f} s | {pde_s:.2f} / {ode_s:.4f} |"
        )
        print(lines[-1], flush=True)
    text = "\n".join(
        [
            "## Chromatography: overload and temperature programmes vs PDE references",
            "",
            "Produced by `python benchmarks/bench_chromatography.py --extensions-only` (CPU).",
            "Top: `overload_profile` (Haarhoff-van der Linde) against the method-of-lines",
            "equilibrium-dispersive model with a Langmuir isotherm (`_pde.solve_equilibrium_",
            "dispersive`, 1000 cells, 2 ms rectangular injection); the Gaussian column is the",
            "linear (R = 0) shape, whose error at b = 0 is the Gaussian base's own (the",
            "column's peak is slightly skewed at Pe = 1000). Bottom: `programmed_peak` (band",
            "centre and variance ODE) against the kinetic PDE with time-varying k_a(t), k_d(t)",
            "(D = 0, 400 cells; moments of the outlet profile), ln K = -9 + 3500 / T,",
            "k_d = 100 exp(-1000 (1/T - 1/350)) 1/s.",
            "",
            *lines,
        ]
    )
    if write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _results import write_section

        write_section("chromatography-extensions", text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run")
    parser.add_argument(
        "--sharp-pde",
        action="store_true",
        help="also time the PDE on a sharp D = 0 peak (A = 1e4; very slow)",
    )
    parser.add_argument("--real-only", action="store_true", help="only the real-data table")
    parser.add_argument(
        "--synthetic-only", action="store_true", help="only the synthetic parts (1-4)"
    )
    parser.add_argument(
        "--extensions-only", action="store_true", help="only part 6 (overload, temperature)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    print(f"jax {jax.__version__}, devices {jax.devices()}; quick={args.quick}")
    if not args.synthetic_only:
        if not args.extensions_only:
            bench_real(not args.no_write)
        bench_extensions(not args.no_write)
    if args.real_only or args.extensions_only:
        return
    # the synthetic parts print as they go; the same text goes to docs/benchmarks.md
    buffer = io.StringIO()
    with contextlib.redirect_stdout(Tee(sys.stdout, buffer)):
        bench_profiles(args.sharp_pde)
        bench_fit(args.quick)
        bench_vmap(args.quick)
        bench_recovery(args.quick)
    if not args.no_write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _results import write_section

        mode = "--quick" if args.quick else "full run"
        text = "\n".join(
            [
                "## Chromatography on synthetic BTEX chromatograms",
                "",
                "Produced by `python benchmarks/bench_chromatography.py --synthetic-only`",
                f"({mode}, jax {jax.__version__}, {jax.devices()[0].platform}). Ratios are",
                "measured side by side in one run; absolute times depend on the machine's load.",
                "",
                "```",
                buffer.getvalue().strip(),
                "```",
            ]
        )
        write_section("chromatography-synthetic", text)


class Tee:
    """A file-like object writing to several streams."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self):
        for stream in self.streams:
            stream.flush()


if __name__ == "__main__":
    main()
