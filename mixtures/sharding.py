"""Data-parallel fits: the sample axis sharded over devices, and over hosts.

Every fit of the library reduces per-point quantities over the sample axis (the E-step
statistics ``sum_n r_nk F(x_n)``, a minibatch loss and its gradient). Placing that axis on a
one-dimensional :class:`jax.sharding.Mesh` (axis name ``"data"``) is all it takes to run the
same jitted code data-parallel: each device computes its rows, and the compiler inserts the
all-reduce of the sums. No home-made collective or cluster code is involved; under
:func:`jax.distributed.initialize` the same mesh spans the devices of every process (CPU
collectives through gloo, see :func:`initialize_cpu_collectives`).

Rows are padded to a multiple of the number of devices with zero weights, so padding changes
no sum.

``devices`` arguments (:func:`resolve_devices`) accept

* ``None``: one device (the first local device), the default of every fit;
* an ``int`` ``n``: the first ``n`` of :func:`jax.devices` (all processes' devices);
* ``"all"``: every device of every process; ``"local"``: this process's devices;
* a sequence of :class:`jax.Device`;
* a one-dimensional :class:`jax.sharding.Mesh` (used as it is).
"""

from __future__ import annotations

import numbers

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = [
    "AXIS",
    "resolve_devices",
    "sample_mesh",
    "row_sharding",
    "replicated_sharding",
    "padded_rows",
    "shard_rows",
    "replicate",
    "to_host",
    "process_rows",
    "initialize_cpu_collectives",
    "shard_em_data",
]

#: Name of the sample axis of the meshes built here.
AXIS = "data"


def resolve_devices(devices=None) -> tuple:
    """The devices of a ``devices=`` argument (see the module docstring).

    Returns
    -------
    tuple of jax.Device
        In mesh order (for a :class:`~jax.sharding.Mesh`: its flattened device array).

    Raises
    ------
    ValueError
        For a count outside ``1..len(jax.devices())``, an empty sequence, repeated devices,
        an unknown string or a mesh with more than one axis.
    TypeError
        For anything else.
    """
    if devices is None:
        return (jax.local_devices()[0],)
    if isinstance(devices, Mesh):
        if devices.devices.ndim != 1:
            raise ValueError(
                f"devices: expected a one-dimensional mesh, got axes {devices.axis_names}."
            )
        return tuple(devices.devices.ravel())
    if isinstance(devices, str):
        if devices == "all":
            return tuple(jax.devices())
        if devices == "local":
            return tuple(jax.local_devices())
        raise ValueError(
            f"devices must be None, an int, 'all', 'local', devices or a mesh; got {devices!r}."
        )
    if isinstance(devices, numbers.Integral) and not isinstance(devices, bool):
        available = jax.devices()
        if not 1 <= int(devices) <= len(available):
            raise ValueError(
                f"devices={int(devices)} is outside 1..{len(available)} (the devices JAX "
                "sees; simulate CPU devices with "
                "XLA_FLAGS=--xla_force_host_platform_device_count=N)."
            )
        return tuple(available[: int(devices)])
    try:
        out = tuple(devices)
    except TypeError:
        raise TypeError(
            f"devices must be None, an int, 'all', 'local', devices or a mesh; got "
            f"{type(devices).__name__}."
        ) from None
    if not out:
        raise ValueError("devices: got an empty sequence.")
    if not all(isinstance(dv, jax.Device) for dv in out):
        raise TypeError("devices: every entry must be a jax.Device.")
    if len(set(out)) != len(out):
        raise ValueError("devices: a device is repeated.")
    return out


def sample_mesh(devices=None) -> Mesh:
    """One-dimensional mesh (axis :data:`AXIS`) over the devices of a ``devices=`` argument."""
    if isinstance(devices, Mesh):
        resolve_devices(devices)  # checks it is one-dimensional
        return devices
    return Mesh(np.array(resolve_devices(devices), dtype=object), (AXIS,))


def _axis(mesh: Mesh) -> str:
    return mesh.axis_names[0]


def row_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding of an array's first (sample) axis over the mesh."""
    return NamedSharding(mesh, P(_axis(mesh)))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """Every device of the mesh holds the whole array."""
    return NamedSharding(mesh, P())


