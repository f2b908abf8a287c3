"""External-standard calibration: peak area against concentration, and quantification."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixtures.base import check_array, check_same_length

__all__ = ["Calibration", "calibrate"]


@dataclass(frozen=True)
class Calibration:
    """A straight calibration line ``area = slope * concentration + intercept``.

    Attributes
    ----------
    slope, intercept : float
        Area per concentration unit, and area at zero concentration (0 when fitted through
        the origin).
    slope_stderr, intercept_stderr : float
        Their standard errors (ordinary least squares).
    residual_std : float
        Standard deviation of the areas about the line (area units).
    r2 : float
        Coefficient of determination of the line.
    n : int
        Number of standards.
    mean_concentration : float
        Mean of the standards' concentrations.
    sxx : float
        Sum of squared deviations of the standards' concentrations from their mean.
    through_origin : bool
        Whether the intercept was fixed at 0.
    """

    slope: float
    intercept: float
    slope_stderr: float
    intercept_stderr: float
    residual_std: float
    r2: float
    n: int
    mean_concentration: float
    sxx: float
    through_origin: bool

    def quantify(self, areas, replicates=1):
        """Concentrations of unknowns from their peak areas, with standard errors.

        Parameters
        ----------
        areas : array-like, shape (n_unknowns,)
            Peak areas (the calibration's area units), each the mean of ``replicates``
            injections.
        replicates : int, default 1
            Injections averaged into each area.

        Returns
        -------
        concentrations, stderr : ndarray, shape (n_unknowns,)
            Inverse predictions ``(area - intercept) / slope`` and their standard errors
            (the classical inverse-regression formula, first order in the line's errors).
        """
        y = check_array(areas, "areas", ndim=1)
        if not isinstance(replicates, int | np.integer) or replicates < 1:
            raise ValueError(f"replicates must be an int >= 1, got {replicates!r}.")
        x = (y - self.intercept) / self.slope
        s, b = self.residual_std, self.slope
        if self.through_origin:
            var = (s / b) ** 2 * (1.0 / replicates) + (x * self.slope_stderr / b) ** 2
        else:
            var = (s / b) ** 2 * (
                1.0 / replicates + 1.0 / self.n + (x - self.mean_concentration) ** 2 / self.sxx
            )
        return x, np.sqrt(var)


def calibrate(concentrations, areas, *, through_origin=False):
    """Fit a calibration line to standards.

    Parameters
    ----------
    concentrations : array-like, shape (n_standards,)
        Known concentrations of the standards (any unit).
    areas : array-like, shape (n_standards,)
        Their peak areas (for example ``fit.peak_table_["area"]`` of each standard's run).
    through_origin : bool, default False
        Fix the intercept at 0.

    Returns
    -------
    Calibration
    """
    x = check_array(concentrations, "concentrations", ndim=1)
    y = check_array(areas, "areas", ndim=1)
    check_same_length(x, y, ("concentrations", "areas"))
    n_par = 1 if through_origin else 2
    if x.size <= n_par:
        raise ValueError(f"need more than {n_par} standards, got {x.size}.")
    if np.ptp(x) == 0.0:
        raise ValueError("concentrations must not all be equal.")
    design = x[:, None] if through_origin else np.column_stack([x, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    s2 = float(resid @ resid) / (x.size - n_par)
    cov = s2 * np.linalg.inv(design.T @ design)
    slope = float(coef[0])
    intercept = 0.0 if through_origin else float(coef[1])
    if slope == 0.0:
        raise ValueError("the fitted slope is zero: areas do not depend on concentrations.")
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return Calibration(
        slope=slope,
        intercept=intercept,
        slope_stderr=float(np.sqrt(cov[0, 0])),
        intercept_stderr=0.0 if through_origin else float(np.sqrt(cov[1, 1])),
        residual_std=float(np.sqrt(s2)),
        r2=1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0,
        n=int(x.size),
        mean_concentration=float(x.mean()),
        sxx=float(np.sum((x - x.mean()) ** 2)),
        through_origin=bool(through_origin),
    )
