"""Interactive latency: cold imports, first fits, refits at a new size, grid search, cache.

Every measurement runs in a fresh Python process (a user's first call), side by side with
its peer in the same run: ``import jax``; scikit-learn's GaussianMixture under GridSearchCV;
hplc-py on the same real chromatograms (GPL, installed by the user for the comparison only:
``pip install hplc-py``; its column is skipped when missing). Compilations are counted with
JAX's monitoring events. Writes the table into ``docs/benchmarks.md`` (section ``latency``).

Usage: python benchmarks/bench_latency.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _results import write_section  # noqa: E402

# Counts XLA compilations that did not come from the persistent cache, and times a block.
PRELUDE = textwrap.dedent("""
    import json, sys, time, warnings
    warnings.simplefilter("ignore")
    T0 = time.perf_counter()
    import jax
    _compiles = [0]
    _hits = [0]
    def _dur(name, d, **k):
        if name == "/jax/core/compile/backend_compile_duration":
            _compiles[0] += 1
    def _ev(name, **k):
        if name == "/jax/compilation_cache/cache_hits":
            _hits[0] += 1
    jax.monitoring.register_event_duration_secs_listener(_dur)
    jax.monitoring.register_event_listener(_ev)
    OUT = {}
    def measure(label, fn):
        c0, h0, t, cpu = _compiles[0], _hits[0], time.perf_counter(), time.process_time()
        r = fn()
        OUT[label + "_s"] = time.perf_counter() - t
        OUT[label + "_cpu"] = time.process_time() - cpu
        OUT[label + "_compiles"] = (_compiles[0] - c0) - (_hits[0] - h0)
        return r
