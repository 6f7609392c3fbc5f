"""Technical conditions from the link and the runtime: link lost, data gaps, CRC bursts, clock
jumps, device resets, and the runtime's own on/off conditions.

`LinkEvent` and `LinkStats` are values, so most tests hand `LinkAlarms` exactly what a link
would report, with the host times at which it would. The last test runs the real thing: a
simulated monitor on a real pty, a real `SerialLink`, a cable pulled and put back.
"""

from __future__ import annotations

import dataclasses
import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.firmware_bridge.link import LinkState, LinkStats, SerialLink
from vigil.firmware_bridge.simulator.channels import default_rates
from vigil.firmware_bridge.simulator.monitor import SimulatedMonitor
from vigil.firmware_bridge.simulator.sources import SyntheticSource
from vigil.firmware_bridge.simulator.transports import PtyTransport
from vigil.records import LinkEvent, WaveformChunk
from vigil.runtime.analysis.condition import Category, Condition, Priority
from vigil.runtime.link_alarms import LinkAlarms, OnOff, runtime_condition

S = 1_000_000_000  # ns per second
T0 = 1_000 * S  # an arbitrary host monotonic time


def snapshot(
    state: LinkState = LinkState.CONNECTED,
    *,
    age: float | None = 0.05,
    crc: int = 0,
    corrupt: int = 0,
    connects: int = 1,
    disconnects: int = 0,
) -> LinkStats:
    return LinkStats(
        port="/dev/ttyUSB0",
        state=state,
        device_id="BED-7",
        bytes_in=1000,
        bytes_discarded=0,
        frames_ok=100,
        crc_errors=crc,
        corrupt_frames=corrupt,
        seq_gaps=0,
        frames_lost=0,
        samples=5000,
        sample_gaps=0,
        samples_missing=0,
        connects=connects,
        disconnects=disconnects,
        clock_drift_ppm=0.0,
        clock_jumps=0,
        device_resets=0,
        frames_sent=10,
        tx_dropped=0,
        last_byte_age_s=age,
    )


def event(kind: str, t_s: float, detail: str = "", channel: int | None = None, count: int = 0):
    return LinkEvent("BED-7", kind, T0 + round(t_s * S), detail, channel, count)


def at(t_s: float) -> int:
    return T0 + round(t_s * S)


def starts(conditions: list[Condition], kind: str) -> list[Condition]:
    return [c for c in conditions if c.kind == kind and c.end_s is None]


def ends(conditions: list[Condition], kind: str) -> list[Condition]:
    return [c for c in conditions if c.kind == kind and c.end_s is not None]


# -- link_lost ----------------------------------------------------------------------------------
def test_silence_for_link_lost_s_raises_one_link_lost_and_repeated_snapshots_add_nothing():
    alarms = LinkAlarms("bed1", link_lost_s=3.0)
    assert alarms.on_stats(snapshot(age=0.05), at(0), 10.0) == []
    assert alarms.on_stats(snapshot(age=1.05), at(1), 10.0) == []  # quiet, the link not silent
    assert alarms.on_stats(snapshot(LinkState.SILENT, age=2.95), at(2.9), 10.0) == []
    (lost,) = alarms.on_stats(snapshot(LinkState.SILENT, age=3.05), at(3.0), 10.0)
    assert (lost.kind, lost.bed, lost.priority, lost.category) == (
        "link_lost",
        "bed1",
        Priority.HIGH,
        Category.TECHNICAL,
    )
    assert (lost.onset_s, lost.end_s, lost.decided_ns) == (10.0, None, at(3.0))
    assert lost.evidence["no_data_for_s"] == pytest.approx(3.05)
    assert lost.evidence["state"] == "silent"
    for k in range(4, 10):  # still silent: nothing new
        assert alarms.on_stats(snapshot(LinkState.SILENT, age=k + 0.05), at(k), 10.0) == []
    assert alarms.active == [lost]


