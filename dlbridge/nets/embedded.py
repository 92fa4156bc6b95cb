"""The embedded MNIST-parity dataset: whitened principal components of the MNIST test split.

``data/mnist_parity_pca.h5`` (repository root) is made by :func:`make_embedded` (command
``dlbridge dataset --mnist DIR``) from the 10 000 images of the official MNIST test split
(``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``; LeCun, Cortes, Burges, "The MNIST
database of handwritten digits"; LeCun, Bottou, Bengio, Haffner, Proc. IEEE 86, 2278, 1998):

1. a permutation seeded by ``POOL_SEED`` splits the images into a train pool (``N_TRAIN_POOL``)
   and a test pool (the rest);
2. the pixels (0…255, as float64) are centred on the train pool's mean and projected on the
   train pool's first ``N_COMPONENTS`` principal components, each divided by the square root of
   its eigenvalue (whitened: unit variance on the train pool), signs fixed by
   :func:`dlbridge.nets.data.pca_whiten`;
3. the projections are stored in float32 with the digits (uint8), the images' positions in the
   t10k file, the eigenvalues, and the MD5 of the two source files.

The label of a datum is its parity, y = +1 for odd digits and −1 for even ones (the convention
of :func:`dlbridge.nets.data.mnist_parity`). Principal components are nested, so the first d
stored columns are the d-component whitened projection of step 2 for any d ≤ N_COMPONENTS.

:func:`dlbridge.nets.data.load_embedded` draws ``n_train`` points from the train pool and
``n_test`` from the test pool with a permutation seeded by ``seed`` and returns a
:class:`~dlbridge.nets.data.Dataset` (float64). MNIST is distributed under CC BY-SA 3.0
(Y. LeCun and C. Cortes); the derived file carries the same licence, and its attributes say so.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from packing.errors import ParameterError, require
from packing.io import atomic_h5
from packing.schema import EMBEDDED_DATA, doc_attrs

from .data import EMBEDDED_PATH, N_COMPONENTS, pca_whiten, read_idx

N_TRAIN_POOL = 5000
POOL_SEED = 0
SOURCE_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
CITATION = ("Y. LeCun, C. Cortes, C. J. C. Burges, The MNIST database of handwritten digits; "
            "Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, Proc. IEEE 86, 2278 (1998)")
LICENCE = "CC BY-SA 3.0 (MNIST, Y. LeCun and C. Cortes); this derived file: the same"


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _source_path(directory: Path, name: str) -> Path:
    """``name`` in ``directory``, gzip-compressed or not."""
    for candidate in (directory / name, directory / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    raise ParameterError(f"--mnist must hold {name} (or its uncompressed form) "
                         f"(got {str(directory)!r})")


def make_embedded(mnist_dir: str | Path, out: str | Path = EMBEDDED_PATH,
                  overwrite: bool = False) -> Path:
    """Write the embedded dataset (module docstring) from the MNIST test split in ``mnist_dir``."""
    d = Path(mnist_dir)
    require(d.is_dir(), "--mnist", "an existing directory holding the MNIST test split", str(d))
    paths = [_source_path(d, name) for name in SOURCE_FILES]
    images, digits = read_idx(paths[0]), read_idx(paths[1])
    require(images.shape == (10000, 28, 28) and digits.shape == (10000,), "--mnist",
            "the MNIST test split (10000 images of 28x28 and 10000 labels)",
            (images.shape, digits.shape))
    x = images.reshape(len(images), -1).astype(np.float64)
    perm = np.random.default_rng(POOL_SEED).permutation(len(x))
    idx = {"train": np.sort(perm[:N_TRAIN_POOL]), "test": np.sort(perm[N_TRAIN_POOL:])}
    z_train, z_test = pca_whiten(x[idx["train"]], x[idx["test"]], N_COMPONENTS)
    centred = x[idx["train"]] - x[idx["train"]].mean(0)
    eig = np.linalg.svd(centred, compute_uv=False)[:N_COMPONENTS] ** 2 / N_TRAIN_POOL
    with atomic_h5(out, overwrite=overwrite) as f:
        f.attrs.update(dataset="mnist-parity", citation=CITATION, licence=LICENCE,
                       source_files=list(SOURCE_FILES),
                       source_md5=[_md5(p) for p in paths], pool_seed=POOL_SEED,
                       n_components=N_COMPONENTS, labels="y = +1 for odd digits, -1 for even",
                       preprocessing="centred on the train pool, projected on its principal "
                                     "components, whitened (unit variance on the train pool)")
        for pool, z in (("train", z_train), ("test", z_test)):
            g = f.create_group(pool)
            g.create_dataset("x", data=z.astype(np.float32))
            g.create_dataset("digits", data=digits[idx[pool]].astype(np.uint8))
            g.create_dataset("source_index", data=idx[pool].astype(np.int32))
        f.create_dataset("eigenvalues", data=eig)
        for pool in ("train", "test"):
            for name in ("x", "digits", "source_index"):
                f[pool][name].attrs.update(doc_attrs(EMBEDDED_DATA[name], f[pool][name].ndim))
        f["eigenvalues"].attrs.update(doc_attrs(EMBEDDED_DATA["eigenvalues"], 1))
    return Path(out)


def add_dataset_parser(subparsers):
    """The ``dataset`` subcommand: remake the embedded file from the MNIST test split."""
    p = subparsers.add_parser(
        "dataset", help="make the embedded MNIST-parity file from the MNIST test split",
        description="Write the whitened principal components of the 10000 MNIST test images "
                    "with their digits (data/mnist_parity_pca.h5 by default).")
    p.add_argument("--mnist", required=True,
                   help="directory holding t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz)")
    p.add_argument("--out", default=str(EMBEDDED_PATH), help="output file (default: the embedded one)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(func=_run_dataset)
    return p


def _run_dataset(args, argv=None) -> int:
    from packing.io import check_output_path

    check_output_path(args.out, args.overwrite)
    path = make_embedded(args.mnist, args.out, args.overwrite)
    print(f"dlbridge dataset: wrote {path}")
    return 0
