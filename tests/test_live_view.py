"""The live terminal view: what each bed's panel shows, and the keys an operator presses.

`render_view` is drawn into rich's recording console (text) and its segments (colours);
`LiveView.run` reads its keys from a real pseudo-terminal.
"""

from __future__ import annotations

import io
import os
import sys
import termios
import threading
import time

import numpy as np
import pytest
from alarm_values import make_alarm
from rich.console import Console
from rich.segment import Segment

from vigil.errors import VigilError
from vigil.runtime.alarms.model import AlarmState, BedSignal, OperatorCommand
from vigil.runtime.analysis.condition import Priority
from vigil.runtime.live_view import LiveView, ecg_trace, render_view
from vigil.runtime.view_model import BedView, RuntimeView

NAN = float("nan")
BRAILLE = range(0x2800, 0x2900)


def ecg(seconds: float = 4.0, fs: float = 250.0) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return (np.sin(np.pi * 1.2 * t) ** 40 * 1.2 - 0.1).astype(np.float32)  # 72 /min spikes


NUMERICS = {
    "hr": 72.0,
    "spo2": 97.0,
    "pulse_rate": 71.0,
    "nibp_sys": 121.0,
    "nibp_dia": 79.0,
    "nibp_mean": 93.0,
    "resp_rate": NAN,
    "temp": 36.84,
}
VT = make_alarm(
    "vt", AlarmState.LATCHED, alarm_id=12, value=152.0, evidence={"beat_times_s": [1] * 5}
)
SPO2 = make_alarm("spo2_low", alarm_id=13, value=86.0, key="spo2")
LEADS = make_alarm("leads_off", alarm_id=14, value=NAN)
TEMP = make_alarm(
    "temp_high", AlarmState.ACKNOWLEDGED, alarm_id=15, value=39.4, acknowledged_by="view"
)


def bed_1(**changes) -> BedView:
    fields = {
        "bed": "bed-1",
        "port": "/dev/pts/3",
        "link_state": "connected",
        "numerics": NUMERICS,
        "numerics_age_s": 1.0,
        "heart_rate": 70.6,
        "ecg": ecg(),
        "ecg_rate": 250.0,
        "ecg_label": "ECG II",
        "alarms": (VT, SPO2, LEADS, TEMP),
        "signal": BedSignal("bed-1", Priority.HIGH, Priority.HIGH, None),
    }
    fields.update(changes)
    return BedView(**fields)


BED_2 = BedView("bed-2", "/dev/pts/4", "disconnected", {}, None, None, np.zeros(0), 0.0)


def runtime_view(*beds: BedView, notes: tuple[str, ...] = ()) -> RuntimeView:
    return RuntimeView(beds or (bed_1(), BED_2), 3723.0, "/var/lib/vigil/journal.db", 41, notes)


def text_of(view: RuntimeView, **kw) -> str:
    console = Console(record=True, width=120, color_system="truecolor")
    console.print(render_view(view, width=120, **kw))
    return console.export_text()


def segments(view: RuntimeView, **kw) -> list[Segment]:
    console = Console(width=120, color_system="truecolor", force_terminal=True)
    return list(console.render(render_view(view, width=120, **kw), console.options))


def colour_of(segs: list[Segment], text: str) -> str | None:
    for seg in segs:
        if seg.text.strip() == text and seg.style is not None and seg.style.color is not None:
            return seg.style.color.name
    raise AssertionError(f"no coloured segment {text!r}")


# ---------------------------------------------------------------------------- a bed's panel
def test_numerics_shown_as_a_monitor_shows_them_with_vigils_hr_beside_the_devices():
    text = text_of(runtime_view())
    for shown in ("HR 72", "Vigil 71 /min", "SpO2 97 %", "PR 71", "NIBP 121/79 (93) mmHg"):
        assert shown in text
    assert "Temp 36.8 °C" in text


def test_invalid_or_missing_numerics_show_as_dashes():
    text = text_of(runtime_view())
    assert "RR --- /min" in text  # NaN from the device
    bed_2 = next(line for line in text.splitlines() if "NIBP ---/--- (---)" in line)
    assert "HR ---" in bed_2  # nothing received yet
    assert "Vigil --- /min" in bed_2


def test_panel_title_names_bed_port_and_link_state_in_its_colour():
    text = text_of(runtime_view())
    assert "bed-1  /dev/pts/3  CONNECTED" in text
    assert "bed-2  /dev/pts/4  DISCONNECTED" in text
    segs = segments(runtime_view())
    assert colour_of(segs, "CONNECTED") == "green"
    assert colour_of(segs, "DISCONNECTED") == "red"