def test_a_disconnect_raises_link_lost_once_the_last_byte_is_link_lost_s_old():
    alarms = LinkAlarms("bed1", link_lost_s=3.0)
    alarms.on_stats(snapshot(age=0.01), at(0), 20.0)
    assert alarms.on_event(event("disconnected", 0.2, "[Errno 5] Input/output error"), 20.2) == []
    down = snapshot(LinkState.DISCONNECTED, age=1.01, disconnects=1)
    assert alarms.on_stats(down, at(1), 20.2) == []
    assert alarms.on_stats(dataclasses.replace(down, last_byte_age_s=2.99), at(2.98), 20.2) == []
    (lost,) = alarms.on_stats(dataclasses.replace(down, last_byte_age_s=3.01), at(3), 20.2)
    assert lost.kind == "link_lost"
    assert lost.evidence["event"] == "disconnected"
    assert lost.evidence["detail"] == "[Errno 5] Input/output error"
    assert lost.evidence["disconnects"] == 1
    assert lost.evidence["no_data_for_s"] == pytest.approx(3.01)


def test_a_disconnect_event_alone_is_measured_from_its_arrival():
    alarms = LinkAlarms("bed1", link_lost_s=3.0)
    assert alarms.on_event(event("disconnected", 0.0, "cable"), 5.0) == []
    down = snapshot(LinkState.DISCONNECTED, age=None, disconnects=1)
    assert alarms.on_stats(down, at(2.9), 5.0) == []
    (lost,) = alarms.on_stats(down, at(3.0), 5.0)
    assert lost.evidence["no_data_for_s"] == 3.0
    assert lost.evidence["last_byte_seen"] is False


def test_link_lost_ends_when_data_flows_after_reconnect_not_when_the_port_merely_opens():
    alarms = LinkAlarms("bed1", link_lost_s=3.0)
    alarms.on_stats(snapshot(age=0.0), at(0), 30.0)
    alarms.on_event(event("disconnected", 0.1), 30.0)
    (lost,) = alarms.on_stats(snapshot(LinkState.DISCONNECTED, age=4.0), at(4), 30.0)
    assert lost.kind == "link_lost"
    assert alarms.on_event(event("connected", 5.0, "reconnected"), 30.0) == []
    reopened = snapshot(LinkState.CONNECTED, age=None, connects=2, disconnects=1)
    assert alarms.on_stats(reopened, at(5.2), 30.0) == []  # an open port with nothing behind it
    (end,) = alarms.on_event(event("hello", 5.3, "fw vigil-sim 1.0: ECG II@500Hz"), 30.0)
    assert (end.kind, end.onset_s, end.end_s) == ("link_lost", 30.0, 30.0)
    assert end.evidence["ended_by"] == "hello"
    assert end.evidence["no_data_for_s"] == pytest.approx(5.3)
    assert alarms.on_stats(snapshot(age=0.01, connects=2), at(6), 31.0) == []
    assert alarms.active == []


def test_link_lost_ends_on_a_snapshot_with_fresh_bytes_and_can_start_again():
    alarms = LinkAlarms("bed1", link_lost_s=1.0)
    (lost,) = alarms.on_stats(snapshot(LinkState.SILENT, age=1.5), at(0), 7.0)
    assert alarms.on_stats(snapshot(LinkState.SILENT, age=2.5), at(1), 7.0) == []
    (end,) = alarms.on_stats(snapshot(LinkState.CONNECTED, age=0.1), at(2), 8.0)
    assert end.end_s == 8.0
    assert end.evidence["ended_by"] == "data"
    assert ends([end], "link_lost")[0].onset_s == lost.onset_s
    (again,) = alarms.on_stats(snapshot(LinkState.SILENT, age=1.2), at(3.1), 9.0)
    assert again.kind == "link_lost"
    assert again.end_s is None


def test_a_resumed_link_within_link_lost_s_raises_nothing():
    alarms = LinkAlarms("bed1", link_lost_s=3.0)
    alarms.on_stats(snapshot(age=0.0), at(0), 1.0)
    alarms.on_event(event("disconnected", 0.5), 1.0)
    alarms.on_stats(snapshot(LinkState.DISCONNECTED, age=1.0), at(1), 1.0)
    alarms.on_event(event("connected", 1.5, "reconnected"), 1.0)
    assert alarms.on_event(event("hello", 1.6), 1.0) == []
    for k in range(2, 10):
        assert alarms.on_stats(snapshot(age=0.05, connects=2), at(k), 1.0 + k) == []


