"""A sweep's parameter grid and its runs: each side's parameters, validated specs and
computation (:data:`SWEEP_SIDES`), the canonical identity of a run, grids from TOML or the
command line (the format is in :mod:`dlbridge.workflow.sweep`)."""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import h5py

from packing.errors import ParameterError, require
from packing.jamming_runs import JamSpec


class RunFailure(RuntimeError):
    """A run that finished without a valid result (e.g. a net whose loss diverged)."""


SIDES = ("packing", "network", "regimes")
MAX_RUNS = 100_000
"""Most runs one sweep may have."""


# ------------------------------------------------------------------------------ parameters
def _packing_fields() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(JamSpec)) + ("seed", "seeds")


def _network_fields() -> tuple[str, ...]:
    from ..nets.runs import NetRunSpec

    return tuple(f.name for f in dataclasses.fields(NetRunSpec)) + ("seed", "seeds")


def _regime_fields() -> tuple[str, ...]:
    from ..nets.regimes import RegimeSpec

    return tuple(f.name for f in dataclasses.fields(RegimeSpec)) + ("seed", "seeds")


def _allowed(side: str) -> tuple[str, ...]:
    return SWEEP_SIDES[side].fields()


def _int_list(value, name: str) -> list[int]:
    vals = value if isinstance(value, (list, tuple)) else [value]
    require(len(vals) >= 1 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                   for v in vals), name, "integers >= 0", value)
    require(len(set(vals)) == len(vals), name, "distinct integers", value)
    return [int(v) for v in vals]


MAX_SEEDS = 100_000
"""Most seeds one ``seeds`` count may name."""


def seed_list(value, name: str = "seeds") -> list[int]:
    """The seeds ``value`` names, with the one meaning ``seeds`` has everywhere (as ``--seeds K``
    on the command line): an integer K is a count, the seeds 0 … K−1; a list names the seeds
    themselves (distinct integers >= 0)."""
    if isinstance(value, (list, tuple)):
        return _int_list(value, name)
    require(isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_SEEDS,
            name, f"a count K in [1, {MAX_SEEDS}] (the seeds 0 … K−1) or a list of seeds", value)
    return list(range(value))


def _net_seeds(p: dict) -> list[int]:
    """Seeds of a network or regimes run: ``seeds`` (a count or a list, :func:`seed_list`) or one
    ``seed``; default [0]."""
    require(not ("seed" in p and "seeds" in p), "seed/seeds", "one of the two, not both",
            (p.get("seed"), p.get("seeds")))
    if "seeds" in p:
        return seed_list(p.pop("seeds"))
    (seed,) = _int_list(p.pop("seed", 0), "seed")
    return [seed]


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _coerced_value(name: str, kind: str, v):
    """v cast to the field type ``kind`` (the dataclass annotation), else ParameterError: numbers
    for int and float fields (1 → 1.0, 12.0 → 12), True/False for bool fields, None where the
    annotation allows it."""
    if v is None and "None" in kind:
        return v
    if kind.startswith("bool"):
        require(isinstance(v, bool), name, "true or false", v)
    elif kind.startswith("float"):
        require(_is_number(v), name, "a number", v)
        return float(v)
    elif kind.startswith("int"):
        require(_is_number(v) and float(v).is_integer(), name, "an integer", v)
        return int(v)
    return v


def _coerced(cls, params: dict) -> dict:
    """Values cast to the dataclass field types, so that one run has one canonical spelling and a
    value of the wrong type (``n = "16"``, ``hessian = "no"``) is an error, not a guess."""
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    return {k: _coerced_value(k, types.get(k, ""), v) for k, v in params.items()}


def _validated_spec(cls, params: dict, side: str):
    """cls(**params) with numbers cast to its field types, validated; ParameterError otherwise."""
    try:
        spec = cls(**_coerced(cls, params))
    except TypeError as exc:
        raise ParameterError(f"{side} parameters: {exc}") from None
    spec.validate()
    return spec


def packing_spec(params: Mapping[str, Any]) -> tuple[JamSpec, int]:
    """(validated JamSpec, seed) of one packing run's parameters."""
    p = dict(params)
    require("seed" in p, "seed", "given for every packing run", "missing")
    (seed,) = _int_list(p.pop("seed"), "seed")
    for key in ("delta_phis", "pressures"):
        if key in p:
            v = p[key]
            p[key] = tuple(float(x) for x in (v if isinstance(v, (list, tuple)) else [v]))
    if p.get("shape") in ("disk", "sphere"):
        p["shape"] = None
    return _validated_spec(JamSpec, p, "packing"), seed


def network_spec(params: Mapping[str, Any]):
    """(validated NetRunSpec, seeds) of one network run's parameters."""
    from ..nets.runs import NetRunSpec

    p = dict(params)
    seeds = _net_seeds(p)
    return _validated_spec(NetRunSpec, p, "network"), seeds


