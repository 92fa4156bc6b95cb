"""Training sets for the network side: random points on a sphere, MNIST parity, CIFAR-10 parity.

Every loader returns a :class:`Dataset` with float64 inputs ``x`` of shape (P, d) and labels ``y``
in {−1, +1} of shape (P,), split into train and test with a seeded permutation.

* ``random``: x uniform on the sphere of radius √d in R^d, y = ±1 independent fair coins
  (Geiger et al., PRE 100, 012115, 2019, section II; Spigler et al., J. Phys. A 52, 474001, 2019).
* ``mnist-parity``: the embedded MNIST-parity file of the repository (:mod:`.embedded`; no
  directory needed, at most 32 components, train and test points from separate pools).
* ``mnist``: parity of the digit (y = +1 for odd digits, −1 for even ones), images flattened and
  projected on the first d principal components of the *training split*, whitened (unit variance
  along each component on the training split) — Geiger et al. 2019, section V.
* ``cifar10``: y = −1 for classes 0–4 and +1 for classes 5–9, same projection and whitening.

File formats (read from a directory; nothing is downloaded):

* IDX files (LeCun's MNIST format), gzip-compressed or not: every ``*-images-idx3-ubyte[.gz]``
  with its ``*-labels-idx1-ubyte[.gz]`` partner in the directory is pooled (train and t10k alike)
  before the seeded split.
* ``.npz`` with arrays ``x`` (images, any trailing shape) and ``y`` (integer labels), for both
  MNIST and CIFAR-10 directories.
* CIFAR-10 binary batches (``data_batch_*.bin``, ``test_batch.bin``: 1 label byte + 3072 pixel
  bytes per record).
* CIFAR-10 python batches (``data_batch_1`` … ``test_batch``). These are pickles. They are read
  with a *restricted* unpickler that resolves only the handful of numpy/builtin globals a CIFAR
  batch needs (numpy array reconstruction and dtypes) and refuses every other global, so a
  tampered file cannot execute code; anything unexpected raises :class:`ParameterError`.
  Prefer the ``.bin`` or ``.npz`` forms where available.
"""
from __future__ import annotations

import gzip
import io
import math
import pickle
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from packing.errors import ParameterError, require

DATASETS = ("random", "mnist-parity", "mnist", "cifar10")
#: The embedded MNIST-parity file (made by :mod:`.embedded`), relative to the repository root
#: (this file is ``<root>/dlbridge/nets/data.py``).
EMBEDDED_PATH: Path = Path(__file__).resolve().parents[2] / "data" / "mnist_parity_pca.h5"
N_COMPONENTS = 32
POOLS = ("train", "test")


@dataclass(frozen=True)
class Dataset:
    """A seeded train/test split. ``x_*``: (P, d) float64; ``y_*``: (P,) float64 in {−1, +1}."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def dim(self) -> int:
        """Input dimension d."""
        return int(self.x_train.shape[1])

    @property
    def n_train(self) -> int:
        """Number of training points P."""
        return int(self.x_train.shape[0])


def _check_sizes(dim: int, n_train: int, n_test: int) -> None:
    require(isinstance(dim, (int, np.integer)) and dim >= 1, "dim", "an integer >= 1", dim)
    require(isinstance(n_train, (int, np.integer)) and n_train >= 1, "n_train",
            "an integer >= 1", n_train)
    require(isinstance(n_test, (int, np.integer)) and n_test >= 0, "n_test",
            "an integer >= 0", n_test)


def random_sphere(dim: int, n_train: int, n_test: int = 0, seed: int = 0) -> Dataset:
    """Points uniform on the sphere of radius √dim with independent random ±1 labels.

    x = √d g/|g| with g ~ N(0, I_d); y = ±1 with probability ½ each (numpy PCG64 seeded by
    ``seed``). Train and test points are drawn independently from the same law.
    """
    _check_sizes(dim, n_train, n_test)
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    g = rng.standard_normal((n, dim))
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    x = np.sqrt(dim) * g / norms
    y = rng.choice(np.array([-1.0, 1.0]), size=n)
    return Dataset("random", x[:n_train], y[:n_train], x[n_train:], y[n_train:])


# --------------------------------------------------------------------------------------------
# IDX files (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST DATABASE")

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


MAX_IDX_BYTES = 2**32
"""Largest IDX data block read (4 GiB; the MNIST training images are 47 MB)."""


def _read_idx_stream(fh, p: Path) -> np.ndarray:
    """An IDX array from an open binary stream: the header first, then exactly the bytes it
    declares (never more than :data:`MAX_IDX_BYTES`), so a corrupt header cannot allocate."""
    magic = fh.read(4)
    require(len(magic) == 4 and magic[0] == 0 and magic[1] == 0 and magic[2] in _IDX_DTYPES,
            "IDX file", "a file with a valid IDX magic number", str(p))
    ndim = magic[3]
    dims = fh.read(4 * ndim)
    require(len(dims) == 4 * ndim, "IDX file", "a file with a complete header", str(p))
    shape = tuple(int(v) for v in np.frombuffer(dims, dtype=">u4"))
    dtype = np.dtype(_IDX_DTYPES[magic[2]])
    n_bytes = math.prod(shape) * dtype.itemsize
    require(n_bytes <= MAX_IDX_BYTES, "IDX file", f"a data block of at most {MAX_IDX_BYTES} bytes",
            f"{str(p)}: shape {shape}")
    raw = fh.read(n_bytes + 1)
    require(len(raw) == n_bytes, "IDX file",
            f"exactly {n_bytes} data bytes for shape {shape}", str(p))
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzip or plain): magic 0x0000TTNN, NN big-endian int32 sizes, data."""
    p = Path(path)
    require(p.is_file(), "IDX file", "an existing file", str(p))
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rb") as fh:
            return _read_idx_stream(fh, p)
    except (OSError, EOFError, zlib.error) as exc:
        raise ParameterError(f"IDX file must be readable (got {str(p)!r}: {exc})") from None


