"""Physics baselines, the windowing helper and the shipped pedestrian tracks."""

import copy
import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from mixtures import ConvergenceWarning
from solvers.kinematic import (
    ConstantVelocity,
    ConstantVelocityKalman,
    KinematicPropagation,
    datasets,
)
from solvers.kinematic.baselines import _F, _QW, _kalman_forecast

H, N_PAST = 4, 5


@pytest.fixture(scope="module")
def walks():
    """Noisy constant-velocity walkers with random headings and speeds (m, dt = 0.4 s)."""
    rng = np.random.default_rng(0)
    n, L = 80, N_PAST + H
    heading = rng.uniform(-np.pi, np.pi, n)
    speed = rng.uniform(0.5, 1.5, n) * 0.4
    vel = speed[:, None] * np.stack([np.cos(heading), np.sin(heading)], 1)
    acc = 0.03 * rng.standard_normal((n, L, 2))
    v = vel[:, None] + np.cumsum(acc, axis=1)
    x = np.cumsum(v, axis=1) + 0.02 * rng.standard_normal((n, L, 2))
    return x[:, :N_PAST], x[:, N_PAST:]


def test_constant_velocity_extrapolates_and_rotates_its_residual_covariance(walks):
    past, future = walks
    cv = ConstantVelocity(dt=0.4).fit(past, future)
    gmm = cv.predict(past)
    vel = past[:, -1] - past[:, -2]
    steps = np.arange(1, H + 1)
    np.testing.assert_allclose(
        gmm.means[:, :, 0], past[:, None, -1] + steps[:, None] * vel[:, None], atol=1e-12
    )
    # the residual covariance per step, along/across each agent's heading
    u = vel / np.linalg.norm(vel, axis=1, keepdims=True)
    R = np.stack([np.stack([u[:, 0], -u[:, 1]], -1), np.stack([u[:, 1], u[:, 0]], -1)], -2)
    res = np.einsum("nji,ntj->nti", R, future - gmm.means[:, :, 0])
    ref = np.einsum("nti,ntj->tij", res, res) / len(res)
    np.testing.assert_allclose(cv.residual_covariances_, ref, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(gmm.covariances[5, 2, 0], R[5] @ ref[2] @ R[5].T, rtol=1e-6)
    # score: the per-step Gaussians' product, against scipy
    ll = sum(
        multivariate_normal(gmm.means[3, t, 0], gmm.covariances[3, t, 0]).logpdf(future[3, t])
        for t in range(H)
    )
    np.testing.assert_allclose(cv.score_samples(past, future)[3], ll, rtol=1e-10)
    assert cv.min_ade_fde(past, future) == pytest.approx(
        (
            np.linalg.norm(future - gmm.means[:, :, 0], axis=-1).mean(),
            np.linalg.norm(future[:, -1] - gmm.means[:, -1, 0], axis=-1).mean(),
        )
    )


def _dense_cv_forecast(y, q, r, horizon):
    """Exact Gaussian conditioning of the future observations on the past ones, from the
    joint covariance of the constant-velocity state-space model (the filter's prior:
    position N(y_0, r), velocity N(0, 1/2) per axis, the first observation used only to
    start it)."""
    T = y.shape[0]
    n_all = T - 1 + horizon
    P0 = np.diag([r, r, 0.5, 0.5])
    m0 = np.array([y[0, 0], y[0, 1], 0.0, 0.0])
    # state at step t (1..n_all): F^t x0 + sum_{s<=t} F^(t-s) w_s
    Fp = [np.linalg.matrix_power(_F, k) for k in range(n_all + 1)]
    mean = np.concatenate([(Fp[t] @ m0)[:2] for t in range(1, n_all + 1)])
    C = np.zeros((2 * n_all, 2 * n_all))
    for i in range(1, n_all + 1):
        for j in range(1, n_all + 1):
            c = Fp[i] @ P0 @ Fp[j].T
            for s in range(1, min(i, j) + 1):
                c = c + Fp[i - s] @ (q * _QW) @ Fp[j - s].T
            C[2 * i - 2 : 2 * i, 2 * j - 2 : 2 * j] = c[:2, :2]
    C += r * np.eye(2 * n_all)
    o = 2 * (T - 1)
    K = C[o:, :o] @ np.linalg.inv(C[:o, :o])
    mu = mean[o:] + K @ (y[1:].ravel() - mean[:o])
    S = C[o:, o:] - K @ C[:o, o:]
    return mu.reshape(horizon, 2), np.stack(
        [S[2 * h : 2 * h + 2, 2 * h : 2 * h + 2] for h in range(horizon)]
    )


def test_kalman_forecast_equals_dense_gaussian_conditioning(walks):
    past = walks[0] / 0.4  # any scale: the filter works in the units it is given
    mu, cov = _kalman_forecast(past[:3], 0.02, 0.003, H)
    for i in range(3):
        ref_mu, ref_cov = _dense_cv_forecast(past[i], 0.02, 0.003, H)
        np.testing.assert_allclose(mu[i], ref_mu, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(cov[i], ref_cov, rtol=1e-9, atol=1e-12)


def test_fitted_noises_maximise_the_likelihood(walks):
    """At the fitted noise levels the training log-likelihood is at a maximum: moving any
    fitted level by 10 % either way does not raise it (up to the optimiser's tolerance on
    flat directions)."""
    past, future = walks
    kf = ConstantVelocityKalman(dt=0.4).fit(past, future)
    best = kf.score(past, future)
    for i in range(2):
        for f in (0.9, 1.1):
            other = copy.deepcopy(kf)
            other._theta = kf._theta.copy()
            other._theta[i] += np.log(f)
            assert other.score(past, future) < best
    kp = KinematicPropagation(dt=0.4).fit(past, future)
    best = kp.score(past, future)
    for i in range(2):  # acceleration, steering
        if kp._theta[i] <= -11.9:  # at the lower bound: only an increase is possible
            continue
        for f in (0.9, 1.1):
            kp2 = copy.deepcopy(kp)
            kp2._theta = kp._theta.copy()
            kp2._theta[i] += np.log(f)
            assert kp2.score(past, future) <= best + 1e-6
    # the bicycle's mean is the filter's constant-velocity line
    np.testing.assert_allclose(kp.predict(past).means, kf.predict(past).means, rtol=1e-9)
    assert kp.converged_ and kf.converged_


@pytest.mark.parametrize("cls", [ConstantVelocity, ConstantVelocityKalman, KinematicPropagation])
def test_baselines_do_not_depend_on_units(walks, cls):
    past, future = walks
    c = 3.28084
    a, b = cls(dt=0.4).fit(past, future), cls(dt=0.4).fit(past * c, future * c)
    ga, gb = a.predict(past), b.predict(past * c)
    np.testing.assert_allclose(gb.means, c * ga.means, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gb.covariances, c**2 * ga.covariances, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(
        b.score(past * c, future * c), a.score(past, future) - 2 * H * np.log(c), rtol=1e-6
    )


def test_stopped_agents_gaps_and_channels(walks):
    past, future = walks
    past = past.copy()
    # a stopped agent: heading from its earlier motion, finite likelihood
    past[0, -2:] = past[0, -3]
    # a gap: the velocity is the displacement over the gap
    past[1, -3:-1] = np.nan
    cv = ConstantVelocity(dt=0.4).fit(past, future)
    gmm = cv.predict(past)
    np.testing.assert_allclose(gmm.means[0, :, 0], np.repeat(past[None, 0, -1], H, 0))
    np.testing.assert_allclose(
        gmm.means[1, 0, 0], past[1, -1] + (past[1, -1] - past[1, -4]) / 3, rtol=1e-12
    )
    for cls in (ConstantVelocityKalman, KinematicPropagation):
        est = cls(dt=0.4).fit(past, future)
        assert np.all(np.isfinite(est.score_samples(past, future)))
    # heading and speed channels: the constant-velocity mean follows them
    heading = np.arctan2(*(past[:, -1] - past[:, -2])[:, ::-1].T)
    chan = np.concatenate([past, np.zeros(past.shape[:2] + (2,))], axis=2)
    chan[:, -1, 2], chan[:, -1, 3] = heading + 0.5, 2.0  # m/s at dt 0.4 s: 0.8 m per step
    gmm = ConstantVelocity(dt=0.4).fit(chan, future).predict(chan)
    step = gmm.means[2, 0, 0] - past[2, -1]
    np.testing.assert_allclose(
        step, 0.8 * np.array([np.cos(heading[2] + 0.5), np.sin(heading[2] + 0.5)]), rtol=1e-12
    )
    with pytest.raises(ValueError, match="past must have shape"):
        ConstantVelocity().fit(past[..., :1], future)
    with pytest.raises(ValueError, match="past must have 2 channels"):
        ConstantVelocity(dt=0.4).fit(past, future).predict(chan)


def test_defensive_weight_is_the_posterior_mean_with_laplace_bounds():
    """The baseline's weight in ``w * baseline + (1 - w) * network``: the posterior mean under
    a uniform prior with one observation per held-out track (its windows' mean
    log-likelihood), against quadrature; Laplace's rule 1 / (g + 2) when the network wins
    every track by far, (g + 1) / (g + 2) when it loses every one."""
    from scipy.integrate import quad

    from solvers.kinematic.estimator import _defensive_weight

    rng = np.random.default_rng(1)
    groups = np.repeat([4, 9, 2], [5, 2, 7])
    base = rng.normal(-3.0, 1.0, 14)
    for shift in (-1.0, 0.0, 2.0):
        net = base + shift + rng.normal(0.0, 2.0, 14)

        def lik(w, net=net):
            per = np.log(w * np.exp(base) + (1 - w) * np.exp(net))
            return np.exp(sum(per[groups == g].mean() for g in (2, 4, 9)))

        ref = quad(lambda w: w * lik(w), 0, 1)[0] / quad(lik, 0, 1)[0]
        assert _defensive_weight(base, net, groups) == pytest.approx(ref, rel=1e-5)
    for g in (1, 3, 12):
        groups = np.repeat(np.arange(g), 4)
        far = np.full(4 * g, 500.0)
        assert _defensive_weight(-far, far, groups) == pytest.approx(1 / (g + 2), rel=1e-5)
        assert _defensive_weight(far, -far, groups) == pytest.approx((g + 1) / (g + 2), rel=1e-5)
    # a network that fails (NaN or -inf) on every window of one track: likelihood w, mean 2/3
    w = _defensive_weight(np.zeros(2), np.array([np.nan, -np.inf]), np.zeros(2))
    assert w == pytest.approx(2 / 3, rel=1e-5)


def test_make_windows_resamples_cuts_and_filters():
    # two tracks sampled every 0.1 s moving at 1 and 0.1 m/s along x; one sample missing
    t = np.arange(0, 3.0, 0.1)
    track = np.r_[np.zeros(30), np.ones(30)]
    xy = np.stack([np.r_[t, 0.1 * t], np.r_[np.zeros(30), np.ones(30)]], axis=1)
    tt = np.r_[t, t]
    drop = 35  # a 0.2 s gap on track 1: interpolated (max_gap 1.5 dt = 0.3 s)
    keep = np.arange(60) != drop
    w = datasets.make_windows(
        track[keep], tt[keep], xy[keep], dt=0.2, n_past=3, horizon=2, stride=2
    )
    # 15 grid points per track (0, 0.2, ..., 2.8): windows of 5 starting at 0, 2, ..., 10
    assert w.past.shape == (12, 3, 2) and w.future.shape == (12, 2, 2)
    np.testing.assert_array_equal(w.groups, np.repeat([0, 1], 6))
    np.testing.assert_allclose(w.t0[:6], 0.4 + 0.4 * np.arange(6), atol=1e-12)
    np.testing.assert_allclose(
        w.future[:, :, 0],
        np.r_[1.0, 0.1].repeat(6)[:, None] * (w.t0[:, None] + [0.2, 0.4]),
        atol=1e-12,
    )
    slow = datasets.make_windows(
        track, tt, xy, dt=0.2, n_past=3, horizon=2, stride=2, min_speed=0.5
    )
    np.testing.assert_array_equal(slow.groups, np.zeros(6))
    # a gap longer than max_gap leaves earlier past points missing (NaN), never the present
    keep = ~np.isin(np.arange(60), [33, 34, 35])  # no sample 0.25-0.55 s on track 1
    gap = datasets.make_windows(track[keep], tt[keep], xy[keep], dt=0.2, n_past=3, horizon=2)
    assert np.isnan(gap.past).any() and not np.isnan(gap.past[:, -1]).any()
    assert not np.isnan(gap.future).any()
    with pytest.raises(ValueError, match="dt must be > 0"):
        datasets.make_windows(track, tt, xy, dt=0.0)


def test_shipped_pedestrian_tracks():
    from pathlib import Path

    import solvers.kinematic

    assert (Path(solvers.kinematic.__file__).parent / "data" / "NOTICE").exists()
    for name, n_ids in (("corridor", 148), ("bottleneck", 75)):
        d = datasets.load_pedestrians(name)
        assert len(np.unique(d.track)) == n_ids and d.dt == 0.2
        w = datasets.make_windows(d.track, d.t, d.xy, dt=0.4, n_past=4, horizon=4, stride=4)
        assert len(w.past) > 100 and np.isfinite(w.future).all()
        # walking speeds: metres per second
        speed = np.linalg.norm(w.future[:, -1] - w.past[:, -1], axis=1) / (4 * 0.4)
        assert 0.05 < np.median(speed) < 2.5
    with pytest.raises(ValueError, match="name must be one of"):
        datasets.load_pedestrians("highway")


def test_shipped_vehicle_tracks():
    from pathlib import Path

    import solvers.kinematic

    notice = (Path(solvers.kinematic.__file__).parent / "data" / "NOTICE").read_text()
    assert "songdo_intersection.csv" in notice and "MIT License" in notice
    d = datasets.load_vehicles()
    assert len(np.unique(d.track)) == 144 and d.dt == pytest.approx(0.1, rel=0.01)
    assert np.ptp(d.t) < 5.0 and set(np.unique(d.cls)) <= {0, 1, 2, 3}
    w = datasets.make_windows(d.track, d.t, d.xy, dt=0.1, n_past=8, horizon=12, stride=3)
    assert len(w.past) > 1000 and np.isfinite(w.future).all()
    # urban car speeds (m/s) for the moving windows, some vehicles waiting
    speed = np.linalg.norm(w.future[:, -1] - w.past[:, -1], axis=1) / 1.2
    assert 4.0 < np.median(speed[speed > 1.0]) < 15.0 and np.mean(speed < 1.0) > 0.1


def test_baselines_warn_when_not_converged(walks):
    with pytest.warns(ConvergenceWarning):
        ConstantVelocityKalman(dt=0.4, max_iter=1).fit(*walks)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ConstantVelocity(dt=0.4).fit(*walks)


def _straight_tracks():
    """Two tracks at 10 Hz for 3 s: ids 7 and 9, x = speed * t, y = lane."""
    t = np.arange(30) / 10.0
    return [(7, t, 2.0 * t, np.full(30, 1.0)), (9, t, 3.0 * t, np.full(30, 4.0))]


def _check_tracks(tab, scale=1.0):
    w = datasets.make_windows(
        tab.track,
        tab.t,
        tab.xy,
        dt=0.2,
        n_past=4,
        horizon=3,
        stride=3,
        heading=tab.heading,
        speed=tab.speed,
    )
    assert set(np.unique(w.groups)) == {7, 9} and len(w.past) > 4
    # positions in the file's unit along straight lines
    v = np.where(w.groups == 7, 2.0, 3.0) * scale
    np.testing.assert_allclose(w.future[:, -1, 0] - w.past[:, -1, 0], 3 * 0.2 * v, rtol=1e-6)
    return w


def test_readers_on_files_written_in_each_format(tmp_path):
    import pandas as pd

    rows = [
        (i, int(round(tt * 10)), x, y)
        for i, t, xs, ys in _straight_tracks()
        for tt, x, y in zip(t, xs, ys)
    ]
    ngsim = pd.DataFrame(rows, columns=["Vehicle_ID", "Frame_ID", "Local_X", "Local_Y"])
    ngsim["v_Vel"] = 0.0
    ngsim.to_csv(tmp_path / "ngsim.csv", index=False)
    _check_tracks(datasets.read_ngsim(tmp_path / "ngsim.csv"))

    highd = pd.DataFrame(
        {
            "id": ngsim.Vehicle_ID,
            "frame": (ngsim.Frame_ID * 2.5),
            "x": ngsim.Local_X - 2.0,
            "y": ngsim.Local_Y - 1.0,
            "width": 4.0,
            "height": 2.0,
            "xVelocity": np.where(ngsim.Vehicle_ID == 7, 2.0, 3.0),
            "yVelocity": 0.0,
        }
    )
    highd.to_csv(tmp_path / "01_tracks.csv", index=False)
    tab = datasets.read_highd(tmp_path / "01_tracks.csv")
    w = _check_tracks(tab)
    np.testing.assert_allclose(w.past[:, -1, 1], np.where(w.groups == 7, 1.0, 4.0))
    assert w.past.shape[2] == 4 and np.allclose(w.past[..., 2], 0.0)

    # ETH/UCY: frame (25 fps), id, x, y; whitespace separated
    with open(tmp_path / "eth.txt", "w") as f:
        for i, frame, x, y in rows:
            f.write(f"{frame * 2.5:.1f}\t{i:.1f}\t{x:.4f}\t{y:.4f}\n")
    _check_tracks(datasets.read_eth_ucy(tmp_path / "eth.txt"))
    with pytest.raises(ValueError, match="lacks the columns"):
        ngsim.drop(columns="Local_Y").to_csv(tmp_path / "bad.csv", index=False)
        datasets.read_ngsim(tmp_path / "bad.csv")


def test_argoverse2_reader(tmp_path):
    pytest.importorskip("pyarrow")  # pandas needs a parquet engine, not a dependency
    import pandas as pd

    rows = [
        (str(i), int(round(tt * 10)), x, y, 0.0, 2.0, 0.0)
        for i, t, xs, ys in _straight_tracks()
        for tt, x, y in zip(t, xs, ys)
    ]
    cols = [
        "track_id",
        "timestep",
        "position_x",
        "position_y",
        "heading",
        "velocity_x",
        "velocity_y",
    ]
    pd.DataFrame(rows, columns=cols).to_parquet(tmp_path / "scenario.parquet")
    tab = datasets.read_argoverse2(tmp_path / "scenario.parquet")
    tab.track = tab.track.astype(int)
    _check_tracks(tab)
