"""
Column length, pressure drop and dispersion
===========================================

How the outlet peak of one analyte responds to the column: its length, the inlet/outlet
pressure ratio of a compressible carrier (James-Martin correction), and axial dispersion
(Peclet number). The Laplace-transform solution is checked against the reference
method-of-lines PDE solver.
"""

# %%
# Longer columns: later and broader peaks
# ---------------------------------------
# Retention time grows like L and the kinetic standard deviation like sqrt(L), so
# resolution improves with length.
import matplotlib.pyplot as plt
import numpy as np

from solvers.chromatography import Analyte, Column, Injection, moments, outlet_concentration

toluene = Analyte(k_a=2.7, k_d=0.9, name="toluene")
injection = Injection.rectangular(duration=1.0, concentration=1.0)
t = np.linspace(0.0, 900.0, 3000)

fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
for length in (10.0, 20.0, 30.0, 45.0):
    column = Column(length=length, velocity=0.5)
    c = outlet_concentration(column, toluene, injection, t)
    mom = moments(column, toluene, injection)
    ax.plot(
        t, c, label=f"L = {length:g} m: t_R = {mom.mean:.0f} s, sd = {np.sqrt(mom.variance):.1f} s"
    )
ax.set(
    title="column length (u = 0.5 m/s)",
    xlabel="time since injection (s)",
    ylabel="outlet concentration / inlet",
    xlim=(0, 500),
)
ax.legend()

# %%
# Pressure drop: the James-Martin hold-up time
# --------------------------------------------
# At fixed outlet velocity a larger inlet pressure slows the carrier inside the column
# (u(x) = u_o p_o / p(x)), so t_M = L / (j u_o) grows; the detector, which reads a
# concentration, also sees the factor u_in / u_out = 1 / P.
fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
for P in (1.0, 1.5, 2.0, 3.0):
    column = Column(length=30.0, velocity=0.5, inlet_pressure=P, outlet_pressure=1.0)
    c = outlet_concentration(column, toluene, injection, t)
    ax.plot(
        t,
        c,
        label=f"P = {P:g}: j = {column.james_martin_factor:.3f}, t_M = {column.hold_up_time:.0f} s",
    )
ax.set(
    title="pressure ratio (L = 30 m, outlet u = 0.5 m/s)",
    xlabel="time since injection (s)",
    ylabel="outlet concentration / inlet",
    xlim=(100, 900),
)
ax.legend()

# %%
# Dispersion: Peclet numbers from 1e2 to infinity
# -----------------------------------------------
# In GC capillaries Pe = uL/D is 1e3 to 1e5 and dispersion barely changes the peak.
fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
for pe in (1e2, 1e3, 1e4, np.inf):
    column = Column(length=30.0, velocity=0.5, dispersion=0.0 if np.isinf(pe) else 15.0 / pe)
    c = outlet_concentration(column, toluene, injection, t)
    ax.plot(t, c, label=f"Pe = {pe:g}")
ax.set(
    title="axial dispersion (L = 30 m)",
    xlabel="time since injection (s)",
    ylabel="outlet concentration / inlet",
    xlim=(150, 350),
)
ax.legend()

# %%
# Laplace solution against the PDE solver
# ---------------------------------------
# A broad peak (A = 50) at Pe = 1e3, Gaussian injection. The PDE solver (third-order upwind
# method of lines, BDF time stepping) converges to the Laplace solution as the grid is refined.
column = Column(length=1.0, velocity=1.0 / 60.0, dispersion=1.0 / 60e3)
analyte = Analyte(k_a=50.0 / 60.0, k_d=0.5)
gauss = Injection.gaussian(center=10.0, width=2.0, amount=1.0)
tt = np.linspace(0.0, 450.0, 901)
lap = outlet_concentration(column, analyte, gauss, tt, method="laplace")
fig, (ax, ax_err) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
ax.plot(tt, lap, "k", lw=2, label="Laplace inversion")
for n_cells in (50, 250):
    pde = outlet_concentration(column, analyte, gauss, tt, method="pde", n_cells=n_cells)
    err = np.abs(pde - lap) / lap.max()
    ax.plot(tt, pde, "--", label=f"PDE, {n_cells} cells")
    ax_err.semilogy(tt, np.maximum(err, 1e-12), label=f"{n_cells} cells: max {err.max():.1e}")
ax.set_title("Pe = 1e3, A = 50")
ax.set_xlabel("time since injection (s)")
ax.set_ylabel("outlet concentration")
ax.legend()
ax_err.set_title("|PDE - Laplace| / peak height")
ax_err.set_xlabel("time since injection (s)")
ax_err.set_ylim(1e-10, 1e-1)
ax_err.legend()
plt.show()