def _idx_pairs(directory: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for img in sorted(directory.iterdir()):
        name = img.name
        if "-images-idx3-ubyte" not in name:
            continue
        lab = directory / name.replace("-images-idx3-ubyte", "-labels-idx1-ubyte")
        require(lab.is_file(), "data directory", f"to hold the labels file {lab.name}", str(directory))
        pairs.append((img, lab))
    return pairs


def checked_images(x: np.ndarray, where: str) -> np.ndarray:
    """Images (n, pixels) as stored, after checking them: numbers, finite, in [0, 255] (uint8
    pixels, or floats of that range or of [0, 1]); ParameterError naming ``where`` otherwise."""
    require(x.dtype.kind in "uif" and x.ndim == 2 and x.size > 0, f"images of {where}",
            "a non-empty numeric array (n, pixels)", f"{x.dtype} {x.shape}")
    ok = bool(np.all(np.isfinite(x))) and x.min() >= 0 and x.max() <= 255
    require(ok, f"images of {where}", "finite pixel values in [0, 255]",
            f"range [{x.min()}, {x.max()}]")
    return x


def checked_labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
    """Labels (n,) as int64 after checking them: one per image, integers (an integer dtype, or
    floats with integral values); ParameterError naming ``where`` otherwise."""
    require(y.ndim == 1 and len(y) == n, f"labels of {where}", f"one label per image ({n})",
            f"shape {y.shape}")
    integral = y.dtype.kind in "iu" or (y.dtype.kind == "f" and bool(np.all(np.isfinite(y)))
                                         and bool(np.all(y == np.round(y))))
    require(integral and y.dtype.kind != "b", f"labels of {where}", "integers", str(y.dtype))
    return y.astype(np.int64)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, pixels), labels (n,)) of one .npz with arrays ``x`` and ``y``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            require("x" in z and "y" in z, "npz file", "to contain arrays 'x' and 'y'", str(path))
            x, y = np.asarray(z["x"]), np.asarray(z["y"])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ParameterError(f"npz file must be a readable numpy archive (got {str(path)!r}: "
                             f"{type(exc).__name__} {exc})") from None
    require(x.ndim >= 2, "npz file", "an array 'x' of images (n, ...)", f"{path.name}: {x.shape}")
    x = checked_images(x.reshape(len(x), -1), path.name)
    return x, checked_labels(y, len(x), path.name)


