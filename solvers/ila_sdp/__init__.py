"""SDP clustering: Peng-Wei SDP K-means and the iterative likelihood-adjusted SDP (iLA-SDP).

Zhuang, Chen and Yang, "Likelihood Adjusted Semidefinite Programs for Clustering
Heterogeneous Data", ICML 2023.
"""

from typing import TYPE_CHECKING

from mixtures.lazy import attach

# names load on first use, so `import solvers.ila_sdp` stays cheap
__getattr__, __dir__, __all__ = attach(
    __name__,
    submodules=["datasets"],
    attributes={
        "ILASDP": "estimator",
        "SDPKMeans": "estimator",
    },
)

if TYPE_CHECKING:
    from solvers.ila_sdp import datasets
    from solvers.ila_sdp.estimator import ILASDP, SDPKMeans
