"""Benchmark of the chromatography solver.

1. Outlet profile at equal accuracy (1e-4 of the peak height): closed form and Laplace
   inversion against the method-of-lines PDE solver (grid doubled until it reaches 1e-4).
2. A whole four-analyte BTEX fit, after compilation.
3. Batch evaluation of 1,000 parameter sets: ``jax.vmap`` against a Python loop.
4. Parameter recovery over 20 seeds (sharp and tailing sets, 1 % noise): median relative
   error of (k_a, k_d) and coverage of the 95 % intervals from ``stderr_``.

The paper (Cabrera-Codony et al. 2024) reports no timings or errors in its abstract ("much
faster than the full numerical solution"); the goals below are the issue's.

Run: ``python benchmarks/bench_chromatography.py [--quick] [--sharp-pde]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from mixtures._config import x64
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
    cases = [("D=0, A=50, rect. 1 s", col, Analyte(50.0 / 60.0, 0.5), Injection.rectangular(1.0),
              np.linspace(0.0, 400.0, 801))]
    if sharp_pde:
        cases.append(("D=0, A=1e4, rect. 1 s", col, Analyte(1e4 / 60.0, 70.0),
                      Injection.rectangular(1.0), np.linspace(150.0, 260.0, 551)))
    for name, column, item, inj, t in cases:
        exact = outlet_concentration(column, item, inj, t, method="analytic")
        t_exact = best_time(lambda c=column, a=item, i=inj, tt=t: outlet_concentration(
            c, a, i, tt, method="analytic"))
        n_terms, err_l, t_lap = laplace_at_accuracy(column, item, inj, t, exact)
        cells, err_p, t_pde = pde_at_accuracy(column, item, inj, t, exact,
                                              start=50 if "A=50" in name else 800,
                                              max_cells=16000 if "A=50" in name else 6400)
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
    print(f"{'case':<24}{'closed form':>12}{'Laplace (terms, err, s)':>30}"
          f"{'PDE (cells, err, s)':>30}{'PDE/Laplace':>13}")
    for name, t_e, n, e_l, t_l, c, e_p, t_p in rows:
        ce = "-" if np.isnan(t_e) else f"{t_e * 1e3:.2f} ms"
        print(f"{name:<24}{ce:>12}{n:>8d}{e_l:>10.1e}{t_l * 1e3:>9.2f} ms"
              f"{c:>8d}{e_p:>10.1e}{t_p:>10.2f} s{t_p / t_l:>12.0f}x")


def bench_fit(quick):
    print("\n2. Whole BTEX fit (4 analytes, 3600 samples), after compilation")
    for kind in ("sharp", "tailing"):
        data = datasets.btex(kind, random_state=0)
        est = ChromatogramFit(4, data.column, data.injection)
        est.fit(data.t, data.signal)  # compile
        cpu = time.process_time()
        secs = best_time(lambda est=est, data=data: est.fit(data.t, data.signal),
                         repeats=2 if quick else 5)
        cpu = (time.process_time() - cpu) / (2 if quick else 5)
        print(f"   {kind:<8}: {secs:.3f} s wall (best), {cpu:.3f} s CPU (mean)  "
              f"({est.n_iter_} function+Jacobian evaluations; goal < 1 s)")


def bench_vmap(quick):
    n_sets = 1000
    n_t, n_terms = 300, 64
    print(f"\n3. Batch of {n_sets} parameter sets (one analyte, {n_t} time points, "
          f"{n_terms} terms)")
    rng = np.random.default_rng(0)
    A = rng.uniform(100.0, 2e4, n_sets)
    k_d = rng.uniform(0.5, 80.0, n_sets)
    t = np.linspace(0.0, 600.0, n_t)
    inj = jnp.array(Injection.rectangular(1.0).params)
    with x64():
        tj, Aj, kj = jnp.asarray(t), jnp.asarray(A), jnp.asarray(k_d)
        batched = jax.jit(jax.vmap(lambda a, kd: _core.outlet_profile(
            tj, 60.0, a, kd, 0.0, inj, "rectangular", n_terms)))
        batched(Aj, kj).block_until_ready()
        t_vmap = best_time(lambda: batched(Aj, kj).block_until_ready())
        # vmap in chunks of 16 (lax.map with batch_size) keeps the Horner state in cache.
        chunked = jax.jit(lambda a, kd: jax.lax.map(lambda p: _core.outlet_profile(
            tj, 60.0, p[0], p[1], 0.0, inj, "rectangular", n_terms), (a, kd), batch_size=16))
        chunked(Aj, kj).block_until_ready()
        t_chunk = best_time(lambda: chunked(Aj, kj).block_until_ready())
        single = jax.jit(lambda a, kd: _core.outlet_profile(tj, 60.0, a, kd, 0.0, inj,
                                                            "rectangular", n_terms))
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
    for name, secs in (("vmap", t_vmap), ("vmap in chunks of 16", t_chunk),
                       ("loop over jitted core", t_loop),
                       ("loop over outlet_concentration", t_pub)):
        print(f"   {name:<28}{secs:>9.3f}{t_loop / secs:>16.1f}x{t_pub / secs:>18.1f}x")
    print("   goal: batch >= 50x faster than a Python loop")


def bench_recovery(quick):
    seeds = range(5 if quick else 20)
    print(f"\n4. Recovery over {len(seeds)} seeds, 1 % noise (goal: median rel. error <= 1 % "
          "sharp, <= 2 % tailing)")
    print(f"{'set':<9}{'med |err| k_a':>15}{'med |err| k_d':>15}{'max |err|':>11}"
          f"{'95% cover':>11}{'fit s':>8}{'failed':>8}")
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
        print(f"{kind:<9}{np.median(errs[..., 0]):>14.2%} {np.median(errs[..., 1]):>14.2%}"
              f"{errs.max():>11.2%}{np.mean(inside):>11.0%}{np.median(times):>8.2f}{failed:>8d}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run")
    parser.add_argument("--sharp-pde", action="store_true",
                        help="also time the PDE on a sharp D = 0 peak (A = 1e4; very slow)")
    args = parser.parse_args()
    print(f"jax {jax.__version__}, devices {jax.devices()}; quick={args.quick}")
    bench_profiles(args.sharp_pde)
    bench_fit(args.quick)
    bench_vmap(args.quick)
    bench_recovery(args.quick)


if __name__ == "__main__":
    main()