def regime_spec(params: Mapping[str, Any]):
    """(validated RegimeSpec, seeds) of one regimes run's parameters (one width, its α list)."""
    from ..nets.regimes import RegimeSpec

    p = dict(params)
    seeds = _net_seeds(p)
    if "alphas" in p:
        v = p["alphas"]
        vals = v if isinstance(v, (list, tuple)) else [v]
        require(all(_is_number(a) for a in vals), "alphas", "a list of numbers", v)
        p["alphas"] = tuple(float(a) for a in vals)
    return _validated_spec(RegimeSpec, p, "regimes"), seeds


def _canonical(side: str, params: Mapping[str, Any]) -> dict:
    """The run's parameters as its validated spec spells them (the identity of a run)."""
    entry = SWEEP_SIDES[side]
    spec, seeds = entry.build(params)
    out = dataclasses.asdict(spec)
    out[entry.seed_key] = seeds
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of a sweep: its side and canonical parameters (JSON text, sorted keys)."""

    side: str
    params_json: str

    @property
    def params(self) -> dict:
        return json.loads(self.params_json)

    @property
    def key(self) -> str:
        """16 hex digits of SHA-256 over side and parameters."""
        text = json.dumps({"side": self.side, "params": self.params}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def file_name(self) -> str:
        return f"{self.side}-{self.key}.h5"


@dataclasses.dataclass(frozen=True)
class Grid:
    """A sweep definition: side, fixed parameters and swept axes (each a non-empty list)."""

    side: str
    fixed: Mapping[str, Any]
    axes: Mapping[str, Sequence[Any]]

    def __post_init__(self) -> None:
        require(self.side in SIDES, "side", f"one of {', '.join(SIDES)}", self.side)
        if self.side == "packing":
            self._packing_seeds_as_runs()
        allowed = _allowed(self.side)
        both = sorted(set(self.fixed) & set(self.axes))
        require(not both, "grid", "a parameter either fixed or swept, not both", both)
        for name in list(self.fixed) + list(self.axes):
            require(name in allowed, "parameter",
                    f"one of the {self.side} parameters {', '.join(allowed)}", name)
        for name, values in self.axes.items():
            require(isinstance(values, (list, tuple)) and len(values) >= 1, f"grid.{name}",
                    "a non-empty list of values", values)
        size = math.prod(len(v) for v in self.axes.values())
        require(size <= MAX_RUNS, "grid", f"at most {MAX_RUNS} runs (the product of the axes' "
                "lengths)", size)

    def _packing_seeds_as_runs(self) -> None:
        """A packing grid's fixed ``seeds`` (a count or a list, :func:`seed_list`) become the
        axis ``seed``: one run per seed, as ``packing jam --seeds K`` jams K seeds."""
        if "seeds" not in self.fixed and "seeds" not in self.axes:
            return
        require("seeds" not in self.axes, "grid.seeds",
                "fixed for packings (a count or a list; one run per seed), not swept",
                self.axes.get("seeds"))
        require("seed" not in self.fixed and "seed" not in self.axes, "seed/seeds",
                "one of the two, not both", (self.fixed.get("seed"), self.fixed["seeds"]))
        fixed = {k: v for k, v in self.fixed.items() if k != "seeds"}
        object.__setattr__(self, "axes", {**self.axes, "seed": seed_list(self.fixed["seeds"])})
        object.__setattr__(self, "fixed", fixed)

    def runs(self) -> list[Run]:
        """Every run of the grid, validated (ParameterError before any work), duplicates merged."""
        names = list(self.axes)
        seen: dict[str, Run] = {}
        for values in itertools.product(*(self.axes[n] for n in names)):
            params = dict(self.fixed)
            params.update(zip(names, values))
            run = Run(self.side, json.dumps(_canonical(self.side, params), sort_keys=True))
            seen.setdefault(run.key, run)
        return list(seen.values())

    def to_json(self) -> str:
        return json.dumps({"side": self.side, "fixed": dict(self.fixed),
                           "grid": {k: list(v) for k, v in self.axes.items()}}, sort_keys=True)


def parse_value(text: str) -> Any:
    """A command-line value: JSON (numbers, true/false, [lists], "strings") or a bare string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_axis(text: str) -> list:
    """Values of a swept parameter: a JSON list, ``a:b`` (the integers a … b−1) or v1,v2,…"""
    t = text.strip()
    if t.startswith("["):
        v = parse_value(t)
        require(isinstance(v, list), "--grid", "a JSON list, a:b or comma-separated values", text)
        return v
    m = re.fullmatch(r"(\d+):(\d+)", t)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        require(hi - lo <= MAX_RUNS, "--grid", f"a range a:b of at most {MAX_RUNS} values", text)
        return list(range(lo, hi))
    return [parse_value(x) for x in t.split(",") if x != ""]


