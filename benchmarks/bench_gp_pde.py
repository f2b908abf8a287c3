"""GP-HM benchmarks: Kronecker vs dense algebra, the paper's PDEs and unseen PDEs at the
defaults, each side by side with the previous version of the solver, and baselines.

Usage::

    python benchmarks/bench_gp_pde.py [--quick] [--part kron,compare,unseen,baselines]
        [--problems name,name] [--only 1d|2d] [--prev PATH] [--no-write]

Parts
-----
kron       Kronecker vs dense Cholesky solve and log-determinant on 2-D grids 16^2..128^2
           (dense only up to 64^2), with the growth exponent of each.
compare    The paper's benchmark PDEs (``problems.BENCHMARKS``, 2-D ones on CPU-sized grids):
           this version at its defaults (the data-driven initial spectrum, the stopping rule)
           beside the previous version (``--prev``: a checkout of the previous commit, e.g.
           ``git worktree add /tmp/gp_prev HEAD~1``) with the settings its benchmark used
           (the paper's initial frequency range, 500 iterations). Relative L2 error and CPU
           seconds of the fit (compilation included), each fit in a fresh process.
unseen     PDEs that are not in ``problems`` (:data:`UNSEEN`), at the defaults, both spectral
           families: relative L2 error against the exact solution, with the goal (1e-3 in 1-D,
           1e-2 in 2-D) and whether the case was used to set the defaults (``tuned``) or
           not (``held out``); with ``--prev`` also the previous version at its defaults.
baselines  1-D Poisson: GP-HM vs a GP with a squared-exponential kernel, a GP with a Matern-5/2
           kernel (same grid and iterations) and a small JAX PINN (same number of Adam steps).

The compare and unseen tables are written to ``docs/benchmarks.md`` (sections
``gp_pde_compare`` and ``gp_pde_unseen``; with ``--only 1d`` or ``--only 2d``, which run the
problems of that dimension only, ``gp_pde_compare_1d``, ``gp_pde_unseen_2d``, ...) unless
``--no-write``. BLAS and XLA are pinned to
one thread (before JAX is imported).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from mixtures import ConvergenceWarning, x64  # noqa: E402
from mixtures.kronecker import kron_logdet, mode_product  # noqa: E402
from mixtures.spectral import SpectralMixture, gram  # noqa: E402
from solvers.gp_pde import SpectralMixtureGPSolver, problems  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from _results import write_section  # noqa: E402


def _timeit(fn, repeat=3):
    fn()  # compile / warm up
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t)
    return best


def _kron_chol_solve(fs, b):
    """``(kron_j K_j)^{-1} b`` from per-factor Cholesky factors, one mode at a time (the
    solver's path; ``mixtures.kronecker.kron_solve`` is the eigen-based alternative)."""
    T = b.reshape(tuple(K.shape[0] for K in fs))
    for j, K in enumerate(fs):
        Kinv = jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(K), True), jnp.eye(K.shape[0]))
        T = mode_product(Kinv, T, j)
    return T.reshape(-1)


