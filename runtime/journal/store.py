"""The journal: every alarm event and operator action, committed before any sink signals.

What survives what (SQLite's own guarantees, https://www.sqlite.org/wal.html and
https://www.sqlite.org/pragma.html#pragma_synchronous): the journal runs in WAL mode with
`synchronous=FULL`, and checks at open that both took effect. In that mode every commit
fsyncs the write-ahead log before it returns, so

* when `record_events` (or `record_action`) has returned, its rows are committed: they
  survive the process being killed (SIGKILL, a crash) and an OS crash or power loss, on
  storage that honours fsync (not every SD card or USB stick does: that is the hardware's
  promise, not SQLite's);
* when it raises `JournalWriteError`, nothing of that call was written (the transaction is
  rolled back whole) and the caller still signals the sinks and raises a technical alarm;
* numerics trends are not the record of truth: `record_numerics` buffers them in memory and
  commits them `NUMERICS_COMMIT_S` seconds after the oldest was buffered (on the next
  `record_numerics` or `record_delivery` after that, or at `flush`, `prune`, `close`), in
  their own transaction, never in an alarm's. A kill loses the trends buffered since the
  last commit (about 5 s while they arrive at 1 Hz; the runtime also flushes on its
  housekeeping tick); a trend write can never delay or fail an alarm write.
* `record_delivery` adds later stage stamps ("journaled", "emitted") to rows already
  written. They are latency diagnostics, buffered and committed with the trends: a kill
  may lose the last seconds of them, never an alarm event.

Alarm events and actions are kept for ever (delete the file to start over); numerics older
than the retention are deleted by `prune`, which the runtime calls hourly.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vigil.errors import VigilError
from vigil.firmware_bridge.protocol import NUMERIC_FIELDS
from vigil.runtime.alarms.model import Alarm, AlarmEvent, EventKind, OperatorCommand
from vigil.runtime.alarms.serialize import alarm_from_dict, alarm_to_dict
from vigil.runtime.journal import schema

DEFAULT_JOURNAL_PATH = Path("vigil-journal.db")
"""Where `vigil alarms` and `vigil report` look without --journal (the configuration's default)."""

NUMERICS_COMMIT_S = 5.0
"""The most seconds of 1 Hz trends held in memory before a commit: what a kill may lose."""

BUSY_TIMEOUT_S = 5.0
"""How long a write waits for another connection's write lock before it fails."""

FINAL_EVENTS = (EventKind.ENDED.value, EventKind.CANCELLED.value)
_SYNCHRONOUS = {0: "off", 1: "normal", 2: "full", 3: "extra"}


class JournalError(VigilError):
    """The journal cannot be opened, created or written at start."""


class JournalWriteError(JournalError):
    """A write failed while running (disk full, I/O error, locked): nothing of it was kept."""


class Journal:
    """The alarm record of truth, one SQLite file. Thread-safe: one lock serialises the
    runtime's writes (alarm thread) and the live view's reads (another thread)."""

    def __init__(
        self,
        path: Path,
        *,
        numerics_retention_s: float = 30 * 86400,
        wall_clock: Callable[[], float] = time.time,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
    ) -> None:
        self.path = Path(path)
        self.numerics_retention_s = float(numerics_retention_s)
        self.numerics_lost = 0  # buffered trend rows dropped because their commit failed
        self._wall_clock = wall_clock
        self._clock_ns = clock_ns
        self._lock = threading.RLock()
        self._numerics: list[tuple[Any, ...]] = []  # buffered rows (see NUMERICS_COMMIT_S)
        self._stamps: list[tuple[int, dict[str, int]]] = []  # buffered delivery stamps
        self._buffered_since_ns = 0
        self._conn: sqlite3.Connection | None = None
        self._conn = _open_for_writing(self.path, busy_timeout_s, wall_clock)

    # ------------------------------------------------------------------ writes
    def record_events(self, events: Sequence[AlarmEvent]) -> list[int]:
        """Commit `events` in one transaction; return their row ids (seq), in order.

        Returning means committed (durable, see the module docstring). Sets each event's
        `stamps["journaled"]` to `clock_ns()` after the commit.
        """
        if not events:
            return []
        wall = schema.utc_text(self._wall_clock())
        rows = [_event_row(event, wall) for event in events]
        insert = _insert("alarm_events", schema.EVENT_COLUMNS)
        with self._lock:
            conn = self._writable(f"{len(events)} alarm event(s)")
            try:
                conn.execute("BEGIN IMMEDIATE")
                seqs = [int(conn.execute(insert, row).lastrowid or 0) for row in rows]
                conn.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                self._rollback()
                raise self._write_error(f"{len(events)} alarm event(s)", exc) from exc
        journaled = self._clock_ns()
        for event in events:
            event.stamps["journaled"] = journaled
        return seqs

    def record_delivery(self, seqs: Sequence[int], stamps: Sequence[Mapping[str, int]]) -> None:
        """Merge later stage stamps into the rows `seqs` (so `vigil alarms --latency` sees the
        whole path from sample to first sink). Buffered and committed with the trends."""
        if len(seqs) != len(stamps):
            raise ValueError(f"{len(seqs)} seqs but {len(stamps)} stamp dicts")
        extra = [
            (int(seq), {str(k): int(v) for k, v in given.items()})
            for seq, given in zip(seqs, stamps, strict=True)
        ]
        with self._lock:
            self._buffer(self._stamps, extra)

    def record_action(self, cmd: OperatorCommand, at_s: float, outcome: str) -> None:
        """Commit one operator action (who and where: `cmd.actor`) with its outcome."""
        row = (
            schema.utc_text(self._wall_clock()),
            cmd.bed,
            cmd.action,
            int(cmd.alarm_id),
            float(cmd.seconds),
            cmd.actor,
            outcome,
            float(at_s),
        )
        with self._lock:
            conn = self._writable("an operator action")
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(_insert("actions", schema.ACTION_COLUMNS), row)
                conn.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                self._rollback()
                raise self._write_error(f"operator action {cmd.action!r}", exc) from exc

    def record_numerics(self, bed: str, device_time_s: float, values: Mapping[str, float]) -> None:
        """Buffer one row of trends (NaN and missing fields stored as NULL; keys outside the
        protocol's NUMERIC_FIELDS are not trends the journal keeps). Commits when the oldest
        buffered row is `NUMERICS_COMMIT_S` old."""
        row = (
            bed,
            schema.utc_text(self._wall_clock()),
            float(device_time_s),
            *(_finite_or_none(values.get(name)) for name in NUMERIC_FIELDS),
        )
        with self._lock:
            self._buffer(self._numerics, [row])

    def flush(self) -> None:
        """Commit the buffered numerics and delivery stamps now."""
        with self._lock:
            self._commit_buffered()

    def prune(self) -> int:
        """Delete numerics older than the retention (by wall time); return the rows deleted.
        Alarm events and actions are never pruned."""
        cutoff = schema.utc_text(self._wall_clock() - self.numerics_retention_s)
        with self._lock:
            self._commit_buffered()
            conn = self._writable("a numerics prune")
            try:
                conn.execute("BEGIN IMMEDIATE")
                beds = [b for (b,) in conn.execute("SELECT DISTINCT bed FROM numerics")]
                removed = 0
                for bed in beds:  # per bed, so the (bed, wall_utc) index does the search
                    cursor = conn.execute(
                        "DELETE FROM numerics WHERE bed = ? AND wall_utc < ?", (bed, cutoff)
                    )
                    removed += max(cursor.rowcount, 0)
                conn.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                self._rollback()
                raise self._write_error("a numerics prune", exc) from exc
        return removed

    # ------------------------------------------------------------------ reads
    def open_alarms(self) -> list[Alarm]:
        """The last snapshot of every alarm not ENDED or CANCELLED, by id: what a restarted
        runtime restores (a latched, unacknowledged alarm keeps signalling across restarts)."""
        with self._lock:
            rows = (
                self._readable()
                .execute(
                    "SELECT snapshot FROM alarm_events WHERE seq IN "
                    "(SELECT MAX(seq) FROM alarm_events GROUP BY alarm_id) "
                    "AND event NOT IN (?, ?) AND state != 'ended' ORDER BY alarm_id",
                    FINAL_EVENTS,
                )
                .fetchall()
            )
        return [alarm_from_dict(json.loads(snapshot)) for (snapshot,) in rows]

    def max_alarm_id(self) -> int:
        """The highest alarm id ever written (0 for a new journal): ids are never reused."""
        with self._lock:
            (value,) = (
                self._readable()
                .execute("SELECT COALESCE(MAX(alarm_id), 0) FROM alarm_events")
                .fetchone()
            )
        return int(value)

    def pragmas(self) -> dict[str, Any]:
        """The settings this connection actually runs with (durability is checked at open)."""
        with self._lock:
            conn = self._readable()
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            sync = conn.execute("PRAGMA synchronous").fetchone()[0]
            keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
            busy = conn.execute("PRAGMA busy_timeout").fetchone()[0]
        return {
            "journal_mode": str(mode).lower(),
            "synchronous": _SYNCHRONOUS.get(int(sync), str(sync)),
            "foreign_keys": bool(keys),
            "busy_timeout_ms": int(busy),
        }

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Commit buffered numerics and stamps, and close. Idempotent; closes even if that
        commit fails (then raises JournalWriteError after closing)."""
        with self._lock:
            if self._conn is None:
                return
            try:
                self._commit_buffered()
            finally:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ inside
    def _readable(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError(f"journal {self.path} is closed")
        return self._conn

    def _writable(self, what: str) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalWriteError(f"journal {self.path} is closed: {what} not written")
        return self._conn

    def _rollback(self) -> None:
        conn = self._conn
        if conn is not None and conn.in_transaction:  # SQLite may have rolled back already
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    def _write_error(self, what: str, exc: BaseException) -> JournalWriteError:
        return JournalWriteError(
            f"journal {self.path}: {what} not written: {_why(self.path, exc)}; {_advice(exc)}"
        )

    def _buffer(self, into: list[Any], items: list[Any]) -> None:
        if not items:
            return
        now = self._clock_ns()
        if not self._numerics and not self._stamps:
            self._buffered_since_ns = now
        into.extend(items)
        if now - self._buffered_since_ns >= NUMERICS_COMMIT_S * 1e9:
            self._commit_buffered()

    def _commit_buffered(self) -> None:
        """One transaction for the buffered trends and stamps. On failure they are dropped
        (and counted): memory stays bounded while a disk is full."""
        rows, self._numerics = self._numerics, []
        stamps, self._stamps = self._stamps, []
        parts = [f"{len(rows)} numerics row(s)"] if rows else []
        parts += [f"{len(stamps)} delivery stamp set(s)"] if stamps else []
        if not parts:
            return
        what = " and ".join(parts)
        conn = self._writable(what)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_insert("numerics", schema.NUMERICS_COLUMNS), rows)
            for seq, extra in stamps:
                found = conn.execute(
                    "SELECT stamps FROM alarm_events WHERE seq = ?", (seq,)
                ).fetchone()
                if found is not None:
                    merged = {**json.loads(found[0]), **extra}
                    conn.execute(
                        "UPDATE alarm_events SET stamps = ? WHERE seq = ?", (_to_json(merged), seq)
                    )
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            self._rollback()
            self.numerics_lost += len(rows)
            raise self._write_error(f"{what} (dropped)", exc) from exc


def _open_for_writing(
    path: Path, busy_timeout_s: float, wall_clock: Callable[[], float]
) -> sqlite3.Connection:
    """Open, check durability settings, migrate, and prove a write transaction works."""
    if not path.parent.is_dir():
        problem = "is not a folder" if path.parent.exists() else "does not exist"
        raise JournalError(
            f"cannot open journal {path}: folder {path.parent} {problem}; create it or set "
            "another journal path"
        )
    if path.is_dir():
        raise JournalError(f"cannot open journal {path}: it is a folder; name a file")
    try:
        conn = sqlite3.connect(
            str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open journal {path}: {_why(path, exc)}") from exc
    try:
        mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
        conn.execute("PRAGMA synchronous=FULL")
        sync = int(conn.execute("PRAGMA synchronous").fetchone()[0])
        if mode != "wal" or sync != 2:
            raise JournalError(
                f"journal {path} cannot run durably: it needs journal_mode 'wal' and "
                f"synchronous 'full' but got {mode!r} and {_SYNCHRONOUS.get(sync, sync)!r}; put "
                "the journal in a file on a local file system"
            )
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA foreign_keys=ON")
        schema.migrate(conn, path)
        conn.execute("BEGIN IMMEDIATE")  # a real write: an unwritable or full location fails now
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_opened_utc', ?)",
            (schema.utc_text(wall_clock()),),
        )
        conn.execute("COMMIT")
    except schema.SchemaError as exc:
        conn.close()
        raise JournalError(str(exc)) from exc
    except JournalError:
        conn.close()
        raise
    except (sqlite3.Error, OSError) as exc:
        conn.close()
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
            raise JournalError(
                f"{path} is not a SQLite database ({exc}): move it away or set another journal path"
            ) from exc
        raise JournalError(
            f"cannot write journal {path}: {_why(path, exc)}; make the location writable, free "
            "space, or set another journal path"
        ) from exc
    return conn


def _why(path: Path, exc: BaseException) -> str:
    """SQLite's message, plus the OS's reason where a probe write in the folder finds one
    (SQLite says 'unable to open database file' for a missing permission or a full disk)."""
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as probe:
        return f"{exc} ({probe.strerror or probe} in {path.parent})"
    return str(exc)


def _advice(exc: BaseException) -> str:
    if getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return "another process holds its write lock: one runtime per journal file"
    return "free space or fix the storage"


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _event_row(event: AlarmEvent, wall: str) -> tuple[Any, ...]:
    a = event.alarm
    return (
        a.alarm_id,
        a.bed,
        a.kind,
        a.key,
        event.event.value,
        a.state.value,
        a.priority.name.lower(),
        a.category.value,
        int(event.audible),
        event.actor,
        float(event.at_s),
        wall,
        float(a.condition.onset_s),
        _finite_or_none(a.condition.value),
        _to_json(alarm_to_dict(a)),
        _to_json(event.stamps),
    )


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _to_json(obj: Any) -> str:
    """Strict JSON (no NaN tokens): an alarm must never fail to be written because a detector
    put a NaN or a numpy value in its evidence."""
    return json.dumps(_finite(obj), allow_nan=False, default=_plain, separators=(",", ":"))


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _plain(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return _finite(obj.tolist())
    return str(obj)
