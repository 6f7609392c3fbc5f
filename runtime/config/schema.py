"""vigil.toml described once: every section and key with its type, default, unit, range and help.

Three things read this tree, so they cannot disagree: the loader (load.py) validates a file
against it and refuses unknown keys, the example (example.py) prints every option with its
default and help, and a test parses that example back to exactly these defaults. Defaults are
read from the settings dataclasses themselves (`ArrhythmiaSettings()`, `AlarmPolicy()`, ...),
so the Python API and the file agree too.

The values a file produces are the frozen dataclasses at the top of this module; the spec
elements (`Number`, `Flag`, `Text`, `PathOption`, `Choices`, `Table`, `KindMap`,
`TableArray`) follow, then the tree itself (`DOCUMENT`).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vigil.artifacts import MANIFEST
from vigil.firmware_bridge.protocol import NUMERIC_FIELDS
from vigil.runtime.alarms.policy import BREAKTHROUGH_POLICIES, NEVER_DELAYED, AlarmPolicy
from vigil.runtime.analysis.condition import CONDITION_KINDS, Category, ConditionKind, Priority
from vigil.runtime.analysis.news2 import CONSCIOUSNESS
from vigil.runtime.analysis.settings import (
    DEFAULT_LIMITS,
    AnalysisSettings,
    ArrhythmiaSettings,
    ModelSettings,
    News2Settings,
    RespirationSettings,
)
from vigil.runtime.artifact_loader import BACKEND_KINDS
from vigil.runtime.control_paths import default_control_socket

# -- what a configuration file produces ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BedConfig:
    """One monitor: where to read it and how to analyse it. `analysis.bed` is always `name`
    (set here when the analysis settings were built for another name)."""

    name: str
    port: str  # device path, /dev/serial/by-id/... link, or pyserial URL; opened by the runtime
    baudrate: int = 115200
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)

    def __post_init__(self) -> None:
        if self.analysis.bed != self.name:
            object.__setattr__(self, "analysis", replace(self.analysis, bed=self.name))


@dataclass(frozen=True, slots=True)
class JournalConfig:
    path: Path = Path("vigil-journal.db")  # in a file: relative to the file's folder
    numerics_retention_days: float = 30.0


@dataclass(frozen=True, slots=True)
class SinksConfig:
    jsonl: Path | None = None  # JSON Lines alarm log; in a file: relative to its folder
    device: bool = True  # send ALARM messages back to each bed's monitor


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    control_socket: Path = field(default_factory=default_control_socket)
    queue_records: int = 4096  # bounded queue per bed between the reader and the analysis
    link_lost_s: float = 3.0  # no byte this long (or the port gone) -> "link lost"
    crc_burst_errors: int = 5  # this many CRC/corrupt frames ...
    crc_burst_window_s: float = 10.0  # ... within this window -> technical alarm
    inference_timeout_s: float = 0.5
    log_level: str = "info"  # debug | info | warning | error
    analysis_processes: int = 1  # 1: analyse in the runtime's process; N > 1: N workers; 0: cores


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    path: Path | None  # the file it came from (None: built in Python)
    runtime: RuntimeSettings
    journal: JournalConfig
    alarms: AlarmPolicy
    sinks: SinksConfig
    beds: tuple[BedConfig, ...]


# -- spec elements ---------------------------------------------------------------------------


class Invalid(Exception):
    """A value is wrong. The loader prefixes the file and key (`at`, or the key being read)."""

    def __init__(self, message: str, at: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.at = at


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""Default of a key that has none: the file must give it."""


@dataclass(frozen=True)
class Context:
    """What validating one document needs besides the raw values."""

    source: str  # the file, as errors name it
    base_dir: Path  # relative paths resolve against it
    kinds: frozenset[str]  # condition kinds alarm keys may name (built-ins + detectors)
    doc: dict[str, Any] = field(default_factory=dict)  # top-level sections read so far


@dataclass(frozen=True, slots=True)
class Option:
    """One key holding a value. Subclasses know their type: how to check and print it."""

    name: str
    help: str
    default: Any = REQUIRED
    example: Any = None  # shown, commented out, when there is no default value to show
    factory: Callable[[], Any] | None = None  # a default computed at load time

    def parse(self, raw: Any, ctx: Context) -> Any:
        raise NotImplementedError

    def default_value(self, ctx: Context) -> Any:
        return self.factory() if self.factory is not None else self.default

    def describe(self) -> str:
        """Type, range or choices in words, for the example's comments."""
        return ""

    def toml(self, value: Any) -> str | None:
        """`value` as TOML, or None when it cannot be written (shown commented out)."""
        return None if value is None or value is REQUIRED else toml_value(value)


