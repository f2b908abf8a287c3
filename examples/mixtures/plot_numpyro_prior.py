"""
A fitted Gaussian mixture as the prior of a NumPyro model
=========================================================

A mixture fitted on earlier data summarises what we know before new data arrive. Converted
with :meth:`mixtures.gaussian.GMM.to_numpyro` it becomes a
``numpyro.distributions.MixtureSameFamily``, which can stand as the prior of any NumPyro
model and be sampled with NUTS.

The earlier data are the petal lengths and widths of 120 of the 150 flowers of Fisher's iris
data set (bundled with scikit-learn); a three-component :class:`mixtures.GaussianMixture`
fitted on them is the prior. The new data are the other 30 flowers, each measured three times
with a ruler whose error is unknown (we add Gaussian errors of 0.3 cm to the recorded sizes,
so the truth is known). A NumPyro model infers every new flower's true petal size and the
ruler's error together. The mixture prior pulls each flower towards the species cluster its
measurements point to, so the posterior means are closer to the true sizes than the averages
of the measurements are.
"""

# %%
# Earlier data: a mixture prior for petal sizes
# ---------------------------------------------
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS, init_to_value
from sklearn.datasets import load_iris

from mixtures import GaussianMixture
from mixtures.gaussian import GMM
from mixtures.plotting import plot_covariance_ellipses

iris = load_iris()
petals = iris.data[:, 2:4]  # petal length and width, cm
rng = np.random.default_rng(0)
order = rng.permutation(len(petals))
earlier, new = order[:120], order[120:]

gm = GaussianMixture(n_components=3, covariance_type="full", n_init=3, random_state=0)
gm.fit(petals[earlier])
gmm = GMM.from_weights(gm.weights_, gm.means_, gm.covariances_, gm.covariance_type)
prior = gmm.to_numpyro()
print(
    f"prior: {prior.__class__.__name__} with {gmm.n_components} components, "
    f"event shape {prior.event_shape}"
)

# %%
# New data: three noisy measurements of each of 30 flowers
# --------------------------------------------------------
true_sigma = 0.3  # cm, the ruler's error; the model does not know it
n_rep = 3
truth = petals[new]
measured = truth[:, None, :] + true_sigma * rng.normal(size=(len(new), n_rep, 2))


def model(y):
    """True petal sizes ``x_i`` from the mixture prior, measurements ``y_ir ~ N(x_i, s^2)``."""
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("flower", y.shape[0]):
        x = numpyro.sample("x", prior)
        numpyro.sample("y", dist.Normal(x[:, None, :], sigma).to_event(2), obs=y)


# %%
# NUTS starts from the measurements' averages: from a random start it can settle in the
# "everything is noise" mode (large sigma, every flower at a cluster centre).
raw_mean = measured.mean(axis=1)
# jnp.asarray follows JAX's precision (float32, or float64 after mixtures.enable_x64()), as
# the prior's parameters do, so the model is consistent in either mode.
start = init_to_value(values={"x": jnp.asarray(raw_mean), "sigma": 0.5})
mcmc = MCMC(NUTS(model, init_strategy=start), num_warmup=500, num_samples=1000, progress_bar=False)
mcmc.run(jax.random.PRNGKey(0), y=jnp.asarray(measured))
post = {k: np.asarray(v) for k, v in mcmc.get_samples().items()}
post_mean = post["x"].mean(axis=0)


def rmse(est):
    return float(np.sqrt(np.mean((est - truth) ** 2)))


print(
    f"RMSE to the true petal sizes: mean of the 3 measurements {rmse(raw_mean):.3f} cm, "
    f"posterior mean with the mixture prior {rmse(post_mean):.3f} cm"
)
lo, hi = np.quantile(post["sigma"], [0.05, 0.95])
print(f"ruler error: true {true_sigma} cm, posterior 90 % interval [{lo:.3f}, {hi:.3f}] cm")

# %%
# What the prior did
# ------------------
# Left: the earlier flowers and the fitted mixture (1- and 2-standard-deviation ellipses).
# Middle: for each new flower, the average of its measurements (grey) and its posterior mean
# (coloured by the most probable component), joined to its true size (black). Right: the
# posterior of the ruler's error.
fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.4))
colors = ["C0", "C1", "C2"]
ax = axes[0]
ax.scatter(*petals[earlier].T, s=8, color="0.5", alpha=0.6, label="earlier flowers")
plot_covariance_ellipses(ax, gm.means_, gm.covariances_, "full", weights=gm.weights_, colors=colors)
ax.set_title("prior: GaussianMixture fitted on earlier flowers")
ax.legend(loc="upper left")

ax = axes[1]
label = gm.predict(post_mean)
for i in range(len(new)):
    ax.plot(*np.stack([raw_mean[i], truth[i]]).T, color="0.7", lw=0.8)
    ax.plot(*np.stack([post_mean[i], truth[i]]).T, color=colors[label[i]], lw=0.8)
ax.scatter(*raw_mean.T, s=14, color="0.6", label=f"mean of measurements ({rmse(raw_mean):.3f})")
ax.scatter(
    *post_mean.T,
    s=14,
    c=[colors[k] for k in label],
    label=f"posterior mean ({rmse(post_mean):.3f})",
)
ax.scatter(*truth.T, s=18, marker="x", color="k", label="true size")
ax.set_title("new flowers (RMSE to the truth, cm)")
ax.legend(loc="upper left")
for ax in axes[:2]:
    ax.set_xlabel("petal length (cm)")
    ax.set_ylabel("petal width (cm)")

ax = axes[2]
ax.hist(post["sigma"], bins=40, density=True, color="C3", alpha=0.7)
ax.axvline(true_sigma, color="k", ls="--", label="true ruler error")
ax.set_xlabel("ruler error sigma (cm)")
ax.set_title("posterior of the measurement error")
ax.legend()
fig.tight_layout()
plt.show()