def bench_kron(sizes):
    """Kronecker vs dense: solve and log-determinant on M x M grids."""
    print("\n## Kronecker vs dense (2-D grid, student_t spectral mixture, Q = 5, jitter 1e-3)\n")
    print(
        "| grid | M | kron solve (s) | dense solve (s) | ratio | kron logdet (s) "
        "| dense logdet (s) | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    with x64():
        sm = SpectralMixture(
            jnp.log(jnp.full(5, 0.2)), jnp.linspace(0, 5, 5), jnp.log(jnp.full(5, 0.3)), "student_t"
        )
        ksolve = jax.jit(_kron_chol_solve)
        kdet = jax.jit(lambda fs: kron_logdet(fs))
        dsolve = jax.jit(lambda A, b: jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(A), True), b))
        ddet = jax.jit(lambda A: 2.0 * jnp.sum(jnp.log(jnp.diagonal(jnp.linalg.cholesky(A)))))
        for m in sizes:
            x = jnp.linspace(0.0, 1.0, m)
            K = gram(x, x, sm) + 1e-3 * jnp.eye(m)
            fs = [K, K]
            b = jnp.asarray(np.random.default_rng(0).normal(size=m * m))
            t_ks = _timeit(lambda fs=fs, b=b: ksolve(fs, b))
            t_kd = _timeit(lambda fs=fs: kdet(fs))
            t_ds = t_dd = np.nan
            if m <= 64:
                A = jnp.kron(K, K)
                t_ds = _timeit(lambda A=A, b=b: dsolve(A, b), repeat=1)
                t_dd = _timeit(lambda A=A: ddet(A), repeat=1)
                err = float(
                    jnp.linalg.norm(ksolve(fs, b) - dsolve(A, b)) / jnp.linalg.norm(dsolve(A, b))
                )
                assert err < 1e-8, err  # same answer as the dense solve
            rows.append((m, t_ks, t_ds, t_kd, t_dd))
            print(
                f"| {m}x{m} | {m * m} | {t_ks:.2e} | {t_ds:.2e} | {t_ds / t_ks:.0f} | "
                f"{t_kd:.2e} | {t_dd:.2e} | {t_dd / t_kd:.0f} |"
            )
    ms = np.array([r[0] ** 2 for r in rows], float)
    for label, col in (
        ("kron solve", 1),
        ("dense solve", 2),
        ("kron logdet", 3),
        ("dense logdet", 4),
    ):
        t = np.array([r[col] for r in rows])
        ok = np.isfinite(t)
        if ok.sum() >= 2:
            slope = np.polyfit(np.log(ms[ok]), np.log(t[ok]), 1)[0]
            print(f"growth exponent ({label}, time ~ M^p, M = grid points): p = {slope:.2f}")
    return rows


def _fit(problem, grid, freq, lam, kind, max_iter, random_state=0, **kw):
    # the paper's freq_scale, capped at each dimension's Nyquist frequency: on grids coarser
    # than the paper's, components above it alias (see the estimator's max_frequency)
    nyquist = problem.nyquist_frequency(grid)
    est = SpectralMixtureGPSolver(
        n_components=kw.pop("n_components", 30),
        spectral=kind,
        grid=grid,
        boundary_weight=lam,
        max_iter=max_iter,
        max_frequency=tuple(min(freq, q) for q in nyquist),
        random_state=random_state,
        **kw,
    )
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(problem)
    return est, time.perf_counter() - t


def _pinn(problem, n_points, steps, lam, seed=0, width=64):
    """A small tanh MLP PINN (3 hidden layers) trained by Adam on the same collocation grid."""
    lo, hi = problem.domain[0]
    x = np.linspace(lo, hi, n_points)
    f = problem.source(x[:, None])
    g = problem.boundary(x[[0, -1], None])
    scale = max(np.abs(f).max(), 1.0)
    with x64():
        key = jax.random.PRNGKey(seed)
        sizes = [1, width, width, width, 1]
        params = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            key, sub = jax.random.split(key)
            params.append((jax.random.normal(sub, (a, b)) * np.sqrt(1.0 / a), jnp.zeros(b)))

        def net(p, s):
            h = jnp.atleast_1d(2.0 * (s - lo) / (hi - lo) - 1.0)
            for W, c in p[:-1]:
                h = jnp.tanh(h @ W + c)
            return (h @ p[-1][0] + p[-1][1])[0]

        uxx = jax.vmap(jax.grad(jax.grad(net, 1), 1), (None, 0))
        u = jax.vmap(net, (None, 0))
        xs, fs, xb, gb = map(jnp.asarray, (x, f, x[[0, -1]], g))

        def loss(p):
            res = (uxx(p, xs) - fs) / scale
            return jnp.mean(res**2) + lam * jnp.mean((u(p, xb) - gb) ** 2)

        opt = optax.adam(1e-3)

        @jax.jit
        def step(p, s):
            val, gr = jax.value_and_grad(loss)(p)
            up, s = opt.update(gr, s)
            return optax.apply_updates(p, up), s, val

        state = opt.init(params)
        t = time.perf_counter()
        for _ in range(steps):
            params, state, _ = step(params, state)
        secs = time.perf_counter() - t
        xt = np.linspace(lo, hi, 2 * n_points - 1)
        pred = np.asarray(u(params, jnp.asarray(xt)))
    truth = problem.solution(xt[:, None])
    return float(np.linalg.norm(pred - truth) / np.linalg.norm(truth)), secs