""")

ESTIMATORS = {
    "GaussianMixture": """
        import numpy as np
        from mixtures import GaussianMixture
        rng = np.random.default_rng(0)
        def data(n):
            return np.vstack([rng.normal(-2, 1, (n // 2, 2)), rng.normal(2, 1, (n - n // 2, 2))])
        A, B = data(400), data(437)
        measure("first", lambda: GaussianMixture(2, random_state=0).fit(A))
        measure("refit", lambda: GaussianMixture(2, random_state=0).fit(B))
    """,
    "SDPKMeans": """
        from solvers.ila_sdp import SDPKMeans, datasets
        A, _ = datasets.make_heterogeneous(60, random_state=0)
        B, _ = datasets.make_heterogeneous(57, random_state=1)
        measure("first", lambda: SDPKMeans(3, random_state=0).fit(A))
        measure("refit", lambda: SDPKMeans(3, random_state=0).fit(B))
    """,
    "ILASDP": """
        from solvers.ila_sdp import ILASDP, datasets
        A, _ = datasets.make_heterogeneous(60, random_state=0)
        B, _ = datasets.make_heterogeneous(57, random_state=1)
        measure("first", lambda: ILASDP(3, random_state=0).fit(A))
        measure("refit", lambda: ILASDP(3, random_state=0).fit(B))
    """,
    "LightSB": """
        import numpy as np
        from solvers.lightsb import LightSB
        rng = np.random.default_rng(0)
        def fit(n):
            X0, X1 = rng.normal(size=(n, 2)), rng.normal(3, 1, size=(n + 7, 2))
            return LightSB(n_components=4, max_iter=300, random_state=0).fit(X0, X1)
        measure("first", lambda: fit(200))
        measure("refit", lambda: fit(230))
    """,
    "ChromatogramFit": """
        from solvers.chromatography import ChromatogramFit, datasets
        A = datasets.btex("sharp", noise=0.01, random_state=0, sampling_rate=5.0)
        B = datasets.btex("sharp", noise=0.01, random_state=1, sampling_rate=4.0)
        measure("first", lambda: ChromatogramFit(4, A.column, A.injection).fit(A.t, A.signal))
        measure("refit", lambda: ChromatogramFit(4, B.column, B.injection).fit(B.t, B.signal))
    """,
    "KinematicForecaster": """
        from solvers.kinematic import KinematicForecaster, datasets
        A = datasets.synthetic_traffic(100, horizon=12, random_state=0)
        B = datasets.synthetic_traffic(117, horizon=12, random_state=1)
        mk = lambda: KinematicForecaster(n_modes=3, horizon=12, hidden=16, max_iter=300,
                                         random_state=0)
        measure("first", lambda: mk().fit(A.past, A.future))
        measure("refit", lambda: mk().fit(B.past, B.future))
    """,
    "GrowthMixtureMoE": """
        from solvers.growth_moe import GrowthMixtureMoE, datasets
        A = datasets.simulate(n=120, random_state=0)
        B = datasets.simulate(n=101, random_state=1)
        mk = lambda: GrowthMixtureMoE(n_classes=2, n_init=2, random_state=0)
        measure("first", lambda: mk().fit(A.Y, A.times, A.X))
        measure("refit", lambda: mk().fit(B.Y, B.times, B.X))
    """,
    "SpectralMixtureGPSolver": """
        import numpy as np
        from solvers.gp_pde import SpectralMixtureGPSolver, problems
        p = problems.poisson_1d_sin() if hasattr(problems, "poisson_1d_sin") else None
        mk = lambda g: SpectralMixtureGPSolver(n_components=8, grid=(g,), max_iter=50,
                                               random_state=0)
        measure("first", lambda: mk(64).fit(p))
        measure("refit", lambda: mk(80).fit(p))
    """,
}

GRIDSEARCH = """
    import numpy as np
    from sklearn.model_selection import GridSearchCV
    rng = np.random.default_rng(0)
    n = {n}
    X = np.vstack([rng.normal(-2, 1, (n // 2, 2)), rng.normal(2, 1, (n - n // 2, 2))])
    if "{which}" == "mixtures":
        from mixtures import GaussianMixture
    else:
        from sklearn.mixture import GaussianMixture
    grid = {{"n_components": [1, 2, 3, 4]}}
    measure("search", lambda: GridSearchCV(GaussianMixture(random_state=0), grid, cv=5).fit(X))
"""

# Real chromatograms of three lengths (one shape bucket), as in bench_chromatography.py's
# real-data table: (file, channel, window in s, baseline).
SIGNALS = [
    ("agilent_gc_fid.ch", None, (280.0, 320.0), "linear"),
    ("agilent_lc_mwd_210nm.ch", None, (270.0, 340.0), "linear"),
    ("shimadzu_fsec.txt", "Detector B", (240.0, 360.0), "linear"),
]

# Both sides run the three signals in turn in one fresh process: ours with its defaults
# (automatic peak count), hplc-py with bench_chromatography.py's invocation (time in min).
CHROM_OURS = """
    import numpy as np
    from solvers.chromatography import ChromatogramFit, datasets, read_chromatogram
    for i, (name, channel, (lo, hi), baseline) in enumerate({signals!r}):
        run = read_chromatogram(datasets.data_path(name), channel=channel).window(lo, hi)
        OUT[f"n{{i}}"] = len(run.t)
        fit = measure(f"fit{{i}}", lambda: ChromatogramFit(baseline=baseline)
                      .fit(run.t, run.signal))
        OUT[f"peaks{{i}}"] = int(fit.n_analytes_)
"""

CHROM_HPLC = """
    import numpy as np, pandas as pd
    from hplc.quant import Chromatogram
    from solvers.chromatography import datasets, read_chromatogram
    for i, (name, channel, (lo, hi), baseline) in enumerate({signals!r}):
        run = read_chromatogram(datasets.data_path(name), channel=channel).window(lo, hi)
        df = pd.DataFrame({{"time": run.t / 60.0, "signal": run.signal}})
        def fit():
            c = Chromatogram(df, cols={{"time": "time", "signal": "signal"}})
            c.fit_peaks(verbose=False)
            return c
        try:
            c = measure(f"fit{{i}}", fit)
            OUT[f"peaks{{i}}"] = int(len(c.peaks))
        except Exception as err:
            OUT[f"fit{{i}}_error"] = type(err).__name__
"""


def run(code: str, env=None, timeout=1200) -> dict:
    src = (
        PRELUDE + textwrap.dedent(code) + "\nOUT['total_s'] = time.perf_counter() - T0"
        "\nOUT['total_cpu'] = time.process_time()\n"
        "print('@@' + json.dumps(OUT))\n"
    )
    e = dict(os.environ, **(env or {}))
    try:
        p = subprocess.run(
            [sys.executable, "-c", src],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=e,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in p.stdout.splitlines():
        if line.startswith("@@"):
            return json.loads(line[2:])
    return {"error": (p.stderr.strip().splitlines() or ["no output"])[-1][:120]}


def import_time(stmt: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        code = "import time; t = time.perf_counter(); " + stmt + "; print(time.perf_counter() - t)"
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        times.append(float(p.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def have(module: str) -> bool:
    p = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    return p.returncode == 0


def fmt(x, unit=" s"):
    return "—" if x is None else f"{x:.2f}{unit}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, smaller search sizes")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else 3
    load0 = os.getloadavg()[0]  # other processes inflate every time here: stated in the table
    threads = (
        ", ".join(
            f"`{k}={os.environ[k]}`" for k in ("OMP_NUM_THREADS", "XLA_FLAGS") if k in os.environ
        )
        or "library defaults"
    )
    lines = []

    # 1. cold imports
    base = import_time("import jax", repeats)
    rows = [("import jax", base)]
    for mod in [
        "mixtures",
        "solvers.ila_sdp",
        "solvers.lightsb",
        "solvers.chromatography",
        "solvers.kinematic",
        "solvers.growth_moe",
        "solvers.gp_pde",
    ]:
        rows.append((f"import {mod}", import_time(f"import {mod}", repeats)))
    rows.append(
        (
            "from mixtures import GaussianMixture",
            import_time("from mixtures import GaussianMixture", repeats),
        )
    )
    lines += [
        f"### Cold import (median of {repeats} fresh processes)",
        "",
        "| statement | time | ratio to `import jax` |",
        "|---|---|---|",
    ]
    lines += [f"| `{s}` | {fmt(t)} | {t / base:.2f} |" for s, t in rows]
    print("\n".join(lines), flush=True)

    # 2. first fit and refit at a new size, per estimator
    part = [
        "",
        "### First fit and refit at a new data size (fresh process)",
        "",
        "| estimator | first fit | compilations | refit, new size | compilations |",
        "|---|---|---|---|---|",
    ]
    for name, code in ESTIMATORS.items():
        r = run(code)
        if "error" in r:
            part.append(f"| {name} | error: {r['error']} | | | |")
        else:
            part.append(
                f"| {name} | {fmt(r['first_s'])} | {r['first_compiles']} | "
                f"{fmt(r['refit_s'])} | {r['refit_compiles']} |"
            )
        print(part[-1], flush=True)
    lines += part

    # 3. GridSearchCV over n_components, 5 folds x 4 candidates, cold
    part = [
        "",
        "### GridSearchCV (5 folds x 4 values of n_components), fresh process",
        "",
        "| n | mixtures | compilations | scikit-learn | ratio | CPU ratio |",
        "|---|---|---|---|---|---|",
    ]
    for n in [60, 6000] if args.quick else [60, 6000, 100_000]:
        ours = run(GRIDSEARCH.format(n=n, which="mixtures"))
        sk = run(GRIDSEARCH.format(n=n, which="sklearn"))
        if "error" in ours or "error" in sk:
            part.append(f"| {n} | {ours.get('error', '')} | | {sk.get('error', '')} | |")
        else:
            part.append(
                f"| {n:,} | {fmt(ours['search_s'])} | {ours['search_compiles']} | "
                f"{fmt(sk['search_s'])} | {ours['search_s'] / sk['search_s']:.2f} | "
                f"{ours['search_cpu'] / sk['search_cpu']:.2f} |"
            )
        print(part[-1], flush=True)
    lines += part

    # 4. ChromatogramFit on three real signals of different lengths, against hplc-py
    ours = run(CHROM_OURS.format(signals=SIGNALS))
    peer = run(CHROM_HPLC.format(signals=SIGNALS), timeout=600) if have("hplc") else None
    part = [
        "",
        "### ChromatogramFit on three real chromatograms of different lengths vs hplc-py",
        "",
        "Each side runs the three signals in turn in one fresh process (ours: "
        '`ChromatogramFit(baseline="linear")`, automatic peak count; hplc-py: '
        "`Chromatogram(df).fit_peaks()`, as in `bench_chromatography.py`). Times are "
        "whole fits, ours including compilation.",
        "",
        "| signal | samples | ChromatogramFit | compilations | peaks | hplc-py | peaks "
        "| ratio (wall / CPU) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, (name, channel, (lo, hi), _) in enumerate(SIGNALS):
        label = f"{name}{' ' + channel if channel else ''} {lo:.0f}-{hi:.0f} s"
        if "error" in ours:
            part.append(f"| {label} | | error: {ours['error']} | | | | | |")
            print(part[-1], flush=True)
            continue
        mine = ours[f"fit{i}_s"]
        if peer is None:
            peer_s, peer_n, ratio = "not installed", "", ""
        elif "error" in peer or f"fit{i}_s" not in peer:
            why = peer.get("error") or peer.get(f"fit{i}_error", "?")
            peer_s, peer_n, ratio = "failed: " + why.replace("|", "/")[:60], "", ""
        else:
            peer_s, peer_n = fmt(peer[f"fit{i}_s"]), peer[f"peaks{i}"]
            ratio = (
                f"{mine / peer[f'fit{i}_s']:.2f} / {ours[f'fit{i}_cpu'] / peer[f'fit{i}_cpu']:.2f}"
            )
        part.append(
            f"| {label} | {ours[f'n{i}']} | {fmt(mine)} | {ours[f'fit{i}_compiles']} "
            f"| {ours[f'peaks{i}']} | {peer_s} | {peer_n} | {ratio} |"
        )
        print(part[-1], flush=True)
    if "error" not in ours and peer is not None and "error" not in peer:
        part.append(
            f"| whole process (imports + three fits) | | {fmt(ours['total_s'])} | | "
            f"| {fmt(peer['total_s'])} | | {ours['total_s'] / peer['total_s']:.2f} / "
            f"{ours['total_cpu'] / peer['total_cpu']:.2f} |"
        )
        print(part[-1], flush=True)
    lines += part

    # 5. persistent cache: the same first fit in two sessions
    with tempfile.TemporaryDirectory() as cache:
        env = {"MIXTURES_CACHE_DIR": cache}
        part = [
            "",
            "### Persistent compilation cache (`MIXTURES_CACHE_DIR`), two sessions",
            "",
            "| estimator | session 1 fit | compilations | session 2 fit | compilations |",
            "|---|---|---|---|---|",
        ]
        for name in ["GaussianMixture", "GrowthMixtureMoE"]:
            a, b = run(ESTIMATORS[name], env), run(ESTIMATORS[name], env)
            if "error" in a or "error" in b:
                part.append(f"| {name} | {a.get('error', '')} | | {b.get('error', '')} | |")
            else:
                part.append(
                    f"| {name} | {fmt(a['first_s'])} | {a['first_compiles']} | "
                    f"{fmt(b['first_s'])} | {b['first_compiles']} |"
                )
            print(part[-1], flush=True)
    lines += part

    text = "\n".join(
        [
            "## Latency (`benchmarks/bench_latency.py`)",
            "",
            f"{os.cpu_count()} cores, load average (1 min) {load0:.1f} at the start and "
            f"{os.getloadavg()[0]:.1f} at the end (other processes inflate wall times; CPU "
            f"ratios are steadier); threads: {threads}; every row is a fresh Python process "
            "unless said; compilations exclude programs loaded from the persistent cache.",
            "",
        ]
        + lines
    )
    if not args.no_write:
        write_section("latency", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
