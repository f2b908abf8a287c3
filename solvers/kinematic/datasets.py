"""Trajectory data: shipped pedestrian tracks, windowing, readers, and synthetic traffic.

Tracks are tables of (track id, time, x, y) samples; :func:`make_windows` resamples them to a
common time step and cuts them into ``(past, future, groups)`` windows for the forecaster and
the baselines. The readers turn common trajectory formats into such tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from mixtures import as_generator
from mixtures.base import check_array, check_scalar

__all__ = [
    "synthetic_traffic",
    "MANOEUVRES",
    "PEDESTRIAN_SETS",
    "load_pedestrians",
    "load_vehicles",
    "make_windows",
    "read_ngsim",
    "read_highd",
    "read_eth_ucy",
    "read_argoverse2",
]

_DATA = Path(__file__).parent / "data"

#: shipped pedestrian experiments (PedPy demo data, MIT; see ``data/NOTICE``)
PEDESTRIAN_SETS = {
    "corridor": ("pedpy_corridor.csv", "uni-directional corridor flow (UNI_CORR_500_01)"),
    "bottleneck": ("pedpy_bottleneck.csv", "bottleneck passage (040_c_56_h-)"),
}


def load_pedestrians(name="corridor"):
    """Real pedestrian trajectories from the Juelich experiments shipped with PedPy.

    Parameters
    ----------
    name : {"corridor", "bottleneck"}
        ``"corridor"``: 148 pedestrians walking through a 5 m wide corridor in one direction
        (about 1.5 m/s); ``"bottleneck"``: 75 pedestrians queueing through a bottleneck
        (stop-and-go, about 0.2 m/s).

    Returns
    -------
    sklearn.utils.Bunch
        ``track`` (n_samples,) int ids; ``t`` (n_samples,) time (s); ``xy`` (n_samples, 2)
        positions (m); ``dt`` the sampling interval (0.2 s); ``description``.
    """
    if name not in PEDESTRIAN_SETS:
        raise ValueError(f"name must be one of {sorted(PEDESTRIAN_SETS)}, got {name!r}.")
    fname, description = PEDESTRIAN_SETS[name]
    table = np.loadtxt(_DATA / fname, delimiter=",", skiprows=1)
    return Bunch(
        track=table[:, 0].astype(np.int64),
        t=table[:, 1] / 25.0,
        xy=table[:, 2:4].copy(),
        dt=0.2,
        description=description,
    )


def load_vehicles():
    """Real vehicle trajectories at an urban intersection (Songdo, South Korea).

    144 road users (130 cars, 10 trucks, 3 buses, 1 motorcycle) over 5 s, tracked from
    drone video by Geo-trax (the sample of its repository, taken from the Songdo Traffic
    data set; MIT, see ``data/NOTICE``): vehicles crossing the intersection at up to about
    20 m/s and others waiting at the stop line.

    Returns
    -------
    sklearn.utils.Bunch
        ``track`` (n_samples,) int ids; ``t`` (n_samples,) time (s); ``xy`` (n_samples, 2)
        positions (m, local planar coordinates); ``cls`` (n_samples,) class (0 car, 1 bus,
        2 truck, 3 motorcycle); ``dt`` the sampling interval (about 0.1 s: every third
        frame at 29.97 fps); ``description``.
    """
    table = np.loadtxt(_DATA / "songdo_intersection.csv", delimiter=",", skiprows=1)
    return Bunch(
        track=table[:, 0].astype(np.int64),
        t=table[:, 1] / 29.97,
        xy=table[:, 2:4].copy(),
        cls=table[:, 4].astype(np.int64),
        dt=3 / 29.97,
        description="urban intersection, Songdo (drone video, Geo-trax sample)",
    )


def _resample(t, values, grid, max_gap, angle):
    """Linear interpolation on ``grid``; NaN where the bracketing samples are more than
    ``max_gap`` apart or outside the samples."""
    out = np.empty((len(grid), values.shape[1]))
    for j in range(values.shape[1]):
        v = np.unwrap(values[:, j]) if angle[j] else values[:, j]
        out[:, j] = np.interp(grid, t, v)
    i = np.clip(np.searchsorted(t, grid), 1, len(t) - 1)
    far = (t[i] - t[i - 1] > max_gap + 1e-9 * max_gap) & ~np.isin(grid, t)
    out[far | (grid < t[0]) | (grid > t[-1])] = np.nan
    return out


def make_windows(
    track,
    t,
    xy,
    *,
    dt,
    n_past=8,
    horizon=12,
    stride=1,
    min_speed=0.0,
    heading=None,
    speed=None,
    max_gap=None,
):
    """Cut tracks into ``(past, future, groups)`` windows on a common time step.

    Every track is resampled to the grid ``t_0, t_0 + dt, ...`` by linear interpolation (a
    grid point between samples more than ``max_gap`` apart is missing, NaN). A window is
    ``n_past + horizon`` consecutive grid points starting every ``stride`` points; it is kept
    when its present (last past point) and its whole future are observed and the mean speed
    over its observed past is at least ``min_speed``. Earlier past points may be missing.

    Parameters
    ----------
    track : array, shape (n_samples,)
        Track id of every sample.
    t : array, shape (n_samples,)
        Time of every sample (any unit; ``dt`` in the same unit).
    xy : array, shape (n_samples, 2)
        Positions.
    dt : float
        Time step of the windows (> 0).
    n_past, horizon : int
        Past points (>= 1, the last is the present) and future points (>= 1) per window.
    stride : int
        Grid points between the starts of consecutive windows of a track (>= 1).
    min_speed : float
        Minimum mean speed over the observed past (positions' unit per time unit, >= 0).
    heading, speed : array, shape (n_samples,), optional
        Heading (rad) and speed channels; when both are given, ``past`` has four channels.
    max_gap : float, optional
        Longest interpolated gap (default ``1.5 * dt``).

    Returns
    -------
    sklearn.utils.Bunch
        ``past`` (n_windows, n_past, 2 or 4); ``future`` (n_windows, horizon, 2);
        ``groups`` (n_windows,) track id of every window; ``t0`` (n_windows,) time of the
        present; ``dt``.
    """
    dt = check_scalar(dt, "dt", low=0.0, low_open=True)
    n_past = check_scalar(n_past, "n_past", kind="int", low=1)
    horizon = check_scalar(horizon, "horizon", kind="int", low=1)
    stride = check_scalar(stride, "stride", kind="int", low=1)
    min_speed = check_scalar(min_speed, "min_speed", low=0.0)
    max_gap = 1.5 * dt if max_gap is None else check_scalar(max_gap, "max_gap", low=0.0)
    t = check_array(t, "t", ndim=1)
    xy = check_array(xy, "xy", ndim=2)
    track = np.asarray(track)
    if xy.shape != (len(t), 2) or track.shape != t.shape:
        raise ValueError(
            f"track (n,), t (n,) and xy (n, 2) must match, got {track.shape}, "
            f"{t.shape}, {xy.shape}."
        )
    if (heading is None) != (speed is None):
        raise ValueError("heading and speed must be given together.")
    values = [xy]
    if heading is not None:
        values += [
            check_array(heading, "heading", ndim=1)[:, None],
            check_array(speed, "speed", ndim=1)[:, None],
        ]
    values = np.concatenate(values, axis=1)
    angle = [False, False, True, False][: values.shape[1]]
    length = n_past + horizon
    past, future, groups, t0 = [], [], [], []
    for tid in np.unique(track):
        sel = track == tid
        order = np.argsort(t[sel], kind="stable")
        ts, vs = t[sel][order], values[sel][order]
        keep = np.concatenate([[True], np.diff(ts) > 0])  # drop duplicate times
        ts, vs = ts[keep], vs[keep]
        grid = ts[0] + dt * np.arange(int(np.floor((ts[-1] - ts[0]) / dt + 1e-9)) + 1)
        if len(grid) < length:
            continue
        res = _resample(ts, vs, grid, max_gap, angle)
        if heading is not None:  # back to (-pi, pi]
            res[:, 2] = np.angle(np.exp(1j * res[:, 2]))
        for s in range(0, len(grid) - length + 1, stride):
            w = res[s : s + length]
            p, f = w[:n_past], w[n_past:, :2]
            if np.isnan(p[-1, :2]).any() or np.isnan(f).any():
                continue
            obs = np.flatnonzero(np.isfinite(p[:, 0]))
            if min_speed > 0:
                path = np.sum(np.linalg.norm(np.diff(p[obs, :2], axis=0), axis=1))
                span = (obs[-1] - obs[0]) * dt
                if span == 0 or path / span < min_speed:
                    continue
            past.append(p)
            future.append(f)
            groups.append(tid)
            t0.append(grid[s + n_past - 1])
    n_ch = values.shape[1]
    return Bunch(
        past=np.asarray(past).reshape(-1, n_past, n_ch),
        future=np.asarray(future).reshape(-1, horizon, 2),
        groups=np.asarray(groups),
        t0=np.asarray(t0, dtype=float),
        dt=dt,
    )


#: manoeuvre labels, indexed by ``Bunch.manoeuvre``
MANOEUVRES = ("left", "straight", "right")


# ------------------------------------------------------------------------------------------
# readers: common trajectory formats -> (track, t, xy[, heading, speed]) tables
# ------------------------------------------------------------------------------------------
def _tracks(track, t, xy, heading=None, speed=None):
    return Bunch(
        track=np.asarray(track),
        t=np.asarray(t, float),
        xy=np.asarray(xy, float),
        heading=None if heading is None else np.asarray(heading, float),
        speed=None if speed is None else np.asarray(speed, float),
    )


def _read_csv(path, columns, **kw):
    import pandas as pd

    table = pd.read_csv(path, **kw)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"path: the file lacks the columns {missing}.")
    return table


def read_ngsim(path):
    """NGSIM vehicle trajectories (US-101, I-80, Lankershim, Peachtree CSV exports).

    Parameters
    ----------
    path : str or path-like
        CSV with the columns ``Vehicle_ID``, ``Frame_ID`` (10 Hz), ``Local_X`` and
        ``Local_Y`` (feet); other columns are ignored.

    Returns
    -------
    sklearn.utils.Bunch
        ``track``, ``t`` (s), ``xy`` (ft), ``heading`` and ``speed`` (None: NGSIM gives a
        speed but no heading), the arguments of :func:`make_windows`. Feet need no
        conversion: the estimators do not depend on the unit.
    """
    table = _read_csv(path, ["Vehicle_ID", "Frame_ID", "Local_X", "Local_Y"])
    table = table.drop_duplicates(["Vehicle_ID", "Frame_ID"])
    return _tracks(
        table["Vehicle_ID"], table["Frame_ID"] / 10.0, table[["Local_X", "Local_Y"]].to_numpy()
    )


def read_highd(path, frame_rate=25.0):
    """highD / inD / rounD ``XX_tracks.csv`` (drone video, metres).

    Parameters
    ----------
    path : str or path-like
        CSV with ``id``, ``frame``, ``x``, ``y`` (bounding-box corner), ``width``,
        ``height``, ``xVelocity``, ``yVelocity``.
    frame_rate : float
        Frames per second (25 for the highD family).

    Returns
    -------
    sklearn.utils.Bunch
        ``track``, ``t`` (s), ``xy`` (m, the box centre), ``heading`` (rad, of the velocity)
        and ``speed`` (m/s).
    """
    table = _read_csv(path, ["id", "frame", "x", "y", "width", "height", "xVelocity", "yVelocity"])
    vx, vy = table["xVelocity"].to_numpy(), table["yVelocity"].to_numpy()
    xy = np.stack([table["x"] + table["width"] / 2, table["y"] + table["height"] / 2], 1)
    return _tracks(
        table["id"], table["frame"] / frame_rate, xy, np.arctan2(vy, vx), np.hypot(vx, vy)
    )


def read_eth_ucy(path, frame_rate=25.0):
    """ETH / UCY pedestrian annotations in the common text layout (one observation per
    line: frame, pedestrian id, x, y; whitespace separated, metres).

    Parameters
    ----------
    path : str or path-like
    frame_rate : float
        Frames per second of the frame numbers (25 for the original videos, annotated every
        10th frame, i.e. 0.4 s).

    Returns
    -------
    sklearn.utils.Bunch
        ``track``, ``t`` (s), ``xy`` (m), ``heading`` and ``speed`` (None).
    """
    table = np.loadtxt(path, ndmin=2)
    if table.shape[1] < 4:
        raise ValueError(f"path: expected 4 columns (frame, id, x, y), got {table.shape[1]}.")
    return _tracks(table[:, 1].astype(np.int64), table[:, 0] / frame_rate, table[:, 2:4])


def read_argoverse2(path):
    """Argoverse 2 motion-forecasting scenario (``scenario_*.parquet``, 10 Hz, metres).

    Needs a parquet engine for pandas (pyarrow or fastparquet), which is not a dependency.

    Returns
    -------
    sklearn.utils.Bunch
        ``track`` (the ``track_id`` strings), ``t`` (s), ``xy`` (m), ``heading`` (rad) and
        ``speed`` (m/s).
    """
    import pandas as pd

    table = pd.read_parquet(path)
    need = [
        "track_id",
        "timestep",
        "position_x",
        "position_y",
        "heading",
        "velocity_x",
        "velocity_y",
    ]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise ValueError(f"path: the file lacks the columns {missing}.")
    return _tracks(
        table["track_id"].to_numpy(),
        table["timestep"] / 10.0,
        table[["position_x", "position_y"]].to_numpy(),
        table["heading"],
        np.hypot(table["velocity_x"], table["velocity_y"]),
    )


def _smooth_noise(rng, shape, rho):
    """Stationary unit-variance AR(1) noise along the last axis."""
    e = rng.standard_normal(shape)
    out = np.empty(shape)
    out[..., 0] = e[..., 0]
    c = np.sqrt(1.0 - rho**2)
    for t in range(1, shape[-1]):
        out[..., t] = rho * out[..., t - 1] + c * e[..., t]
    return out


def synthetic_traffic(
    n_agents=1000,
    horizon=12,
    noise=1.0,
    random_state=None,
    *,
    n_past=8,
    dt=0.25,
    wheelbase=2.8,
):
    """Vehicles approaching a four-way intersection and turning left, going straight or right.

    Each vehicle follows the rear-axle kinematic bicycle model (:class:`BicycleModel`,
    explicit Euler, step ``dt``). It approaches along one of the four arms at 6-12 m/s with
    small smooth control noise; at the present time (the end of the observed past) it picks a
    manoeuvre (left 30 %, straight 40 %, right 30 %) which sets a smooth steering profile
    over the future. Acceleration and steering carry smooth AR(1) noise (correlation 0.8 per
    step) of standard deviation ``noise * 0.3`` m/s^2 and ``noise * 0.03`` rad. The past does
    not reveal the manoeuvre, so the future is multimodal.

    Parameters
    ----------
    n_agents : int
        Number of vehicles (>= 1).
    horizon : int
        Number of future steps T (>= 1).
    noise : float
        Control-noise scale (>= 0, dimensionless; 0 gives noise-free controls).
    random_state : None, int, numpy.random.Generator or JAX key
    n_past : int
        Number of observed past positions (>= 2), the last one is the present.
    dt : float
        Time step (s).
    wheelbase : float
        Wheelbase L (m).

    Returns
    -------
    sklearn.utils.Bunch
        ``past`` (n_agents, n_past, 2) observed positions (m); ``future`` (n_agents, horizon,
        2) the positions at the next T steps (m); ``states`` (n_agents, n_past + horizon, 4)
        the full states ``(x, y, theta, v)`` at the same times; ``actions`` (n_agents,
        n_past + horizon - 1, 2) the controls ``(a, delta)`` applied between consecutive
        states; ``manoeuvre`` (n_agents,) index into :data:`MANOEUVRES`; ``dt``;
        ``wheelbase``.
    """
    n_agents = check_scalar(n_agents, "n_agents", kind="int", low=1)
    horizon = check_scalar(horizon, "horizon", kind="int", low=1)
    noise = check_scalar(noise, "noise", low=0.0)
    n_past = check_scalar(n_past, "n_past", kind="int", low=2)
    dt = check_scalar(dt, "dt", low=0.0, low_open=True)
    wheelbase = check_scalar(wheelbase, "wheelbase", low=0.0, low_open=True)
    rng = as_generator(random_state)

    n_steps = n_past + horizon - 1
    manoeuvre = rng.choice(3, size=n_agents, p=[0.3, 0.4, 0.3])
    # steering ramps to a manoeuvre-specific level over the future (left positive)
    target = np.array([0.22, 0.0, -0.30])[manoeuvre] * rng.uniform(0.8, 1.2, n_agents)
    tau = np.clip((np.arange(n_steps) - (n_past - 1) + 1) / 4.0, 0.0, 1.0)
    ramp = 0.5 - 0.5 * np.cos(np.pi * tau)  # smooth 0 -> 1 after the present
    delta = target[:, None] * ramp[None, :]
    delta = delta + noise * 0.03 * _smooth_noise(rng, (n_agents, n_steps), 0.8)
    accel = rng.normal(0.0, 0.3, (n_agents, 1)) - 0.8 * (manoeuvre != 1)[:, None] * ramp
    accel = accel + noise * 0.3 * _smooth_noise(rng, (n_agents, n_steps), 0.8)

    arm = rng.integers(0, 4, n_agents)
    heading = arm * (np.pi / 2) + rng.normal(0.0, 0.02, n_agents)
    speed = rng.uniform(6.0, 12.0, n_agents)
    states = np.empty((n_agents, n_steps + 1, 4))
    states[:, 0] = np.stack([np.zeros(n_agents), np.zeros(n_agents), heading, speed], axis=1)
    for t in range(n_steps):
        x, y, th, v = states[:, t].T
        states[:, t + 1] = np.stack(
            [
                x + dt * v * np.cos(th),
                y + dt * v * np.sin(th),
                th + dt * v * np.tan(delta[:, t]) / wheelbase,
                np.maximum(v + dt * accel[:, t], 0.0),
            ],
            axis=1,
        )
    # place the present position 8 m before the centre, in the right-hand lane of its arm
    present = states[:, n_past - 1, :2]
    c, s = np.cos(heading), np.sin(heading)
    goal = np.stack([-8.0 * c + 1.75 * s, -8.0 * s - 1.75 * c], axis=1)
    states[:, :, :2] += (goal - present)[:, None, :]
    return Bunch(
        past=states[:, :n_past, :2].copy(),
        future=states[:, n_past:, :2].copy(),
        states=states,
        actions=np.stack([accel, delta], axis=-1),
        manoeuvre=manoeuvre,
        dt=dt,
        wheelbase=wheelbase,
    )
