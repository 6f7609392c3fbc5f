"""`vigil alarms` and `vigil report` as a user runs them on a journal the runtime wrote: the
table, JSON Lines, filters, the latency summary computed from the stage stamps, PNG and
self-contained HTML reports; a missing journal is one clear error and no new file."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from blocked_imports import block_imports
from test_journal import Clock, alarm_event

from vigil.errors import VigilError
from vigil.runtime.alarms.model import OperatorCommand
from vigil.runtime.alarms.serialize import event_from_dict
from vigil.runtime.journal import Journal
from vigil.runtime.journal.cli import register
from vigil.runtime.journal.schema import utc_text

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MS = 1_000_000  # ns


def cli(argv: list[str]) -> int:
    """What `vigil.cli.main` does for these subcommands (exit 1 and one line on a VigilError),
    on a parser holding only them, so these tests do not depend on the other rooms' CLIs."""
    parser = argparse.ArgumentParser(prog="vigil")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return 1


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def now() -> float:
    return time.time()


@pytest.fixture(scope="module")
def db(tmp_path_factory, now) -> Path:
    """bed-1: an HR alarm 3 h ago, acknowledged; bed-2, 10 min ago: leads off (technical,
    then ended), a VT, an SpO2 alarm cancelled while pending; numerics for both beds."""
    path = tmp_path_factory.mktemp("journal") / "vigil-journal.db"
    clock = Clock(now - 3 * 3600)
    with Journal(path, wall_clock=clock.wall, clock_ns=clock.mono) as journal:
        for i in range(60):
            clock.wall_s += 1
            journal.record_numerics("bed-1", i, {"hr": 100.0 + i, "spo2": 97.0, "nibp_sys": 120})
        hr = alarm_event(
            1,
            stamps={
                "arrived": 0,
                "queued": 1 * MS,
                "analysed": 3 * MS,
                "decided": 4 * MS,
                "managed": 5 * MS,
            },
            evidence={"delay_s": 15.0, "limit": 120.0},
        )
        clock.ns = 7 * MS
        (seq,) = journal.record_events([hr])
        journal.record_delivery([seq], [{**hr.stamps, "emitted": 8 * MS}])
        clock.wall_s += 30
        journal.record_events([alarm_event(1, "acknowledged", actor="socket:uid=1000")])
        journal.record_action(
            OperatorCommand("ack", "bed-1", "socket:uid=1000", alarm_id=1), 40.0, "ok"
        )

        clock.wall_s = now - 600
        for i in range(40):
            clock.wall_s += 1
            journal.record_numerics("bed-2", 100 + i, {"hr": 80.0 + i % 7, "resp_rate": 14.0})
        clock.wall_s -= 40
        leads = alarm_event(
            2,
            bed="bed-2",
            kind="leads_off",
            key="ECG II",
            value=float("nan"),
            stamps={"arrived": 0, "queued": 2 * MS, "analysed": 6 * MS, "managed": 7 * MS},
        )
        clock.ns = 10 * MS
        (seq,) = journal.record_events([leads])
        journal.record_delivery([seq], [{**leads.stamps, "emitted": 14 * MS}])
        clock.wall_s += 5
        journal.record_events(
            [
                alarm_event(3, bed="bed-2", kind="vt", key="", value=180.0),
                alarm_event(4, "pending", bed="bed-2", kind="spo2_low", key="spo2", value=88),
            ]
        )
        clock.wall_s += 20
        journal.record_events(
            [
                alarm_event(2, "ended", bed="bed-2", kind="leads_off", key="ECG II"),
                alarm_event(4, "cancelled", bed="bed-2", kind="spo2_low", key="spo2"),
            ]
        )
    return path


def table_rows(out: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines() if line.strip()]


