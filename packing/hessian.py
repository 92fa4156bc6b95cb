"""The analytic Hessian (dynamical matrix, unit masses) of U = Σ_pairs V(Δ) and its spectrum.

Generalized coordinates q = (x (N·d, particle-major), s = ℓθ (N·n_rot)), as FIRE uses them. For
ellipsoids of revolution (n_rot = 2) s = ℓε, ε the exponential-map coordinates of the axis û in the
tangent basis `packing._ellipsoid.tangent_basis(û)` (û(ε) = cos|ε| û + sin|ε| ε̂·(e₁, e₂)); at
ε = 0 this chart gives the Riemannian Hessian on the sphere, which includes −δ_kl û·∂U/∂û on each
particle's rotational block (see `packing._ellipsoid`), and the derivatives of the tangent forces.
With V = Δ^α/α (α = 2 harmonic, 5/2 Hertz),

    H = ∂²U/∂q∂q = stiffness + stress,
    stiffness = Σ_{Δ>0} V''(Δ) ∇Δ ∇Δᵀ,      stress = Σ_{Δ>0} V'(Δ) ∇²Δ,

which for the harmonic potential (V'' = 1, V' = Δ) is the split Σ ∇Δ∇Δᵀ + Σ Δ ∇²Δ of
`packing.analysis` (for Hertz V'' = (3/2) Δ^{1/2}, V' = Δ^{3/2}). The pair derivatives come from
the shape's kernel (`packing._pairs.pair_gap_hess`), so every particle kind shares this module.

Zero modes: in a periodic box the d uniform translations are exact zero modes of H. They are
identified (`packing.analysis.count_zero_modes` with n_trivial = d) and not counted as floppy (or
quartic) modes.

:func:`constraint_problem` is the packing's adapter to the shared analysis: the gaps of the pairs
between non-rattlers, their Jacobian J (rows √V''(Δ) ∇Δ, so that JᵀJ is the stiffness part) and the
stress part, as a `packing.analysis.ConstraintProblem`.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from . import _hessian_kernels
from .analysis import ConstraintProblem, HessianSplit
from .analysis.spectra import inf_norm
from .contacts import PERIODIC_ISOSTATIC_OFFSET, ContactNetwork, contact_network
from .errors import ParameterError, require
from .system import Packing


@dataclasses.dataclass(frozen=True)
class HessianParts(HessianSplit):
    """Hessian of a packing in generalized coordinates (see module docstring): the
    `packing.analysis.HessianSplit` of the rigid cluster, with its coordinates.

    Attributes
    ----------
    total, stiffness, stress : (n, n) scipy.sparse CSR, total = stiffness + stress.
    dof_index : (n, 2) int64, row r is component dof_index[r, 1] of particle dof_index[r, 0];
        components 0..d−1 are translations, d..d+n_rot−1 the scaled rotations s = ℓθ.
        Rows are ordered all translations first (particle-major), then all rotations.
    n_translations : d, the number of global translation zero modes.
    rattler : (N,) bool, particles left out (all False when rattlers were kept).
    n_contacts : number of contacts assembled.
    translation_residual : max_a |H t_a| / (|H|_∞ |t_a|) over the unit translations t_a
        (≈ 1e-16 when translations are exact zero modes).
    """

    total: sp.csr_matrix
    stiffness: sp.csr_matrix
    stress: sp.csr_matrix
    dof_index: np.ndarray
    n_translations: int
    rattler: np.ndarray
    n_contacts: int
    translation_residual: float

    @property
    def n(self) -> int:
        """Matrix size (number of generalized coordinates kept)."""
        return int(self.total.shape[0])

    def translations(self) -> np.ndarray:
        """(n, d) orthonormal global translation vectors (columns)."""
        return _translation_vectors(self.dof_index, self.n_translations)


# ------------------------------------------------------------------------------------- assembly
def _dof_maps(n: int, d: int, nr: int, keep: np.ndarray):
    """Global rows of the kept particles' coordinates.

    Returns (dof_x (N, d), dof_r (N, n_rot), dof_index (n_rows, 2)); −1 marks dropped particles.
    """
    kept = np.flatnonzero(keep)
    nk = kept.size
    dof_x = -np.ones((n, d), np.int64)
    dof_r = -np.ones((n, nr), np.int64)
    dof_x[kept] = np.arange(nk * d).reshape(nk, d)
    dof_r[kept] = nk * d + np.arange(nk * nr).reshape(nk, nr)
    idx_x = np.column_stack([np.repeat(kept, d), np.tile(np.arange(d), nk)])
    idx_r = np.column_stack([np.repeat(kept, nr), np.tile(d + np.arange(nr), nk)])
    dof_index = np.vstack([idx_x, idx_r]).astype(np.int64)
    return dof_x, dof_r, dof_index


def _translation_vectors(dof_index: np.ndarray, d: int) -> np.ndarray:
    """(n, d) normalised uniform translations along each axis in the given coordinates."""
    t = np.zeros((dof_index.shape[0], d))
    for a in range(d):
        t[dof_index[:, 1] == a, a] = 1.0
    norms = np.linalg.norm(t, axis=0)
    return t / np.where(norms > 0, norms, 1.0)


def _symmetric_csr(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, size: int) -> sp.csr_matrix:
    """CSR sum of COO triplets, made bitwise symmetric as (A + Aᵀ)/2 (the summation order of
    duplicates differs between (r, c) and (c, r), which leaves ulp-level asymmetry otherwise)."""
    a = sp.coo_matrix((vals, (rows, cols)), shape=(size, size)).tocsr()
    a = (0.5 * (a + a.T)).tocsr()
    a.sum_duplicates()
    a.sort_indices()
    return a


def _checked_network(packing: Packing, network: ContactNetwork | None) -> ContactNetwork:
    """``network`` (computed when None) after checking it belongs to ``packing``."""
    require(isinstance(packing, Packing), "packing", "a packing.system.Packing",
            type(packing).__name__)
    if network is None:
        network = contact_network(packing)
    require(isinstance(network, ContactNetwork) and network.n_particles == packing.n
            and network.dim == packing.dim, "network",
            f"a ContactNetwork of this packing (N = {packing.n}, d = {packing.dim})",
            type(network).__name__)
    return network


def _kept_contacts(network: ContactNetwork, keep: np.ndarray) -> np.ndarray:
    """(M, 2) int64 contacts between kept particles, in the network's order."""
    pairs = network.contacts
    return np.ascontiguousarray(pairs[keep[pairs[:, 0]] & keep[pairs[:, 1]]], dtype=np.int64)