def test_alarms_are_listed_with_ids_texts_kinds_and_state_marks():
    lines = text_of(runtime_view()).splitlines()

    def line_of(alarm_id: int) -> str:
        return next(line for line in lines if f"#{alarm_id} " in line)

    assert "HIGH" in line_of(12)
    assert "VT 5 beats 152/min" in line_of(12)
    assert "vt" in line_of(12)
    assert "LATCHED" in line_of(12)
    assert "MEDIUM" in line_of(13)
    assert "SpO2 LOW 86" in line_of(13)
    assert "ECG LEADS OFF" in line_of(14)
    assert "TECHNICAL" in line_of(14)
    assert "LOW" in line_of(15)
    assert "ACKNOWLEDGED by view" in line_of(15)


def test_alarm_colours_follow_priority_high_red_medium_yellow_low_cyan():
    segs = segments(runtime_view())
    assert colour_of(segs, "VT 5 beats 152/min") == "red"
    assert colour_of(segs, "SpO2 LOW 86") == "yellow"
    assert colour_of(segs, "TEMP HIGH 39.4") == "cyan"
    acknowledged = next(s for s in segs if s.text.strip() == "TEMP HIGH 39.4")
    assert acknowledged.style.dim  # acknowledged: still listed, no longer urgent


def test_an_audio_paused_bed_marks_its_silenced_alarms():
    paused = BedSignal("bed-1", Priority.HIGH, None, audio_paused_until_s=130.0)
    text = text_of(runtime_view(bed_1(signal=paused)))
    assert "bed-1  /dev/pts/3  CONNECTED  AUDIO PAUSED" in text
    vt_line = next(line for line in text.splitlines() if "#12 " in line)
    assert "LATCHED  AUDIO PAUSED" in vt_line
    temp_line = next(line for line in text.splitlines() if "#15 " in line)
    assert "AUDIO PAUSED" not in temp_line  # acknowledged alarms do not sound anyway
    assert "AUDIO PAUSED" not in text_of(runtime_view())


def test_a_bed_without_alarms_says_so():
    assert "no alarms" in text_of(runtime_view(bed_1(alarms=(), signal=None)))


def test_the_ecg_row_is_a_braille_trace_under_its_lead_label():
    lines = text_of(runtime_view()).splitlines()
    first = next(i for i, line in enumerate(lines) if "ECG II" in line)
    trace = lines[first : first + 3]  # three braille rows under one label
    assert sum(ord(ch) in BRAILLE for row in trace for ch in row) > 100
    assert any("no ECG" in line for line in lines)  # bed-2 has none yet


def test_footer_names_the_keys_and_the_selected_bed():
    text = text_of(runtime_view(), selected=1, message="acknowledged 2 alarms of bed-2")
    assert "a acknowledge all of bed-2" in text
    assert "p audio pause bed-2" in text
    assert "tab/1-9 select bed" in text
    assert "q quit" in text
    assert "▶ bed-2" in text
    assert "▶ bed-1" not in text
    assert "journal /var/lib/vigil/journal.db (41 events)" in text
    assert "up 1:02:03" in text
    assert "acknowledged 2 alarms of bed-2" in text


def test_runtime_notes_are_shown_in_red():
    view = runtime_view(notes=("bed-2: link lost 12 s ago",))
    assert "bed-2: link lost 12 s ago" in text_of(view)
    assert colour_of(segments(view), "bed-2: link lost 12 s ago") == "red"


# ---------------------------------------------------------------------------- the ECG trace
def test_trace_leaves_nan_gaps_blank_and_draws_the_rest():
    x = np.sin(np.linspace(0, 20 * np.pi, 600))
    x[200:400] = np.nan
    rows = ecg_trace(x, columns=30, rows=3)
    assert [len(r) for r in rows] == [30, 30, 30]
    columns = ["".join(r[c] for r in rows) for c in range(30)]
    assert all(col.strip() == "" for col in columns[11:19])  # the gap (samples 200-399)
    assert all(col.strip() for col in columns[:9] + columns[21:])  # the signal around it


def test_trace_keeps_a_one_sample_spike_narrower_than_a_column():
    x = np.zeros(1000)
    x[537] = 1.5
    rows = ecg_trace(x, columns=20, rows=3)
    assert rows[0].strip() != ""  # the spike reaches the top row
    assert rows[0].strip() == rows[0][10]  # only in the column that holds sample 537


def test_trace_of_a_flat_line_is_one_line_and_of_no_signal_is_blank():
    flat = ecg_trace(np.full(400, 0.2), columns=40, rows=3)
    assert sum(ch != " " for row in flat for ch in row) == 40
    assert ecg_trace(np.full(400, np.nan), columns=40) == [" " * 40] * 3
    assert ecg_trace(np.zeros(0), columns=10) == [" " * 10] * 3


def test_trace_with_fewer_samples_than_dots_fills_from_the_left():
    rows = ecg_trace(np.array([0.0, 1.0, 0.0, -1.0]), columns=10, rows=2)
    assert all(row[2:] == " " * 8 for row in rows)
    assert any(row[:2].strip() for row in rows)


