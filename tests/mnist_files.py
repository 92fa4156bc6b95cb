"""Where the raw MNIST files are, for the tests that compare against them: the directory named by
the environment variable ``DLBRIDGE_MNIST`` (``t10k-images-idx3-ubyte.gz`` and
``t10k-labels-idx1-ubyte.gz``), or None, and those tests are skipped."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def mnist_dir() -> Path | None:
    """The directory of ``DLBRIDGE_MNIST`` if it exists, else None."""
    value = os.environ.get("DLBRIDGE_MNIST", "")
    return Path(value) if value and Path(value).is_dir() else None


needs_mnist = pytest.mark.skipif(mnist_dir() is None,
                                 reason="DLBRIDGE_MNIST does not name a directory of MNIST files")
