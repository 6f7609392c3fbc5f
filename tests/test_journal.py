"""The journal as the alarm record of truth: what record_events returning means (a committed
event survives SIGKILL of the writer), WAL + synchronous=FULL, what a restarted runtime
restores, how it fails (at start: naming the path; at run time: JournalWriteError, nothing
half-written, usable again after), schema migrations, numerics buffering and retention."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from vigil.runtime.alarms.model import (
    Alarm,
    AlarmEvent,
    AlarmState,
    EventKind,
    OperatorCommand,
)
from vigil.runtime.alarms.serialize import alarm_from_dict
from vigil.runtime.analysis.condition import CONDITION_KINDS, condition
from vigil.runtime.journal import (
    NUMERICS_COMMIT_S,
    Journal,
    JournalError,
    JournalWriteError,
    schema,
)
from vigil.runtime.journal.queries import numerics, open_read_only

STATE_AFTER = {
    "pending": AlarmState.PENDING,
    "condition_ended": AlarmState.LATCHED,
    "acknowledged": AlarmState.ACKNOWLEDGED,
    "ended": AlarmState.ENDED,
    "cancelled": AlarmState.ENDED,
}
DAY_S = 86400.0


def alarm_event(
    alarm_id: int,
    event: str = "activated",
    *,
    bed: str = "bed-1",
    kind: str = "hr_high",
    key: str = "hr",
    at_s: float = 10.0,
    value: float = 131.0,
    actor: str = "",
    stamps: dict[str, int] | None = None,
    evidence: dict | None = None,
) -> AlarmEvent:
    """An event as the alarm manager emits it (the state follows the event)."""
    cond = condition(kind, bed, at_s - 1.0, key=key, value=value, evidence=evidence)
    state = STATE_AFTER.get(event, AlarmState.ACTIVE)
    alarm = Alarm(
        alarm_id=alarm_id,
        bed=bed,
        kind=kind,
        key=key,
        category=cond.category,
        priority=cond.priority,
        base_priority=cond.priority,
        latching=CONDITION_KINDS[kind].latching,
        state=state,
        condition=cond,
        condition_present=event not in ("condition_ended", "ended", "cancelled"),
        raised_s=at_s,
        activated_s=None if event in ("pending", "cancelled") else at_s,
        acknowledged_by=actor if event == "acknowledged" else "",
        acknowledged_s=at_s if event == "acknowledged" else None,
    )
    return AlarmEvent(
        alarm, EventKind(event), at_s, state is AlarmState.ACTIVE, actor, stamps or {}
    )


class Clock:
    """An injected clock the test moves by hand (wall seconds, monotonic ns)."""

    def __init__(self, wall_s: float = 1_700_000_000.0) -> None:
        self.wall_s = wall_s
        self.ns = 1_000_000_000

    def wall(self) -> float:
        return self.wall_s

    def mono(self) -> int:
        return self.ns


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def journal(tmp_path, clock):
    j = Journal(tmp_path / "vigil-journal.db", wall_clock=clock.wall, clock_ns=clock.mono)
    yield j
    j.close()


def rows(path: Path, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


# ---------------------------------------------------------------------- durability
WRITER = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_journal import alarm_event
from vigil.runtime.journal import Journal

journal = Journal(Path(sys.argv[1]))
alarm_id = 0
while True:
    alarm_id += 1
    event = alarm_event(alarm_id, bed="bed-%d" % (alarm_id % 3), value=100.0 + alarm_id)
    journal.record_numerics("bed-0", float(alarm_id), {{"hr": 60.0}})
    (seq,) = journal.record_events([event])
    print(seq, alarm_id, flush=True)
"""


def test_every_event_whose_record_events_returned_survives_sigkill_of_the_writer(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(tests=str(Path(__file__).parent)))
    db = tmp_path / "killed.db"
    child = subprocess.Popen(
        [sys.executable, str(script), str(db)], stdout=subprocess.PIPE, text=True
    )
    printed: list[tuple[int, int]] = []
    try:
        while len(printed) < 40:
            line = child.stdout.readline()
            assert line, f"writer exited early with {child.wait()}"
            seq, alarm_id = map(int, line.split())
            printed.append((seq, alarm_id))
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    stored = {
        seq: (alarm_id, bed, value, snapshot)
        for seq, alarm_id, bed, value, snapshot in rows(
            db, "SELECT seq, alarm_id, bed, value, snapshot FROM alarm_events"
        )
    }
    for seq, alarm_id in printed:
        assert seq in stored, f"seq {seq} was returned by record_events but is gone"
        stored_id, bed, value, snapshot = stored[seq]
        assert (stored_id, bed, value) == (alarm_id, f"bed-{alarm_id % 3}", 100.0 + alarm_id)
        assert alarm_from_dict(json.loads(snapshot)).alarm_id == alarm_id
    with Journal(db) as reopened:  # a killed journal reopens and goes on numbering
        assert reopened.max_alarm_id() >= printed[-1][1]


