import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mixtures.gating import gating_nll, log_gate

pytestmark = pytest.mark.usefixtures("x64_context")


def test_log_gate_is_softmax_with_reference_class():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 2))
    b, W = rng.normal(size=2), rng.normal(size=(2, 2))
    lg = np.asarray(log_gate(X, b, W))
    logits = np.column_stack([np.zeros(10), X @ W.T + b])
    ref = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    np.testing.assert_allclose(lg, ref, rtol=1e-12)
    np.testing.assert_allclose(np.exp(lg).sum(1), 1.0)


def test_gating_nll_minimiser_matches_sklearn_multinomial_logistic():
    """With hard responsibilities the gate's M-step is multinomial logistic regression."""
    import jax
    from scipy.optimize import minimize

    rng = np.random.default_rng(1)
    n, p, K = 300, 2, 3
    X = rng.normal(size=(n, p))
    W = np.array([[1.5, -1.0], [-0.5, 2.0]])
    logits = np.column_stack([np.zeros(n), X @ W.T + np.array([0.3, -0.2])])
    P = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(K, p=pi) for pi in P])
    resp = np.eye(K)[y]

    def f(theta):
        return gating_nll(theta[: K - 1], theta[K - 1:].reshape(K - 1, p), X, resp)

    g = jax.grad(f)
    res = minimize(lambda t: float(f(t)), np.zeros((K - 1) * (p + 1)),
                   jac=lambda t: np.asarray(g(t)), method="BFGS", options={"gtol": 1e-10})
    ours = np.asarray(log_gate(X, res.x[: K - 1], res.x[K - 1:].reshape(K - 1, p)))
    sk = LogisticRegression(C=1e10, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(np.exp(ours), sk.predict_proba(X), atol=1e-5)
