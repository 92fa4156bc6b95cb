"""The demo's stages: the command line each one shows (and stores as provenance) runs what the
demo runs. Nothing is computed here; the end-to-end demo is tests/test_demo.py (slow)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize("size", ["small", "default"])
def test_the_shown_commands_run_what_the_demo_runs(tmp_path, size):
    """Each stage's command line, parsed by its own command, gives the spec, seeds and widths the
    demo hands to the library (the command line is what the files store as their provenance)."""
    from dlbridge.cli import build_parser as dl_parser
    from dlbridge.nets.command import _run_spec, _validate_train
    from dlbridge.workflow.demo import SIZES, stages
    from packing.cli import build_parser as pk_parser
    from packing.cli import jam_spec

    discs, ellipses, nets, comparison, regimes = stages(SIZES[size], tmp_path, True, False)
    for st in (discs, ellipses):
        args = pk_parser().parse_args(list(st.argv))
        spec, seeds = st.run.args[:2]
        assert jam_spec(args) == spec and list(seeds) == list(range(args.seeds))
    args = dl_parser(list(nets.argv)).parse_args(list(nets.argv))
    spec, widths, seeds = nets.run.args[:3]
    assert _run_spec(args) == spec
    assert _validate_train(args) == widths and list(seeds) == list(range(args.seeds))
    args = dl_parser(list(comparison.argv)).parse_args(list(comparison.argv))
    assert [str(p) for p in comparison.run.args[0]] == args.files
    assert comparison.run.keywords["n_bootstrap"] == args.bootstrap
    args = dl_parser(list(regimes.argv)).parse_args(list(regimes.argv))
    assert regimes.run.args[:3] == (args.scale, Path(args.out), args.overwrite)
    assert (regimes.run.args[4], regimes.run.args[5]) == (args.executor, args.workers)