@dataclass(frozen=True, slots=True)
class Number(Option):
    """A number in [lo, hi] (`unit` in messages). `integer`: whole numbers only.
    `zero_is_none`: 0 in the file means None ("never"). `off_is_none`: "off" means None."""

    unit: str = ""
    lo: float = -math.inf
    hi: float = math.inf
    integer: bool = False
    zero_is_none: bool = False
    off_is_none: bool = False

    def parse(self, raw: Any, ctx: Context) -> Any:
        if self.off_is_none and raw == "off":
            return None
        if self.zero_is_none and _is_number(raw) and raw == 0:
            return None
        if self.integer and not (isinstance(raw, int) and not isinstance(raw, bool)):
            raise Invalid(f"expected a whole number{self._hint()}, got {show(raw)}")
        if not _is_number(raw) or not math.isfinite(raw):
            raise Invalid(f"expected a number{self._hint()}, got {show(raw)}")
        if not self.lo <= raw <= self.hi:
            never = " (or 0: never)" if self.zero_is_none else ""
            raise Invalid(f"{self.with_unit(raw)} is outside {self.range_text()}{never}")
        return int(raw) if self.integer else float(raw)

    def with_unit(self, value: float) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{_num(value)}{unit}"

    def range_text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if math.isfinite(self.lo) and math.isfinite(self.hi):
            return f"{_num(self.lo)}-{_num(self.hi)}{unit}"
        if math.isfinite(self.lo):
            return f">= {_num(self.lo)}{unit}"
        return f"<= {_num(self.hi)}{unit}" if math.isfinite(self.hi) else "any number"

    def _hint(self) -> str:
        off = ' or "off"' if self.off_is_none else ""
        return f" ({self.range_text()}){off}"

    def describe(self) -> str:
        text = "Whole number" if self.integer else "Number"
        if math.isfinite(self.lo) or math.isfinite(self.hi):
            text += f", {self.range_text()}"
        if self.zero_is_none:
            text += "; 0 = never"
        if self.off_is_none:
            text += '; "off" = no limit'
        return text + "."

    def toml(self, value: Any) -> str | None:
        if value is None and self.zero_is_none:
            return "0"
        if value is None and self.off_is_none:
            return '"off"'
        return Option.toml(self, value)


@dataclass(frozen=True, slots=True)
class Flag(Option):
    def parse(self, raw: Any, ctx: Context) -> Any:
        if not isinstance(raw, bool):
            raise Invalid(f"expected true or false, got {show(raw)}")
        return raw

    def describe(self) -> str:
        return "true or false."


@dataclass(frozen=True, slots=True)
class Text(Option):
    """A string: one of `choices` when given; `check` may refuse it (raise Invalid)."""

    choices: tuple[str, ...] = ()
    check: Callable[[str], None] | None = None

    def parse(self, raw: Any, ctx: Context) -> Any:
        if not isinstance(raw, str) or not raw.strip():
            raise Invalid(f"expected a non-empty string, got {show(raw)}")
        if self.choices and raw not in self.choices:
            raise Invalid(f"expected one of {_listing(self.choices)}, got {show(raw)}")
        if self.check is not None:
            self.check(raw)
        return raw

    def describe(self) -> str:
        return f"One of {_listing(self.choices)}." if self.choices else ""


@dataclass(frozen=True, slots=True)
class Choices(Option):
    """A list of distinct strings from `choices` (`allow_empty`: [] is allowed)."""

    choices: tuple[str, ...] = ()
    allow_empty: bool = False

    def parse(self, raw: Any, ctx: Context) -> Any:
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            raise Invalid(
                f"expected a list of strings from {_listing(self.choices)}, got {show(raw)}"
            )
        if not raw and not self.allow_empty:
            raise Invalid(f"expected at least one of {_listing(self.choices)}")
        for value in raw:
            if value not in self.choices:
                raise Invalid(f"{show(value)} is not one of {_listing(self.choices)}")
        if len(set(raw)) != len(raw):
            raise Invalid(f"{show(raw)} names an entry twice")
        return tuple(raw)

    def describe(self) -> str:
        return f"A list from {_listing(self.choices)}."


