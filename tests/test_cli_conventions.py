"""What both command-line tools share: --version, a --help for every subcommand, and a packing
side that runs where torch cannot be imported."""
from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys

import pytest

from dlbridge import cli as dl_cli
from dlbridge.workflow import packing_entry
from packing import cli as pk_cli
from packing.io import package_version


def _subcommands(build) -> tuple[str, ...]:
    """The subcommand names a parser registers, read from the parser itself."""
    (action,) = (a for a in build()._actions if isinstance(a, argparse._SubParsersAction))
    return tuple(action.choices)


PARSERS = {prog: (build, _subcommands(build))
           for prog, build in (("packing", packing_entry.build_parser),
                               ("dlbridge", dl_cli.build_parser))}


NO_TORCH = (
    "import sys\n"
    "class NoTorch:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.partition('.')[0] == 'torch':\n"
    "            raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n"
    "sys.meta_path.insert(0, NoTorch())\n")
"""A finder first on sys.meta_path: every `import torch` fails as on a torch-free install."""


def _parse(build, argv) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        build().parse_args(argv)
    return stop.value.code, out.getvalue()


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_version_names_the_installed_distribution(prog):
    code, text = _parse(PARSERS[prog][0], ["--version"])
    assert code == 0 and text.strip() == f"{prog} {package_version()}"
    assert package_version() != "unknown"


@pytest.mark.parametrize("prog, sub", [(p, s) for p, (_, subs) in PARSERS.items() for s in subs])
def test_every_subcommand_has_a_help_with_a_description(prog, sub):
    code, text = _parse(PARSERS[prog][0], [sub, "--help"])
    assert code == 0 and text.startswith(f"usage: {prog} {sub}")
    description = text.split("\n\n")[1]
    assert not description.startswith(("options:", "positional arguments:")), text


