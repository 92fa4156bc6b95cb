"""Limits of `packing jam`'s parameters, checked before any work (no numba import, so that a
command line outside them fails at once)."""
from __future__ import annotations

MAX_PARTICLES = 1_000_000
MAX_STEPS = 10**10
MAX_SEEDS = 100_000
FTOL_RANGE = (1e-16, 1.0)    # below 1e-16 a float64 force is round-off
RTOL_RANGE = (1e-15, 0.1)    # below 1e-15 the φ_J bracket is below float64 resolution of φ
