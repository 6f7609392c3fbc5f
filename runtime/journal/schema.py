"""The journal's tables, and the migrations that bring any older journal to them.

Version N of the schema is what `MIGRATIONS[0..N-1]` build, applied in order. Each migration
runs in its own write transaction together with the new `schema_version`, so a crash in the
middle of one leaves the journal at the version before it, never half-migrated. A journal
written by a newer Vigil is refused, not downgraded: its rows may mean what this code cannot
know.

Version 0 is a journal without a `meta` table: a new empty file, or a journal written before
the schema was versioned. Migration 0 -> 1 is idempotent DDL, so either reaches version 1 with
every table and index (an old journal that lacked the numerics index gets it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from vigil.errors import VigilError
from vigil.firmware_bridge.protocol import NUMERIC_FIELDS


class SchemaError(VigilError):
    """The file is not a journal this Vigil can use (newer schema, foreign database)."""


def utc_text(epoch_s: float) -> str:
    """Wall time as the journal stores it: ISO 8601 UTC, fixed width, so text order is time
    order and `--since` compares strings (e.g. 2024-05-01T12:00:00.123Z)."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_utc_text(text: str) -> datetime:
    return datetime.fromisoformat(text)


EVENT_COLUMNS = (
    "alarm_id",
    "bed",
    "kind",
    "key",
    "event",
    "state",
    "priority",
    "category",
    "audible",
    "actor",
    "at_s",
    "wall_utc",
    "onset_s",
    "value",
    "snapshot",
    "stamps",
)
ACTION_COLUMNS = ("wall_utc", "bed", "action", "alarm_id", "seconds", "actor", "outcome", "at_s")
NUMERICS_COLUMNS = ("bed", "wall_utc", "device_time_s", *NUMERIC_FIELDS)

_V1 = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS alarm_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        alarm_id INTEGER NOT NULL,
        bed TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        event TEXT NOT NULL,
        state TEXT NOT NULL,
        priority TEXT NOT NULL,
        category TEXT NOT NULL,
        audible INTEGER NOT NULL,
        actor TEXT NOT NULL,
        at_s REAL NOT NULL,
        wall_utc TEXT NOT NULL,
        onset_s REAL NOT NULL,
        value REAL,
        snapshot TEXT NOT NULL,
        stamps TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS alarm_events_bed_wall ON alarm_events (bed, wall_utc)",
    "CREATE INDEX IF NOT EXISTS alarm_events_alarm ON alarm_events (alarm_id)",
    """CREATE TABLE IF NOT EXISTS actions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        wall_utc TEXT NOT NULL,
        bed TEXT NOT NULL,
        action TEXT NOT NULL,
        alarm_id INTEGER NOT NULL,
        seconds REAL NOT NULL,
        actor TEXT NOT NULL,
        outcome TEXT NOT NULL,
        at_s REAL NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS numerics (bed TEXT NOT NULL, wall_utc TEXT NOT NULL, "
    "device_time_s REAL NOT NULL, " + ", ".join(f"{name} REAL" for name in NUMERIC_FIELDS) + ")",
    "CREATE INDEX IF NOT EXISTS numerics_bed_wall ON numerics (bed, wall_utc)",
)

Migration = Callable[[sqlite3.Connection], None]


def _v0_to_v1(conn: sqlite3.Connection) -> None:
    for statement in _V1:
        conn.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (_v0_to_v1,)
"""MIGRATIONS[n] takes a journal from schema version n to n + 1."""

CURRENT_VERSION = len(MIGRATIONS)
OWN_TABLES = frozenset({"meta", "alarm_events", "actions", "numerics", "sqlite_sequence"})


def tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(name) for (name,) in rows}


def schema_version(conn: sqlite3.Connection, path: Path) -> int:
    """The journal's version: 0 without a `meta` table (new, or written before versioning).

    Raises SchemaError for a SQLite database that holds other tables and none of ours.
    """
    present = tables(conn)
    if "meta" not in present:
        foreign = present - OWN_TABLES
        if foreign and "alarm_events" not in present:
            raise SchemaError(
                f"{path} is a SQLite database but not a Vigil journal (it holds tables "
                f"{', '.join(sorted(foreign))}): choose another journal path"
            )
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    try:
        return 0 if row is None else int(row[0])
    except ValueError:
        raise SchemaError(
            f"{path}: meta.schema_version is {row[0]!r}, not a number: the file is damaged or "
            "not a Vigil journal; move it away"
        ) from None


def check_readable(version: int, path: Path, current: int = CURRENT_VERSION) -> None:
    if version > current:
        raise SchemaError(
            f"{path} is a journal of schema version {version}, written by a newer Vigil; this "
            f"one knows versions up to {current}: upgrade Vigil, or give this one another "
            "journal path"
        )


def migrate(
    conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration] = MIGRATIONS
) -> int:
    """Bring the journal at `path` (open as `conn`, autocommit mode) to `len(migrations)`.

    Returns the version it found. Each step commits with its new version or not at all.
    """
    found = schema_version(conn, path)
    check_readable(found, path, len(migrations))
    for version in range(found, len(migrations)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            migrations[version](conn)
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(version + 1),),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return found