def _assemble(packing: Packing, remove_rattlers: bool,
              network: ContactNetwork) -> tuple[HessianParts, sp.csr_matrix]:
    """(HessianParts, gap Jacobian) of one kernel pass over the kept contacts."""
    arr = packing.kernel_arrays()
    n, d = arr.x.shape
    keep = ~network.rattler if remove_rattlers else np.ones(n, bool)
    pairs = _kept_contacts(network, keep)
    dof_x, dof_r, dof_index = _dof_maps(n, d, packing.n_rot, keep)
    rows, cols, kv, sv, jv = _hessian_kernels.assemble_triplets(
        arr.kind, arr.x, arr.rot, arr.shp, arr.rot_len, packing.box, float(packing.alpha), pairs,
        dof_x, dof_r)
    if not (np.all(np.isfinite(kv)) and np.all(np.isfinite(sv))):
        raise ParameterError("packing must have finite pair derivatives at every contact "
                             "(got non-finite Hessian entries: coincident particle centres?)")
    size = dof_index.shape[0]
    stiffness = _symmetric_csr(rows, cols, kv, size)
    stress = _symmetric_csr(rows, cols, sv, size)
    total = (stiffness + stress).tocsr()
    total.sort_indices()
    t = _translation_vectors(dof_index, d)
    norm = inf_norm(total)
    resid = float(np.abs(total @ t).max() / norm) if norm > 0 and size > 0 else 0.0
    m, n_pair = pairs.shape[0], 2 * (d + packing.n_rot)
    jac_cols = rows.reshape(m, n_pair, n_pair)[:, :, 0].ravel()
    jac = sp.csr_matrix((jv, (np.repeat(np.arange(m), n_pair), jac_cols)), shape=(m, size))
    jac.sort_indices()
    keep.setflags(write=False)
    dof_index.setflags(write=False)
    parts = HessianParts(total=total, stiffness=stiffness, stress=stress, dof_index=dof_index,
                         n_translations=d, rattler=~keep, n_contacts=int(m),
                         translation_residual=resid)
    return parts, jac


