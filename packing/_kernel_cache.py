"""Keep numba's on-disk cache consistent across the kernel modules.

numba keys each cached function on its own source file only. The engine inlines the pair kernels
of other modules (`_pairs`, `_ellipse`, `_neighbors`), so after an edit of one of those the cached
engine would silently run the old code. At import, the sources of all kernel modules are hashed
together; when the hash differs from the one stored beside the cache, the cached machine code of
those modules is deleted (numba then recompiles and caches anew).
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

KERNEL_MODULES = ("_pairs", "_ellipse", "_ellipsoid", "_neighbors", "_engine", "_hessian_kernels")
STAMP = "packing-kernels.sha256"


def kernel_source_hash(pkg_dir: Path) -> str:
    """SHA-256 over the kernel modules' sources, in a fixed order."""
    h = hashlib.sha256()
    for mod in KERNEL_MODULES:
        path = pkg_dir / f"{mod}.py"
        if path.exists():
            h.update(mod.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def cache_dirs(pkg_dir: Path) -> list[Path]:
    """Where numba caches this package's kernels: __pycache__ beside the sources, or the
    per-directory folders under NUMBA_CACHE_DIR (named '<dirname>_<sha1 of the dir>')."""
    user = os.environ.get("NUMBA_CACHE_DIR")
    if user:
        sub = f"{pkg_dir.name}_{hashlib.sha1(str(pkg_dir).encode()).hexdigest()}"
        return [Path(user) / sub]
    return [pkg_dir / "__pycache__"]


def invalidate_stale_kernel_cache(pkg_dir: Path | None = None) -> int:
    """Delete cached kernels built from other kernel sources than the present ones.

    Returns the number of cache files removed. A cache folder that cannot be written is left as
    it is with a warning (numba itself then cannot cache there either).
    """
    pkg_dir = Path(__file__).resolve().parent if pkg_dir is None else pkg_dir
    digest = kernel_source_hash(pkg_dir)
    removed = 0
    for folder in cache_dirs(pkg_dir):
        stamp = folder / STAMP
        try:
            if stamp.exists() and stamp.read_text().strip() == digest:
                continue
            if folder.is_dir():
                for mod in KERNEL_MODULES:
                    for f in list(folder.glob(f"{mod}.*.nbi")) + list(folder.glob(f"{mod}.*.nbc")):
                        f.unlink()
                        removed += 1
            folder.mkdir(parents=True, exist_ok=True)
            stamp.write_text(digest + "\n")
        except OSError as exc:
            warnings.warn(f"packing: could not refresh the numba kernel cache in {folder}: {exc}",
                          RuntimeWarning, stacklevel=2)
    return removed
