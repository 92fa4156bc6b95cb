"""Every dataset the commands write explains itself: units, description and one dimension name
per axis, from packing.schema, whose rendering is docs/schema.md."""
from __future__ import annotations

from pathlib import Path

import h5py
import pytest

from dlbridge.cli import main as dlbridge
from dlbridge.nets.regimes import RegimeSpec, train_regime, write_regime
from packing.io import atomic_h5
from packing.jamming_runs import JamSpec, jam_to_file
from packing.schema import SCHEMA_COMMAND, schema_markdown

ROOT = Path(__file__).resolve().parent.parent


def _undocumented(path: Path) -> list[str]:
    bad = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            a = obj.attrs
            ok = (isinstance(a.get("units"), str) and a["units"]
                  and isinstance(a.get("description"), str) and len(a["description"]) > 10
                  and "dims" in a and len(a["dims"]) == obj.ndim)
            if not ok:
                bad.append(f"{path.name}:{name}")

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return bad


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One file of each writer: discs and ellipses with Hessians, nets with Hessians, a regimes
    run, a merged packing sweep."""
    d = tmp_path_factory.mktemp("files")
    jam_to_file(JamSpec(n=32, delta_phis=(1e-3,), hessian=True), [0], str(d / "discs.h5"),
                False, "test", progress=False)
    jam_to_file(JamSpec(n=32, shape="ellipse", aspect=1.5, delta_phis=(1e-3,)), [0],
                str(d / "ellipses.h5"), False, "test", progress=False)
    assert dlbridge(["train", "--dataset", "random", "--dim", "4", "--n-train", "30",
                     "--n-test", "10", "--widths", "3", "--seeds", "1", "--steps", "2000",
                     "--hessian", "--device", "cpu", "--quiet", "--out", str(d / "nets.h5")]) \
        in (0, 3)
    spec = RegimeSpec(n_train=16, n_test=20, n_probe=10, width=4, alphas=(1.0,), steps=500,
                      device="cpu")
    data = spec.load_data()
    with atomic_h5(d / "regimes.h5") as f:
        write_regime(f.create_group("runs"), spec, train_regime(spec, [0], data), data)
    assert dlbridge(["sweep", "--side", "packing", "--fixed", "n=32", "delta_phis=1e-3",
                     "--grid", "seed=0:2", "--executor", "serial", "--quiet",
                     "--out", str(d / "sweep"), "--merge", str(d / "merged.h5")]) == 0
    return sorted(d.glob("*.h5"))


def test_every_dataset_of_every_written_file_is_documented(written):
    assert [p.name for p in written] == ["discs.h5", "ellipses.h5", "merged.h5", "nets.h5",
                                         "regimes.h5"]
    bad = [entry for p in written for entry in _undocumented(p)]
    assert not bad, bad


def test_the_embedded_data_file_is_documented():
    from dlbridge.nets.data import EMBEDDED_PATH

    assert _undocumented(Path(EMBEDDED_PATH)) == []


def test_two_datasets_of_one_length_keep_distinct_dimension_names(written):
    with h5py.File(written[0], "r") as f:
        g = next(g for g in f["runs"].values())
        state = next(iter(next(iter(g.values())).values()))
        dims = {name: tuple(state[name].attrs["dims"]) for name in state}
    assert dims["contacts"][0] == "contact" and dims["hessian_eigenvalues"] == ("mode",)
    assert dims["positions"] == ("particle", "axis") and dims["gaps"] == ("pair",)


def test_docs_schema_is_the_rendered_table():
    text = (ROOT / "docs" / "schema.md").read_text()
    assert text == schema_markdown(), f"regenerate with: {SCHEMA_COMMAND}"
