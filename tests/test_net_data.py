"""Loaders of dlbridge.nets.data: random sphere, IDX/npz MNIST parity, CIFAR-10 parity formats."""
from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from mnist_files import mnist_dir, needs_mnist

from dlbridge.nets.data import (
    cifar10_parity,
    load_dataset,
    load_mnist_raw,
    mnist_parity,
    pca_whiten,
    random_sphere,
    read_idx,
)
from packing.errors import ParameterError

MNIST_DIR = mnist_dir()


def write_idx(path: Path, arr: np.ndarray) -> None:
    """Independent IDX writer (LeCun's format: 0, 0, type 0x08, ndim, big-endian sizes)."""
    payload = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim)
    payload += struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)


def fake_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 6, 5)).astype(np.uint8), rng.integers(0, 10, size=n)


def test_random_sphere_radius_labels_and_seed():
    d = random_sphere(7, 50, 20, seed=3)
    np.testing.assert_allclose(np.linalg.norm(d.x_train, axis=1), np.sqrt(7), rtol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(d.x_test, axis=1), np.sqrt(7), rtol=1e-14)
    assert set(np.unique(d.y_train)) <= {-1.0, 1.0} and d.x_test.shape == (20, 7)
    again, other = random_sphere(7, 50, 20, seed=3), random_sphere(7, 50, 20, seed=4)
    np.testing.assert_array_equal(again.x_train, d.x_train)
    assert not np.allclose(other.x_train, d.x_train)


def test_random_sphere_is_isotropic():
    """E[x xᵀ] = I for x uniform on the sphere of radius √d (5σ statistical tolerance)."""
    d = random_sphere(4, 20000, 0, seed=1)
    cov = d.x_train.T @ d.x_train / 20000
    assert np.max(np.abs(cov - np.eye(4))) < 5 * np.sqrt(2 / 20000) * 2
    assert abs(d.y_train.mean()) < 5 / np.sqrt(20000)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_roundtrip(tmp_path, suffix):
    x, y = fake_images(13)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", x)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", y)
    np.testing.assert_array_equal(read_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}"), x)
    np.testing.assert_array_equal(read_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}"), y)


def test_idx_rejects_truncated(tmp_path):
    x, _ = fake_images(4)
    write_idx(tmp_path / "a-images-idx3-ubyte", x)
    raw = (tmp_path / "a-images-idx3-ubyte").read_bytes()
    (tmp_path / "a-images-idx3-ubyte").write_bytes(raw[:-3])
    with pytest.raises(ParameterError, match="IDX file"):
        read_idx(tmp_path / "a-images-idx3-ubyte")


def _reference_pca(x_tr, x_te, dim):
    """Independent reference: eigendecomposition of the training covariance (numpy.linalg.eigh)."""
    m = x_tr.mean(0)
    lam, v = np.linalg.eigh(np.cov(x_tr.T, bias=True))
    order = np.argsort(lam)[::-1][:dim]
    return (x_tr - m) @ v[:, order] / np.sqrt(lam[order]), (x_te - m) @ v[:, order] / np.sqrt(lam[order])


def test_pca_whiten_matches_eigh_up_to_sign():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 9)) @ rng.standard_normal((9, 9))
    z_tr, z_te = pca_whiten(x[:150], x[150:], 4)
    r_tr, r_te = _reference_pca(x[:150], x[150:], 4)
    s = np.sign(np.sum(z_tr * r_tr, axis=0))
    np.testing.assert_allclose(z_tr, r_tr * s, atol=1e-10)
    np.testing.assert_allclose(z_te, r_te * s, atol=1e-10)
    np.testing.assert_allclose(z_tr.T @ z_tr / 150, np.eye(4), atol=1e-12)


def test_mnist_parity_from_idx_and_npz(tmp_path):
    x, y = fake_images(60)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", x)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", y)
    d = mnist_parity(tmp_path, dim=5, n_train=40, n_test=20, seed=2)
    perm = np.random.default_rng(2).permutation(60)
    np.testing.assert_array_equal(d.y_train, np.where(y[perm[:40]] % 2 == 1, 1.0, -1.0))
    r_tr, r_te = _reference_pca(x.reshape(60, -1)[perm[:40]].astype(float),
                                x.reshape(60, -1)[perm[40:]].astype(float), 5)
    s = np.sign(np.sum(d.x_train * r_tr, axis=0))
    np.testing.assert_allclose(d.x_test, r_te * s, atol=1e-9)
    npz_dir = tmp_path / "npz"
    npz_dir.mkdir()
    np.savez(npz_dir / "mnist.npz", x=x, y=y)
    d2 = mnist_parity(npz_dir, dim=5, n_train=40, n_test=20, seed=2)
    np.testing.assert_allclose(d2.x_train, d.x_train, atol=1e-12)


def _cifar(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3072)).astype(np.uint8), rng.integers(0, 10, size=n)


def test_cifar_binary_python_and_npz_agree(tmp_path):
    x, y = _cifar(30)
    (tmp_path / "bin").mkdir()
    np.concatenate([y[:, None].astype(np.uint8), x], 1).tofile(tmp_path / "bin" / "data_batch_1.bin")
    (tmp_path / "py").mkdir()
    with open(tmp_path / "py" / "data_batch_1", "wb") as f:
        pickle.dump({b"data": x, b"labels": [int(v) for v in y]}, f)
    (tmp_path / "npz").mkdir()
    np.savez(tmp_path / "npz" / "c.npz", x=x, y=y)
    ds = [cifar10_parity(tmp_path / k, 4, 20, 10, seed=1) for k in ("bin", "py", "npz")]
    perm = np.random.default_rng(1).permutation(30)
    np.testing.assert_array_equal(ds[0].y_train, np.where(y[perm[:20]] >= 5, 1.0, -1.0))
    for other in ds[1:]:
        np.testing.assert_allclose(other.x_train, ds[0].x_train, atol=1e-12)


class _Evil:
    def __reduce__(self):
        import os
        return (os.getcwd, ())


def test_cifar_python_batch_refuses_foreign_globals(tmp_path):
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": [1]}, f)
    with pytest.raises(ParameterError, match="numpy array globals"):
        cifar10_parity(tmp_path, 2, 1, 0)


def test_loader_errors(tmp_path):
    with pytest.raises(ParameterError, match="dataset"):
        load_dataset("svhn", 3, 10)
    with pytest.raises(ParameterError, match="data directory"):
        load_dataset("mnist", 3, 10, data_dir=tmp_path / "missing")
    with pytest.raises(ParameterError, match="n_train"):
        random_sphere(3, 0)
    x, y = fake_images(10)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", x)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", y)
    with pytest.raises(ParameterError, match="n_train \\+ n_test"):
        mnist_parity(tmp_path, 3, 8, 5)


@needs_mnist
def test_real_mnist_test_split():
    d = mnist_parity(MNIST_DIR, dim=10, n_train=2000, n_test=1000, seed=0)
    assert d.x_train.shape == (2000, 10) and d.x_test.shape == (1000, 10)
    np.testing.assert_allclose(d.x_train.T @ d.x_train / 2000, np.eye(10), atol=1e-10)
    # odd digits in t10k: 1135 + 1010 + 892 + 1028 + 1009 (published per-class counts)
    _, labels = load_mnist_raw(MNIST_DIR)
    assert labels.shape == (10000,) and int(np.sum(labels % 2 == 1)) == 5074