def test_journal_runs_in_wal_mode_with_synchronous_full(journal):
    assert journal.pragmas() == {
        "journal_mode": "wal",
        "synchronous": "full",
        "foreign_keys": True,
        "busy_timeout_ms": 5000,
    }
    assert rows(journal.path, "PRAGMA journal_mode") == [("wal",)]  # a second connection


def test_a_location_that_cannot_run_wal_is_refused_as_not_durable():
    with pytest.raises(JournalError, match=r"needs journal_mode 'wal' .* but got 'memory'"):
        Journal(Path(":memory:"))


# ---------------------------------------------------------------------- writing
def test_record_events_commits_in_order_and_stamps_journaled_after_the_commit(journal, clock):
    clock.ns = 7_000
    batch = [
        alarm_event(1, stamps={"arrived": 10, "managed": 20}),
        alarm_event(2, "pending", kind="spo2_low", key="spo2", value=86.0),
    ]
    seqs = journal.record_events(batch)
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 2
    assert [e.stamps["journaled"] for e in batch] == [7_000, 7_000]
    stored = rows(
        journal.path,
        "SELECT seq, alarm_id, kind, event, state, priority, category, audible, wall_utc, "
        "value, stamps, snapshot FROM alarm_events ORDER BY seq",
    )
    assert [r[:9] for r in stored] == [
        (seqs[0], 1, "hr_high", "activated", "active", "medium", "physiological", 1,
         "2023-11-14T22:13:20.000Z"),
        (seqs[1], 2, "spo2_low", "pending", "pending", "medium", "physiological", 0,
         "2023-11-14T22:13:20.000Z"),
    ]  # fmt: skip
    assert [r[9] for r in stored] == [131.0, 86.0]
    assert json.loads(stored[0][10]) == {"arrived": 10, "managed": 20}  # as they were at commit
    assert [alarm_from_dict(json.loads(r[11])) for r in stored] == [e.alarm for e in batch]


def test_record_delivery_merges_later_stage_stamps_into_the_rows(journal):
    event = alarm_event(1, stamps={"arrived": 100})
    (seq,) = journal.record_events([event])
    event.stamps["emitted"] = 900
    journal.record_delivery([seq], [event.stamps])
    (stored,) = rows(journal.path, "SELECT stamps FROM alarm_events WHERE seq = ?", (seq,))
    assert json.loads(stored[0]) == {"arrived": 100}  # diagnostics: buffered with the trends
    journal.flush()
    (stored,) = rows(journal.path, "SELECT stamps FROM alarm_events WHERE seq = ?", (seq,))
    assert json.loads(stored[0]) == {"arrived": 100, "journaled": event.stamps["journaled"],
                                     "emitted": 900}  # fmt: skip


def test_every_operator_action_is_kept_with_who_where_outcome_and_utc(journal):
    ack = OperatorCommand("ack", "bed-1", "socket:uid=1000", alarm_id=12)
    journal.record_action(ack, 55.5, "unknown alarm 12")
    journal.record_action(
        OperatorCommand("audio_pause", "bed-1", "device:SIM-1", seconds=120), 56, "ok"
    )
    assert rows(journal.path, "SELECT * FROM actions ORDER BY seq") == [
        (1, "2023-11-14T22:13:20.000Z", "bed-1", "ack", 12, 0.0, "socket:uid=1000",
         "unknown alarm 12", 55.5),
        (2, "2023-11-14T22:13:20.000Z", "bed-1", "audio_pause", 0, 120.0, "device:SIM-1", "ok",
         56.0),
    ]  # fmt: skip


