"""A recording turned into the record stream a `BedAnalyzer` eats (`vigil analyze RECORD`).

Three kinds of input, one output: `WaveformChunk`, `Numerics` and `DeviceStatus` records in
physical units, in chunks of device time (`chunk_s`, 10 s by default: the analysis is chunk
invariant, and big chunks are fast). Within each chunk the statuses come first (a status
describes the samples after it), then the device's numerics, then pleth and respiration,
then the ECG leads (`_feed_rank`).

- WFDB records, CSV and NumPy files are read by the replay readers
  (`vigil.firmware_bridge.replay`: physical units from a WFDB header's gain and baseline).
  Signals map onto ECG leads, pleth and respiration by name (`MLII`, `II`, `V1`, `PLETH`,
  `RESP`, ...; see `channel_map`) or by `--channel ROLE=COLUMN`. Signals nothing maps are
  listed in `notes` and ignored. Such files carry no numerics or status; the bed derives its
  own numerics from the waveforms.
- Raw byte recordings of `vigil listen --record` (recognised by their magic, whatever the
  suffix) are decoded by the real codec and `DeviceSession`, exactly as live.

Every problem with the input is an `AnalysisInputError` naming the file and what to do.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vigil.errors import ReplayError
from vigil.records import DeviceStatus, LinkEvent, Numerics, Record, WaveformChunk

DEFAULT_CHUNK_S = Fraction(10)

ROLES: dict[str, str] = {
    "ecg": "ECG_II",  # a single unnamed ECG is taken as lead II
    "ecg_i": "ECG_I",
    "ecg_ii": "ECG_II",
    "ecg_iii": "ECG_III",
    "ecg_avr": "ECG_AVR",
    "ecg_avl": "ECG_AVL",
    "ecg_avf": "ECG_AVF",
    "ecg_v": "ECG_V",
    "pleth": "PLETH",
    "resp": "RESPIRATION",
}
"""`--channel ROLE=COLUMN` roles -> the channel kind the analysis knows them by."""

ANALYSED_KINDS = frozenset(ROLES.values())
ECG_KINDS = frozenset(kind for kind in ANALYSED_KINDS if kind.startswith("ECG_"))
KIND_UNITS = {"PLETH": "au", "RESPIRATION": "Ohm"}
MV_PER_UNIT = {"mv": 1.0, "": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}
"""ECG units (folded) -> millivolts per unit; the analysis works in mV."""

MAX_LAG_S = Fraction(2)
"""Byte recordings: a chunk of device time is released once every channel has reached its
end, or once any channel is this far past it (a silent channel must not stall the rest)."""


class AnalysisInputError(ReplayError):
    """A recording cannot be turned into analysis input (no ECG, unknown column, no rate)."""


@dataclass(frozen=True, slots=True)
class InputChannel:
    """One analysed channel: where it comes from (`name`: file signal or device label) and
    what the analysis takes it for."""

    name: str
    kind: str
    rate: Fraction
    units: str
    scale: float = 1.0  # file units -> `units`

    def describe(self) -> str:
        return f"{self.name} -> {self.kind} {float(self.rate):g} Hz"


@dataclass(slots=True)
class RecordingInput:
    """A recording ready to analyse. `start_s` is the device time of its first sample (0 for
    files; a byte recording's device clock may start anywhere), known once `records()` has
    run for byte recordings; `notes` say what was guessed or ignored."""

    path: Path
    format: str
    channels: list[InputChannel]
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    start_s: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)
    samples: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # file signals

    @property
    def source(self) -> str:
        return self.path.name

    @property
    def has_numerics(self) -> bool:
        """Whether the input carries the monitor's numerics (only byte recordings do);
        without them the bed derives its own (`analyze_records(derive_numerics=...)`)."""
        return self.format == "byte recording"

    def records(self, chunk_s: Fraction = DEFAULT_CHUNK_S) -> Iterator[Record]:
        """The recording's records in chunks of `chunk_s` seconds of device time."""
        chunk_s = Fraction(chunk_s)
        if chunk_s <= 0:
            raise AnalysisInputError(f"{self.path}: chunk length must be positive")
        if self.format == "byte recording":
            return _byte_records(self, chunk_s)
        return _file_records(self, chunk_s)


def parse_channel_args(items: Sequence[str]) -> dict[str, str]:
    """`["ecg=MLII", "pleth=2"]` -> `{"ecg": "MLII", "pleth": "2"}` (`--channel` values)."""
    mapping: dict[str, str] = {}
    for item in items:
        role, sep, column = item.partition("=")
        role, column = role.strip().lower(), column.strip()
        if not sep or not role or not column:
            raise AnalysisInputError(f"--channel {item!r} is not ROLE=COLUMN (e.g. ecg=MLII)")
        if role not in ROLES:
            raise AnalysisInputError(
                f"--channel {item!r}: unknown role {role!r}; roles are {', '.join(ROLES)}"
            )
        if role in mapping:
            raise AnalysisInputError(f"--channel gives role {role!r} twice")
        mapping[role] = column
    return mapping


def open_recording(
    path: str | Path,
    *,
    fs: Fraction | float | None = None,
    channels: Mapping[str, str] | None = None,
) -> RecordingInput:
    """Open `path` for analysis: a byte recording (by its magic), WFDB, CSV or NumPy file.

    `fs` is the sample rate in Hz where the file cannot state one (.npy, CSV without a time
    column); `channels` maps roles to file columns (`parse_channel_args`) and, when given,
    is the whole mapping: only the named columns are analysed.
    """
    path = Path(path)
    if not path.exists() and not path.with_name(path.name + ".hea").is_file():
        raise AnalysisInputError(f"{path}: file not found")
    if _is_byte_recording(path):
        if channels:
            raise AnalysisInputError(
                f"{path}: a byte recording names its channels itself; drop --channel"
            )
        source = RecordingInput(path, "byte recording", [])
        if fs is not None:
            source.notes.append("--fs ignored: the device's HELLO states every channel's rate")
        return source
    from vigil.firmware_bridge.replay import read_recording

    rate = None if fs is None else Fraction(fs).limit_denominator(1000)
    _require_rate(path, rate)
    recording = read_recording(path, rate=rate)
    kinds, ignored = _map_signals(path, list(recording.names), channels)
    source = RecordingInput(path, _format_of(path), [])
    for name, reason in ignored.items():
        source.ignored.append(name)
        source.notes.append(f"signal {name!r} ignored: {reason}")
    for name, kind in kinds.items():
        signal = recording.signal(name)
        units, scale = _units(kind, signal.units, name, source.notes)
        source.channels.append(InputChannel(name, kind, signal.rate, units, scale))
        source.samples[name] = signal.samples
    return source


# -- mapping -------------------------------------------------------------------------------
def _map_signals(
    path: Path, names: list[str], explicit: Mapping[str, str] | None
) -> tuple[dict[str, str], dict[str, str]]:
    """File signal -> channel kind, and the ignored signals with the reason for each."""
    if explicit:
        kinds = _explicit_kinds(path, names, explicit)
        ignored = {n: "not named by --channel" for n in names if n not in kinds}
    else:
        kinds, ignored = _guess_kinds(names)
    if not any(kind in ECG_KINDS for kind in kinds.values()):
        raise AnalysisInputError(
            f"{path}: no ECG signal among {names}; name one with --channel ecg=COLUMN "
            f"(roles: {', '.join(ROLES)})"
        )
    return kinds, ignored


def _explicit_kinds(path: Path, names: list[str], explicit: Mapping[str, str]) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for role, column in explicit.items():
        name = _resolve_column(path, names, column, role)
        kind = ROLES[role]
        if name in kinds:
            raise AnalysisInputError(f"{path}: --channel maps column {column!r} twice")
        if kind in kinds.values():
            raise AnalysisInputError(
                f"{path}: --channel maps two columns onto {kind}; one column per channel"
            )
        kinds[name] = kind
    return kinds


def _resolve_column(path: Path, names: list[str], column: str, role: str) -> str:
    if column in names:
        return column
    folded = [n for n in names if n.lower() == column.lower()]
    if len(folded) == 1:
        return folded[0]
    if column.isdigit() and f"ch{column}" in names:  # .npy rows are ch0, ch1, ...
        return f"ch{column}"
    raise AnalysisInputError(
        f"{path}: --channel {role}={column}: unknown column {column!r}; the file has {names}"
    )


def _guess_kinds(names: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Automatic mapping by name (`channel_map` aliases; a bare `ECG` is lead II). The first
    signal to claim a channel keeps it."""
    from vigil.firmware_bridge.replay.channel_map import channel_aliases, fold

    aliases = {role: channel_aliases(role) for role in ROLES if role != "ecg"}
    aliases["ecg"] = frozenset({"ecg"})
    kinds: dict[str, str] = {}
    ignored: dict[str, str] = {}
    for name in names:
        role = next((r for r, known in aliases.items() if fold(name) in known), None)
        if role is None:
            ignored[name] = "unknown signal name (map it with --channel ROLE=COLUMN)"
            continue
        kind = ROLES[role]
        taken = next((n for n, k in kinds.items() if k == kind), None)
        if taken is not None:
            ignored[name] = f"{kind} is already taken by {taken!r}"
        else:
            kinds[name] = kind
    return kinds, ignored


def _units(kind: str, units: str, name: str, notes: list[str]) -> tuple[str, float]:
    if kind not in ECG_KINDS:
        return units or KIND_UNITS.get(kind, ""), 1.0
    scale = MV_PER_UNIT.get(units.strip().lower())
    if scale is None:
        notes.append(f"signal {name!r} has units {units!r}; taken as mV")
        scale = 1.0
    elif not units:
        notes.append(f"signal {name!r} states no units; taken as mV")
    return "mV", scale


def _require_rate(path: Path, rate: Fraction | None) -> None:
    """Say `--fs` where the file cannot state its rate (the readers say `rate=`)."""
    if rate is not None:
        return
    suffix = path.suffix.lower()
    if suffix == ".npy":
        raise AnalysisInputError(f"{path}: a .npy file cannot state its sample rate; pass --fs HZ")
    if suffix == ".csv" and not _csv_has_time_column(path):
        raise AnalysisInputError(
            f"{path}: no time column ('time', 't' or 'time_s'), so the sample rate is "
            "unknown; pass --fs HZ"
        )


def _csv_has_time_column(path: Path) -> bool:
    from vigil.firmware_bridge.replay.csv_reader import TIME_NAMES
    from vigil.firmware_bridge.replay.recording import split_units

    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.reader(handle):
                if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
                    continue
                return any(split_units(cell)[0].lower() in TIME_NAMES for cell in row)
    except (OSError, UnicodeDecodeError, csv.Error):
        return True  # let the reader report what is wrong with the file
    return False


def _format_of(path: Path) -> str:
    from vigil.firmware_bridge.replay import SUFFIXES

    return SUFFIXES.get(path.suffix.lower(), "WFDB")


def _is_byte_recording(path: Path) -> bool:
    from vigil.firmware_bridge.byte_recording import MAGIC

    try:
        with path.open("rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


# -- files ---------------------------------------------------------------------------------
def _file_records(source: RecordingInput, chunk_s: Fraction) -> Iterator[Record]:
    """Each channel's samples in `[k * chunk_s, (k + 1) * chunk_s)`, k = 0, 1, ..."""
    order = sorted(range(len(source.channels)), key=lambda k: _feed_rank(source.channels[k].kind))
    tracks = [(k, source.channels[k], source.samples[source.channels[k].name]) for k in order]
    ends = [Fraction(len(x)) / c.rate for _, c, x in tracks]
    t0 = Fraction(0)
    while t0 < max(ends):
        t1 = t0 + chunk_s
        for channel, c, x in tracks:
            first, stop = math.ceil(t0 * c.rate), min(len(x), math.ceil(t1 * c.rate))
            if stop <= first:
                continue
            samples = np.asarray(x[first:stop], dtype=np.float32)
            if c.scale != 1.0:
                samples = samples * np.float32(c.scale)
            yield WaveformChunk(
                source.source, channel, c.name, c.kind, c.units, c.rate, first, samples
            )
        t0 = t1


# -- byte recordings -----------------------------------------------------------------------
def _byte_records(source: RecordingInput, chunk_s: Fraction) -> Iterator[Record]:
    from vigil.firmware_bridge.byte_recording import read_byte_recording
    from vigil.firmware_bridge.codec import Decoder
    from vigil.firmware_bridge.session import DeviceSession

    decoder, session = Decoder(), DeviceSession(source.source)
    chunker = _Chunker(source, chunk_s)
    for record in _decoded(source, read_byte_recording(source.path), decoder, session):
        yield from chunker.add(record)
    yield from chunker.flush()
    faults = decoder.counters.as_dict()
    for name in (*decoder.counters.FAULTS, "frames_lost", "bytes_discarded"):
        if faults[name]:
            source.counters[f"decoder_{name}"] = faults[name]
    for name in ("sample_gaps", "samples_missing", "samples_overlapped"):
        if value := getattr(session.counters, name):
            source.counters[name] = value
    if not source.channels:
        raise AnalysisInputError(f"{source.path}: the byte recording holds no waveform samples")


def _decoded(
    source: RecordingInput, chunks: Iterator[tuple[int, bytes]], decoder: Any, session: Any
) -> Iterator[Record]:
    """The session's records, up to a device reset (its clock and indices restart, which
    one bed's analysis cannot follow)."""
    for t_ns, data in chunks:
        for msg in decoder.feed(data):
            for record in session.handle(msg, t_ns):
                if isinstance(record, LinkEvent) and record.kind == "device_reset":
                    source.notes.append(
                        f"the device reset {t_ns / 1e9:.1f} s into the recording; "
                        "analysed up to the reset"
                    )
                    return
                yield record


class _Chunker:
    """Regroups a live stream (40 ms frames, each channel on its own) into chunks of device
    time: statuses, then numerics, then each channel's samples joined."""

    def __init__(self, source: RecordingInput, chunk_s: Fraction) -> None:
        self._source = source
        self._chunk_s = chunk_s
        self._end: Fraction | None = None  # end of the chunk being gathered
        self._waves: dict[int, list[WaveformChunk]] = {}
        self._reached: dict[int, int] = {}  # channel -> end index of its samples so far
        self._rates: dict[int, Fraction] = {}
        self._kinds: dict[int, str] = {}
        self._stops: dict[int, tuple[int, int]] = {}  # channel -> (chunk end, lag) indices
        self._statuses: list[DeviceStatus] = []
        self._numerics: list[Numerics] = []

    def add(self, record: Record) -> Iterator[Record]:
        if isinstance(record, WaveformChunk):
            self._wave(record)
        elif isinstance(record, DeviceStatus):
            self._statuses.append(record)
        elif isinstance(record, Numerics):
            self._numerics.append(record)
        else:  # link events and operator keys: the session's counters account for them
            return
        if self._end is None:
            self._set_end(_time_of(record))
        while self._due():
            yield from self._release()

    def flush(self) -> Iterator[Record]:
        while self._end is not None and (self._statuses or self._numerics or self._has_waves()):
            yield from self._release()

    def _wave(self, chunk: WaveformChunk) -> None:
        if chunk.kind not in ANALYSED_KINDS:
            if chunk.label not in self._source.ignored:
                self._source.ignored.append(chunk.label)
                self._source.notes.append(f"channel {chunk.label!r} ({chunk.kind}) not analysed")
            return
        if chunk.channel not in self._reached:
            self._source.channels.append(
                InputChannel(chunk.label, chunk.kind, chunk.rate, chunk.units)
            )
            if not self._reached:
                self._source.start_s = chunk.first_index / chunk.rate
            self._rates[chunk.channel] = chunk.rate
            self._kinds[chunk.channel] = chunk.kind
        self._waves.setdefault(chunk.channel, []).append(chunk)
        self._reached[chunk.channel] = chunk.end_index

    def _has_waves(self) -> bool:
        return any(self._waves.values())

    def _set_end(self, t: Fraction) -> None:
        """The chunk being gathered is the one holding device time `t`."""
        self._end = (t // self._chunk_s + 1) * self._chunk_s
        self._stops.clear()

    def _due(self) -> bool:
        """Every channel reached the chunk's end, or one is `MAX_LAG_S` past it (integer
        index comparisons: this runs for every 40 ms frame)."""
        if self._end is None or not self._reached:
            return False
        every, any_ = True, False
        for channel, reached in self._reached.items():
            stops = self._stops.get(channel)
            if stops is None:
                rate = self._rates[channel]
                stops = (math.ceil(self._end * rate), math.ceil((self._end + MAX_LAG_S) * rate))
                self._stops[channel] = stops
            every = every and reached >= stops[0]
            any_ = any_ or reached >= stops[1]
        return every or any_

    def _release(self) -> Iterator[Record]:
        assert self._end is not None
        if not any(c.kind in ECG_KINDS for c in self._source.channels):
            raise AnalysisInputError(
                f"{self._source.path}: the device sends no ECG channel "
                f"({', '.join(c.describe() for c in self._source.channels) or 'no waveforms'})"
            )
        end = self._end
        end_us = end * 1_000_000
        for held in (self._statuses, self._numerics):
            due = sorted((r for r in held if r.device_time_us < end_us), key=_time_of)
            held[:] = [r for r in held if r.device_time_us >= end_us]
            yield from due
        for channel in sorted(self._waves, key=lambda k: _feed_rank(self._kinds[k])):
            yield from _joined(self._waves[channel], end)
        pending = [_time_of(r) for r in (*self._statuses, *self._numerics)]
        pending += [_time_of(c) for chunks in self._waves.values() for c in chunks[:1]]
        # the next chunk; after a long silence, the one holding the next record
        self._set_end(max(end, min(pending, default=end)))


def _feed_rank(kind: str) -> int:
    """Within a chunk, pleth and respiration go before the ECG: what the bed derives from
    the ECG (numerics, pulse fusion) then finds the other channels analysed at least as far,
    whatever the chunk length."""
    return 1 if kind in ECG_KINDS else 0


def _time_of(record: WaveformChunk | DeviceStatus | Numerics) -> Fraction:
    """Device time of a record (its first sample's, for a waveform chunk)."""
    if isinstance(record, WaveformChunk):
        return Fraction(record.first_index) / record.rate
    return Fraction(record.device_time_us, 1_000_000)


def _joined(chunks: list[WaveformChunk], end: Fraction) -> Iterator[WaveformChunk]:
    """Pop from `chunks` every sample before device time `end`, contiguous runs joined into
    one chunk each; what lies past `end` stays in `chunks`."""
    if not chunks:
        return
    rate = chunks[0].rate
    stop = math.ceil(end * rate)
    run: list[WaveformChunk] = []
    keep: list[WaveformChunk] = []
    for whole in chunks:
        if whole.first_index >= stop:
            keep.append(whole)
            continue
        chunk = whole
        if whole.end_index > stop:
            cut = stop - whole.first_index
            keep.append(_slice(whole, cut, len(whole.samples)))
            chunk = _slice(whole, 0, cut)
        if run and chunk.first_index != run[-1].end_index:
            yield _concat(run)
            run = []
        run.append(chunk)
    if run:
        yield _concat(run)
    chunks[:] = keep


def _slice(chunk: WaveformChunk, a: int, b: int) -> WaveformChunk:
    return WaveformChunk(
        chunk.source,
        chunk.channel,
        chunk.label,
        chunk.kind,
        chunk.units,
        chunk.rate,
        chunk.first_index + a,
        chunk.samples[a:b],
        chunk.host_time_ns,
        chunk.arrival_ns,
    )


def _concat(run: list[WaveformChunk]) -> WaveformChunk:
    first = run[0]
    samples = np.concatenate([c.samples for c in run]).astype(np.float32, copy=False)
    return WaveformChunk(
        first.source,
        first.channel,
        first.label,
        first.kind,
        first.units,
        first.rate,
        first.first_index,
        samples,
        first.host_time_ns,
        run[-1].arrival_ns,
    )