def test_packing_jam_and_export_run_where_torch_cannot_be_imported(tmp_path):
    """A finder first on sys.meta_path makes every `import torch` fail, as on a torch-free
    install."""
    out, xyz = tmp_path / "j.h5", tmp_path / "j.xyz"
    script = NO_TORCH + (
        "from dlbridge.workflow.packing_entry import main\n"   # the `packing` console script
        f"assert main(['jam', '--n', '32', '--delta-phi', '1e-4', '--no-progress',\n"
        f"             '--out', {str(out)!r}]) == 0\n"
        f"assert main(['export', {str(out)!r}, '--out', {str(xyz)!r}]) == 0\n"
        "assert 'torch' not in sys.modules\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert xyz.read_text().startswith("32\n")


@pytest.mark.parametrize("prog, sub", [(p, s) for p, (_, subs) in PARSERS.items() for s in subs])
def test_quiet_and_verbose_are_one_pair_of_flags_on_every_subcommand(prog, sub):
    """-q/--quiet and -v/--verbose on every subcommand of both tools, exclusive of each other,
    mapped to the logging levels of packing.logs.VERBOSITY."""
    import logging

    from packing.logs import verbosity_level

    build = PARSERS[prog][0]
    _, text = _parse(build, [sub, "--help"])
    assert "-q, --quiet" in text and "-v, --verbose" in text
    action = next(a for a in build()._actions if isinstance(a, argparse._SubParsersAction))
    options = action.choices[sub]._option_string_actions
    for flag, level in (("-q", logging.WARNING), ("--verbose", logging.DEBUG)):
        assert verbosity_level(argparse.Namespace(**{options[flag].dest: True})) == level
    assert verbosity_level(argparse.Namespace(quiet=False, verbose=False)) == logging.INFO
    (group,) = [g for g in action.choices[sub]._mutually_exclusive_groups
                if options["-q"] in g._group_actions]
    assert options["-v"] in group._group_actions


def test_no_progress_stays_the_quiet_of_packing_jam():
    assert pk_cli.build_parser().parse_args(["jam", "--no-progress", "--out", "x.h5"]).quiet


def test_messages_follow_the_verbosity(tmp_path, capsys):
    """Default: INFO lines bare on stderr, no DEBUG; -v: DEBUG lines prefixed by the program
    and level; -q: warnings only. Results stay on stdout in all three."""
    argv = ["sweep", "--fixed", "dim=2", "n=16", "delta_phis=1e-3", "--grid", "seed=0:2",
            "--executor", "serial", "--out", str(tmp_path / "runs")]
    err = {}
    for flag in ("", "-v", "-q"):
        assert packing_entry.main(argv + ([flag] if flag else []) + ["--retry-failed"]) == 0
        err[flag] = capsys.readouterr().err.splitlines()
    assert any(ln.startswith("sweep: 2 runs") for ln in err[""])
    assert not any(": debug: " in ln for ln in err[""])
    jam_debug = "packing jam: debug: "
    assert packing_entry.main(["jam", "--n", "16", "--seeds", "2", "--delta-phi", "1e-3", "-v",
                               "--out", str(tmp_path / "j.h5")]) == 0
    out = capsys.readouterr()
    debug = [ln for ln in out.err.splitlines() if ln.startswith(jam_debug)]
    assert len(debug) == 4 and "φ_J = " in debug[0] and "FIRE steps" in debug[1]
    assert "wrote 2 states" in out.out and "wrote" not in out.err
    assert err["-q"] == []


def test_library_messages_reach_an_application_through_logging(caplog):
    """Imported as a library, the package logs to the standard loggers and writes nothing to
    stderr itself: an application's handlers (here pytest's) receive the records."""
    import logging

    from packing.jamming_runs import JamSpec, jam_one_seed

    with caplog.at_level(logging.DEBUG, logger="packing"):
        jam_one_seed(JamSpec(dim=2, n=16, delta_phis=(1e-3,)), 0)
    names = {r.name for r in caplog.records}
    assert names == {"packing.jamming_runs"} and len(caplog.records) == 2


def test_progress_bars_stay_silent_in_a_log_file(tmp_path):
    """stderr redirected to a file (not a TTY): no bar, only the command's own lines."""
    log = tmp_path / "log.txt"
    with open(log, "w") as fh:
        res = subprocess.run([sys.executable, "-m", "packing.cli", "jam", "--n", "32", "--seeds",
                              "2", "--delta-phi", "1e-3", "--out", str(tmp_path / "j.h5")],
                             stderr=fh, stdout=subprocess.PIPE, text=True)
    assert res.returncode == 0
    assert log.read_text() == ""


def test_sweep_help_lists_the_sides_and_executors():
    from dlbridge.workflow.grid import SIDES
    from dlbridge.workflow.sweep import EXECUTORS

    _, text = _parse(PARSERS["dlbridge"][0], ["sweep", "--help"])
    assert "{" + ",".join(SIDES) + "}" in text and "{" + ",".join(EXECUTORS) + "}" in text


def test_results_go_to_stdout_and_warnings_to_stderr(tmp_path, capsys):
    """packing jam and dlbridge train: the summary of what was written on stdout, nothing but
    warnings on stderr (the nets here stop at their step budget: a warning, exit 3)."""
    assert pk_cli.main(["jam", "--n", "32", "--delta-phi", "1e-3", "--quiet",
                        "--out", str(tmp_path / "j.h5")]) == 0
    jam = capsys.readouterr()
    assert "wrote 1 states" in jam.out and jam.err == ""
    assert dl_cli.main(["train", "--dataset", "random", "--dim", "4", "--n-train", "20",
                        "--widths", "3", "--seeds", "1", "--steps", "50", "--device", "cpu",
                        "--quiet", "--out", str(tmp_path / "n.h5")]) == 3
    train = capsys.readouterr()
    assert "nets ->" in train.out
    assert "nets ->" not in train.err and "reached no minimum" in train.err


@pytest.mark.parametrize("prog, sub", [(p, s) for p, (_, subs) in PARSERS.items() for s in subs])
def test_every_option_with_a_default_says_it_in_help(prog, sub):
    import argparse

    parser = PARSERS[prog][0]()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    subparser = action.choices[sub]
    formatter = subparser._get_formatter()
    for a in subparser._actions:
        if a.option_strings and a.default not in (None, False, argparse.SUPPRESS, [], ()):
            assert "default" in formatter._get_help_string(a), (sub, a.option_strings)


def test_without_torch_the_network_commands_say_what_to_install(tmp_path):
    script = NO_TORCH + (
        "from dlbridge.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    run = lambda *a: subprocess.run([sys.executable, "-c", script, *a], capture_output=True,
                                    text=True)
    res = run("train", "--dataset", "random", "--out", str(tmp_path / "n.h5"))
    assert res.returncode == 2 and not (tmp_path / "n.h5").exists()
    assert res.stderr.startswith("dlbridge train: error: this command needs torch, which is not "
                                 "installed: pip install 'jamming-bridge[nets]'"), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    listing = run("--help")
    assert listing.returncode == 0 and "compare" in listing.stdout and "needs torch" in \
        listing.stdout
    assert run("compare", "--help").returncode == 0
