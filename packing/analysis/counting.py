"""Constraint counting (Goodrich, Liu, Nagel, PRL 109, 095704, 2012).

N_Δ = #{Δ > 0}; the isostaticity index N_Δ/N_dof; the isostatic excess N_Δ − (N_dof +
isostatic_offset), where isostatic_offset = 1 for spheres in a periodic box (the extra constraint
of a jammed state at positive pressure) and 0 for nets. Packings count the pairs between
non-rattlers (`packing.contacts.ContactNetwork.counts`), nets every datum.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._checks import check_gaps, check_int


@dataclasses.dataclass(frozen=True)
class ConstraintCount:
    """Constraint counting (module docstring).

    n_constraints : N_Δ = #{Δ > 0}. n_satisfied : #{Δ < 0}. n_candidates : all gaps given.
    n_dof : N_Δ's reference N_dof. isostatic_offset : 1 periodic spheres, 0 nets.
    isostaticity_index : N_Δ / N_dof (NaN for N_dof = 0, a packing made only of rattlers).
    excess : N_Δ − (N_dof + isostatic_offset) (0 isostatic, > 0 hyperstatic, < 0 hypostatic).
    """

    n_constraints: int
    n_satisfied: int
    n_candidates: int
    n_dof: int
    isostatic_offset: int
    isostaticity_index: float
    excess: int

    @classmethod
    def from_counts(cls, n_constraints: int, n_satisfied: int, n_candidates: int, n_dof: int,
                    isostatic_offset: int) -> "ConstraintCount":
        """The count from its integers (already validated by the caller; N_dof ≥ 0)."""
        index = n_constraints / n_dof if n_dof > 0 else math.nan
        return cls(n_constraints=int(n_constraints), n_satisfied=int(n_satisfied),
                   n_candidates=int(n_candidates), n_dof=int(n_dof),
                   isostatic_offset=int(isostatic_offset), isostaticity_index=index,
                   excess=int(n_constraints - n_dof - isostatic_offset))

    @property
    def isostatic_count(self) -> int:
        """N_dof + isostatic_offset, the N_Δ of an isostatic state."""
        return self.n_dof + self.isostatic_offset

    @property
    def is_isostatic(self) -> bool:
        """True when N_Δ = N_dof + isostatic_offset exactly."""
        return self.excess == 0


def count_constraints(gaps, n_dof: int, isostatic_offset: int = 0) -> ConstraintCount:
    """N_Δ = #{Δ > 0}, the isostaticity index N_Δ/N_dof and the excess N_Δ − (N_dof + offset).

    Parameters
    ----------
    gaps : (M,) Δ of the candidate constraints (for a packing: pairs between non-rattlers, so that
        N_Δ is the count of :class:`~packing.contacts.ContactNetwork`).
    n_dof : N_Δ's reference, N_dof ≥ 1 (packing: (d + n_rot) N′ − d; net: N or N_eff).
    isostatic_offset : N_Δ − N_dof of an isostatic state: 1 for spheres in a periodic box
        (Goodrich, Liu, Nagel 2012), 0 for nets and for open systems.
    """
    g = check_gaps(gaps)
    n_dof = check_int(n_dof, "n_dof", 1)
    offset = check_int(isostatic_offset, "isostatic_offset", 0, 3)
    return ConstraintCount.from_counts(int(np.count_nonzero(g > 0.0)),
                                       int(np.count_nonzero(g < 0.0)), g.size, n_dof, offset)
