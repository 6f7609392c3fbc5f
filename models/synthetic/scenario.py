"""Scenarios: a patient's initial state plus timed events, loaded from strict TOML.

A scenario is data, never code: files are parsed with `tomllib` and every key is checked
against a fixed table of names, types and physiological ranges, so a typo fails loudly with
the file, the event index and the key instead of silently producing a normal patient. After
the last event the final state persists forever, which is what unbounded streaming needs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from vigil.errors import ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

RHYTHMS = ("sinus", "brady", "tachy", "vt", "vf", "asystole")
"""Rhythm names. `brady`/`tachy` are sinus rhythm at the event's rate; the name is the
ground-truth episode label. `vt` runs ventricular beats at `rate`; `vf` and `asystole` have
no QRS complexes at all."""


@dataclass(frozen=True, slots=True)
class PhysioState:
    """Everything a scenario can set. Units: /min, %, mmHg, °C, mV (lead RMS), ohm."""

    rhythm: str = "sinus"
    rate: float = 72.0  # rate of the active pacemaker (/min): sinus node, or VT focus
    pvc_per_min: float = 0.0  # isolated PVCs per minute during sinus rhythm
    p_waves: bool = False  # asystole only: atria keep beating (P waves without QRS)
    spo2: float = 98.0
    resp_rate: float = 14.0
    apnea: bool = False
    nibp_sys: float = 120.0
    nibp_dia: float = 78.0
    temp_c: float = 36.8
    leads_off: tuple[bool, bool, bool] = (False, False, False)  # leads I, II, III
    probe_off: bool = False
    battery_pct: float = 100.0
    device_fault: bool = False
    baseline_mv: float = 0.08  # baseline wander, RMS per lead (0.05-0.5 Hz)
    emg_mv: float = 0.012  # muscle noise, RMS per lead (20-150 Hz)
    motion_mv: float = 0.0  # electrode-motion burst peak amplitude per lead
    motion_per_min: float = 0.0  # electrode-motion bursts per minute
    mains_mv: float = 0.005  # mains interference amplitude per lead
    mains_hz: int = 50
    pleth_noise: float = 0.004  # pleth RMS noise (a.u.)
    resp_noise_ohm: float = 0.01  # impedance RMS noise (ohm)


RAMPED = frozenset({"rate", "spo2", "resp_rate", "nibp_sys", "nibp_dia", "temp_c", "battery_pct"})
"""Keys that move linearly over an event's `ramp_s`; every other key steps at `at`."""

# key -> (kind, low, high); kind: "float" | "bool" | "rhythm" | "leads" | "mains"
_SPEC: dict[str, tuple[str, float, float]] = {
    "rhythm": ("rhythm", 0, 0),
    "rate": ("float", 20.0, 300.0),
    "pvc_per_min": ("float", 0.0, 30.0),
    "p_waves": ("bool", 0, 0),
    "spo2": ("float", 50.0, 100.0),
    "resp_rate": ("float", 4.0, 60.0),
    "apnea": ("bool", 0, 0),
    "nibp_sys": ("float", 40.0, 260.0),
    "nibp_dia": ("float", 20.0, 160.0),
    "temp_c": ("float", 30.0, 43.0),
    "leads_off": ("leads", 0, 0),
    "probe_off": ("bool", 0, 0),
    "battery_pct": ("float", 0.0, 100.0),
    "device_fault": ("bool", 0, 0),
    "baseline_mv": ("float", 0.0, 2.0),
    "emg_mv": ("float", 0.0, 1.0),
    "motion_mv": ("float", 0.0, 5.0),
    "motion_per_min": ("float", 0.0, 60.0),
    "mains_mv": ("float", 0.0, 2.0),
    "mains_hz": ("mains", 0, 0),
    "pleth_noise": ("float", 0.0, 0.5),
    "resp_noise_ohm": ("float", 0.0, 1.0),
}
assert set(_SPEC) == {f.name for f in fields(PhysioState)}