def test_nan_and_numpy_values_in_evidence_are_written_as_strict_json(journal):
    np = pytest.importorskip("numpy")
    evidence = {"limit": float("nan"), "beats": np.array([1.5, np.nan]), "n": np.int64(3)}
    journal.record_events([alarm_event(1, evidence=evidence, value=math.nan)])
    ((snapshot, value),) = rows(journal.path, "SELECT snapshot, value FROM alarm_events")
    strict = json.loads(snapshot, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert strict["condition"]["evidence"] == {"limit": None, "beats": [1.5, None], "n": 3}
    assert value is None


# ---------------------------------------------------------------------- restart
def test_open_alarms_are_the_latched_and_acknowledged_ones_not_the_ended(tmp_path, clock):
    path = tmp_path / "j.db"
    with Journal(path, wall_clock=clock.wall, clock_ns=clock.mono) as journal:
        journal.record_events([alarm_event(1, kind="vt", key="", value=160.0)])
        journal.record_events([alarm_event(1, "condition_ended", kind="vt", key="")])
        journal.record_events([alarm_event(2), alarm_event(3, "pending", kind="spo2_low")])
        journal.record_events([alarm_event(2, "ended"), alarm_event(3, "cancelled")])
        journal.record_events([alarm_event(4, kind="resp_low", key="resp")])
        journal.record_events(
            [alarm_event(4, "acknowledged", kind="resp_low", key="resp", actor="view")]
        )
        journal.record_events([alarm_event(5, "pending", kind="temp_high", key="temp")])
    with Journal(path) as restarted:
        restored = restarted.open_alarms()
        assert [(a.alarm_id, a.kind, a.state) for a in restored] == [
            (1, "vt", AlarmState.LATCHED),
            (4, "resp_low", AlarmState.ACKNOWLEDGED),
            (5, "temp_high", AlarmState.PENDING),
        ]
        assert restored[1].acknowledged_by == "view"
        assert restored[0].latching
        assert not restored[0].condition_present
        assert restarted.max_alarm_id() == 5


def test_a_new_journal_has_no_open_alarms_and_max_alarm_id_zero(journal):
    assert journal.open_alarms() == []
    assert journal.max_alarm_id() == 0


def test_reads_and_writes_from_two_threads_are_serialised(journal):
    failures: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                journal.open_alarms()
                journal.max_alarm_id()
        except BaseException as exc:
            failures.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for alarm_id in range(1, 101):
            journal.record_events([alarm_event(alarm_id)])
            journal.record_numerics("bed-1", alarm_id, {"hr": 60.0})
    finally:
        done.set()
        reader.join()
    assert failures == []
    assert journal.max_alarm_id() == 100
    assert len(journal.open_alarms()) == 100


# ---------------------------------------------------------------------- numerics
def test_numerics_nan_is_stored_as_null_and_read_back_as_nan(journal):
    journal.record_numerics("bed-1", 12.0, {"hr": 72.0, "spo2": math.nan, "temp": 36.6})
    journal.flush()
    ((hr, spo2, nibp_sys),) = rows(journal.path, "SELECT hr, spo2, nibp_sys FROM numerics")
    assert (hr, spo2, nibp_sys) == (72.0, None, None)
    conn = open_read_only(journal.path)
    try:
        trends = numerics(conn)["bed-1"]
    finally:
        conn.close()
    assert trends.values["hr"] == [72.0]
    assert math.isnan(trends.values["spo2"][0])
    assert math.isnan(trends.values["nibp_sys"][0])


def test_numerics_are_buffered_until_the_commit_interval_then_committed(journal, clock):
    journal.record_numerics("bed-1", 0.0, {"hr": 60.0})
    clock.ns += int((NUMERICS_COMMIT_S - 1) * 1e9)
    journal.record_numerics("bed-1", 4.0, {"hr": 61.0})
    assert rows(journal.path, "SELECT COUNT(*) FROM numerics") == [(0,)]  # may be lost on a kill
    journal.record_events([alarm_event(1)])  # an alarm never carries trends in its transaction
    assert rows(journal.path, "SELECT COUNT(*) FROM numerics") == [(0,)]
    clock.ns += int(1e9)
    journal.record_numerics("bed-1", 5.0, {"hr": 62.0})
    assert rows(journal.path, "SELECT hr FROM numerics ORDER BY device_time_s") == [
        (60.0,),
        (61.0,),
        (62.0,),
    ]


def test_prune_deletes_numerics_past_retention_by_wall_time_and_keeps_alarms(tmp_path, clock):
    with Journal(
        tmp_path / "j.db", numerics_retention_s=30 * DAY_S, wall_clock=clock.wall
    ) as journal:
        journal.record_numerics("bed-1", 0.0, {"hr": 60.0})
        journal.record_numerics("bed-2", 0.0, {"hr": 61.0})
        journal.record_events([alarm_event(1)])
        clock.wall_s += 29 * DAY_S
        journal.record_numerics("bed-1", 1.0, {"hr": 62.0})
        assert journal.prune() == 0
        clock.wall_s += 2 * DAY_S
        assert journal.prune() == 2
        assert rows(journal.path, "SELECT bed, hr FROM numerics") == [("bed-1", 62.0)]
        assert journal.max_alarm_id() == 1


# ---------------------------------------------------------------------- failing at start
def test_a_missing_parent_folder_is_an_error_naming_it(tmp_path):
    missing = tmp_path / "no-such-dir"
    with pytest.raises(JournalError, match=re.escape(f"folder {missing} does not exist")):
        Journal(missing / "j.db")
    assert not missing.exists()


def test_a_parent_that_is_a_file_is_an_error_naming_it(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(JournalError, match=re.escape(f"folder {blocker} is not a folder")):
        Journal(blocker / "j.db")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_an_unwritable_folder_fails_at_start_naming_the_path_and_the_reason(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(JournalError, match=re.escape(f"{locked / 'j.db'}")) as caught:
            Journal(locked / "j.db")
        assert "Permission denied" in str(caught.value)
    finally:
        locked.chmod(0o700)


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("shopping list\n" * 100)
    with pytest.raises(JournalError, match=re.escape(f"{path} is not a SQLite database")):
        Journal(path)
    assert path.read_text() == "shopping list\n" * 100


def test_a_sqlite_database_of_another_program_is_refused(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match=r"not a Vigil journal \(it holds tables contacts\)"):
        Journal(path)
    assert rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'") == [("contacts",)]


# ---------------------------------------------------------------------- failing at run time
def test_a_full_disk_at_run_time_raises_journal_write_error_and_keeps_nothing_half_written(
    journal,
):
    journal.record_events([alarm_event(1)])
    (pages,) = journal._conn.execute("PRAGMA page_count").fetchone()  # the test's one peek:
    journal._conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL
    big = [alarm_event(i, evidence={"beats": list(range(2000))}) for i in range(2, 12)]
    with pytest.raises(JournalWriteError, match=re.escape(str(journal.path))) as caught:
        journal.record_events(big)
    assert "full" in str(caught.value)
    assert all("journaled" not in e.stamps for e in big)
    assert rows(journal.path, "SELECT alarm_id FROM alarm_events") == [(1,)]

    journal._conn.execute("PRAGMA max_page_count = 1073741823")  # space again
    journal.record_events(big)
    assert journal.max_alarm_id() == 11


def test_a_journal_locked_by_another_writer_raises_journal_write_error(tmp_path):
    path = tmp_path / "j.db"
    with Journal(path, busy_timeout_s=0.05) as journal:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(JournalWriteError, match="one runtime per journal file"):
                journal.record_events([alarm_event(1)])
            journal.record_numerics("bed-1", 0.0, {"hr": 60.0})
            with pytest.raises(JournalWriteError, match=r"1 numerics row\(s\) \(dropped\)"):
                journal.flush()
            assert journal.numerics_lost == 1
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert journal.record_events([alarm_event(1)]) == [1]


def test_close_is_idempotent_and_a_write_after_close_is_a_journal_write_error(tmp_path):
    journal = Journal(tmp_path / "j.db")
    journal.record_numerics("bed-1", 0.0, {"hr": 60.0})
    journal.close()
    journal.close()
    assert rows(journal.path, "SELECT hr FROM numerics") == [(60.0,)]  # close flushed
    with pytest.raises(JournalWriteError, match="is closed"):
        journal.record_events([alarm_event(1)])


# ---------------------------------------------------------------------- schema
def test_a_journal_of_a_newer_schema_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "future.db"
    Journal(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = rows(path, "SELECT key, value FROM meta ORDER BY key")
    with pytest.raises(JournalError, match=r"schema version 99, written by a newer Vigil"):
        Journal(path)
    with pytest.raises(JournalError, match=r"schema version 99"):
        open_read_only(path)
    assert rows(path, "SELECT key, value FROM meta ORDER BY key") == before


def test_a_version_0_journal_is_migrated_keeping_its_rows_and_gaining_the_index(tmp_path):
    path = tmp_path / "old.db"
    with Journal(path) as fresh:  # an alarm written, then the journal made "unversioned"
        fresh.record_events([alarm_event(7, kind="vt", key="", value=170.0)])
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE meta")
    conn.execute("DROP INDEX numerics_bed_wall")
    conn.commit()
    conn.close()

    with Journal(path) as migrated:
        assert [a.alarm_id for a in migrated.open_alarms()] == [7]
    assert rows(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("1",)]
    assert rows(path, "SELECT name FROM sqlite_master WHERE name = 'numerics_bed_wall'") == [
        ("numerics_bed_wall",)
    ]


def test_migrations_run_in_order_each_committed_with_its_version_or_not_at_all(tmp_path):
    path = tmp_path / "j.db"
    Journal(path).close()

    def add_unit_column(conn: sqlite3.Connection) -> None:  # a future v1 -> v2
        conn.execute("ALTER TABLE numerics ADD COLUMN etco2 REAL")

    def broken(conn: sqlite3.Connection) -> None:  # a v2 -> v3 that fails half way
        conn.execute("ALTER TABLE numerics ADD COLUMN half REAL")
        raise sqlite3.OperationalError("simulated failure in the middle of a migration")

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError, match="simulated"):
            schema.migrate(conn, path, [*schema.MIGRATIONS, add_unit_column, broken])
        assert schema.schema_version(conn, path) == 2
        columns = [r[1] for r in conn.execute("PRAGMA table_info(numerics)")]
        assert "etco2" in columns
        assert "half" not in columns
        with pytest.raises(schema.SchemaError, match="schema version 2"):
            schema.migrate(conn, path)  # today's code refuses what the future wrote
    finally:
        conn.close()