@dataclass(frozen=True, slots=True)
class PathOption(Option):
    """A file or folder; relative paths resolve against the configuration file's folder.
    `artifact`: must be a model artifact folder. `parent_must_exist`: its folder must exist.
    `check` may refuse the resolved path (raise Invalid)."""

    artifact: bool = False
    parent_must_exist: bool = False
    check: Callable[[Path], None] | None = None

    def parse(self, raw: Any, ctx: Context) -> Any:
        if not isinstance(raw, str) or not raw.strip():
            raise Invalid(f"expected a path (a non-empty string), got {show(raw)}")
        path = _resolve(Path(raw).expanduser(), ctx.base_dir)
        if self.artifact:
            if not path.is_dir():
                raise Invalid(f"{path} does not exist (a model artifact folder from vigil export)")
            if not (path / MANIFEST).is_file():
                raise Invalid(f"{path} is not a model artifact: it has no {MANIFEST}")
        if self.parent_must_exist and not path.parent.is_dir():
            raise Invalid(f"folder {path.parent} does not exist (create it, or choose another)")
        if self.check is not None:
            self.check(path)
        return path

    def default_value(self, ctx: Context) -> Any:
        value = Option.default_value(self, ctx)
        return _resolve(value, ctx.base_dir) if isinstance(value, Path) else value


@dataclass(frozen=True, slots=True)
class Table:
    """A table of fixed keys: options and nested tables, in the order the example shows.
    `inherit`: its defaults are the values of that top-level table (a per-bed override).
    `commented`: shown commented out in the example (an optional override).
    `check(values, at)` is a rule across keys; it raises Invalid."""

    name: str
    help: str
    items: tuple[Option | Table | KindMap | TableArray, ...]
    check: Callable[[dict[str, Any], str], None] | None = None
    inherit: str = ""
    commented: bool = False


@dataclass(frozen=True, slots=True)
class KindMap:
    """A table whose keys are condition kinds, each holding a `value` option.
    `check(kind, value)` may refuse an entry (raise Invalid); `examples` are shown
    commented out."""

    name: str
    help: str
    value: Option
    check: Callable[[str, Any], None] | None = None
    examples: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class TableArray:
    """An array of tables ([[bed]]). `examples` are shown in full, `brief` as their keys only;
    `commented`: all of it commented out. `check(values, at)` is a rule across entries."""

    name: str
    table: Table
    min_items: int = 0
    missing: str = ""  # the error when fewer than min_items
    check: Callable[[list[dict[str, Any]], str], None] | None = None
    examples: tuple[Mapping[str, Any], ...] = ()
    brief: tuple[Mapping[str, Any], ...] = ()
    commented: bool = False


# -- checks that go beyond one value's type and range ----------------------------------------

SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes, one of them the terminating NUL


def _socket_path_fits(path: Path) -> None:
    size = len(os.fsencode(str(path)))
    if size > SOCKET_PATH_MAX:
        raise Invalid(
            f"{path} is {size} bytes; a Unix socket path holds at most {SOCKET_PATH_MAX}: "
            "choose a shorter one"
        )


def _bed_name(name: str) -> None:
    if not name or name != name.strip() or len(name) > 64 or not name.isprintable():
        raise Invalid(
            f"{show(name)} is not a bed name: use 1-64 printable characters, no surrounding spaces"
        )


def url_schemes() -> tuple[str, ...]:
    """The URL schemes pyserial's installed handlers accept (socket, rfc2217, loop, ...)."""
    import serial

    found = set()
    for package in serial.protocol_handler_packages:
        try:
            module = importlib.import_module(package)
        except ImportError:
            continue
        for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
            if info.name.startswith("protocol_"):
                try:  # a handler whose own dependency is missing (cp2110: hid) is no choice
                    importlib.import_module(f"{package}.{info.name}")
                except ImportError:
                    continue
                found.add(info.name.removeprefix("protocol_"))
    return tuple(sorted(found))


def check_port(port: str) -> None:
    """A device path or a pyserial URL whose scheme a handler knows and whose address parses.
    Nothing is opened: the monitor may be unplugged while the file is checked."""
    if not port or port != port.strip():
        raise Invalid(f"{show(port)} is not a port: give a device path or a pyserial URL")
    if "://" not in port:
        return
    import serial

    scheme = port.split("://", 1)[0].lower()
    handler = None
    for package in serial.protocol_handler_packages:
        try:
            importlib.import_module(package)
            handler = importlib.import_module(f".protocol_{scheme}", package)
            break
        except ImportError:
            continue
    if handler is None:
        raise Invalid(
            f"{show(port)}: pyserial knows no URL scheme {show(scheme)} "
            f"(known: {', '.join(url_schemes())})"
        )
    if hasattr(handler, "serial_class_for_url"):
        return  # hwgrep://, alt://: resolved against the system when opened, not here
    try:
        instance = serial.serial_for_url(port, do_not_open=True)
        if hasattr(instance, "from_url"):
            instance.from_url(port)  # parses host:port and options without connecting
    except (ValueError, serial.SerialException) as exc:  # pyserial's own explanation
        raise Invalid(f"{show(port)} is not a valid {scheme}:// URL: {exc}") from None
    except (TypeError, AttributeError):  # a half-written URL trips pyserial's parser
        raise Invalid(f"{show(port)} is not a valid {scheme}:// URL") from None