# ---------------------------------------------------------------------------- keys
class Commands:
    """The runtime's command entry as the view calls it: records, answers, may refuse."""

    def __init__(self, refuse: bool = False) -> None:
        self.received: list[OperatorCommand] = []
        self.refuse = refuse
        self.changed = threading.Event()

    def __call__(self, cmd: OperatorCommand) -> str:
        self.received.append(cmd)
        self.changed.set()
        if self.refuse:
            raise VigilError(f"no bed {cmd.bed!r}")
        return f"{cmd.action} {cmd.bed}: done"


def test_keys_select_beds_and_send_ack_and_pause_for_the_selected_bed():
    view = runtime_view()
    commands = Commands()
    live = LiveView(lambda: view, commands, console=Console(file=io.StringIO()))
    assert live.press("a", view)
    assert live.press("2", view)
    assert live.press("p", view)
    assert live.press("\t", view)  # wraps back to bed-1
    assert live.press("9", view)  # no ninth bed: ignored
    assert live.press("a", view)
    assert commands.received == [
        OperatorCommand("ack", "bed-1", "view", alarm_id=0),
        OperatorCommand("audio_pause", "bed-2", "view", seconds=0.0),
        OperatorCommand("ack", "bed-1", "view", alarm_id=0),
    ]
    assert live.message == "ack bed-1: done"
    assert live.press("q", view) is False


def test_a_refused_command_is_shown_not_raised():
    view = runtime_view()
    live = LiveView(lambda: view, Commands(refuse=True), console=Console(file=io.StringIO()))
    assert live.press("p", view)
    assert live.message == "refused: no bed 'bed-1'"


def wait_for(event: threading.Event, what: str) -> None:
    if not event.wait(10.0):
        raise AssertionError(f"timed out waiting for {what}")


def wait_until(predicate, what: str) -> None:
    deadline = time.monotonic() + 10.0
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def test_run_reads_keys_from_a_terminal_and_restores_it_on_quit():
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        view = runtime_view()
        commands = Commands()
        out = io.StringIO()
        live = LiveView(
            lambda: view,
            commands,
            console=Console(file=out, width=120),
            refresh_hz=50.0,
            keys_fd=slave,
        )
        stop = threading.Event()
        runner = threading.Thread(target=live.run, args=(stop,), daemon=True)
        runner.start()
        wait_until(lambda: not termios.tcgetattr(slave)[3] & termios.ICANON, "cbreak mode")
        os.write(master, b"2a")  # no Enter needed; keys typed before cbreak were discarded
        wait_for(commands.changed, "the ack")
        os.write(master, b"q")
        runner.join(10.0)
        assert not runner.is_alive()
        assert stop.is_set()  # q stops the runtime too
        assert commands.received == [OperatorCommand("ack", "bed-2", "view")]
        assert termios.tcgetattr(slave) == before
        assert "bed-1  /dev/pts/3  CONNECTED" in out.getvalue()
    finally:
        os.close(master)
        os.close(slave)


def test_run_restores_the_terminal_when_drawing_fails():
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)

        def broken() -> RuntimeView:
            raise RuntimeError("snapshot failed")

        live = LiveView(broken, Commands(), console=Console(file=io.StringIO()), keys_fd=slave)
        with pytest.raises(RuntimeError, match="snapshot failed"):
            live.run(threading.Event())
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_run_without_a_terminal_draws_until_stopped():
    drawn = threading.Event()
    calls = []

    def snapshot() -> RuntimeView:
        calls.append(1)
        if len(calls) >= 3:
            drawn.set()
        return runtime_view()

    out = io.StringIO()
    live = LiveView(snapshot, Commands(), console=Console(file=out, width=120), refresh_hz=100.0)
    stop = threading.Event()
    runner = threading.Thread(target=live.run, args=(stop,), daemon=True)
    runner.start()
    wait_for(drawn, "three frames")
    stop.set()
    runner.join(10.0)
    assert not runner.is_alive()
    assert "bed-2" in out.getvalue()


def test_available_needs_two_terminals_and_a_real_term(monkeypatch):
    master, slave = os.openpty()
    with (
        os.fdopen(slave, "r", closefd=False) as tty_in,
        os.fdopen(slave, "w", closefd=False) as tty_out,
    ):
        monkeypatch.setattr(sys, "stdin", tty_in)
        monkeypatch.setattr(sys, "stdout", tty_out)
        monkeypatch.setenv("TERM", "xterm-256color")
        assert LiveView.available()
        monkeypatch.setenv("TERM", "dumb")
        assert not LiveView.available()
        monkeypatch.setenv("TERM", "xterm-256color")
        monkeypatch.setattr(sys, "stdout", io.StringIO())
        assert not LiveView.available()
    os.close(master)
    os.close(slave)
