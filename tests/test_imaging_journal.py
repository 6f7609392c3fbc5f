"""`vigil ultrasound --journal DB`: the findings' advisories reach the journal through the
alarm manager, as the vitals' alarms do, and `vigil alarms` lists them."""

from __future__ import annotations

import json
import sqlite3

from vigil.cli import main


def test_ultrasound_advisories_are_journaled_and_listed_by_vigil_alarms(tmp_path, capsys):
    db = tmp_path / "journal.db"
    code = main(
        [
            "ultrasound",
            "--source",
            "phantom:7",
            "--as-fast-as-possible",
            "--max-frames",
            "30",
            "--threads",
            "1",
            "--bed",
            "cart-1",
            "--journal",
            str(db),
        ]
    )
    assert code == 0
    assert "alarm events in" in capsys.readouterr().out
    rows = (
        sqlite3.connect(db)
        .execute("SELECT kind, category, priority, event, bed FROM alarm_events ORDER BY seq")
        .fetchall()
    )
    kinds = {(kind, category, priority, bed) for kind, category, priority, _, bed in rows}
    assert ("us_anechoic_region", "physiological", "low", "cart-1") in kinds
    events = [e for *_, e, _ in rows]
    assert "activated" in events
    assert "ended" in events  # the stream ended: advisories still active are closed
    assert main(["alarms", "--journal", str(db), "--json"]) == 0
    listed = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert any(e["alarm"]["kind"] == "us_anechoic_region" for e in listed)