def bench_baselines(names, max_iter, pinn_steps):
    print(
        f"\n## Baselines on 1-D Poisson (GP: max_iter = {max_iter}; PINN: {pinn_steps} "
        "Adam steps)\n"
    )
    print(
        "| problem | GP-HM-StM | GP-HM-GM | GP-SE | GP-Matern | PINN | "
        "times (s) StM/GM/SE/Mat/PINN |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in names:
        ctor, grid, freq, lam = problems.BENCHMARKS[name]
        prob = ctor()
        errs, secs = [], []
        for kind in ("student_t", "gaussian"):
            est, s = _fit(prob, grid, freq, lam, kind, max_iter)
            errs.append(est.relative_l2_error())
            secs.append(s)
        for kind in ("gaussian", "student_t"):  # SE and Matern-5/2: one component at mu = 0
            est, s = _fit(
                prob,
                grid,
                freq,
                lam,
                kind,
                max_iter,
                n_components=1,
                init_frequencies=[0.0],
                learn_frequencies=False,
            )
            errs.append(est.relative_l2_error())
            secs.append(s)
        e, s = _pinn(prob, grid[0], pinn_steps, lam)
        errs.append(e)
        secs.append(s)
        print(
            f"| {name} | "
            + " | ".join(f"{v:.2e}" for v in errs)
            + " | "
            + "/".join(f"{v:.0f}" for v in secs)
            + " |",
            flush=True,
        )


# ----------------------------------------------------------------------------------------------
# PDEs that are not in `problems`: name -> (solution, domain, operator, variables, grid, tuned).
# "tuned": used while the defaults were set; the others were run only after they were fixed.
_PI = np.pi


def _lap1(d, x):
    return d["u_xx"]


def _lap2(d, x):
    return d["u_xx"] + d["u_yy"]


def _helm1(d, x):
    return d["u_xx"] + 100.0 * d["u"]


def _helm2(d, x):
    return d["u_xx"] + d["u_yy"] + 25.0 * d["u"]


def _ac1(d, x):
    return d["u_xx"] + d["u"] * (d["u"] ** 2 - 1.0)


def _ac2(d, x):
    return d["u_xx"] + d["u_yy"] + d["u"] * (d["u"] ** 2 - 1.0)


def _adv(d, x):
    return d["u_t"] + 2.0 * d["u_x"]


def _varcoef1(d, x):
    # (1 + x) u_x, differentiated: a coefficient that varies over the domain
    return (1.0 + x[:, 0]) * d["u_xx"] + d["u_x"]


def _advdiff1(d, x):
    return 0.05 * d["u_xx"] - d["u_x"]


def _reaction1(d, x):
    return d["u_xx"] - 50.0 * (1.0 + x[:, 0] ** 2) * d["u"]


_UNIT, _SQUARE = [(0.0, 1.0)], [(0.0, 1.0), (0.0, 1.0)]
UNSEEN = {
    "poisson_sin24": (lambda x: jnp.sin(24 * _PI * x[:, 0]), _UNIT, _lap1, ("x",), (200,), True),
    "poisson_sin24_trend": (
        lambda x: jnp.sin(24 * _PI * x[:, 0]) + 0.5 * x[:, 0] ** 2,
        _UNIT,
        _lap1,
        ("x",),
        (200,),
        True,
    ),
    "poisson_sin6_trend": (
        lambda x: jnp.sin(6 * _PI * x[:, 0]) + 0.5 * x[:, 0] ** 2,
        _UNIT,
        _lap1,
        ("x",),
        (200,),
        True,
    ),
    "poisson_multiscale": (
        lambda x: (
            jnp.sin(2 * _PI * x[:, 0])
            + 0.2 * jnp.sin(30 * _PI * x[:, 0])
            + 0.05 * jnp.sin(90 * _PI * x[:, 0])
        ),
        _UNIT,
        _lap1,
        ("x",),
        (300,),
        False,
    ),
    "poisson_other_domain": (
        lambda x: jnp.cos(7 * x[:, 0]) + 0.1 * x[:, 0] ** 3,
        [(-2.0, 3.0)],
        _lap1,
        ("x",),
        (200,),
        False,
    ),
    "helmholtz_1d": (
        lambda x: jnp.exp(-x[:, 0]) * jnp.sin(16 * _PI * x[:, 0]),
        _UNIT,
        _helm1,
        ("x",),
        (200,),
        False,
    ),
    "allen_cahn_1d": (
        lambda x: jnp.sin(10 * _PI * x[:, 0]) + x[:, 0],
        _UNIT,
        _ac1,
        ("x",),
        (200,),
        False,
    ),
    "variable_coefficient_1d": (
        lambda x: jnp.sin(12 * _PI * x[:, 0]) + jnp.exp(x[:, 0]),
        _UNIT,
        _varcoef1,
        ("x",),
        (200,),
        False,
    ),
    "advection_diffusion_1d": (
        lambda x: jnp.cos(9 * _PI * x[:, 0]) + 2.0 * x[:, 0],
        _UNIT,
        _advdiff1,
        ("x",),
        (200,),
        False,
    ),
    "reaction_diffusion_1d": (
        lambda x: jnp.exp(-2.0 * x[:, 0]) * jnp.cos(20 * _PI * x[:, 0]),
        [(-1.0, 1.0)],
        _reaction1,
        ("x",),
        (300,),
        False,
    ),
    "poisson_2d_single": (
        lambda x: jnp.sin(4 * _PI * x[:, 0]) * jnp.sin(6 * _PI * x[:, 1]),
        _SQUARE,
        _lap2,
        ("x", "y"),
        (40, 40),
        True,
    ),
    "poisson_2d_multiscale_trend": (
        lambda x: (
            jnp.sin(2 * _PI * x[:, 0]) * jnp.sin(2 * _PI * x[:, 1])
            + 0.1 * jnp.sin(12 * _PI * x[:, 0]) * jnp.sin(10 * _PI * x[:, 1])
            + x[:, 0] * x[:, 1]
        ),
        _SQUARE,
        _lap2,
        ("x", "y"),
        (48, 48),
        False,
    ),
    "helmholtz_2d": (
        lambda x: jnp.sin(6 * _PI * x[:, 0]) * jnp.cos(4 * _PI * x[:, 1]),
        _SQUARE,
        _helm2,
        ("x", "y"),
        (40, 40),
        False,
    ),
    "advection_2d": (
        lambda x: jnp.sin(2 * _PI * (x[:, 0] - 2.0 * x[:, 1])),
        _SQUARE,
        _adv,
        ("x", "t"),
        (40, 40),
        False,
    ),
    "allen_cahn_2d": (
        lambda x: jnp.sin(4 * _PI * x[:, 0]) * jnp.sin(4 * _PI * x[:, 1]),
        _SQUARE,
        _ac2,
        ("x", "y"),
        (40, 40),
        False,
    ),
}

# 2-D paper problems on CPU-sized grids (the paper's are 200^2..400^2)
CPU_GRIDS = {
    "poisson_2d_sin_sin": (256, 256),
    "poisson_2d_sin_cos": (80, 80),
    "allen_cahn_2d": (64, 64),
    "advection_1d": (40, 128),
}


def _make_problem(mod, name):
    if name in UNSEEN:
        sol, domain, op, variables, _, _ = UNSEEN[name]
        build = getattr(mod, "from_solution", None) or mod._from_solution
        return build(sol, domain, op, variables, name)
    return mod.BENCHMARKS[name][0]()


def _worker(spec):
    """One fit in this process, on the solver found first on ``sys.path``; prints JSON."""
    sys.path.insert(0, spec["tree"])
    from solvers.gp_pde import SpectralMixtureGPSolver as Solver
    from solvers.gp_pde import problems as mod

    problem = _make_problem(mod, spec["problem"])
    est = Solver(**spec["params"])
    t = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(problem)
    cpu = time.process_time() - t
    print(
        json.dumps(
            {
                "err": est.relative_l2_error(),
                "cpu": cpu,
                "n_iter": int(est.n_iter_),
                "converged": bool(est.converged_),
            }
        )
    )


def _run(tree, problem, params, timeout):
    spec = json.dumps({"tree": str(tree), "problem": problem, "params": params})
    env = dict(os.environ, PYTHONPATH=str(tree))
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", spec],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, IndexError, json.JSONDecodeError):
        return None


def _fmt(r, key, spec):
    return "failed" if r is None else format(r[key], spec)


def bench_compare(names, prev, quick, timeout, grids):
    """The paper's problems: this version at its defaults beside the previous one."""
    lines = [
        "| problem | grid | spectral | rel. L2 (now) | rel. L2 (prev) | CPU s (now) "
        "| CPU s (prev) | CPU ratio prev/now | iterations (now) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for name in names:
        _, grid, freq, lam = problems.BENCHMARKS[name]
        grid = (40, 40) if quick and len(grid) == 2 else grids.get(name, grid)
        extra = problems.BENCHMARK_SOLVER_OPTIONS.get(name, {})
        nyq = problems.BENCHMARKS[name][0]().nyquist_frequency(grid)
        for kind in ("student_t", "gaussian"):
            base = dict(spectral=kind, grid=list(grid), random_state=0, **extra)
            now = _run(ROOT, name, dict(base, boundary_weight=lam), timeout)
            old = None
            if prev is not None:
                old_params = dict(
                    base,
                    n_components=30,
                    boundary_weight=lam,
                    max_iter=50 if quick else 500,
                    max_frequency=[min(freq, q) for q in nyq],
                )
                old = _run(prev, name, old_params, timeout)
            ratio = "-" if now is None or old is None else f"{old['cpu'] / now['cpu']:.1f}"
            row = (
                f"| {name} | {'x'.join(map(str, grid))} | {kind} | {_fmt(now, 'err', '.1e')} | "
                f"{_fmt(old, 'err', '.1e')} | {_fmt(now, 'cpu', '.1f')} | "
                f"{_fmt(old, 'cpu', '.1f')} | {ratio} | {_fmt(now, 'n_iter', 'd')} |"
            )
            lines.append(row)
            print(row, flush=True)
    return lines


def bench_unseen(names, prev, timeout):
    """Unseen PDEs at the defaults (only the grid is set), both spectral families."""
    head = "| problem | grid | spectral | set | rel. L2 | goal | met | CPU s | iterations |"
    sep = "|---|---|---|---|---|---|---|---|---|"
    if prev is not None:
        head += " rel. L2 (prev, its defaults) | CPU s (prev) |"
        sep += "---|---|"
    lines = [head, sep]
    print("\n".join(lines), flush=True)
    for name in names:
        _, _, _, _, grid, tuned = UNSEEN[name]
        goal = 1e-3 if len(grid) == 1 else 1e-2
        for kind in ("student_t", "gaussian"):
            params = dict(spectral=kind, grid=list(grid), random_state=0)
            now = _run(ROOT, name, params, timeout)
            met = "no" if now is None or not now["err"] <= goal else "yes"
            row = (
                f"| {name} | {'x'.join(map(str, grid))} | {kind} | "
                f"{'tuned' if tuned else 'held out'} | {_fmt(now, 'err', '.1e')} | {goal:.0e} | "
                f"{met} | {_fmt(now, 'cpu', '.1f')} | {_fmt(now, 'n_iter', 'd')} |"
            )
            if prev is not None:
                old = _run(prev, name, params, timeout)
                row += f" {_fmt(old, 'err', '.1e')} | {_fmt(old, 'cpu', '.1f')} |"
            lines.append(row)
            print(row, flush=True)
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small grids and few problems")
    ap.add_argument("--part", default="kron,compare,unseen,baselines")
    ap.add_argument("--problems", default=None, help="comma-separated names (compare, unseen)")
    ap.add_argument("--prev", default=None, help="checkout of the previous version of the repo")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per fit")
    ap.add_argument("--max-iter", type=int, default=None, help="baselines part")
    ap.add_argument(
        "--only", choices=("1d", "2d"), default=None, help="only the 1-D or the 2-D problems"
    )
    ap.add_argument("--grid2d", default=None, help="grid of the 2-D paper problems, e.g. 48x48")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker is not None:
        _worker(json.loads(args.worker))
        return
    parts = set(args.part.split(","))
    wanted = None if args.problems is None else set(args.problems.split(","))
    prev = None if args.prev is None else Path(args.prev).resolve()
    header = (
        f"# bench_gp_pde ({'quick' if args.quick else 'full'}); jax {jax.__version__}, "
        f"{os.cpu_count()} CPUs, single-threaded BLAS/XLA"
    )
    print(header)
    grids = dict(CPU_GRIDS)
    if args.grid2d is not None:
        grids = {k: tuple(int(m) for m in args.grid2d.split("x")) for k in grids}
    written = []
    dims = None if args.only is None else int(args.only[0])
    suffix = "" if args.only is None else f"_{args.only}"
    only = f" --only {args.only}" if args.only else ""
    if "kron" in parts:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            bench_kron((16, 32, 64) if args.quick else (16, 32, 64, 128))
        print(buffer.getvalue(), end="")
        text = buffer.getvalue().strip().replace("## ", "### ", 1)
        quick = " --quick" if args.quick else ""
        command = f"Command: `python benchmarks/bench_gp_pde.py --part kron{quick}`"
        written.append(("gp_pde_kron", ["## GP-HM (`solvers.gp_pde`)", "", command, "", text]))
    if "compare" in parts:
        names = [
            n
            for n in problems.BENCHMARKS
            if (wanted is None or n in wanted)
            and (dims is None or len(problems.BENCHMARKS[n][1]) == dims)
        ]
        if args.quick:
            names = names[:1]
        print("\n## The paper's PDEs: this version at its defaults vs the previous one\n")
        out = [
            f"### The paper's PDEs{' (' + args.only + ')' if args.only else ''}: defaults now "
            "vs the previous version",
            "",
            f"Command: `python benchmarks/bench_gp_pde.py --part compare{only}"
            f"{' --prev PREV' if prev else ''}{' --quick' if args.quick else ''}"
            f"{' --problems ' + args.problems if args.problems else ''}"
            f"{' --grid2d ' + args.grid2d if args.grid2d else ''}`. Now: the "
            "defaults (data-driven initial spectrum and precisions, stopping rule, "
            "`max_iter=2000` as a bound), only the grid and the paper's boundary weight set. "
            "Prev: the previous commit with its benchmark settings (the paper's initial range "
            "capped at Nyquist, 500 iterations). CPU seconds of one fit in a fresh process, "
            "compilation included.",
            "",
        ]
        out += bench_compare(names, prev, args.quick, args.timeout, grids)
        written.append(("gp_pde_compare" + suffix, out))
    if "unseen" in parts:
        names = [
            n
            for n in UNSEEN
            if (wanted is None or n in wanted) and (dims is None or len(UNSEEN[n][4]) == dims)
        ]
        if args.quick:
            names = names[:2]
        print("\n## PDEs not in `problems`, at the defaults\n")
        out = [
            f"### PDEs not in `problems`{' (' + args.only + ')' if args.only else ''}, at the "
            "defaults",
            "",
            f"Command: `python benchmarks/bench_gp_pde.py --part unseen{only}"
            f"{' --prev PREV' if prev else ''}{' --quick' if args.quick else ''}"
            f"{' --problems ' + args.problems if args.problems else ''}`. "
            "`SpectralMixtureGPSolver(spectral=..., grid=..., random_state=0)`, nothing else "
            "set; goal: relative L2 at most 1e-3 in 1-D and 1e-2 in 2-D. `tuned`: used while "
            "the defaults were set; `held out`: run only after they were fixed.",
            "",
        ]
        out += bench_unseen(names, prev, args.timeout)
        written.append(("gp_pde_unseen" + suffix, out))
    if "baselines" in parts:
        one_d = [n for n in problems.BENCHMARKS if n.startswith("poisson_1d")]
        max_iter = args.max_iter or (50 if args.quick else 500)
        bench_baselines(
            one_d[:1] if args.quick else one_d,
            max_iter,
            pinn_steps=2 * max_iter if args.quick else 10 * max_iter,
        )
    if not args.no_write:
        for section, out in written:
            head = header.lstrip("# ")
            if out and out[0].startswith("## "):  # a section with its own heading
                write_section(section, "\n".join([out[0], "", head, *out[1:]]))
            else:
                write_section(section, head + "\n\n" + "\n".join(out))


if __name__ == "__main__":
    main()
