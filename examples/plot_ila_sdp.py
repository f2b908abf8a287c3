"""
Clustering heterogeneous Gaussian data with iLA-SDP
===================================================

Three Gaussian clusters of very different shapes: a small round one, a long thin rotated
one and a broad one. EM for a Gaussian mixture climbs to a local maximum that depends on its
start; the iterative likelihood-adjusted SDP (iLA-SDP) of Zhuang, Chen and Yang (2023) solves
a convex relaxation of the classification likelihood in which no centroid appears, so its
answer does not depend on a start. We compare the two and look at the SDP solution, the
membership matrices :math:`Z_k`.
"""

# %%
# Data and fits
# -------------
# EM (scikit-learn's ``GaussianMixture``, one start from random data points) runs from 10 seeds;
# iLA-SDP once (its random state seeds the K-means rounding of the initial SDP and its
# further starts, see the last section).
import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import confusion_matrix
from sklearn.mixture import GaussianMixture

from solvers.ila_sdp import ILASDP, SDPKMeans, datasets


def misclustering(y, labels):
    cm = confusion_matrix(y, labels)
    r, c = linear_sum_assignment(-cm)
    return 1.0 - cm[r, c].sum() / len(y)


X, y = datasets.make_heterogeneous(n_samples=90, separation=3.0, random_state=2)
em_errors = []
em_labels = []
for seed in range(10):
    gm = GaussianMixture(3, init_params="random_from_data", random_state=seed).fit(X)
    em_labels.append(gm.predict(X))
    em_errors.append(misclustering(y, em_labels[-1]))
ila = ILASDP(3, random_state=0).fit(X)
sdp = SDPKMeans(3, random_state=0).fit(X)
print("EM errors over 10 starts:", np.round(em_errors, 3))
print(f"SDP K-means error: {misclustering(y, sdp.labels_):.3f}")
print(f"iLA-SDP error: {misclustering(y, ila.labels_):.3f} after {ila.n_iter_} iterations, "
      f"relaxation gap {ila.relaxation_gap_:.1e}")

# %%
# Partitions
# ----------
# The worst EM start, SDP K-means (which cuts by Euclidean distance, blind to the shapes)
# and iLA-SDP.
def plot_partitions(X, y, partitions):
    """One scatter panel per ``(name, labels)``, titled with its mis-clustering error."""
    fig, axes = plt.subplots(1, len(partitions), figsize=(12, 4.2), sharex=True, sharey=True)
    for ax, (name, labels) in zip(axes, partitions):
        ax.scatter(X[:, 0], X[:, 1], c=labels, cmap="viridis", s=14)
        ax.set_title(f"{name} (error {misclustering(y, labels):.2f})", fontsize=10)
        ax.set_aspect("equal")
        ax.set_xlabel("$x_1$")
    axes[0].set_ylabel("$x_2$")
    fig.tight_layout()


worst = int(np.argmax(em_errors))
plot_partitions(X, y, [("EM, worst of 10 starts", em_labels[worst]),
                       ("SDP K-means", sdp.labels_), ("iLA-SDP", ila.labels_)])

# %%
# The membership matrices
# -----------------------
# For a partition, :math:`Z_k = 1_{G_k} 1_{G_k}^T / |G_k|` is a block of constant value
# :math:`1/|G_k|` on the points of cluster :math:`k`. Ordering the points by true label,
# :math:`\sum_k Z_k` is block diagonal: the relaxation is tight and the SDP returned the
# partition itself.
order = np.argsort(y, kind="stable")
Zsum = ila.membership_.sum(axis=0)[np.ix_(order, order)]
fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
im = axes[0].imshow(Zsum, cmap="magma")
axes[0].set_title(r"$\sum_k Z_k$ (points sorted by true label)", fontsize=9)
fig.colorbar(im, ax=axes[0], fraction=0.046)
for k in range(3):
    im = axes[k + 1].imshow(ila.membership_[k][np.ix_(order, order)], cmap="magma")
    axes[k + 1].set_title(f"$Z_{k + 1}$", fontsize=9)
    fig.colorbar(im, ax=axes[k + 1], fraction=0.046)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# When the SDP K-means start is a trap
# ------------------------------------
# Two tight clusters side by side and a broad one far away. K-means (and its SDP) merges the
# tight pair and splits the broad cluster; the covariances of that partition make the LA-SDP
# return the same partition, so iLA-SDP started there alone (``n_init=1``) stays. The
# further starts are sets of cluster shapes (covariances of the neighbourhoods of spread-out
# random points); the fit keeps the start whose partition has the largest classification
# likelihood (``init_objectives_``: :math:`-2\log L`, lower is better).
Xa, ya = datasets.make_adversarial(n_samples=90, separation=2.0, random_state=0)
sdp_a = SDPKMeans(3, random_state=0).fit(Xa)
one = ILASDP(3, n_init=1, random_state=0).fit(Xa)
four = ILASDP(3, n_init=4, random_state=0).fit(Xa)
print("-2 log L of each start (first: SDP K-means start):", np.round(four.init_objectives_, 1))
plot_partitions(Xa, ya, [("SDP K-means", sdp_a.labels_), ("iLA-SDP, n_init=1", one.labels_),
                         ("iLA-SDP, n_init=4", four.labels_)])
plt.show()