def _limit_order(values: dict[str, Any], at: str) -> None:
    low, high = values["low"], values["high"]
    if low is not None and high is not None and not low < high:
        unit = LIMIT_UNITS[at.rsplit(".", 1)[-1]][0]
        raise Invalid(f"low ({_num(low)} {unit}) must be below high ({_num(high)} {unit})")


def _pause_within_max(values: dict[str, Any], at: str) -> None:
    if values["audio_pause_s"] > values["max_audio_pause_s"]:
        raise Invalid(
            f"{_num(values['audio_pause_s'])} s is longer than max_audio_pause_s "
            f"({_num(values['max_audio_pause_s'])} s)",
            at=f"{at}.audio_pause_s",
        )


def _never_delayed(kind: str, seconds: Any) -> None:
    if kind in NEVER_DELAYED:
        raise Invalid(
            f"{kind} is never delayed (CLINICAL.md: delays never apply to asystole, VF, VT or "
            "apnea): remove this key"
        )


def _technical_never_latches(kind: str, latching: Any) -> None:
    spec = CONDITION_KINDS.get(kind)
    if latching and spec is not None and spec.category == Category.TECHNICAL:
        raise Invalid(f"{kind} is a technical alarm, and technical alarms never latch")


def _detector_source(source: str) -> None:
    if source == "numerics":
        return
    if source.startswith("ecg:"):
        from vigil.runtime.analysis.bed_analyzer import ECG_LEADS  # heavy: only when used

        leads = tuple(ECG_LEADS.values())
        if source[4:] in leads:
            return
        raise Invalid(f"{show(source)}: no ECG lead {show(source[4:])} (leads: {', '.join(leads)})")
    raise Invalid(f'expected "numerics" or "ecg:LEAD" (e.g. "ecg:II"), got {show(source)}')


def _detector_name(name: str) -> None:
    from vigil.runtime.analysis.custom_detector import NAME

    if not NAME.match(name):
        raise Invalid(
            f"{show(name)}: use 1-48 lowercase letters, digits or _, starting with a letter "
            "(it becomes the condition kind)"
        )


def custom_kind(values: Mapping[str, Any]) -> ConditionKind:
    """The condition kind a [[bed.detector]] raises, as custom_detector.py registers it."""
    priority = Priority[values["priority"].upper()]
    return ConditionKind(
        values["name"], priority, Category.PHYSIOLOGICAL, priority == Priority.HIGH, values["label"]
    )


def _detector_check(values: dict[str, Any], at: str) -> None:
    name = values["name"]
    existing = CONDITION_KINDS.get(name)
    if existing is not None and existing != custom_kind(values):
        raise Invalid(
            f"{show(name)} is already a condition kind ({existing.description}): choose another "
            "name",
            at=f"{at}.name",
        )
    if values["source"] == "numerics" and not values["fields"]:
        raise Invalid(
            f"a numerics detector needs fields, e.g. fields = {toml_value(NUMERIC_FIELDS[:2])}",
            at=f"{at}.fields",
        )
    if values["source"] != "numerics" and values["fields"]:
        raise Invalid(
            f"fields are for a numerics source, not {values['source']}", at=f"{at}.fields"
        )


def _bed_check(values: dict[str, Any], at: str) -> None:
    seen: dict[str, int] = {}
    for i, detector in enumerate(values["detector"]):
        first = seen.setdefault(detector["name"], i)
        if first != i:
            raise Invalid(
                f"duplicate of {at}.detector[{first}].name {show(detector['name'])}",
                at=f"{at}.detector[{i}].name",
            )


def port_identity(port: str) -> str:
    """What makes two ports the same: a device path through its links, a URL as written."""
    if "://" in port:
        scheme, rest = port.split("://", 1)
        return f"{scheme.lower()}://{rest}"
    return os.path.realpath(port)