def padded_rows(n: int, mesh: Mesh) -> int:
    """``n`` rounded up to a multiple of the number of devices of ``mesh``."""
    m = mesh.devices.size
    return -(-int(n) // m) * m


def shard_rows(x, mesh: Mesh):
    """This process's rows ``x`` placed on ``mesh``, split along the first axis.

    With one process ``x`` is the whole array; under :mod:`jax.distributed` every process
    passes its own rows (same shape on every process) and the result is the global array of
    all processes' rows in process order. The number of rows must be a multiple of the
    number of this process's devices in the mesh (pad with zero-weight rows first, see
    :func:`padded_rows`).

    Parameters
    ----------
    x : array, shape (n_local, ...)
    mesh : Mesh

    Returns
    -------
    jax.Array, shape (n_local * n_processes, ...)
    """
    x = np.asarray(x)
    return jax.make_array_from_process_local_data(row_sharding(mesh), x)


def replicate(tree, mesh: Mesh):
    """A pytree of host arrays (identical on every process) replicated on every device of
    ``mesh``; works across processes, unlike a plain transfer of NumPy input."""
    sharding = replicated_sharding(mesh)

    def put(a):
        a = np.asarray(a)
        return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])

    return jax.tree_util.tree_map(put, tree)


def to_host(tree):
    """NumPy copies of a pytree of replicated (or single-process) arrays.

    A replicated array spread over several processes is not fully addressable: its local
    copy is read instead.
    """

    def get(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            return np.asarray(a.addressable_data(0))
        return np.asarray(a)

    return jax.tree_util.tree_map(get, tree)


def process_rows(n: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of an ``n``-row data set that this process reads.

    Contiguous, nearly equal blocks in process order (:func:`jax.process_index` of
    :func:`jax.process_count`): e.g. every host opens the same memmap and streams its block.
    """
    count, index = jax.process_count(), jax.process_index()
    bounds = np.linspace(0, int(n), count + 1).round().astype(int)
    return int(bounds[index]), int(bounds[index + 1])


def initialize_cpu_collectives(
    coordinator_address: str, num_processes: int, process_id: int, **kwargs
) -> None:
    """:func:`jax.distributed.initialize` for CPU hosts, with gloo collectives.

    JAX's CPU backend needs a collectives implementation for computations that span
    processes; this selects gloo (shipped with jaxlib) before starting the runtime. GPU
    hosts call :func:`jax.distributed.initialize` directly (NCCL is the default there).
    Must run before anything else touches JAX's backends.

    Parameters
    ----------
    coordinator_address : str
        ``"host:port"`` of process 0.
    num_processes : int
    process_id : int
        This process's index in ``0..num_processes-1``.
    **kwargs
        Passed to :func:`jax.distributed.initialize`.
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address, num_processes=num_processes, process_id=process_id, **kwargs
    )


def shard_em_data(data, mesh: Mesh):
    """:class:`mixtures.em.GaussianEMData` with its rows split over ``mesh``.

    ``F`` and ``sample_weight`` are padded with zero-weight rows to a multiple of the number
    of devices and split along the rows; the rest is replicated. :func:`mixtures.em.run_em`
    with the Gaussian steps then computes each device's share of the E-step statistics and
    the compiler sums them: the in-memory fit, data parallel.

    Parameters
    ----------
    data : mixtures.em.GaussianEMData
        This process's rows (host or device arrays).
    mesh : Mesh

    Returns
    -------
    mixtures.em.GaussianEMData
    """
    F, w = np.asarray(data.F), np.asarray(data.sample_weight)
    n = F.shape[0]
    local = sum(dv.process_index == jax.process_index() for dv in mesh.devices.ravel())
    length = -(-n // local) * local
    F = np.concatenate([F, np.zeros((length - n, F.shape[1]), F.dtype)])
    w = np.concatenate([w, np.zeros(length - n, w.dtype)])
    reg, mask = replicate((np.asarray(data.reg_covar), data.component_mask), mesh)
    return type(data)(shard_rows(F, mesh), shard_rows(w, mesh), reg, mask)