def hessian(packing: Packing, remove_rattlers: bool = True,
            network: ContactNetwork | None = None) -> HessianParts:
    """Analytic Hessian of ``packing`` split into stiffness and stress parts.

    Parameters
    ----------
    packing : a :class:`~packing.system.Packing` (usually a minimised one).
    remove_rattlers : drop the rattlers' coordinates and every contact that involves a rattler
        (the Hessian of the rigid cluster); False keeps all particles and contacts.
    network : a precomputed :func:`~packing.contacts.contact_network` of this packing (computed
        here when None; its rattler rule is the one used).

    Returns
    -------
    :class:`HessianParts`, matrices of size (d + n_rot) N′ (N when rattlers are kept).
    """
    require(isinstance(remove_rattlers, (bool, np.bool_)), "remove_rattlers", "True or False",
            remove_rattlers)
    return _assemble(packing, bool(remove_rattlers), _checked_network(packing, network))[0]


def gap_jacobian(packing: Packing, network: ContactNetwork | None = None) -> sp.csr_matrix:
    """(N_Δ, (d + n_rot) N′) CSR Jacobian of the rigid cluster's contacts: row c is
    √V''(Δ_c) ∂Δ_c/∂q on the coordinates of :func:`hessian` (rattlers removed), in the order of
    ``network.active_contacts``, so that JᵀJ equals ``hessian(packing).stiffness`` (V'' = 1 for
    the harmonic potential: the rows are the gap gradients themselves)."""
    return _assemble(packing, True, _checked_network(packing, network))[1]


def constraint_problem(packing: Packing, network: ContactNetwork | None = None
                       ) -> ConstraintProblem:
    """The packing in the shared analysis' form (`packing.analysis.ConstraintProblem`).

    gaps : Δ of the candidate pairs between non-rattlers (so that #{Δ > 0} = N_Δ of the network);
    jacobian : :func:`gap_jacobian`; stiffness, stress : the parts of :func:`hessian` (rattlers
    removed); n_dof = (d + n_rot) N′ − d with the d global translations as trivial zero modes;
    isostatic_offset 1 (N_Δ = N_dof + 1 at jamming in a periodic box). ParameterError when every
    particle is a rattler (no rigid cluster to analyse).
    """
    network = _checked_network(packing, network)
    require(network.n_dof >= 1, "packing", "a packing with a rigid cluster (N_dof >= 1)",
            f"{network.n_rattlers} rattlers out of {network.n_particles}")
    h, jac = _assemble(packing, True, network)
    pairs, rattler = network.pairs, network.rattler
    live = ~rattler[pairs[:, 0]] & ~rattler[pairs[:, 1]]
    return ConstraintProblem(gaps=np.asarray(network.gaps[live]), jacobian=jac, stress=h.stress,
                             stiffness=h.stiffness, n_dof=network.n_dof, n_trivial=packing.dim,
                             isostatic_offset=PERIODIC_ISOSTATIC_OFFSET)