def _beds_check(beds: list[dict[str, Any]], at: str) -> None:
    names: dict[str, int] = {}
    ports: dict[str, int] = {}
    for i, bed in enumerate(beds):
        first = names.setdefault(bed["name"], i)
        if first != i:
            raise Invalid(f"duplicate of {at}[{first}].name {show(bed['name'])}", f"{at}[{i}].name")
        first = ports.setdefault(port_identity(bed["port"]), i)
        if first != i:
            other = beds[first]["port"]
            same = "" if other == bed["port"] else f" (both are {port_identity(other)})"
            raise Invalid(f"duplicate of {at}[{first}].port {show(other)}{same}", f"{at}[{i}].port")
    kinds: dict[str, tuple[int, int, ConditionKind]] = {}
    for i, bed in enumerate(beds):
        for j, detector in enumerate(bed["detector"]):
            kind = custom_kind(detector)
            first = kinds.setdefault(kind.name, (i, j, kind))
            if first[2] != kind:
                raise Invalid(
                    f"detector {show(kind.name)} is defined as in {at}[{first[0]}].detector"
                    f"[{first[1]}] but with another priority or label: one name, one definition",
                    f"{at}[{i}].detector[{j}]",
                )


# -- the tree --------------------------------------------------------------------------------

PRECISIONS = ("fp32", "fp16", "int8")
BACKENDS = tuple(sorted(BACKEND_KINDS, key=lambda k: (k != "tensorrt", k)))
LOG_LEVELS = ("debug", "info", "warning", "error")
PRIORITY_NAMES = tuple(p.name.lower() for p in sorted(Priority))

LIMIT_UNITS: dict[str, tuple[str, float, float, float]] = {
    # numeric: (unit, lowest and highest settable limit, largest hysteresis)
    "hr": ("/min", 15.0, 300.0, 20.0),
    "pulse_rate": ("/min", 15.0, 300.0, 20.0),
    "spo2": ("%", 50.0, 100.0, 10.0),
    "nibp_sys": ("mmHg", 20.0, 300.0, 20.0),
    "nibp_dia": ("mmHg", 10.0, 250.0, 20.0),
    "nibp_mean": ("mmHg", 15.0, 270.0, 20.0),
    "resp_rate": ("/min", 2.0, 120.0, 10.0),
    "temp": ("°C", 25.0, 45.0, 2.0),
}
assert set(LIMIT_UNITS) == set(DEFAULT_LIMITS) == set(NUMERIC_FIELDS)


def _limit_table(numeric: str) -> Table:
    unit, lo, hi, max_hysteresis = LIMIT_UNITS[numeric]
    d = DEFAULT_LIMITS[numeric]
    return Table(
        numeric,
        f"{numeric} limits ({unit}).",
        (
            Number("low", "Alarm below this.", d.low, unit=unit, lo=lo, hi=hi, off_is_none=True),
            Number("high", "Alarm above this.", d.high, unit=unit, lo=lo, hi=hi, off_is_none=True),
            Number(
                "hysteresis",
                "The alarm ends only this far back inside the limit.",
                d.hysteresis,
                unit=unit,
                lo=0.0,
                hi=max_hysteresis,
            ),
            Number(
                "delay_s",
                "The value must stay beyond the limit this long first (condition delay).",
                d.delay_s,
                unit="s",
                lo=0.0,
                hi=120.0,
            ),
        ),
        check=_limit_order,
    )


LIMITS = Table(
    "limits",
    "Alarm limits per numeric (CLINICAL.md's adult defaults). A bed sets only the keys it "
    'changes, e.g. [bed.limits.spo2] low = 88; "off" removes one side\'s limit.',
    tuple(_limit_table(n) for n in DEFAULT_LIMITS),
)