_TOP_KEYS = {"name", "description", "nibp_interval_s", "nibp_first_s", "initial", "event"}
MAX_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class Event:
    """At `at` seconds, set `changes`; ramped keys reach their value `ramp_s` later."""

    at: float
    changes: tuple[tuple[str, Any], ...]
    ramp_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named, validated timeline. NIBP is measured at `nibp_first_s` then every
    `nibp_interval_s` seconds."""

    name: str
    description: str
    initial: PhysioState
    events: tuple[Event, ...] = ()
    nibp_interval_s: float = 300.0
    nibp_first_s: float = 5.0
    source: str = "<python>"

    def __post_init__(self) -> None:
        _check_scenario(self)


def _fail(source: str, where: str, key: str, msg: str) -> ConfigError:
    return ConfigError(f"{source}: {where}, key '{key}': {msg}")


def _check_value(source: str, where: str, key: str, value: Any) -> Any:
    if key not in _SPEC:
        known = ", ".join(sorted(_SPEC))
        raise _fail(source, where, key, f"unknown key (known keys: {known})")
    kind, lo, hi = _SPEC[key]
    if kind == "bool":
        if not isinstance(value, bool):
            raise _fail(source, where, key, f"expected true or false, got {value!r}")
        return value
    if kind == "rhythm":
        if value not in RHYTHMS:
            raise _fail(source, where, key, f"expected one of {', '.join(RHYTHMS)}, got {value!r}")
        return value
    if kind == "mains":
        if isinstance(value, bool) or value not in (50, 60):
            raise _fail(source, where, key, f"expected 50 or 60, got {value!r}")
        return int(value)
    if kind == "leads":
        ok = isinstance(value, (list, tuple)) and len(value) == 3
        if not ok or not all(isinstance(v, bool) for v in value):
            raise _fail(
                source, where, key, f"expected 3 booleans for leads I, II, III, got {value!r}"
            )
        return tuple(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(source, where, key, f"expected a number, got {value!r}")
    if not lo <= value <= hi:
        raise _fail(source, where, key, f"{value!r} is outside [{lo:g}, {hi:g}]")
    return float(value)


def _number(source: str, where: str, key: str, value: Any, *, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(source, where, key, f"expected a number, got {value!r}")
    if not lo <= value <= hi:
        raise _fail(source, where, key, f"{value!r} is outside [{lo:g}, {hi:g}]")
    return float(value)


def _check_scenario(s: Scenario) -> None:
    """Re-validate values built in Python as strictly as those read from files."""
    src = s.source
    for f in fields(PhysioState):
        _check_value(src, "[initial]", f.name, getattr(s.initial, f.name))
    _number(src, "top level", "nibp_interval_s", s.nibp_interval_s, lo=30.0, hi=86400.0)
    _number(src, "top level", "nibp_first_s", s.nibp_first_s, lo=0.0, hi=86400.0)
    if len(s.events) > MAX_EVENTS:
        raise _fail(src, "top level", "event", f"more than {MAX_EVENTS} events")
    state = s.initial
    _check_pressures(src, "[initial]", state)
    prev_at = 0.0
    for i, ev in enumerate(s.events):
        where = f"event {i} (at={ev.at:g} s)"
        at = _number(src, f"event {i}", "at", ev.at, lo=0.0, hi=1e9)
        if at < prev_at:
            raise _fail(src, where, "at", f"events must be in time order; previous at={prev_at:g}")
        prev_at = at
        _number(src, where, "ramp_s", ev.ramp_s, lo=0.0, hi=86400.0)
        if not ev.changes:
            raise _fail(src, where, "at", "event changes nothing")
        for key, value in ev.changes:
            _check_value(src, where, key, value)
        state = replace(state, **dict(ev.changes))
        _check_pressures(src, where, state)


def _check_pressures(src: str, where: str, state: PhysioState) -> None:
    if state.nibp_dia >= state.nibp_sys:
        raise _fail(src, where, "nibp_dia", f"{state.nibp_dia:g} must be below nibp_sys")


def parse_scenario(data: dict[str, Any], source: str, default_name: str = "") -> Scenario:
    """Build a `Scenario` from parsed TOML, naming `source` in every error."""
    for key in data:
        if key not in _TOP_KEYS:
            raise _fail(
                source, "top level", key, f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})"
            )
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise _fail(source, "top level", "name", "expected a non-empty string")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail(source, "top level", "description", "expected a string")
    initial_raw = data.get("initial", {})
    if not isinstance(initial_raw, dict):
        raise _fail(source, "top level", "initial", "expected a table [initial]")
    initial = PhysioState(
        **{k: _check_value(source, "[initial]", k, v) for k, v in initial_raw.items()}
    )
    events_raw = data.get("event", [])
    if not isinstance(events_raw, list):
        raise _fail(source, "top level", "event", "expected an array of tables [[event]]")
    events = []
    for i, raw in enumerate(events_raw):
        if not isinstance(raw, dict):
            raise _fail(source, f"event {i}", "event", "expected a table")
        if "at" not in raw:
            raise _fail(source, f"event {i}", "at", "missing (seconds from start)")
        at = _number(source, f"event {i}", "at", raw["at"], lo=0.0, hi=1e9)
        where = f"event {i} (at={at:g} s)"
        ramp = _number(source, where, "ramp_s", raw.get("ramp_s", 0.0), lo=0.0, hi=86400.0)
        changes = tuple(
            (k, _check_value(source, where, k, v))
            for k, v in raw.items()
            if k not in ("at", "ramp_s")
        )
        events.append(Event(at=at, changes=changes, ramp_s=ramp))
    kwargs: dict[str, Any] = {}
    for key in ("nibp_interval_s", "nibp_first_s"):
        if key in data:
            kwargs[key] = _number(source, "top level", key, data[key], lo=0.0, hi=86400.0)
    return Scenario(name, description, initial, tuple(events), source=source, **kwargs)


def scenario_from_toml(text: str, source: str = "<string>", default_name: str = "") -> Scenario:
    """Parse scenario TOML text; syntax errors become `ConfigError` naming `source`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    return parse_scenario(data, source, default_name)


@functools.cache
def _builtins() -> tuple[Scenario, ...]:
    folder = resources.files(__package__).joinpath("scenarios")
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            stem = entry.name[: -len(".toml")]
            out.append(scenario_from_toml(entry.read_text("utf-8"), f"<builtin {stem}>", stem))
    return tuple(out)


def builtin_scenarios() -> dict[str, Scenario]:
    """The shipped scenarios by name (see docs/scenarios.md for their timelines)."""
    return {s.name: s for s in _builtins()}


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A built-in scenario by name, or a scenario TOML file by path."""
    builtins = builtin_scenarios()
    if isinstance(name_or_path, str) and name_or_path in builtins:
        return builtins[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(
            f"scenario {str(name_or_path)!r} is neither a built-in "
            f"({', '.join(sorted(builtins))}) nor a readable file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read scenario file: {exc}") from exc
    return scenario_from_toml(text, str(path), path.stem)
