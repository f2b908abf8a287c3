"""Synthetic BTEX chromatograms with known parameters.

The paper's measured chromatograms are not available; these stand-ins follow its setting:
hold-up time 60 s, 1 s rectangular injection, elution order benzene < toluene <
ethylbenzene < o-xylene with retention times 150 / 240 / 360 / 420 s, 5 Hz sampling.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from mixtures import as_generator
from mixtures.base import check_option, check_scalar
from solvers.chromatography.model import Analyte, Column, Injection, outlet_concentration

__all__ = ["btex", "data_path", "REAL_FILES"]

# The real runs shipped in ``solvers/chromatography/data`` (MIT; see the NOTICE there).
REAL_FILES = (
    "agilent_gc_fid.ch",
    "agilent_lc_mwd_210nm.ch",
    "chromeleon_ic_std_mix2.txt",
    "chromeleon_ic_sample_a1.txt",
    "shimadzu_fsec.txt",
)


def data_path(name):
    """Path of a shipped real chromatogram, for :func:`~solvers.chromatography.read_chromatogram`.

    Parameters
    ----------
    name : str
        One of :data:`REAL_FILES`: ``"agilent_gc_fid.ch"`` (Agilent GC-FID, ChemStation),
        ``"agilent_lc_mwd_210nm.ch"`` (Agilent LC at 210 nm), ``"chromeleon_ic_std_mix2.txt"``
        and ``"chromeleon_ic_sample_a1.txt"`` (Chromeleon ion-chromatography exports),
        ``"shimadzu_fsec.txt"`` (Shimadzu LabSolutions export, two detectors).

    Returns
    -------
    pathlib.Path
    """
    from pathlib import Path

    name = check_option(name, "name", REAL_FILES)
    return Path(__file__).resolve().parent / "data" / name


NAMES = ("benzene", "toluene", "ethylbenzene", "o-xylene")
RETENTION_TIMES = np.array([150.0, 240.0, 360.0, 420.0])  # s
WIDTHS = {"sharp": np.array([1.6, 2.2, 3.0, 3.4]), "tailing": np.array([12.0, 20.0, 25.0, 30.0])}
AREAS = np.array([1.0, 1.3, 0.9, 1.1])  # detector signal x s
DURATION = 720.0  # s, the run length of both sets


def btex(kind="sharp", noise=0.01, random_state=None, drift=0.0, sampling_rate=5.0):
    """A synthetic BTEX chromatogram from the linear kinetic column model.

    Parameters
    ----------
    kind : {"sharp", "tailing"}
        ``"sharp"``: capillary-like peaks, widths 1.6 / 2.2 / 3.0 / 3.4 s (A = 6e3 to 2e4,
        resolved). ``"tailing"``: packed-column-like peaks, widths 12 / 20 / 25 / 30 s
        (A = 110 to 290, visible tailing, the last two overlapping).
    noise : float, default 0.01
        Standard deviation of the white noise as a fraction of the highest peak, >= 0.
    random_state : None, int, numpy.random.Generator or JAX key
    drift : float, default 0
        Linear baseline drift over the run, as a fraction of the highest peak.
    sampling_rate : float, default 5
        Samples per second.

    Returns
    -------
    sklearn.utils.Bunch
        ``t`` (n_t,) s; ``signal`` (n_t,); ``clean`` (n_t,) noise-free signal; ``column``;
        ``injection``; ``analytes`` (list of 4 Analyte); ``areas`` (4,); ``params`` (4, 3)
        true ``(k_a, k_d, area)``; ``names``; ``noise_std``; ``baseline`` (2,) intercept and
        slope.
    """
    kind = check_option(kind, "kind", ("sharp", "tailing"))
    noise = check_scalar(noise, "noise", low=0.0)
    drift = check_scalar(drift, "drift")
    rate = check_scalar(sampling_rate, "sampling_rate", low=0.0, low_open=True)
    rng = as_generator(random_state)
    column = Column(length=30.0, velocity=0.5)
    injection = Injection.rectangular(1.0, 1.0)
    t_m = column.hold_up_time
    K = RETENTION_TIMES / t_m - 1.0
    k_d = 2.0 * t_m * K / WIDTHS[kind] ** 2
    k_a = K * k_d / column.phase_ratio
    analytes = [Analyte(float(a), float(d), name) for a, d, name in zip(k_a, k_d, NAMES)]
    t = np.arange(0.0, DURATION, 1.0 / rate)
    profiles = outlet_concentration(column, analytes, injection, t, n_terms=128)
    peaks = AREAS @ (profiles / injection.amount)
    height = peaks.max()
    baseline = np.array([0.0, drift * height / t[-1]])
    clean = peaks + baseline[0] + baseline[1] * t
    noise_std = noise * height
    signal = clean + noise_std * rng.standard_normal(t.size)
    return Bunch(
        t=t,
        signal=signal,
        clean=clean,
        column=column,
        injection=injection,
        analytes=analytes,
        areas=AREAS.copy(),
        params=np.column_stack([k_a, k_d, AREAS]),
        names=list(NAMES),
        noise_std=noise_std,
        baseline=baseline,
    )
