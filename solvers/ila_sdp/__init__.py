"""SDP clustering: Peng-Wei SDP K-means and the iterative likelihood-adjusted SDP (iLA-SDP).

Zhuang, Chen and Yang, "Likelihood Adjusted Semidefinite Programs for Clustering
Heterogeneous Data", ICML 2023.
"""

from solvers.ila_sdp import datasets
from solvers.ila_sdp.estimator import ILASDP, SDPKMeans

__all__ = ["ILASDP", "SDPKMeans", "datasets"]