def _key_value(item: str, option: str) -> tuple[str, str]:
    require("=" in item and item.split("=", 1)[0].strip() != "", option, "KEY=VALUE", item)
    k, v = item.split("=", 1)
    return k.strip(), v


def load_grid(path: str | os.PathLike | None = None, side: str | None = None,
              fixed: Sequence[str] = (), axes: Sequence[str] = (),
              default_side: str | None = None) -> Grid:
    """The :class:`Grid` of a TOML file (optional) completed by ``KEY=VALUE`` items; its side is
    ``side``, else the file's ``side =``, else ``default_side``."""
    import tomllib

    doc: dict = {}
    if path is not None:
        p = Path(path)
        require(p.is_file(), "grid file", "an existing TOML file", str(p))
        try:
            doc = tomllib.loads(p.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ParameterError(f"grid file {str(p)!r} is not valid TOML: "
                                 f"{str(exc).splitlines()[0]}") from None
        extra = sorted(set(doc) - {"side", "fixed", "grid"})
        require(not extra, "grid file", "the keys side, [fixed] and [grid] only", extra)
    fx = dict(doc.get("fixed", {}))
    ax = {k: v for k, v in doc.get("grid", {}).items()}
    given: set[str] = set()
    for item in fixed:
        k, v = _key_value(item, "--fixed")
        require(k not in given, "--fixed", "each key once", k)
        given.add(k)
        vals = parse_axis(v) if "," in v and not v.strip().startswith("[") else [parse_value(v)]
        fx[k] = vals if len(vals) > 1 else vals[0]
    for item in axes:
        k, v = _key_value(item, "--grid")
        require(k not in given, "--grid", "each key once (and not also in --fixed)", k)
        given.add(k)
        ax[k] = parse_axis(v)
    s = side if side is not None else doc.get("side", default_side)
    require(s is not None, "side", f"given (--side or side = in the grid file): {SIDES}", s)
    return Grid(s, fx, ax)


def _packing_compute(params: Mapping[str, Any], runs_group: h5py.Group) -> tuple[int, int]:
    """One packing seed: (states, states whose FIRE stopped by its step budget)."""
    from packing.jamming_runs import jam_one_seed, write_seed

    spec, seed = packing_spec(params)
    result = jam_one_seed(spec, seed)
    write_seed(runs_group, spec, result)
    return len(result.states), sum(not r.converged for _, r in result.states)


def _network_compute(params: Mapping[str, Any], runs_group: h5py.Group) -> tuple[int, int]:
    """One width of nets: (states, nets stopped by the budget or stalled); RunFailure when a
    net diverged."""
    from ..nets.runs import describe_diverged, split_diverged, train_width, write_nets

    spec, seeds = network_spec(params)
    data = spec.load_data()
    good, bad = split_diverged(train_width(spec, seeds, data))
    if bad:
        raise RunFailure(describe_diverged(bad))
    write_nets(runs_group, spec, good, data)
    return len(good), sum(not r.converged for r in good)


def _regime_compute(params: Mapping[str, Any], runs_group: h5py.Group) -> tuple[int, int]:
    """One width at every α of the run: (states, nets not fitted); RunFailure when a net
    diverged."""
    from ..nets.regimes import train_regime, write_regime

    spec, seeds = regime_spec(params)
    data = spec.load_data()
    nets = train_regime(spec, seeds, data)
    bad = [n.result for n in nets if n.result.stop_reason == "diverged"]
    if bad:
        from ..nets.runs import describe_diverged

        raise RunFailure(describe_diverged(bad))
    write_regime(runs_group, spec, nets, data)
    return len(nets), sum(not n.result.fitted for n in nets)


def _network_device(params: Mapping[str, Any]) -> str:
    from ..nets.runs import device_name

    return device_name(params.get("device", "cpu"))


def _cpu_device(params: Mapping[str, Any]) -> str:
    from packing.io import cpu_device_name

    return cpu_device_name()


@dataclasses.dataclass(frozen=True)
class SweepSide:
    """What a sweep does with one side's runs: its parameter names, how parameters become a
    validated (spec, seeds), the key its seeds are stored under, the computation and the
    device it names."""

    fields: Callable[[], tuple[str, ...]]
    build: Callable[[Mapping[str, Any]], tuple[Any, Any]]
    seed_key: str
    compute: Callable[[Mapping[str, Any], h5py.Group], tuple[int, int]]
    device: Callable[[Mapping[str, Any]], str]


SWEEP_SIDES = {
    "packing": SweepSide(_packing_fields, packing_spec, "seed", _packing_compute, _cpu_device),
    "network": SweepSide(_network_fields, network_spec, "seeds", _network_compute,
                         _network_device),
    "regimes": SweepSide(_regime_fields, regime_spec, "seeds", _regime_compute, _network_device),
}