# ---------------------------------------------------------------------- vigil alarms
def test_alarms_prints_a_table_of_every_event_in_commit_order(capsys, db, now):
    code, out, err = run(capsys, "alarms", "--journal", db)
    assert (code, err) == (0, "")
    rows = table_rows(out)
    assert rows[0] == ["time (UTC)", "bed", "alarm", "kind", "priority", "event", "state",
                       "actor", "value"]  # fmt: skip
    first = utc_text(now - 3 * 3600 + 60).replace("T", " ").removesuffix("Z")
    assert rows[1] == [first, "bed-1", "1", "hr_high/hr", "medium", "activated", "active", "-",
                       "131"]  # fmt: skip
    assert rows[2][2:8] == ["1", "hr_high/hr", "medium", "acknowledged", "acknowledged",
                            "socket:uid=1000"]  # fmt: skip
    assert rows[3][1:] == ["bed-2", "2", "leads_off/ECG II", "medium (tech)", "activated",
                           "active", "-", "-"]  # fmt: skip
    assert [r[5] for r in rows[4:8]] == ["activated", "pending", "ended", "cancelled"]
    assert rows[-1] == [f"7 alarm events in {db}"]


def test_alarms_json_writes_one_stored_event_per_line_in_the_shared_shape(capsys, db):
    code, out, _ = run(capsys, "alarms", "--journal", db, "--json")
    assert code == 0
    lines = out.splitlines()
    stored = [json.loads(line, parse_constant=pytest.fail) for line in lines]
    assert [d["seq"] for d in stored] == sorted(d["seq"] for d in stored)
    assert [d["alarm"]["alarm_id"] for d in stored] == [1, 1, 2, 3, 4, 2, 4]
    events = [event_from_dict(d) for d in stored]  # the one JSON shape reads back
    assert events[1].actor == "socket:uid=1000"
    assert events[0].stamps["emitted"] == 8 * MS
    assert events[0].stamps["journaled"] == 7 * MS
    assert events[0].alarm.condition.evidence == {"delay_s": 15.0, "limit": 120.0}


def test_alarms_filters_by_bed_and_since_a_duration_or_an_iso_time(capsys, db, now):
    _, out, _ = run(capsys, "alarms", "--journal", db, "--json", "--bed", "bed-1")
    assert {json.loads(line)["alarm"]["bed"] for line in out.splitlines()} == {"bed-1"}
    _, out, _ = run(capsys, "alarms", "--journal", db, "--json", "--since", "1h")
    assert [json.loads(line)["alarm"]["alarm_id"] for line in out.splitlines()] == [2, 3, 4, 2, 4]
    iso = utc_text(now - 3 * 3600 + 70).removesuffix("Z")  # between the HR alarm and its ack
    _, out, _ = run(capsys, "alarms", "--journal", db, "--json", "--since", iso)
    assert [json.loads(line)["event"] for line in out.splitlines()][:2] == [
        "acknowledged",
        "activated",
    ]
    _, out, _ = run(capsys, "alarms", "--journal", db, "--bed", "bed-2", "--since", "2m")
    assert out.splitlines()[-1] == f"0 alarm events in {db}"


def test_alarms_latency_summarises_each_stage_step_from_the_stamps(capsys, db):
    code, out, _ = run(capsys, "alarms", "--journal", db, "--latency")
    assert code == 0
    rows = {r[0]: r[1:] for r in table_rows(out)}
    assert rows["step"] == ["events", "p50 ms", "p99 ms", "max ms"]
    # hr: arrived 0, queued 1, analysed 3, decided 4, managed 5, journaled 7, emitted 8 (ms)
    # leads_off: arrived 0, queued 2, analysed 6, managed 7, journaled 10, emitted 14 (ms)
    assert rows["arrived -> queued"] == ["2", "1.000", "2.000", "2.000"]
    assert rows["queued -> analysed"] == ["2", "2.000", "4.000", "4.000"]
    assert rows["analysed -> decided"] == ["1", "1.000", "1.000", "1.000"]
    assert rows["decided -> managed"] == ["1", "1.000", "1.000", "1.000"]
    assert rows["analysed -> managed"] == ["1", "1.000", "1.000", "1.000"]
    assert rows["managed -> journaled"] == ["2", "2.000", "3.000", "3.000"]
    assert rows["journaled -> emitted"] == ["2", "1.000", "4.000", "4.000"]
    assert rows["processing delay (arrived -> emitted)"] == ["2", "8.000", "14.000", "14.000"]
    assert rows["condition delay (evidence delay_s, per alarm)"] == [
        "1",
        "15000.000",
        "15000.000",
        "15000.000",
    ]