def test_a_stopped_or_never_connected_link_is_not_a_lost_link():
    alarms = LinkAlarms("bed1", link_lost_s=1.0)
    never = snapshot(LinkState.CONNECTING, age=None, connects=0)
    assert alarms.on_stats(never, at(0), 0.0) == []
    assert alarms.on_stats(never, at(5), 0.0) == []
    assert alarms.on_stats(snapshot(LinkState.STOPPED, age=9.0), at(10), 0.0) == []


def test_snapshots_must_move_forward_in_time():
    alarms = LinkAlarms("bed1")
    alarms.on_stats(snapshot(), at(5), 1.0)
    alarms.on_stats(snapshot(), at(5), 1.0)  # the same time again is fine
    with pytest.raises(ValueError, match="goes back"):
        alarms.on_stats(snapshot(), at(4.9), 1.0)


# -- crc_errors ---------------------------------------------------------------------------------
def test_a_crc_burst_within_the_window_raises_crc_errors_once_and_a_clean_window_ends_it():
    alarms = LinkAlarms("bed1", crc_burst_errors=5, crc_burst_window_s=10.0)
    out = alarms.on_stats(snapshot(crc=3, corrupt=1), at(0), 0.0)  # the baseline, not a burst
    for k in range(1, 5):  # 1 new error a second: 4 within the window
        out += alarms.on_stats(snapshot(crc=3 + k, corrupt=1), at(k), float(k))
    assert out == []
    (burst,) = alarms.on_stats(snapshot(crc=7, corrupt=2), at(5), 5.0)  # the 5th: a corrupt frame
    assert (burst.kind, burst.priority, burst.onset_s) == ("crc_errors", Priority.LOW, 5.0)
    assert burst.evidence["errors_in_window"] == 5
    assert (burst.evidence["crc_errors"], burst.evidence["corrupt_frames"]) == (7, 2)
    out = []
    for k in range(6, 15):  # more errors, then none after 8 s: no duplicate, no early end
        crc = 7 + min(k, 8) - 5
        out += alarms.on_stats(snapshot(crc=crc, corrupt=2), at(k), float(k))
    assert out == []
    (end,) = alarms.on_stats(snapshot(crc=10, corrupt=2), at(18), 18.0)  # 8 s + 10 s clean
    assert (end.kind, end.end_s) == ("crc_errors", 18.0)
    assert end.evidence["errors_in_burst"] == 8


