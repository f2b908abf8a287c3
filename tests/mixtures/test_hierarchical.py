"""Model-based hierarchical agglomeration against a dense brute-force reference."""

import numpy as np
import pytest

from mixtures import hierarchical as hc


def _brute_force(X, model, n_steps):
    """Greedy agglomeration recomputing the whole criterion for every candidate merge."""
    labels = np.arange(len(X))
    merges, costs = [], []
    for _ in range(n_steps):
        base = hc.partition_criterion(X, labels, model)
        clusters = np.unique(labels)
        best = None
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                trial = np.where(labels == clusters[b], clusters[a], labels)
                cost = hc.partition_criterion(X, trial, model) - base
                if best is None or cost < best[0] - 1e-12:
                    best = (cost, clusters[a], clusters[b])
        cost, i, j = best
        merges.append((i, j))
        costs.append(cost)
        labels = np.where(labels == j, i, labels)
    return np.array(merges), np.array(costs)


@pytest.mark.parametrize("model", ["VVV", "EII"])
def test_merges_match_dense_reference(model):
    rng = np.random.default_rng(1)
    # three groups of different shapes: clusters grow past d = 2 points, so the VVV
    # determinant term is exercised, not only the trace term
    X = np.concatenate(
        [
            rng.normal(size=(6, 2)) * [1.0, 0.2],
            rng.normal(size=(5, 2)) * 0.5 + [4.0, 1.0],
            rng.normal(size=(5, 2)) @ [[1.0, 0.8], [0.0, 0.4]] + [0.0, 5.0],
        ]
    )
    H = hc.agglomerate(X, model, transform="none")
    ref_merges, ref_costs = _brute_force(X, model, len(X) - 1)
    np.testing.assert_array_equal(H.merges, ref_merges)
    np.testing.assert_allclose(H.costs, ref_costs, rtol=1e-9, atol=1e-9)


def test_cut_and_labels():
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = np.concatenate([c + rng.normal(size=(20, 2)) for c in centres])
    truth = np.repeat(np.arange(3), 20)
    for model in hc.HC_MODELS:
        labels = hc.hierarchical_labels(X, 3, model=model)
        assert labels.shape == (60,) and set(labels) == {0, 1, 2}
        # the same partition as the truth, up to names
        assert len(set(zip(labels, truth, strict=True))) == 3
    H = hc.agglomerate(X, "EII")
    assert len(np.unique(H.labels(60))) == 60
    assert np.all(H.labels(1) == 0)


def test_subset_classifies_the_rest():
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + [8.0, 0.0]])
    truth = np.repeat([0, 1], 60)
    labels = hc.hierarchical_labels(X, 2, subset=30, random_state=0)
    assert len(set(zip(labels, truth, strict=True))) == 2


def test_transforms():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 3)) @ np.array([[2.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 0.1]])
    Xs = (X - X.mean(0)) / X.std(0, ddof=1)
    u, s, _ = np.linalg.svd(Xs, full_matrices=False)
    # the scaled SVD is U S^{1/2} (up to column signs)
    Z = hc.transform_data(X, "SVD")
    np.testing.assert_allclose(np.abs(Z), np.abs(u * np.sqrt(s)), atol=1e-10)
    S = hc.transform_data(X, "SPH")
    np.testing.assert_allclose(S.T @ S / len(S), np.eye(3), atol=1e-10)
    # the agglomeration does not depend on the units of X
    a = hc.agglomerate(X, "VVV").merges
    b = hc.agglomerate(X * [1e3, 1.0, 1e-2] + 7.0, "VVV").merges
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="transform"):
        hc.transform_data(X, "bogus")
    with pytest.raises(ValueError, match="model"):
        hc.agglomerate(X, "XYZ")
