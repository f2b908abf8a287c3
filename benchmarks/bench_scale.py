"""Scaling out: a Gaussian mixture (K = 8, d = 10) on data streamed from a memmap.

For each size n the same problem is fitted three ways, each in a fresh process so that its
peak resident memory (``VmHWM``) is its own:

* ``streamed``: :class:`mixtures.GaussianMixture` ``.fit`` on a float64 memmap, read chunk
  by chunk (exact EM; memory bounded by the chunk size);
* ``in-memory``: :class:`mixtures.GaussianMixture` on the array read from the file;
* ``scikit-learn``: :class:`sklearn.mixture.GaussianMixture` on the same array.

All three start from the same parameters (``weights_init``, ``means_init``,
``precisions_init``) and run a fixed number of EM iterations (``tol=0``), so their iterates
agree to rounding. Then the streamed fit is repeated on 1, 2, 4 and 8 simulated CPU devices
(``devices=``) and its means compared with the one-device fit. Memory is reported as the
peak RSS of the process (``total``, interpreter and libraries included) and as its
increment over the same process after importing the libraries (``increment``: the data
read into memory, when it is, plus what the fit needs).

Usage: python benchmarks/bench_scale.py [--quick] [--no-write] [--sizes 1e5 1e6 1e7]
       [--devices-n 1e6] [--workdir /tmp] [--save run.json]
       python benchmarks/bench_scale.py --report-from run1.json run2.json  (merge runs)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent

K, D = 8, 10
ITERS = 5
IN_MEMORY_MAX = 10_000_000  # scikit-learn needs about 7 times the data at these sizes


def _means():
    rng = np.random.default_rng(12345)
    return rng.normal(scale=3.0, size=(K, D))


def _start():
    """Initial parameters shared by every fit: means near the truth but not at it (EM still
    moves), equal weights, unit precisions (units of the data)."""
    return dict(
        weights_init=np.full(K, 1.0 / K),
        means_init=_means() + 0.5,
        precisions_init=np.broadcast_to(np.eye(D), (K, D, D)).copy(),
    )


def make_memmap(path: Path, n: int, seed: int = 0) -> None:
    """Write ``n`` points of a K-component mixture to a float64 memmap, chunk by chunk."""
    rng = np.random.default_rng(seed)
    means = _means()
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=(n, D))
    step = 1 << 18
    for i in range(0, n, step):
        m = min(step, n - i)
        z = rng.integers(0, K, m)
        mm[i : i + m] = means[z] + rng.normal(size=(m, D))
    mm.flush()
    del mm


def _rss_mb() -> float:
    """Peak resident memory of this process (MB).

    ``VmHWM`` of the process's own address space: ``ru_maxrss`` would also count the
    parent's peak, which Linux carries over through fork and exec.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ------------------------------------------------------------------------------ workers
