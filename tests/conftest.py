import os

import pytest

# Keep each test worker to a single XLA thread pool of modest size: CI has 2 cores and runs
# two xdist workers.
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false"
)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from mixtures._config import x64  # noqa: E402


@pytest.fixture
def x64_context():
    """Run the test with JAX in float64 (pure functions follow the ambient precision)."""
    with x64():
        yield