def test_four_crc_errors_in_the_window_or_five_spread_wider_raise_nothing():
    alarms = LinkAlarms("bed1", crc_burst_errors=5, crc_burst_window_s=10.0)
    out = alarms.on_stats(snapshot(), at(0), 0.0)
    out += alarms.on_stats(snapshot(crc=4), at(1), 1.0)
    for k in range(2, 40, 3):  # then one every 3 s: at most 4 in any 10 s
        out += alarms.on_stats(snapshot(crc=4 + (k + 1) // 3), at(10 + k), 10.0 + k)
    assert out == []


# -- data_gap, clock_jump, device_reset ---------------------------------------------------------
def test_a_sample_gap_raises_data_gap_with_the_missing_count_and_ends_after_gap_clear_s():
    alarms = LinkAlarms("bed1", gap_clear_s=10.0)
    (gap,) = alarms.on_event(event("sample_gap", 1.0, "ECG II", channel=1, count=140), 12.0)
    assert (gap.kind, gap.priority, gap.onset_s) == ("data_gap", Priority.LOW, 12.0)
    assert gap.evidence == {
        "event": "sample_gap",
        "detail": "ECG II",
        "source": "BED-7",
        "channel": 1,
        "samples_lost": 140,
    }
    assert alarms.on_event(event("samples_dropped", 5.0, "no HELLO", 2, 20), 16.0) == []
    assert alarms.on_stats(snapshot(), at(14.9), 26.0) == []  # 9.9 s after the last gap
    (end,) = alarms.on_stats(snapshot(), at(15.0), 26.0)
    assert (end.kind, end.end_s) == ("data_gap", 26.0)
    assert (end.evidence["events"], end.evidence["samples_lost_total"]) == (2, 160)
    (again,) = alarms.on_event(event("unknown_channel", 16.0, "not in HELLO", 9, 20), 27.0)
    assert again.kind == "data_gap"
    assert again.end_s is None


def test_overlapping_samples_lose_nothing_and_raise_nothing():
    alarms = LinkAlarms("bed1")
    assert alarms.on_event(event("samples_overlapped", 1.0, "ECG II", 1, 20), 3.0) == []
    assert alarms.on_event(event("connected", 1.0), 3.0) == []
    assert alarms.active == []


@pytest.mark.parametrize("kind", ["clock_jump", "device_reset"])
def test_clock_jumps_and_device_resets_are_low_priority_notices_that_end_after_notice_s(kind):
    alarms = LinkAlarms("bed1", notice_s=60.0)
    (start,) = alarms.on_event(event(kind, 0.0, "boot id 0x00c0ffee"), 100.0)
    assert (start.kind, start.priority, start.category) == (kind, Priority.LOW, Category.TECHNICAL)
    assert start.evidence["detail"] == "boot id 0x00c0ffee"
    assert alarms.on_event(event(kind, 30.0), 130.0) == []  # again: the notice lasts longer
    assert alarms.on_stats(snapshot(), at(89.0), 189.0) == []
    # a reset restarts the device clock: the end never comes before the onset
    (end,) = alarms.on_stats(snapshot(), at(90.0), 3.0)
    assert (end.kind, end.onset_s, end.end_s) == (kind, 100.0, 100.0)
    assert end.evidence["events"] == 2


# -- the whole state machine: properties ---------------------------------------------------------
STEP = st.one_of(
    st.tuples(
        st.just("stats"),
        st.sampled_from(list(LinkState)),
        st.one_of(st.none(), st.floats(0, 8)),
        st.integers(0, 4),
    ),
    st.tuples(
        st.just("event"),
        st.sampled_from(
            [
                "connected",
                "disconnected",
                "silent",
                "resumed",
                "hello",
                "sample_gap",
                "clock_jump",
                "device_reset",
                "samples_overlapped",
            ]
        ),
        st.integers(0, 200),
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 4), STEP), max_size=60))
def test_every_condition_starts_once_and_ends_once_after_it_started(steps):
    alarms = LinkAlarms("bed1", link_lost_s=2.0, crc_burst_errors=3, crc_burst_window_s=5.0)
    now, device_s, crc = T0, 0.0, 0
    active: dict[tuple, Condition] = {}
    for dt, step in steps:
        now += round(dt * S)
        device_s += dt
        if step[0] == "stats":
            _, state, age, new_crc = step
            crc += new_crc
            out = alarms.on_stats(snapshot(state, age=age, crc=crc), now, device_s)
        else:
            _, kind, count = step
            out = alarms.on_event(LinkEvent("BED-7", kind, now, "", 1, count), device_s)
        for c in out:
            assert c.category is Category.TECHNICAL
            if c.end_s is None:
                assert c.identity not in active, f"{c.kind} started twice"
                active[c.identity] = c
            else:
                start = active.pop(c.identity)
                assert c.onset_s == start.onset_s <= c.end_s
    assert sorted(c.identity for c in alarms.active) == sorted(active)