_A = ArrhythmiaSettings()
ARRHYTHMIA = Table(
    "arrhythmia",
    "Arrhythmia criteria (CLINICAL.md).",
    (
        Number("asystole_s", "No QRS this long, leads on -> asystole.", _A.asystole_s, unit="s",
               lo=3.0, hi=10.0),
        Number("vf_s", "Fibrillatory ECG this long -> VF.", _A.vf_s, unit="s", lo=2.0, hi=10.0),
        Number("vt_min_beats", "Consecutive ventricular beats that make VT.", _A.vt_min_beats,
               unit="beats", lo=3, hi=12, integer=True),
        Number("vt_min_rate", "... at this rate or faster.", _A.vt_min_rate, unit="/min",
               lo=80.0, hi=200.0),
        Number("pause_s", "No beat this long -> pause.", _A.pause_s, unit="s", lo=1.5, hi=3.0),
        Number("pvc_per_min_limit", "More PVCs in the last minute than this -> pvc_high.",
               _A.pvc_per_min_limit, unit="/min", lo=1.0, hi=100.0),
        Number("extreme_brady_below_low", "Extreme bradycardia: HR this far below the HR low "
               "limit ...", _A.extreme_brady_below_low, unit="/min", lo=0.0, hi=40.0),
        Number("extreme_brady_floor", "... and never below this.", _A.extreme_brady_floor,
               unit="/min", lo=20.0, hi=60.0),
        Number("extreme_tachy_above_high", "Extreme tachycardia: HR this far above the HR high "
               "limit ...", _A.extreme_tachy_above_high, unit="/min", lo=0.0, hi=60.0),
        Number("extreme_tachy_cap", "... and never above this.", _A.extreme_tachy_cap,
               unit="/min", lo=150.0, hi=250.0),
        Number("hr_average_beats", "HR = 60 / mean of this many RR intervals.",
               _A.hr_average_beats, unit="beats", lo=1, hi=32, integer=True),
        Number("unanalysable_s", "ECG unanalysable this long -> technical alarm.",
               _A.unanalysable_s, unit="s", lo=1.0, hi=60.0),
    ),
)  # fmt: skip

RESPIRATION = Table(
    "respiration",
    "Respiration.",
    (
        Number("apnea_s", "No breath this long -> apnea.", RespirationSettings().apnea_s,
               unit="s", lo=10.0, hi=60.0),
    ),
)  # fmt: skip

_N = News2Settings()
NEWS2 = Table(
    "news2",
    "NEWS2 early warning score (Royal College of Physicians, 2017).",
    (
        Number("scale", "SpO2 scale: 1, or 2 for hypercapnic respiratory failure (target "
               "88-92 %).", _N.scale, lo=1, hi=2, integer=True),
        Flag("on_oxygen", "The patient receives supplemental oxygen.", _N.on_oxygen),
        Text("consciousness", "Level of consciousness (ACVPU).", _N.consciousness,
             choices=CONSCIOUSNESS),
        Number("period_s", "How often the score is computed.", _N.period_s, unit="s",
               lo=1.0, hi=3600.0),
    ),
)  # fmt: skip

_M = ModelSettings()
MODEL_ITEMS: tuple[Option, ...] = (
    Flag("enabled", "false: rule-based analysis only.", _M.enabled),
    Choices("backends", "Backends to try in order; the first that runs a model here serves it.",
            _M.backends, choices=BACKENDS),
    Text("precision", "Model precision.", _M.precision, choices=PRECISIONS),
    Number("intra_op_threads", "CPU threads per ONNX Runtime session (0: every core).",
           _M.intra_op_threads, unit="threads", lo=0, hi=256, integer=True),
    PathOption("ecg_beat", "Artifact folder of the ECG beat classifier (default: the shipped "
               "one).", _M.ecg_beat, example="models/ecg_beat", artifact=True),
    PathOption("vitals_ae", "Artifact folder of the vital-sign trend autoencoder (default: the "
               "shipped one).", _M.vitals_ae, example="models/vitals_ae", artifact=True),
)  # fmt: skip
MODELS = Table("models", "The reference models and how they run.", MODEL_ITEMS)

DETECTOR = Table(
    "detector",
    "A bring-your-own model (an artifact from `vigil export --module`) turned into alarm "
    "conditions by configuration alone; repeat [[bed.detector]] for more.",
    (
        Text("name", "Becomes the condition kind: lowercase letters, digits, _.",
             example="st_elevation", check=_detector_name),
        PathOption("artifact", "The model's artifact folder.", example="models/st_elevation",
                   artifact=True),
        Text("source", 'What feeds it: "numerics", or "ecg:LEAD" (a window of that lead '
             "around each beat).", example="ecg:II", check=_detector_source),
        Text("output", "The model output compared with the threshold.", example="score"),
        Number("threshold", "The condition holds while output[index] is above (or below) "
               "this.", example=0.8),
        Text("label", "What the alarm says.", example="ST elevation (model)"),
        Text("priority", "Alarm priority (high latches).", "low", choices=PRIORITY_NAMES),
        Number("index", "Which item of the output, flattened.", 0, lo=0, hi=1 << 20,
               integer=True),
        Text("compare", "above: output > threshold; below: output < threshold.", "above",
             choices=("above", "below")),
        Choices("fields", "Numerics fed to a numerics source.", (), choices=NUMERIC_FIELDS,
                allow_empty=True),
        Number("stride_s", "Run every this long (ECG: where no beat came).", 1.0, unit="s",
               lo=0.04, hi=3600.0),
    ),
    check=_detector_check,
)  # fmt: skip