def test_alarms_actions_lists_who_did_what_and_the_outcome(capsys, db):
    _, out, _ = run(capsys, "alarms", "--journal", db, "--actions")
    rows = table_rows(out)
    assert rows[1][1:] == ["bed-1", "ack", "1", "0", "socket:uid=1000", "ok"]


def test_a_missing_journal_is_one_clear_error_and_no_file_is_created(capsys, tmp_path):
    missing = tmp_path / "nope.db"
    code, out, err = run(capsys, "alarms", "--journal", missing)
    assert (code, out) == (1, "")
    assert err == f"vigil: error: no journal at {missing}: give the runtime's journal file with " \
                  "--journal DB\n"  # fmt: skip
    code, _, err = run(capsys, "report", "--journal", missing, "--out", tmp_path / "r.png")
    assert code == 1
    assert f"no journal at {missing}" in err
    assert list(tmp_path.iterdir()) == []


def test_without_journal_the_default_file_in_the_current_directory_is_read(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "alarms")
    assert code == 1
    assert "no journal at vigil-journal.db" in err
    assert list(tmp_path.iterdir()) == []


def test_a_bad_since_is_an_error_saying_what_is_accepted(capsys, db):
    code, _, err = run(capsys, "alarms", "--journal", db, "--since", "yesterday")
    assert code == 1
    assert "--since 'yesterday': give an ISO time" in err


def test_a_file_that_is_not_a_journal_is_named_in_the_error(capsys, tmp_path):
    notes = tmp_path / "notes.db"
    notes.write_text("not sqlite at all\n" * 50)
    code, _, err = run(capsys, "alarms", "--journal", notes)
    assert code == 1
    assert f"{notes} is not a readable SQLite journal" in err


def test_reading_commands_leave_the_journal_file_unchanged(capsys, db, tmp_path):
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    run(capsys, "alarms", "--journal", db, "--latency")
    run(capsys, "report", "--journal", db, "--out", tmp_path / "r.png")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


# ---------------------------------------------------------------------- vigil report
def test_report_writes_a_png_with_trends_and_the_alarm_timeline(capsys, db, tmp_path):
    out_png = tmp_path / "report.png"
    code, out, err = run(capsys, "report", "--journal", db, "--out", out_png)
    assert (code, err) == (0, "")
    assert out == f"report   {out_png}: 2 bed(s), 4 alarm(s)\n"
    data = out_png.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 10_000


def test_report_html_is_self_contained_with_the_figure_and_the_alarm_table(capsys, db, tmp_path):
    out_html = tmp_path / "report.html"
    code, _, _ = run(capsys, "report", "--journal", db, "--out", out_html, "--bed", "bed-2")
    assert code == 0
    page = out_html.read_text()
    assert '<table id="alarms">' in page
    assert '<table id="actions">' in page
    image = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert image
    assert base64.b64decode(image[1])[:8] == PNG_MAGIC
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing fetched from elsewhere
    alarms = page.split('<table id="alarms">')[1].split("</table>")[0]
    assert "leads_off (ECG II)" in alarms
    assert "vt" in alarms
    assert "never signalled" in alarms
    assert "hr_high" not in alarms  # --bed bed-2


def test_report_for_a_bed_with_nothing_names_the_beds_there_are(capsys, db, tmp_path):
    code, _, err = run(
        capsys, "report", "--journal", db, "--out", tmp_path / "r.png", "--bed", "bed-9"
    )
    assert code == 1
    assert f"nothing to report in {db} for bed 'bed-9' (beds in it: bed-1, bed-2)" in err
    assert not (tmp_path / "r.png").exists()


def test_report_refuses_an_output_that_is_neither_png_nor_html(capsys, db, tmp_path):
    code, _, err = run(capsys, "report", "--journal", db, "--out", tmp_path / "r.pdf")
    assert code == 1
    assert "name a .png or .html file" in err


def test_report_without_matplotlib_says_how_to_install_it(db, tmp_path):
    code = block_imports("matplotlib") + (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_journal_cli import cli\n"
        f"sys.exit(cli(['report', '--journal', {str(db)!r}, '--out', "
        f"{str(tmp_path / 'r.png')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stderr
    assert "vigil report needs matplotlib: pip install 'vigil-edge[plot]'" in done.stderr
    assert not (tmp_path / "r.png").exists()
