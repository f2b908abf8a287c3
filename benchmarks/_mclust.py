"""R's mclust on the benchmarks' data: one ``Rscript`` process for a batch of data sets.

Each data set is fitted twice: ``Mclust`` choosing the covariance structure (and, when asked,
the number of components) by BIC, and ``Mclust(modelNames = "VVV")`` at the true number of
components. CPU times are R's own (user + system, measured inside R, without its start-up).
Set-up on Debian: ``apt-get install r-base-core r-cran-mclust``.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

R_SCRIPT = r"""
suppressMessages(library(mclust))
dir <- commandArgs(trailingOnly = TRUE)[1]
jobs <- read.csv(file.path(dir, "jobs.csv"), stringsAsFactors = FALSE)
out <- NULL
for (i in seq_len(nrow(jobs))) {
  X <- as.matrix(read.csv(file.path(dir, jobs$file[i]), header = FALSE))
  K <- jobs$K[i]
  G <- eval(parse(text = jobs$G[i]))
  for (variant in c("BIC", "VVV")) {
    t0 <- proc.time()
    fit <- if (variant == "BIC") Mclust(X, G = G, verbose = FALSE) else
      Mclust(X, G = K, modelNames = "VVV", verbose = FALSE)
    dt <- proc.time() - t0
    labels <- if (is.null(fit)) rep(NA, nrow(X)) else fit$classification
    write.table(t(labels), file.path(dir, paste0(jobs$file[i], ".", variant, ".labels")),
                sep = ",", row.names = FALSE, col.names = FALSE)
    out <- rbind(out, data.frame(file = jobs$file[i], variant = variant,
                                 model = if (is.null(fit)) "failed" else fit$modelName,
                                 G = if (is.null(fit)) NA else fit$G,
                                 cpu = dt[["user.self"]] + dt[["sys.self"]]))
  }
}
write.csv(out, file.path(dir, "results.csv"), row.names = FALSE)
"""


def missing():
    """Why mclust cannot run here, or None."""
    if shutil.which("Rscript") is None:
        return "Rscript not found (apt-get install r-base-core r-cran-mclust)"
    probe = subprocess.run(["Rscript", "-e", "library(mclust)"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "R package mclust not installed (apt-get install r-cran-mclust)"
    return None


def run(jobs, components=None):
    """Fit mclust to every ``(X, K)`` of ``jobs`` in one R process.

    Parameters
    ----------
    jobs : sequence of (array of shape (n, d), int)
        Data and true number of components.
    components : range, optional
        Numbers of components of the BIC search (None: the true ``K`` only).

    Returns
    -------
    list of dict or None
        Per job, ``{"BIC": (labels, cpu, model, G), "VVV": (labels, cpu, model, G)}``
        (labels NaN and model "failed" where mclust returned no fit); None without
        ``Rscript``, or, with the reason printed, when R fails.
    """
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = ["file,K,G"]
        for i, (X, K) in enumerate(jobs):
            np.savetxt(tmp / f"x{i}.csv", X, delimiter=",", fmt="%.17g")
            G = K if components is None else f"{components.start}:{components.stop - 1}"
            rows.append(f"x{i}.csv,{K},{G}")
        (tmp / "jobs.csv").write_text("\n".join(rows) + "\n")
        (tmp / "run.R").write_text(R_SCRIPT)
        proc = subprocess.run(
            ["Rscript", str(tmp / "run.R"), str(tmp)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            print("mclust failed:", proc.stderr[-2000:])
            return None
        with open(tmp / "results.csv", newline="") as fh:
            res = {(r["file"], r["variant"]): r for r in csv.DictReader(fh)}
        out = []
        for i in range(len(jobs)):
            fits = {}
            for variant in ("BIC", "VVV"):
                row = res[(f"x{i}.csv", variant)]
                # NA (a failed fit) reads as NaN
                labels = np.genfromtxt(tmp / f"x{i}.csv.{variant}.labels", delimiter=",")
                fits[variant] = (labels, float(row["cpu"]), row["model"], row["G"])
            out.append(fits)
    return out