BED = Table(
    "bed",
    "One [[bed]] per monitor. Its limits, arrhythmia, respiration and NEWS2 tables hold the "
    "defaults below; a bed sets only what it changes.",
    (
        Text("name", "The bed's name in alarms, the journal and the live view; unique.",
             example="bed-1", check=_bed_name),
        Text("port", "The monitor's serial port: a device (/dev/ttyUSB0), a stable "
             "/dev/serial/by-id/... link, or a pyserial URL (socket://host:port, "
             "rfc2217://host:port); unique.", example="/dev/ttyUSB0", check=check_port),
        Number("baudrate", "Serial speed.", BedConfig.__dataclass_fields__["baudrate"].default,
               unit="baud", lo=1200, hi=4_000_000, integer=True),
        Flag("fusion", "Cross-channel false-alarm rules (no asystole or pause while the pleth "
             "shows pulses).", AnalysisSettings().fusion),
        Number("desat_spo2", "SpO2 at or below this is a high-priority desaturation.",
               AnalysisSettings().desat_spo2, unit="%", lo=50.0, hi=95.0),
        LIMITS,
        ARRHYTHMIA,
        RESPIRATION,
        NEWS2,
        Table("models", "This bed's override of [models]: set only what differs.",
              MODEL_ITEMS, inherit="models", commented=True),
        TableArray(
            "detector",
            DETECTOR,
            commented=True,
            examples=({"source": "ecg:II", "priority": "medium"},),
        ),
    ),
    check=_bed_check,
)  # fmt: skip

_P = AlarmPolicy()
ESCALATE_ITEMS = tuple(
    Number(
        name,
        f"{name.capitalize()} priority.",
        _P.escalate_after_s.get(Priority[name.upper()]),
        unit="s",
        lo=10.0,
        hi=3600.0,
        zero_is_none=True,
    )
    for name in PRIORITY_NAMES
)
BUILTIN_KIND_NAMES = tuple(CONDITION_KINDS)

ALARMS = Table(
    "alarms",
    "How the alarm manager behaves where vendors differ (CLINICAL.md).",
    (
        Number("audio_pause_s", "How long AUDIO PAUSE silences a bed (common practice: at "
               "most 2 min).", _P.audio_pause_s, unit="s", lo=10.0, hi=600.0),
        Number("max_audio_pause_s", "The longest audio pause an operator may ask for.",
               _P.max_audio_pause_s, unit="s", lo=10.0, hi=3600.0),
        Text("breakthrough", 'What sounds during an audio pause: "none" (nothing until it '
             'expires), "higher_priority" (a new alarm of higher priority than any signalling '
             'when the pause began), "any" (every new alarm).', _P.breakthrough,
             choices=BREAKTHROUGH_POLICIES),
        Number("reannounce_s", "An acknowledged alarm whose condition persists signals again "
               "after this long (Philips: 2-3 min).", _P.reannounce_s, unit="s", lo=10.0,
               hi=3600.0, zero_is_none=True),
        Table("escalate_after_s", "An active alarm unacknowledged this long rises one "
              "priority, once; 0 = never.", ESCALATE_ITEMS),
        KindMap(
            "delays_s",
            "Per condition kind: seconds the alarm manager waits before signalling, beyond "
            "the analysis's own delays (SpO2's 15 s is in the limits). Never for asystole, "
            "vf, vt or apnea. Kinds: " + ", ".join(BUILTIN_KIND_NAMES) + ", and each "
            "[[bed.detector]] name.",
            Number("seconds", "", unit="s", lo=0.0, hi=120.0),
            check=_never_delayed,
            examples=(("hr_high", 10.0),),
        ),
        KindMap(
            "latching",
            "Per condition kind: true keeps an alarm signalling after its condition ended, "
            "until acknowledged. Default: high-priority and arrhythmia alarms latch; technical "
            "alarms never do.",
            Flag("latching", ""),
            check=_technical_never_latches,
            examples=(("spo2_low", True),),
        ),
    ),
    check=_pause_within_max,
)  # fmt: skip

