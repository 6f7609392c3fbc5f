"""A journal that fails while the runtime runs: the failure is itself a technical alarm, the
alarms still reach the sinks, and the alarm ends when the journal can be written again.

"Disk full" is SQLite's own: the journal connection's `max_page_count` is capped just above
the pages the file has and another table fills them (as another program fills a disk), so the
journal's next commit that needs a page fails with SQLITE_FULL.
"""

from __future__ import annotations

import json
import sqlite3
from fractions import Fraction

import pytest
from runtime_rig import MonitorRig, wait_for

from vigil.runtime.config import config_in_folder
from vigil.runtime.service.runtime import VigilRuntime
from vigil.runtime.sinks.jsonl import JsonlSink

pytestmark = pytest.mark.slow


def _fill_the_disk(runtime: VigilRuntime) -> None:
    journal = runtime.journal
    with journal._lock:  # the journal serialises its connection's use with this lock
        conn = journal._conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 4}")
        conn.execute("CREATE TABLE IF NOT EXISTS filler (b BLOB)")
        for size in (4000, 1000, 200, 50):
            try:
                while True:
                    conn.execute("INSERT INTO filler VALUES (randomblob(?))", (size,))
                    conn.commit()
            except sqlite3.OperationalError:  # database or disk is full
                conn.rollback()


def _free_the_disk(runtime: VigilRuntime) -> None:
    journal = runtime.journal
    with journal._lock:
        journal._conn.execute("PRAGMA max_page_count = 1073741823")


def test_a_full_journal_is_a_technical_alarm_and_alarms_still_reach_the_sinks(tmp_path):
    rig = MonitorRig(speed=Fraction(4))
    bed = rig.add("bed-1", "ventricular_tachycardia", 1, tmp_path)
    rig.start()
    config = config_in_folder(tmp_path, [("bed-1", bed.port)])
    jsonl = tmp_path / "alarms.jsonl"
    runtime = VigilRuntime(config, sinks=[JsonlSink(jsonl)]).start()

    def emitted() -> list[dict]:
        if not jsonl.exists():
            return []
        return [json.loads(x) for x in jsonl.read_text().splitlines()]

    try:
        _fill_the_disk(runtime)
        failed = wait_for(
            lambda: [e for e in emitted() if e["alarm"]["kind"] == "journal_failed"],
            40,
            "a journal_failed technical alarm at the sink",
        )
        wait_for(
            lambda: any(e["alarm"]["kind"] == "vt" for e in emitted()),
            40,
            "the VT alarm at the sink",
        )
        assert failed[0]["alarm"]["priority"] == "high"
        assert failed[0]["alarm"]["category"] == "technical"
        assert "full" in json.dumps(failed[0]["alarm"]["condition"]["evidence"]).lower()
        assert runtime.journal_failures >= 1
        _free_the_disk(runtime)
        wait_for(
            lambda: any(
                e["alarm"]["kind"] == "journal_failed" and e["event"] == "ended" for e in emitted()
            ),
            20,
            "journal_failed to end once the journal can be written",
        )
    finally:
        runtime.stop()
        rig.close()
