"""Reading a journal back, read-only, for `vigil alarms` and `vigil report`.

A read command must never create or change a journal: the file is opened with SQLite's
`mode=ro` URI, after checking it exists. Reading is safe while a runtime writes (WAL).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vigil.errors import ConfigError
from vigil.firmware_bridge.protocol import NUMERIC_FIELDS
from vigil.runtime.alarms.model import STAGES
from vigil.runtime.journal import schema
from vigil.runtime.journal.store import JournalError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def open_read_only(path: Path) -> sqlite3.Connection:
    """The journal at `path`, read-only; JournalError naming it if absent or not a journal."""
    path = Path(path)
    if not path.is_file():
        raise JournalError(
            f"no journal at {path}: give the runtime's journal file with --journal DB"
        )
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open journal {path} read-only: {exc}") from exc
    try:
        version = schema.schema_version(conn, path)
        schema.check_readable(version, path)
    except schema.SchemaError as exc:
        conn.close()
        raise JournalError(str(exc)) from exc
    except sqlite3.Error as exc:
        conn.close()
        raise JournalError(f"{path} is not a readable SQLite journal: {exc}") from exc
    if version < schema.CURRENT_VERSION:
        conn.close()
        raise JournalError(
            f"{path} is a journal of schema version {version}; start the runtime on it once "
            f"to migrate it to version {schema.CURRENT_VERSION}"
        )
    return conn


def parse_since(text: str, now_s: float) -> str:
    """`--since` as stored wall text: an ISO 8601 time (UTC unless it says otherwise) or a
    duration back from `now_s` (30s, 10m, 2h, 1d)."""
    match = _DURATION.match(text)
    if match:
        return schema.utc_text(now_s - float(match[1]) * _UNIT_S[match[2]])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"--since {text!r}: give an ISO time (2024-05-01T12:00, UTC unless it has an "
            "offset) or a duration back from now (30s, 10m, 2h, 1d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return schema.utc_text(moment.timestamp())


def _where(bed: str | None, since: str | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if bed is not None:
        clauses.append("bed = ?")
        params.append(bed)
    if since is not None:
        clauses.append("wall_utc >= ?")
        params.append(since)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def events(
    conn: sqlite3.Connection,
    *,
    bed: str | None = None,
    since: str | None = None,
    whole_alarms: bool = False,
) -> list[dict[str, Any]]:
    """Stored alarm events in commit order, each as `event_to_dict`'s shape plus `seq` and
    `wall_utc`. `whole_alarms`: every event of each alarm with an event in the window (a
    report draws an alarm from activation to end even when it began before `since`)."""
    where, params = _where(bed, since)
    if whole_alarms and where:
        where = f" WHERE alarm_id IN (SELECT alarm_id FROM alarm_events{where})"
    rows = conn.execute(
        "SELECT seq, wall_utc, event, at_s, audible, actor, stamps, snapshot "
        f"FROM alarm_events{where} ORDER BY seq",
        params,
    )
    return [
        {
            "seq": seq,
            "wall_utc": wall,
            "event": event,
            "at_s": at_s,
            "audible": bool(audible),
            "actor": actor,
            "stamps": json.loads(stamps),
            "alarm": json.loads(snapshot),
        }
        for seq, wall, event, at_s, audible, actor, stamps, snapshot in rows
    ]


def actions(
    conn: sqlite3.Connection, *, bed: str | None = None, since: str | None = None
) -> list[dict[str, Any]]:
    """Operator actions in commit order."""
    where, params = _where(bed, since)
    cursor = conn.execute(
        f"SELECT seq, {', '.join(schema.ACTION_COLUMNS)} FROM actions{where} ORDER BY seq",
        params,
    )
    names = ("seq", *schema.ACTION_COLUMNS)
    return [dict(zip(names, row, strict=True)) for row in cursor]


@dataclass(frozen=True, slots=True)
class Trends:
    """One bed's numerics: wall times and one value list per field (NaN where NULL)."""

    bed: str
    wall_utc: list[str]
    values: dict[str, list[float]]


def numerics(
    conn: sqlite3.Connection, *, bed: str | None = None, since: str | None = None
) -> dict[str, Trends]:
    """Numerics per bed, in wall-time order."""
    where, params = _where(bed, since)
    cursor = conn.execute(
        f"SELECT bed, wall_utc, {', '.join(NUMERIC_FIELDS)} FROM numerics{where} "
        "ORDER BY bed, wall_utc",
        params,
    )
    out: dict[str, Trends] = {}
    for row in cursor:
        trends = out.get(row[0])
        if trends is None:
            trends = out[row[0]] = Trends(row[0], [], {name: [] for name in NUMERIC_FIELDS})
        trends.wall_utc.append(row[1])
        for name, value in zip(NUMERIC_FIELDS, row[2:], strict=True):
            trends.values[name].append(math.nan if value is None else float(value))
    return out


def beds(conn: sqlite3.Connection) -> list[str]:
    """Every bed with an alarm event or numerics in the journal."""
    rows = conn.execute(
        "SELECT bed FROM alarm_events UNION SELECT bed FROM numerics ORDER BY bed"
    ).fetchall()
    return [bed for (bed,) in rows]


# ---------------------------------------------------------------------- latency
@dataclass(frozen=True, slots=True)
class StepLatency:
    """One step of the alarm path over the journal: how many events had it, and its spread."""

    step: str
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float


PROCESSING = "processing delay (arrived -> emitted)"
CONDITION_DELAY = "condition delay (evidence delay_s, per alarm)"


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of sorted values: always a value that was measured."""
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def latency(stored: Iterable[dict[str, Any]]) -> list[StepLatency]:
    """Per-step latencies from the events' stamps.

    Each event's stamps are taken in `STAGES` order and every consecutive pair present is
    one step (an event without "queued" gives "arrived -> analysed"), so an event's steps add
    up to its whole path. Then the processing delay (emitted - arrived), and the condition
    delay the analysis applied on purpose (evidence `delay_s`), counted once per alarm: it is
    clinical waiting, not processing.
    """
    steps: dict[tuple[int, int], list[float]] = {}
    processing: list[float] = []
    delays: dict[int, float] = {}
    for event in stored:
        stamps = event.get("stamps") or {}
        present = [(i, stamps[name]) for i, name in enumerate(STAGES) if name in stamps]
        for (i, a), (j, b) in itertools.pairwise(present):
            steps.setdefault((i, j), []).append((b - a) / 1e6)
        if "arrived" in stamps and "emitted" in stamps:
            processing.append((stamps["emitted"] - stamps["arrived"]) / 1e6)
        alarm = event.get("alarm") or {}
        delay = ((alarm.get("condition") or {}).get("evidence") or {}).get("delay_s")
        if isinstance(delay, (int, float)) and math.isfinite(delay):
            delays.setdefault(int(alarm.get("alarm_id", 0)), float(delay) * 1000.0)
    rows = [
        _spread(f"{STAGES[i]} -> {STAGES[j]}", values) for (i, j), values in sorted(steps.items())
    ]
    if processing:
        rows.append(_spread(PROCESSING, processing))
    if delays:
        rows.append(_spread(CONDITION_DELAY, list(delays.values())))
    return rows


def _spread(step: str, values: list[float]) -> StepLatency:
    ordered = sorted(values)
    return StepLatency(
        step, len(ordered), percentile(ordered, 50), percentile(ordered, 99), ordered[-1]
    )