def _concatenated(parts: Sequence[tuple[np.ndarray, np.ndarray]],
                  what: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of several files, one after the other; their images must have one size."""
    widths = sorted({x.shape[1] for x, _ in parts})
    require(len(widths) == 1, what, "images of one size", widths)
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def _load_npz(directory: Path) -> tuple[np.ndarray, np.ndarray] | None:
    files = sorted(directory.glob("*.npz"))
    return _concatenated([_read_npz(p) for p in files], "npz files") if files else None


def _read_idx_pair(img: Path, lab: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, rows·cols), labels (n,)) of one IDX image file and its label file."""
    x, y = read_idx(img), read_idx(lab)
    require(x.ndim == 3 and y.ndim == 1 and len(x) == len(y), "IDX files",
            "an (n, rows, cols) image file with an (n,) label file", img.name)
    return checked_images(x.reshape(len(x), -1), img.name), checked_labels(y, len(x), lab.name)


def load_mnist_raw(directory: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """All images (n, 784) uint8/float and labels (n,) int from a directory of IDX or npz files."""
    d = _existing_dir(directory)
    pairs = _idx_pairs(d)
    if pairs:
        return _concatenated([_read_idx_pair(img, lab) for img, lab in pairs], "IDX files")
    npz = _load_npz(d)
    require(npz is not None, "data directory", "to hold MNIST IDX files or an .npz file", str(d))
    return npz


def _existing_dir(directory: str | Path) -> Path:
    d = Path(directory)
    require(d.is_dir(), "data directory", "an existing directory", str(d))
    return d


# --------------------------------------------------------------------------------------------
# CIFAR-10 (https://www.cs.toronto.edu/~kriz/cifar.html, "Dataset layout")

_CIFAR_RECORD = 1 + 3072
_CIFAR_PY_NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
}


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy-array reconstruction globals (see module docstring)."""

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        if (module, name) not in _ALLOWED_GLOBALS:
            raise ParameterError(
                f"CIFAR python batch must reference only numpy array globals (got {module}.{name})")
        if name == "dtype":
            return _numeric_dtype
        return super().find_class(module, name)


def _numeric_dtype(*args) -> np.dtype:
    """np.dtype for the unpickler, numbers only: an object dtype would let a few bytes of pickle
    allocate an array of any size (its length is not bounded by the data in the file)."""
    try:
        dt = np.dtype(*args)
    except TypeError as exc:
        raise ParameterError(f"CIFAR python batch must hold numeric arrays ({exc})") from None
    require(dt.kind in "biuf" and not dt.hasobject, "CIFAR python batch",
            "numeric arrays only", str(dt))
    return dt


def _read_cifar_python(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = _CifarUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError, RecursionError) as exc:
        if isinstance(exc, ParameterError):
            raise
        raise ParameterError(f"CIFAR python batch must be a valid batch (got {path.name}: "
                             f"{type(exc).__name__} {exc})") from None
    require(isinstance(batch, dict) and b"data" in batch and b"labels" in batch,
            "CIFAR python batch", "a dict with b'data' and b'labels'", path.name)
    try:
        x = np.asarray(batch[b"data"])
        y = np.asarray(batch[b"labels"])
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"CIFAR python batch must hold arrays (got {path.name}: {exc})") \
            from None
    require(x.ndim == 2 and x.shape[1] == 3072, "CIFAR python batch 'data'",
            "an (n, 3072) array", f"{path.name}: shape {x.shape}")
    return checked_images(x, path.name), checked_labels(y, len(x), path.name)


def _read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    require(raw.size % _CIFAR_RECORD == 0 and raw.size > 0, "CIFAR binary batch",
            f"a whole number of {_CIFAR_RECORD}-byte records", path.name)
    rec = raw.reshape(-1, _CIFAR_RECORD)
    return rec[:, 1:].copy(), rec[:, 0].astype(np.int64)


def load_cifar_raw(directory: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """All CIFAR-10 images (n, 3072) and labels (n,) from .npz, binary or python batches."""
    d = _existing_dir(directory)
    npz = _load_npz(d)
    if npz is not None:
        return npz
    for reader, files in ((_read_cifar_bin, sorted(d.glob("*_batch*.bin"))),
                          (_read_cifar_python, [d / n for n in _CIFAR_PY_NAMES if (d / n).is_file()])):
        if files:
            return _concatenated([reader(p) for p in files], "CIFAR batches")
    raise ParameterError(f"data directory must hold CIFAR-10 .npz, .bin or python batches "
                         f"(got {str(d)!r})")


# --------------------------------------------------------------------------------------------
# Projection on principal components and the seeded split

def pca_whiten(x_train: np.ndarray, x_test: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Project on the first ``dim`` principal components of ``x_train`` and whiten.

    Returns ((P, dim), (P_test, dim)): z = (x − mean_train) V_d / √λ_d, where V_d, λ_d are the
    leading eigenvectors/eigenvalues of the training covariance (1/P)(x − m)ᵀ(x − m), so the
    training projections have identity covariance. Needs ``dim`` non-zero eigenvalues.
    """
    xt = np.asarray(x_train, dtype=np.float64)
    mean = xt.mean(axis=0)
    centred = xt - mean
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    lam = s**2 / len(xt)
    n_pos = int(np.sum(lam > lam[0] * 1e-12)) if lam.size else 0
    require(dim <= n_pos, "dim", f"at most {n_pos} (the rank of the training inputs)", dim)
    v = vt[:dim].T
    # Fix the sign of each component (largest |entry| positive) so the projection is reproducible.
    v = v * np.sign(v[np.argmax(np.abs(v), axis=0), np.arange(dim)])
    scale = 1.0 / np.sqrt(lam[:dim])
    return centred @ v * scale, (np.asarray(x_test, dtype=np.float64) - mean) @ v * scale


def split_parity(x: np.ndarray, y: np.ndarray, name: str, dim: int,
                 n_train: int, n_test: int, seed: int) -> Dataset:
    """Seeded random split of (x, y) into n_train/n_test points, then PCA-whitening to ``dim``."""
    _check_sizes(dim, n_train, n_test)
    require(n_train + n_test <= len(x), "n_train + n_test", f"at most {len(x)} (images available)",
            n_train + n_test)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(x))
    tr, te = perm[:n_train], perm[n_train:n_train + n_test]
    require(n_train > dim, "n_train", f"larger than dim = {dim} for the principal components",
            n_train)
    z_tr, z_te = pca_whiten(x[tr], x[te], dim)
    return Dataset(name, z_tr, y[tr].astype(np.float64), z_te, y[te].astype(np.float64))


