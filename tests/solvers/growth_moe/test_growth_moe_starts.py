"""Staged random starts, long-format input and the reporting tables.

References: a planted three-class data set whose poor local optimum (two true classes merged,
the third split) is reached from a start in its basin; the likelihood's invariance to the
order and slot of the occasions (long vs wide input); closed-form Wald intervals; the
definition of the average posterior probabilities.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from solvers.growth_moe import GrowthMixtureMoE, datasets
from solvers.growth_moe._starts import StartGenerator


def _three_classes(seed=0):
    d = datasets.simulate_three_classes(random_state=np.random.default_rng(seed))
    return d.Y, d.times, d.labels, d.eta


def test_staged_starts_escape_a_planted_local_optimum(monkeypatch):
    Y, t, lab, eta = _three_classes()
    # the deterministic start is put in the basin of the poor optimum: the wide class split
    # by the sign of the intercept, the two sloped classes merged
    poor = np.where(lab == 0, (eta[:, 0] > 0).astype(int), 2)
    kmeans = StartGenerator.kmeans

    def first_start_poor(self, rng, kind=0):
        return self.from_labels(poor, rng) if kind == 0 else kmeans(self, rng, kind)

    monkeypatch.setattr(StartGenerator, "kmeans", first_start_poor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = GrowthMixtureMoE(3, curve="linear", n_init=1, n_initial=0, random_state=0).fit(Y, t)
    staged = GrowthMixtureMoE(3, curve="linear", n_init=4, random_state=0).fit(Y, t)
    assert staged.loglik_ > local.loglik_ + 20.0  # the poor optimum is far below
    # the planted solution: slopes -1.5, 0, 1.5 (class order is canonical: by slope)
    se = staged.stderr_["class_means"][:, 1]
    np.testing.assert_array_less(np.abs(staged.class_means_[:, 1] - [-1.5, 0.0, 1.5]), 4 * se)
    truth = np.array([1, 2, 0])[lab]  # planted label -> canonical class
    assert np.mean(staged.predict(Y, t) == truth) > 0.9
    # the best value was replicated and the initial stage covered every start
    assert staged.n_best_starts_ >= 2 and staged.initial_logliks_.shape == (16,)
    assert staged.fit_statistics()["best_replicated"]
    assert staged.n_start_rounds_ == 1  # replicated: no extra round
    assert np.max(staged.initial_logliks_) <= staged.loglik_ + 1e-6


def test_adaptive_rounds_escape_two_unreplicated_local_optima(monkeypatch):
    Y, t, lab, eta = _three_classes()
    # the base round's two starts lie in the basins of two different poor optima (one true
    # class split, the other two merged): the best of the round is not replicated
    poor = [np.where(lab == j, (eta[:, 0] > 0).astype(int), 2) for j in (0, 1)]
    starts = StartGenerator.starts

    def poor_base_round(self, n, rng, prev=None, fresh=False):
        if fresh:
            return starts(self, n, rng, prev, fresh)
        return [self.from_labels(p, rng) for p in poor][:n]

    monkeypatch.setattr(StartGenerator, "starts", poor_base_round)
    kw = dict(n_classes=3, curve="linear", n_init=2, n_initial=0, random_state=0)
    with pytest.warns(UserWarning, match="not replicated"):
        one = GrowthMixtureMoE(**kw, max_starts_factor=1).fit(Y, t)
    assert one.n_start_rounds_ == 1 and one.n_best_starts_ == 1
    assert abs(one.start_logliks_[0] - one.start_logliks_[1]) > 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # replicated: no warning
        m = GrowthMixtureMoE(**kw).fit(Y, t)
    # a second round of fresh starts, pooled with the first (same random stream: the same
    # first two final starts); it replicated the best, so no third round
    assert m.n_start_rounds_ == 2 and m.start_logliks_.shape == (4,)
    np.testing.assert_allclose(m.start_logliks_[:2], one.start_logliks_, atol=1e-6)
    assert m.loglik_ > one.loglik_ + 20.0 and m.n_best_starts_ >= 2
    assert m.loglik_ == pytest.approx(np.max(m.start_logliks_), abs=1e-6)
    assert m.fit_statistics()["start_rounds"] == 2
    np.testing.assert_array_less(np.abs(m.class_means_[:, 1] - [-1.5, 0.0, 1.5]),
                                 4 * m.stderr_["class_means"][:, 1])  # fmt: skip


def test_adaptive_rounds_double_the_budget_up_to_the_cap(small, monkeypatch):
    Y, times, _ = small
    final_stage = GrowthMixtureMoE._final_stage
    calls, shift = [], iter(range(1, 1000))

    def never_replicated(self, prob, data, W0, hp, bar):
        out = final_stage(self, prob, data, W0, hp, bar)
        for r in out:  # one class: every start reaches the optimum; make them all differ
            r.ll -= next(shift)
        calls.append(W0.shape[0])
        return out

    monkeypatch.setattr(GrowthMixtureMoE, "_final_stage", never_replicated)
    m = GrowthMixtureMoE(1, curve="linear", n_init=2, n_initial=0, random_state=0)
    with pytest.warns(UserWarning, match=r"16 final-stage starts .* after 4 round"):
        m.fit(Y, times)
    # totals 1, 2, 4, 8 times the base budget, each extra round in chunks of the base
    assert m.n_start_rounds_ == 4 and calls == [2] * 8
    assert m.start_logliks_.shape == (16,) and m.n_best_starts_ == 1
    m.set_params(max_starts_factor=3)
    calls.clear()
    with pytest.warns(UserWarning, match="after 3 round"):
        m.fit(Y, times)
    assert m.n_start_rounds_ == 3 and calls == [2] * 3


def test_splits_of_the_previous_solution_are_valid_starts():
    Y, t, lab, _ = _three_classes(1)
    two = GrowthMixtureMoE(2, curve="linear", n_init=1, n_initial=0, random_state=0).fit(Y, t)
    none = np.zeros((len(Y), 0))
    gen = StartGenerator(Y, ~np.isnan(Y), t, none, none, none, 3, "linear")
    splits = gen.splits(two._fit_state["params"])
    assert len(splits) == 2
    for k, p in enumerate(splits):
        # gate: the split class's probability is shared equally by its two halves
        a = np.concatenate([[0.0], p["gate_intercept"]])
        prob = np.exp(a) / np.exp(a).sum()
        a2 = np.concatenate([[0.0], two._fit_state["params"]["gate_intercept"]])
        prob2 = np.exp(a2) / np.exp(a2).sum()
        np.testing.assert_allclose(prob[[k, 2]], prob2[k] / 2)
        assert np.all(np.linalg.eigvalsh(p["psi"]) > 0)
    with pytest.raises(ValueError, match="init_from"):
        GrowthMixtureMoE(3, curve="quadratic", n_init=1, n_initial=0).fit(Y, t, init_from=two)


@pytest.fixture(scope="module")
def small():
    d = datasets.simulate(n=60, n_waves=5, placement="gating", missing_rate=0.2, random_state=5)
    return d.Y, d.times, d.X


def _long(Y, times, X, rng):
    obs = ~np.isnan(Y)
    rows, _ = np.nonzero(obs)
    df = pd.DataFrame(
        {
            "pid": np.char.add("p", rows.astype(str)),
            "age": times[obs],
            "score": Y[obs],
            "ses": X[rows, 0],
            "sex": X[rows, 1],
        }
    )
    extra = df.iloc[:7].assign(score=np.nan)  # rows with a missing outcome are dropped
    return pd.concat([df, extra]).sample(frac=1.0, random_state=int(rng.integers(1000)))


def test_long_and_wide_input_give_identical_fits(small):
    Y, times, X = small
    rng = np.random.default_rng(0)
    df = _long(Y, times, X, rng)
    # no initial stage (its vectorised program is compiled and tested elsewhere): the two
    # k-means starts of each fit go straight to convergence
    kw = dict(n_classes=2, curve="linear", n_init=2, n_initial=0, random_state=0)
    wide = GrowthMixtureMoE(**kw, gating_covariates=[0, 1], expert_covariates=[1])
    wide.fit(Y, times, pd.DataFrame(X, columns=["ses", "sex"]))
    long = GrowthMixtureMoE(**kw).fit_frame(
        df, id="pid", time="age", y="score", gating=["ses", "sex"], experts=["sex"]
    )
    np.testing.assert_allclose(long.loglik_, wide.loglik_, rtol=1e-10)
    # the persons enter in another order (other k-means starts, other sums): the same optimum
    # up to the optimiser's tolerance, far inside the standard errors
    se = np.sqrt(np.diag(wide.vcov_))
    np.testing.assert_array_less(np.abs(long.params_ - wide.params_), 1e-3 * se)
    assert long.param_names_ == wide.param_names_
    assert "gate.class1.ses" in long.param_names_ and "class0.eta1~sex" in long.param_names_
    # persons come back sorted by id; the posterior follows them
    order = np.argsort(np.char.add("p", np.arange(len(Y)).astype(str)))
    np.testing.assert_allclose(long.posterior_, wide.posterior_[order], atol=1e-5)
    proba = long.predict_proba_frame(df)
    np.testing.assert_allclose(proba.to_numpy(), long.posterior_, atol=1e-8)
    assert list(proba.index) == list(long.ids_)


def test_long_format_errors(small):
    Y, times, X = small
    df = _long(Y, times, X, np.random.default_rng(1)).dropna()
    m = GrowthMixtureMoE(2, curve="linear", n_init=1, n_initial=0)
    with pytest.raises(ValueError, match="change within a person"):
        m.fit_frame(df.assign(ses=np.arange(len(df))), id="pid", time="age", y="score",
                    gating=["ses"])  # fmt: skip
    with pytest.raises(ValueError, match="same 'age'"):
        m.fit_frame(pd.concat([df, df.iloc[:1]]), id="pid", time="age", y="score")
    with pytest.raises(ValueError, match="not a column"):
        m.fit_frame(df, id="pid", time="when", y="score")


def test_tables(small):
    Y, times, X = small
    m = GrowthMixtureMoE(2, curve="linear", n_init=2, max_starts_factor=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # replication is tested above
        m.fit(Y, times, X)
    tab = m.summary(level=0.9)
    se = np.sqrt(np.diag(m.vcov_))
    np.testing.assert_allclose(tab["std_err"], se)
    np.testing.assert_allclose(tab["ci_upper"] - tab["estimate"], stats.norm.ppf(0.95) * se)
    np.testing.assert_allclose(tab["p_value"], 2 * stats.norm.sf(np.abs(m.params_ / se)))
    assert tab.attrs["fit"]["n_best_starts"] == m.n_best_starts_
    assert tab.attrs["fit"]["start_rounds"] == 1
    classes = tab.attrs["classes"]
    post = m.predict_proba(Y, times, X)
    label = post.argmax(1)
    for k in range(2):  # average posterior probability of the persons assigned to k
        np.testing.assert_allclose(classes[f"avepp.class{k}"], [post[label == j, k].mean()
                                                                for j in range(2)])  # fmt: skip
    assert classes["count"].sum() == len(Y)
    # relative entropy from its definition
    ent = -np.sum(post * np.log(post)) / (len(Y) * np.log(2))
    np.testing.assert_allclose(m.entropy_, 1 - ent, rtol=1e-8)
    with pytest.raises(ValueError, match="bootstrap"):
        m.to_frame(ci="bootstrap")


def test_sample_reproduces_the_model_moments(small):
    Y, times, X = small
    m = GrowthMixtureMoE(1, curve="linear", n_init=1, n_initial=0, expert_covariates=False)
    m.fit(Y, times)
    t = np.tile([0.0, 4.0], (20000, 1))
    Ys, _ = m.sample(t, random_state=0)
    lam = np.array([[1.0, 0.0], [1.0, 4.0]])
    mean = lam @ m.class_means_[0]
    cov = lam @ m.class_covariances_[0] @ lam.T + m.residual_variance_[0] * np.eye(2)
    se_mean = np.sqrt(np.diag(cov) / len(t))
    np.testing.assert_array_less(np.abs(Ys.mean(0) - mean), 4 * se_mean)
    np.testing.assert_allclose(np.cov(Ys.T), cov, rtol=0.05)


def test_three_class_design_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n"):
        datasets.simulate_three_classes(n=1)
    with pytest.raises(TypeError, match="n_waves"):
        datasets.simulate_three_classes(n_waves=2.5)