_R = RuntimeSettings(control_socket=Path("unused"))
RUNTIME = Table(
    "runtime",
    "The runtime process.",
    (
        PathOption("control_socket", "Unix socket for `vigil ack`, `vigil pause` and the live "
                   "view (mode 0600). Default: $XDG_RUNTIME_DIR/vigil/control.sock, else "
                   "/tmp/vigil-UID/control.sock.", None, example="/run/vigil/control.sock",
                   factory=default_control_socket, check=_socket_path_fits),
        Number("queue_records", "Records queued per bed between its serial reader and the "
               "analysis; a full queue raises a technical alarm, never a silent drop.",
               _R.queue_records, unit="records", lo=64, hi=1 << 20, integer=True),
        Number("link_lost_s", 'No byte from a monitor this long (or its port gone) raises '
               '"link lost".', _R.link_lost_s, unit="s", lo=0.5, hi=60.0),
        Number("crc_burst_errors", "This many CRC-failed or corrupt frames ...",
               _R.crc_burst_errors, unit="frames", lo=1, hi=10_000, integer=True),
        Number("crc_burst_window_s", "... within this long raise a technical alarm.",
               _R.crc_burst_window_s, unit="s", lo=1.0, hi=3600.0),
        Number("inference_timeout_s", "Longest wait for one model call before it counts as "
               "failed.", _R.inference_timeout_s, unit="s", lo=0.01, hi=10.0),
        Text("log_level", "Log level.", _R.log_level, choices=LOG_LEVELS),
        Number("analysis_processes", "Processes that read and analyse the beds. 1: all in "
               "the runtime's own process. N > 1: beds are shared over N forked workers (one "
               "alarm manager, journal, control socket and view stay in the runtime); a "
               "worker that dies raises link lost on its beds. 0: one per CPU core. Python "
               "runs one core per process: use about one per core past ~32 beds.",
               _R.analysis_processes, unit="processes", lo=0, hi=256, integer=True),
    ),
)  # fmt: skip

_J = JournalConfig()
JOURNAL = Table(
    "journal",
    "The SQLite journal: every alarm is written here before any sink signals it.",
    (
        PathOption("path", "The journal's database file.", _J.path, parent_must_exist=True),
        Number("numerics_retention_days", "1 Hz numerics older than this are pruned.",
               _J.numerics_retention_days, unit="days", lo=0.1, hi=3650.0),
    ),
)  # fmt: skip

_S = SinksConfig()
SINKS = Table(
    "sinks",
    "Where alarms go once journaled.",
    (
        PathOption("jsonl", "Append every alarm event as one JSON line to this file (default: "
                   "none).", _S.jsonl, example="alarms.jsonl", parent_must_exist=True),
        Flag("device", "Send ALARM messages back to each bed's monitor.", _S.device),
    ),
)  # fmt: skip

BEDS = TableArray(
    "bed",
    BED,
    min_items=1,
    missing="no [[bed]]: add one [[bed]] table (name and port) per monitor; "
    "`vigil config example` shows one",
    check=_beds_check,
    examples=({"name": "bed-1", "port": "/dev/ttyUSB0"},),
    brief=(
        {"name": "bed-2", "port": "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0"},
        {"name": "bed-3", "port": "socket://192.168.1.20:7000"},
    ),
)

DOCUMENT = Table("", "", (RUNTIME, JOURNAL, ALARMS, MODELS, SINKS, BEDS))
"""The whole file. Top-level tables are read in this order (a bed's [bed.models] inherits the
[models] read before it)."""


def _fields_covered(table: Table, cls: type, skip: tuple[str, ...] = ()) -> None:
    names = [i.name for i in table.items if i.name not in skip]
    wanted = [n for n in cls.__dataclass_fields__ if n not in skip]  # type: ignore[attr-defined]
    assert sorted(names) == sorted(wanted), (table.name, names, wanted)


_fields_covered(RUNTIME, RuntimeSettings)
_fields_covered(JOURNAL, JournalConfig)
_fields_covered(SINKS, SinksConfig)
_fields_covered(ARRHYTHMIA, ArrhythmiaSettings)
_fields_covered(RESPIRATION, RespirationSettings)
_fields_covered(NEWS2, News2Settings)
_fields_covered(
    MODELS, ModelSettings, skip=("inference_timeout_s",)
)  # the runtime applies [runtime]'s
_fields_covered(ALARMS, AlarmPolicy)


# -- small helpers ---------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _num(value: float) -> str:
    """A number as people and TOML read it: 120, 0.5, 1e-05."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def toml_value(value: Any) -> str:
    """A Python value as a TOML value (bool, number, string, path, list)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def show(value: Any) -> str:
    """A value from a file as an error message quotes it."""
    if isinstance(value, dict):
        return "a table"
    try:
        return toml_value(value)
    except TypeError:
        return str(value)  # dates and times


def _listing(choices: tuple[str, ...]) -> str:
    return ", ".join(json.dumps(c) for c in choices)


def _resolve(path: Path, base_dir: Path) -> Path:
    return Path(os.path.normpath(base_dir / path))
