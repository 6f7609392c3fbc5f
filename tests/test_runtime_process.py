"""`vigil run` as a process: configuration errors, an unwritable journal, SIGTERM, and the
journal's promise under SIGKILL during an alarm storm."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
from runtime_rig import MonitorRig, wait_for

pytestmark = pytest.mark.slow

VIGIL = [sys.executable, "-m", "vigil.cli"]


def _toml(
    tmp_path: Path, ports: dict[str, str], journal: Path | None = None, processes: int = 1
) -> Path:
    beds = "".join(f'\n[[bed]]\nname = "{name}"\nport = "{port}"\n' for name, port in ports.items())
    text = (
        f'[runtime]\ncontrol_socket = "{tmp_path / "control.sock"}"\n'
        f"analysis_processes = {processes}\n"
        f'[journal]\npath = "{journal or tmp_path / "journal.db"}"\n'
        f'[sinks]\njsonl = "{tmp_path / "alarms.jsonl"}"\n{beds}'
    )
    path = tmp_path / "vigil.toml"
    path.write_text(text)
    return path


def _start(config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*VIGIL, "run", "--config", str(config), "--headless"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_corrupt_configuration_exits_2_naming_the_key_before_opening_any_port(tmp_path):
    config = tmp_path / "vigil.toml"
    config.write_text('[[bed]]\nname = "a"\nport = "/dev/ttyNOPE"\nbaudrate = "fast"\n')
    out = subprocess.run(
        [*VIGIL, "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert "vigil.toml" in out.stderr
    assert "baudrate" in out.stderr
    assert not (tmp_path / "vigil-journal.db").exists()


def test_an_unwritable_journal_fails_at_start_naming_it(tmp_path):
    """A folder without write permission (as a user), or one that is a file (which even root
    cannot write into): exit 1, naming the journal, before any port is opened."""
    if os.geteuid() == 0:
        blocked = tmp_path / "not-a-folder"
        blocked.write_text("a file where the journal's folder should be")
    else:
        blocked = tmp_path / "locked"
        blocked.mkdir()
        blocked.chmod(0o500)
    try:
        config = _toml(tmp_path, {"a": str(tmp_path / "tty-none")}, journal=blocked / "j.db")
        out = subprocess.run(
            [*VIGIL, "run", "--config", str(config), "--headless"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        if blocked.is_dir():
            blocked.chmod(0o700)
    assert out.returncode in (1, 2), out.stderr
    assert str(blocked / "j.db") in out.stderr or str(blocked) in out.stderr


def test_sigterm_stops_cleanly_with_exit_0(tmp_path):
    rig = MonitorRig(speed=Fraction(2))
    bed = rig.add("a", "normal", 1, tmp_path)
    rig.start()
    proc = _start(_toml(tmp_path, {"a": bed.port}))
    try:
        wait_for((tmp_path / "control.sock").exists, 30, "the control socket")
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        rig.close()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert not (tmp_path / "control.sock").exists()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


@pytest.mark.parametrize("processes", [1, 2], ids=["one process", "two analysis workers"])
def test_sigkill_during_an_alarm_storm_loses_no_signalled_alarm_and_restores_latches(
    tmp_path, processes
):
    """Every alarm event a sink emitted before the kill is in the journal; after a restart the
    latched, unacknowledged alarms come back as such. With analysis workers, killing the
    runtime ends them too (none is left holding a port)."""
    rig = MonitorRig(speed=Fraction(4))
    scenarios = ["ventricular_tachycardia", "asystole", "desaturation", "leads_off"]
    ports = {}
    for k, scenario in enumerate(scenarios):
        bed = rig.add(f"bed-{k + 1}", scenario, k + 1, tmp_path)
        ports[bed.name] = bed.port
    rig.start()
    config = _toml(tmp_path, ports, processes=processes)
    jsonl = tmp_path / "alarms.jsonl"
    proc = _start(config)
    try:

        def latched_emitted() -> list[dict]:
            if not jsonl.exists():
                return []
            lines = jsonl.read_text().splitlines()
            events = [json.loads(x) for x in lines if x.endswith("}")]
            highs = {e["alarm"]["kind"] for e in events if e["alarm"]["latching"]}
            return events if {"vt", "asystole"} <= highs else []

        wait_for(latched_emitted, 60, "VT and asystole alarms in the JSONL sink")
        workers = _children(proc.pid)
        assert len(workers) == (processes if processes > 1 else 0)
        time.sleep(0.5)  # keep the storm going: conditions still start and end
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: not any(_alive(w) for w in workers), 10, "the workers to end")
    finally:
        if proc.poll() is None:
            proc.kill()
    emitted = latched_emitted()
    db = sqlite3.connect(tmp_path / "journal.db")
    journaled = {(row[0], row[1]) for row in db.execute("SELECT alarm_id, event FROM alarm_events")}
    db.close()
    missing = [
        (e["alarm"]["alarm_id"], e["event"])
        for e in emitted
        if (e["alarm"]["alarm_id"], e["event"]) not in journaled
    ]
    assert missing == []
    latched_ids = {
        e["alarm"]["alarm_id"] for e in emitted if e["alarm"]["kind"] in ("vt", "asystole")
    }

    # restart on the same journal: the latched alarms are back, unacknowledged
    proc = _start(config)
    try:
        sock = tmp_path / "control.sock"  # the killed runtime's stale socket is still there
        from vigil.runtime.control import ControlError
        from vigil.runtime.control.client import send_request

        def restored() -> list[dict]:
            try:
                reply = send_request(sock, {"op": "alarms"})
            except ControlError:
                return []  # not listening yet
            return [a for a in reply["alarms"] if a["alarm_id"] in latched_ids]

        back = wait_for(restored, 40, "the latched alarms to be restored")
        assert {a["alarm_id"] for a in back} == latched_ids
        for alarm in back:
            assert alarm["state"] in ("latched", "active")
            assert alarm["acknowledged_by"] == ""
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
        rig.close()