# -- runtime conditions ---------------------------------------------------------------------------
def test_runtime_conditions_start_once_and_end_once_however_often_reported():
    backlog = OnOff("queue_backpressure", "bed1", clock_ns=lambda: 42)
    (start,) = backlog.update(True, 5.0, queue="numerics", depth=256)
    assert (start.kind, start.priority, start.onset_s, start.decided_ns) == (
        "queue_backpressure",
        Priority.MEDIUM,
        5.0,
        42,
    )
    assert start.evidence == {"queue": "numerics", "depth": 256}
    assert backlog.update(True, 6.0, depth=256) == []
    (end,) = backlog.update(False, 7.0, depth=3)
    assert (end.end_s, end.evidence["depth"]) == (7.0, 3)
    assert backlog.update(False, 8.0) == []
    mqtt = OnOff("sink_failed", "bed1", key="mqtt")
    (failed,) = mqtt.update(True, 1.0, sink="mqtt", error="connection refused")
    assert (failed.key, failed.priority) == ("mqtt", Priority.MEDIUM)
    journal = runtime_condition("journal_failed", "bed1", 2.0, error="disk full")
    assert (journal.priority, journal.evidence) == (Priority.HIGH, {"error": "disk full"})
    with pytest.raises(ValueError, match="not a technical"):
        OnOff("asystole", "bed1")
    with pytest.raises(ValueError, match="not one of"):
        runtime_condition("link_lost", "bed1", 0.0)


# -- the real link ---------------------------------------------------------------------------------
class Bedside:
    """A simulated monitor streaming in real time into a pty, a real link reading it, and
    `LinkAlarms` fed as the runtime feeds it: every event, a snapshot every 100 ms."""

    def __init__(self, tmp_path) -> None:
        path = tmp_path / "ttyBED1"
        self.transport = PtyTransport(path)
        self.monitor = SimulatedMonitor(SyntheticSource("normal", 1, default_rates()), seed=1)
        self.records: list = []
        self.link = SerialLink(str(path), self.records.append, backoff_s=(0.05, 0.2)).start()
        self.alarms = LinkAlarms("bed1", link_lost_s=1.0)
        self.conditions: list[Condition] = []
        self.device_s = 0.0
        self._seen = 0
        self._t0 = time.monotonic()
        self._next_stats = 0.0

    def pump_until(self, done, limit_s: float = 8.0) -> None:
        deadline = time.monotonic() + limit_s
        while not done():
            now = time.monotonic()
            if now > deadline:
                raise AssertionError(f"timed out; conditions so far: {self.conditions}")
            t = Fraction(round((now - self._t0) * 1000), 1000)
            self.transport.write(self.monitor.frames_until(t))
            self.monitor.receive(self.transport.read(), t)
            while self._seen < len(self.records):
                record = self.records[self._seen]
                self._seen += 1
                if isinstance(record, WaveformChunk):
                    self.device_s = max(self.device_s, float(record.end_index / record.rate))
                elif isinstance(record, LinkEvent):
                    self.conditions += self.alarms.on_event(record, self.device_s)
            if now >= self._next_stats:
                self._next_stats = now + 0.1
                stats = self.link.stats()
                self.conditions += self.alarms.on_stats(stats, time.monotonic_ns(), self.device_s)
            time.sleep(0.01)

    def close(self) -> None:
        self.link.stop()
        self.transport.close()


@pytest.mark.slow
def test_a_pulled_cable_raises_link_lost_and_putting_it_back_clears_it(tmp_path):
    bed = Bedside(tmp_path)
    try:
        bed.pump_until(lambda: bed.device_s >= 0.2)
        assert starts(bed.conditions, "link_lost") == []
        bed.transport.unplug()
        bed.pump_until(lambda: starts(bed.conditions, "link_lost"))
        bed.transport.replug()
        bed.pump_until(lambda: ends(bed.conditions, "link_lost"))
        bed.pump_until(lambda: starts(bed.conditions, "data_gap"))
    finally:
        bed.close()
    (lost,) = starts(bed.conditions, "link_lost")
    (back,) = ends(bed.conditions, "link_lost")
    assert lost.evidence["event"] == "disconnected"
    assert lost.evidence["no_data_for_s"] >= 1.0
    assert back.evidence["ended_by"] in ("hello", "data")
    assert back.end_s is not None
    assert back.end_s >= lost.onset_s
    (gap,) = starts(bed.conditions, "data_gap")
    assert gap.evidence["event"] == "sample_gap"
    assert gap.evidence["samples_lost"] > 0  # what the monitor sent while the cable was out