def mnist_parity(directory: str | Path, dim: int, n_train: int, n_test: int = 0,
                 seed: int = 0) -> Dataset:
    """MNIST parity (y = +1 for odd digits), PCA-whitened to ``dim`` on the training split."""
    x, labels = load_mnist_raw(directory)
    require(labels.min() >= 0 and labels.max() <= 9, "MNIST labels", "digits 0..9",
            (int(labels.min()), int(labels.max())))
    y = np.where(labels % 2 == 1, 1.0, -1.0)
    return split_parity(x, y, "mnist", dim, n_train, n_test, seed)


def cifar10_parity(directory: str | Path, dim: int, n_train: int, n_test: int = 0,
                   seed: int = 0) -> Dataset:
    """CIFAR-10 with y = −1 for classes 0–4 and +1 for classes 5–9, PCA-whitened to ``dim``."""
    x, labels = load_cifar_raw(directory)
    require(labels.min() >= 0 and labels.max() <= 9, "CIFAR-10 labels", "classes 0..9",
            (int(labels.min()), int(labels.max())))
    y = np.where(labels >= 5, 1.0, -1.0)
    return split_parity(x, y, "cifar10", dim, n_train, n_test, seed)


# --------------------------------------------------------------------------------------------
# The embedded MNIST-parity file (:mod:`.embedded`)

def read_pool(pool: str, path: str | Path = EMBEDDED_PATH) -> tuple[np.ndarray, np.ndarray]:
    """(x (n, N_COMPONENTS) float64, digits (n,) int64) of the ``pool`` ("train" or "test")."""
    require(pool in POOLS, "pool", "train or test", pool)
    p = Path(path)
    require(p.is_file(), "embedded dataset", "the file data/mnist_parity_pca.h5 "
            "(remake it with: dlbridge dataset --mnist DIR)", str(p))
    try:
        with h5py.File(p, "r") as f:
            return (np.asarray(f[pool]["x"], dtype=np.float64),
                    np.asarray(f[pool]["digits"], dtype=np.int64))
    except (OSError, KeyError) as exc:
        raise ParameterError(f"embedded dataset must be a readable file with train/ and test/ "
                             f"groups (got {str(p)!r}: {exc})") from None


def load_embedded(dim: int, n_train: int, n_test: int = 0, seed: int = 0,
                  path: str | Path = EMBEDDED_PATH) -> Dataset:
    """MNIST parity: ``n_train`` points of the train pool, ``n_test`` of the test pool, first
    ``dim`` whitened components; points drawn by permutations seeded by ``seed``."""
    require(isinstance(dim, (int, np.integer)) and 1 <= dim <= N_COMPONENTS, "dim",
            f"an integer in [1, {N_COMPONENTS}] for the embedded dataset", dim)
    parts = []
    rng = np.random.default_rng(seed)
    for pool, n, name in (("train", n_train, "n_train"), ("test", n_test, "n_test")):
        x, digits = read_pool(pool, path)
        require(isinstance(n, (int, np.integer)) and 0 <= n <= len(x) and (n >= 1 or pool == "test"),
                name, f"an integer in [{1 if pool == 'train' else 0}, {len(x)}] "
                f"(the embedded {pool} pool)", n)
        pick = rng.permutation(len(x))[:n]
        parts += [x[pick, :dim], np.where(digits[pick] % 2 == 1, 1.0, -1.0)]
    return Dataset("mnist-parity", *parts)


def load_dataset(name: str, dim: int, n_train: int, n_test: int = 0, seed: int = 0,
                 data_dir: str | Path | None = None) -> Dataset:
    """Dispatch on ``name`` in :data:`DATASETS`; mnist/cifar10 need ``data_dir``."""
    require(name in DATASETS, "dataset", f"one of {', '.join(DATASETS)}", name)
    if name == "random":
        return random_sphere(dim, n_train, n_test, seed)
    if name == "mnist-parity":
        return load_embedded(dim, n_train, n_test, seed)
    require(data_dir is not None, "data_dir", f"a directory for dataset {name}", data_dir)
    loader = mnist_parity if name == "mnist" else cifar10_parity
    return loader(data_dir, dim, n_train, n_test, seed)