def worker(kind: str, path: str, n: int, iters: int, devices: int | None) -> dict:
    import warnings

    import jax  # noqa: F401  (imported before the baseline is read)
    import sklearn.mixture  # noqa: F401

    from mixtures import GaussianMixture, streaming

    base = _rss_mb()
    out = {"kind": kind, "n": n, "baseline_rss_mb": base}
    kw = dict(tol=0.0, max_iter=iters, **_start())
    t0 = time.perf_counter()
    if kind == "baseline":
        pass
    elif kind == "chunked":
        mm = np.memmap(path, dtype=np.float64, mode="r", shape=(n, D))
        stamps = []
        est = GaussianMixture(K, devices=devices, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _timed_stream(streaming, est, mm, stamps)
        gaps = np.diff(stamps)[1:]  # the first iteration includes compilation
        out["per_iter_s"] = float(np.median(gaps)) if len(gaps) else float("nan")
    else:
        # read, not mapped: the map's pages would count in the resident set beside the copy
        X = np.fromfile(path, dtype=np.float64).reshape(n, D)
        out["loaded_rss_mb"] = _rss_mb()
        t0 = time.perf_counter()
        if kind == "memory":
            est = GaussianMixture(K, **kw)
        else:
            from sklearn.mixture import GaussianMixture as SkGM

            reg = 1e-6 * float(np.mean(X.var(axis=0)))  # ours is relative to the data's scale
            # every parameter is given: no k-means for responsibilities that are overridden
            est = SkGM(K, reg_covar=reg, init_params="random_from_data", random_state=0, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X)
    if kind != "baseline":
        out.update(
            lower_bound=float(est.lower_bound_), means=est.means_.tolist(), n_iter=int(est.n_iter_)
        )
    out["fit_s"] = time.perf_counter() - t0
    out["peak_rss_mb"] = _rss_mb()
    return out


def _timed_stream(streaming, est, mm, stamps):
    """``est.fit(mm)`` with a timestamp before the EM passes and after every iteration."""
    orig = streaming.fit_em_chunked

    def timed(*args, **kwargs):
        stamps.append(time.perf_counter())
        kwargs["callback"] = lambda *a: stamps.append(time.perf_counter())
        return orig(*args, **kwargs)

    streaming.fit_em_chunked = timed
    try:
        return est.fit(mm)
    finally:
        streaming.fit_em_chunked = orig


def run_worker(kind, path, n, iters, devices=None, n_sim_devices=None, timeout=1800):
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    flags = env.get("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    if n_sim_devices:
        flags += f" --xla_force_host_platform_device_count={n_sim_devices}"
    env["XLA_FLAGS"] = flags
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, __file__, "--worker", kind, path, str(n), str(iters), str(devices or 0)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return {"kind": kind, "n": n, "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------- report
def _fmt(x, spec=".0f"):
    return "—" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    ap.add_argument("--sizes", type=float, nargs="*", default=None)
    ap.add_argument("--devices-n", type=float, default=None)
    ap.add_argument("--workdir", default=None, help="folder for the memmaps (default: temp)")
    ap.add_argument(
        "--max-in-memory",
        type=float,
        default=IN_MEMORY_MAX,
        help="largest n fitted in memory (ours and scikit-learn's)",
    )
    ap.add_argument("--iters", type=int, default=None, help=f"EM iterations (default {ITERS})")
    ap.add_argument("--skip-devices", action="store_true", help="no device comparison")
    ap.add_argument(
        "--section",
        default="scale",
        help="section of docs/benchmarks.md to write (e.g. scale_1e8 for a "
        "separate run of the largest size)",
    )
    ap.add_argument("--save", default=None, help="also write the raw results to this JSON")
    ap.add_argument(
        "--report-from",
        nargs="+",
        default=None,
        help="re-render the table of JSONs written by --save (no fitting); the rows of "
        "several runs are merged, the device rows and baseline taken from the first that "
        "has them",
    )
    ap.add_argument("--worker", nargs=5, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, path, n, iters, devices = args.worker
        res = worker(kind, path, int(n), int(iters), int(devices) or None)
        print(json.dumps(res))
        return

    if args.report_from:
        runs = [json.loads(Path(f).read_text()) for f in args.report_from]
        raw = dict(runs[0])
        raw["rows"] = sorted((r for run in runs for r in run["rows"]), key=lambda r: r["n"])
        with_dev = [run for run in runs if run["dev_rows"]]
        if with_dev:
            raw.update(dev_rows=with_dev[0]["dev_rows"], n_dev=with_dev[0]["n_dev"])
        raw["max_in_memory"] = max(run["max_in_memory"] for run in runs)
        text = report(**raw)
        print(text)
        if not args.no_write:
            from _results import write_section

            write_section(args.section, text)
        return

    sizes = [int(s) for s in (args.sizes or ([1e4, 1e5] if args.quick else [1e5, 1e6, 1e7]))]
    n_dev = int(args.devices_n or (2e4 if args.quick else 1e6))
    iters = args.iters or (3 if args.quick else ITERS)
    work = Path(tempfile.mkdtemp(prefix="bench_scale_", dir=args.workdir))
    free = shutil.disk_usage(work).free
    need = 8 * D * max(sizes + [n_dev])  # one memmap at a time
    if need > 0.8 * free:
        sys.exit(f"not enough disk in {work}: need {need / 1e9:.1f} GB, free {free / 1e9:.1f}")
    rows, dev_rows = [], []
    try:
        for n in sizes:
            path = work / f"X_{n}.f64"
            make_memmap(path, n)
            row = {"n": n, "data_mb": 8 * D * n / 2**20}
            for kind in ("chunked", "memory", "sklearn"):
                if kind != "chunked" and n > args.max_in_memory:
                    row[kind] = None
                    continue
                row[kind] = run_worker(kind, str(path), n, iters)
                print(n, kind, {k: v for k, v in row[kind].items() if k != "means"}, flush=True)
            rows.append(row)
            path.unlink()
        base = run_worker("baseline", str(work / "none"), 0, iters)
        path = work / f"X_{n_dev}.f64"
        if not args.skip_devices:
            make_memmap(path, n_dev)
        ref = None
        for nd in () if args.skip_devices else (1, 2, 4, 8):
            r = run_worker("chunked", str(path), n_dev, iters, devices=nd, n_sim_devices=8)
            if ref is None:
                ref = np.asarray(r["means"])
            r["max_diff"] = float(np.max(np.abs(np.asarray(r["means"]) - ref)))
            r["devices"] = nd
            print("devices", nd, {k: v for k, v in r.items() if k != "means"}, flush=True)
            dev_rows.append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    raw = dict(
        rows=rows,
        dev_rows=dev_rows,
        base=base,
        iters=iters,
        n_dev=n_dev,
        max_in_memory=args.max_in_memory,
        title=args.section != "scale",
    )
    if args.save:
        Path(args.save).write_text(json.dumps(raw))
    text = report(**raw)
    print(text)
    if not args.no_write and not args.quick:
        from _results import write_section

        write_section(args.section, text)


def _mem(r, data_mb):
    """``total / increment (increment / data)`` of a worker's result."""
    if not r or "peak_rss_mb" not in r:
        return "—"
    inc = r["peak_rss_mb"] - r["baseline_rss_mb"]
    return f"{r['peak_rss_mb']:.0f} / {inc:.0f} ({inc / data_mb:.1f}x)"


def report(rows, dev_rows, base, iters, n_dev, max_in_memory, title=False):
    sizes = ", ".join(f"{r['n']:.0e}" for r in rows)
    head = (
        f"### Scaling out, n = {sizes} (`benchmarks/bench_scale.py`)"
        if title
        else "## Scaling out (`benchmarks/bench_scale.py`)"
    )
    lines = [
        head,
        "",
        f"Gaussian mixture K = {K}, d = {D}, full covariances, {iters} EM iterations "
        "(`tol=0`) from the same given parameters (so the three fits have the same iterates); "
        "data in a float64 file. *streamed*: `mixtures.GaussianMixture().fit(memmap)` "
        "(chunks of `DEFAULT_CHUNK_SIZE` rows; 2 extra passes for the mean and scale); "
        "*in-memory*: `mixtures.GaussianMixture().fit(X)` on the array read from the file "
        "(fit time includes compilation); *scikit-learn*: "
        "`sklearn.mixture.GaussianMixture().fit(X)` on the same array. Memory is `total / "
        "increment (increment / data size)` in MB: *total* is the peak RSS (`VmHWM`) of a "
        "fresh process per fit, *increment* that peak minus the same process's RSS after "
        "importing the libraries, i.e. the data read into memory (in-memory fits) plus what "
        "the fit needs. A process that only imports the libraries peaks at "
        f"{base.get('peak_rss_mb', float('nan')):.0f} MB. Single-threaded "
        "(`OMP_NUM_THREADS=1`, `--xla_cpu_multi_thread_eigen=false`), on a shared machine "
        "(timings are noisy).",
        "",
        "| n | data MB | streamed memory | streamed s / EM iteration | streamed s / iteration "
        "per 10^6 points | in-memory memory | in-memory fit s | scikit-learn memory | "
        "scikit-learn fit s | max lower-bound difference of the three |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        c, m, s = r["chunked"], r["memory"], r["sklearn"]
        bounds = [x["lower_bound"] for x in (c, m, s) if x and "lower_bound" in x]
        diff = (max(bounds) - min(bounds)) if len(bounds) > 1 else None
        lines.append(
            f"| {r['n']:.0e} | {r['data_mb']:.0f} | {_mem(c, r['data_mb'])} | "
            f"{_fmt(c.get('per_iter_s'), '.2f')} | "
            f"{_fmt(c.get('per_iter_s', float('nan')) * 1e6 / r['n'], '.2f')} | "
            f"{_mem(m, r['data_mb'])} | {_fmt(m and m.get('fit_s'), '.1f')} | "
            f"{_mem(s, r['data_mb'])} | {_fmt(s and s.get('fit_s'), '.1f')} | "
            f"{_fmt(diff, '.1e')} |"
        )
    skipped = [r["n"] for r in rows if r["memory"] is None]
    if skipped:
        lines += [
            "",
            "In-memory fits are not run (—) at "
            + ", ".join(f"{n:.0e}" for n in skipped)
            + " points (`--max-in-memory`).",
        ]
    if not dev_rows:
        return "\n".join(lines) + "\n"
    lines += [
        "",
        f"Same streamed fit at n = {n_dev:.0e} on simulated CPU devices "
        "(`XLA_FLAGS=--xla_force_host_platform_device_count=8`, `devices=k`; the host has "
        "2 cores, so no speed-up is expected):",
        "",
        "| devices | s / EM iteration | peak RSS MB | max abs difference of the means "
        "vs 1 device |",
        "|---:|---:|---:|---:|",
    ]
    for r in dev_rows:
        lines.append(
            f"| {r['devices']} | {_fmt(r.get('per_iter_s'), '.2f')} | "
            f"{_fmt(r.get('peak_rss_mb'))} | {r['max_diff']:.1e} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
