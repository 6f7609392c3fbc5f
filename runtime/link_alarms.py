"""Technical conditions from a bed's serial link, and from the runtime itself.

DESIGN.md, "No silent loss": every gap, CRC error, queue overflow and model failure is
counted, reported, and where it matters raised as a technical alarm. The link already counts
and reports (`LinkStats` snapshots, `LinkEvent` records); `LinkAlarms` decides which of those
are alarm conditions, for one bed. It is a pure object (pyserial's Protocol, STYLE.md): no
thread, no clock of its own; the runtime hands it events and about one snapshot a second,
each with the host monotonic time it happened and the bed's latest device time `device_s`,
which becomes the conditions' onset and end so they sit on the same time axis as the
analysis' conditions. `decided_ns` is the host time handed in. Device status flags (device
fault, battery low, probe off) are the analysis' `StatusDetector`'s, not repeated here.

Conditions (kinds and priorities: analysis/condition.py; none latches):

- `link_lost`: the link is *down* from a `disconnected` or `silent` event, or a snapshot in
  SILENT, DISCONNECTED, or CONNECTING after a connect, until data flows again: a `hello` or
  `resumed` event, or a CONNECTED snapshot whose last byte arrived after the link was seen
  down. A `connected` event alone does not end it: an open port with nothing behind it
  monitors nothing; the link asks for HELLO on every connect, so a live device answers at
  once. The condition starts once the link is down and no byte has come for `link_lost_s`,
  measured from the last byte (`last_byte_age_s`), or, when no byte was ever seen, from when
  the link was seen down. A cable pulled and put back within `link_lost_s` gives no
  `link_lost`, only the `data_gap` of the samples it cost.
- `data_gap`: samples lost (`sample_gap`), dropped before HELLO (`samples_dropped`), or
  discarded as an unknown channel (`unknown_channel`). Starts at the first, counts the rest,
  ends after `gap_clear_s` without another. Overlapping (repeated) samples lose nothing and
  raise nothing.
- `crc_errors`: at least `crc_burst_errors` CRC errors and corrupt frames (counter deltas
  between snapshots) within `crc_burst_window_s`; ends when a whole window passes without
  one. Counts before the first snapshot are its baseline, not a burst.
- `clock_jump`, `device_reset`: start on the event, end after `notice_s` without another.

`OnOff` starts and ends the runtime's own conditions (`queue_backpressure`, `journal_failed`,
`sink_failed`) once each, however often the runtime reports the same state.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from vigil.firmware_bridge.link import LinkState, LinkStats
from vigil.records import LinkEvent
from vigil.runtime.analysis.condition import (
    CONDITION_KINDS,
    Category,
    Condition,
    condition,
    ended,
)

GAP_EVENTS = ("sample_gap", "samples_dropped", "unknown_channel")
RUNTIME_KINDS = ("queue_backpressure", "journal_failed", "sink_failed")


class _Timed:
    """A condition that starts on an event and ends `clear_ns` after the last such event."""

    def __init__(self, clear_s: float) -> None:
        self.clear_ns = round(clear_s * 1e9)
        self.active: Condition | None = None
        self.last_ns = 0
        self.events = 0
        self.count = 0


class LinkAlarms:
    """Technical conditions of one bed's link (see the module docstring)."""

    def __init__(
        self,
        bed: str,
        *,
        link_lost_s: float = 3.0,
        crc_burst_errors: int = 5,
        crc_burst_window_s: float = 10.0,
        gap_clear_s: float = 10.0,
        notice_s: float = 60.0,
    ) -> None:
        if not (link_lost_s >= 0 and crc_burst_window_s > 0 and crc_burst_errors >= 1):
            raise ValueError(
                f"LinkAlarms({bed!r}): link_lost_s >= 0, crc_burst_window_s > 0 and "
                f"crc_burst_errors >= 1 are required, got {link_lost_s}, "
                f"{crc_burst_window_s}, {crc_burst_errors}"
            )
        self.bed = bed
        self._lost_ns = round(link_lost_s * 1e9)
        self._burst = crc_burst_errors
        self._window_ns = round(crc_burst_window_s * 1e9)
        self._stats_ns: int | None = None  # time of the last snapshot (moves forward only)
        # link_lost
        self._last_byte_ns: int | None = None  # newest host time a byte is known to have come
        self._seen_down_ns: int | None = None  # when the link was seen down; None: up
        self._down_cause: dict[str, Any] = {}
        self._lost: Condition | None = None
        # crc_errors
        self._crc_total: int | None = None
        self._crc_deltas: deque[tuple[int, int]] = deque()  # (ns, new errors)
        self._crc: Condition | None = None
        self._crc_in_burst = 0
        # event-started, time-ended
        self._timed = {
            "data_gap": _Timed(gap_clear_s),
            "clock_jump": _Timed(notice_s),
            "device_reset": _Timed(notice_s),
        }

    # -- inputs -------------------------------------------------------------------------------
    def on_event(self, event: LinkEvent, device_s: float) -> list[Condition]:
        """One link event; `device_s`: the bed's latest device time (s)."""
        now = event.arrival_ns
        out: list[Condition] = []
        kind = event.kind
        if kind in ("disconnected", "silent"):
            stale = self._last_byte_ns is not None and self._last_byte_ns > now
            if not stale:  # a byte came after it (the snapshot was read first): nothing lost
                self._down(now, {"event": kind, "detail": event.detail, "source": event.source})
        elif kind in ("hello", "resumed"):
            out += self._up(now, device_s, ended_by=kind, first_byte_ns=now)
            self._byte(now)
        elif kind in GAP_EVENTS:
            out += self._timed_event("data_gap", event, device_s, event.count)
        elif kind in ("clock_jump", "device_reset"):
            out += self._timed_event(kind, event, device_s, 1)
        out += self._check_lost(now, device_s, stats=None)
        out += self._expire(now, device_s)
        return out

    def on_stats(self, stats: LinkStats, now_ns: int, device_s: float) -> list[Condition]:
        """A `LinkStats` snapshot taken at host time `now_ns` (about once a second)."""
        if self._stats_ns is not None and now_ns < self._stats_ns:
            raise ValueError(
                f"LinkAlarms({self.bed!r}).on_stats: time {now_ns} ns goes back from "
                f"{self._stats_ns} ns (pass time.monotonic_ns() of each snapshot)"
            )
        self._stats_ns = now_ns
        out: list[Condition] = []
        byte_ns = None
        if stats.last_byte_age_s is not None:
            byte_ns = now_ns - round(stats.last_byte_age_s * 1e9)
        state = stats.state
        if state in (LinkState.SILENT, LinkState.DISCONNECTED) or (
            state is LinkState.CONNECTING and stats.connects > 0
        ):
            if self._seen_down_ns is None:
                self._down(now_ns, {"state": state.value, "port": stats.port})
        elif (
            state is LinkState.CONNECTED
            and self._seen_down_ns is not None
            and byte_ns is not None
            and byte_ns > self._seen_down_ns
        ):
            out += self._up(now_ns, device_s, ended_by="data", first_byte_ns=byte_ns)
        if byte_ns is not None:
            self._byte(byte_ns)
        out += self._check_lost(now_ns, device_s, stats)
        out += self._check_crc(stats, now_ns, device_s)
        out += self._expire(now_ns, device_s)
        return out

    @property
    def active(self) -> list[Condition]:
        """The conditions active now (for a status view)."""
        timed = [t.active for t in self._timed.values() if t.active is not None]
        return [c for c in (self._lost, self._crc) if c is not None] + timed

    # -- link_lost ----------------------------------------------------------------------------
    def _byte(self, ns: int) -> None:
        if self._last_byte_ns is None or ns > self._last_byte_ns:
            self._last_byte_ns = ns

    def _down(self, now: int, cause: dict[str, Any]) -> None:
        if self._seen_down_ns is None:
            self._seen_down_ns = now
            self._down_cause = cause

    def _up(
        self, now: int, device_s: float, *, ended_by: str, first_byte_ns: int
    ) -> list[Condition]:
        """Data flows again (from `first_byte_ns`): the end of link_lost, if it had started."""
        down_since = self._seen_down_ns
        self._seen_down_ns = None
        lost, self._lost = self._lost, None
        if lost is None or down_since is None:
            return []
        silent_s = (first_byte_ns - self._silence_from(down_since)) / 1e9
        evidence = {"ended_by": ended_by, "no_data_for_s": round(silent_s, 3)}
        return [_end(lost, device_s, now, evidence)]

    def _silence_from(self, seen_down: int) -> int:
        """Where silence is measured from: the last byte, else when the link was seen down."""
        return self._last_byte_ns if self._last_byte_ns is not None else seen_down

    def _check_lost(self, now: int, device_s: float, stats: LinkStats | None) -> list[Condition]:
        if self._seen_down_ns is None or self._lost is not None:
            return []
        silent_ns = now - self._silence_from(self._seen_down_ns)
        if silent_ns < self._lost_ns:
            return []
        evidence: dict[str, Any] = dict(self._down_cause)
        evidence["no_data_for_s"] = round(silent_ns / 1e9, 3)
        evidence["last_byte_seen"] = self._last_byte_ns is not None
        if stats is not None:
            evidence.update(state=stats.state.value, port=stats.port, disconnects=stats.disconnects)
        self._lost = _start("link_lost", self.bed, device_s, now, evidence)
        return [self._lost]

    # -- crc_errors ---------------------------------------------------------------------------
    def _check_crc(self, stats: LinkStats, now: int, device_s: float) -> list[Condition]:
        total = stats.crc_errors + stats.corrupt_frames
        previous, self._crc_total = self._crc_total, total
        if previous is not None:
            new = total - previous if total >= previous else total  # a new link counts from 0
            if new > 0:
                self._crc_deltas.append((now, new))
                if self._crc is not None:
                    self._crc_in_burst += new
        while self._crc_deltas and self._crc_deltas[0][0] <= now - self._window_ns:
            self._crc_deltas.popleft()
        in_window = sum(n for _, n in self._crc_deltas)
        if self._crc is None and in_window >= self._burst:
            self._crc_in_burst = in_window
            evidence = {
                "errors_in_window": in_window,
                "window_s": self._window_ns / 1e9,
                "crc_errors": stats.crc_errors,
                "corrupt_frames": stats.corrupt_frames,
                "port": stats.port,
            }
            self._crc = _start("crc_errors", self.bed, device_s, now, evidence)
            return [self._crc]
        if self._crc is not None and in_window == 0:
            done = _end(
                self._crc,
                device_s,
                now,
                {"ended_by": "a clean window", "errors_in_burst": self._crc_in_burst},
            )
            self._crc = None
            return [done]
        return []

    # -- data_gap, clock_jump, device_reset ---------------------------------------------------
    def _timed_event(
        self, kind: str, event: LinkEvent, device_s: float, count: int
    ) -> list[Condition]:
        t = self._timed[kind]
        t.last_ns = max(t.last_ns, event.arrival_ns)
        if t.active is not None:
            t.events += 1
            t.count += count
            return []
        t.events, t.count = 1, count
        evidence: dict[str, Any] = {"event": event.kind, "detail": event.detail}
        evidence["source"] = event.source
        if kind == "data_gap":
            evidence.update(channel=event.channel, samples_lost=event.count)
        t.active = _start(kind, self.bed, device_s, event.arrival_ns, evidence)
        return [t.active]

    def _expire(self, now: int, device_s: float) -> list[Condition]:
        out = []
        for kind, t in self._timed.items():
            if t.active is not None and now - t.last_ns >= t.clear_ns:
                evidence: dict[str, Any] = {
                    "ended_by": f"none for {t.clear_ns / 1e9:g} s",
                    "events": t.events,
                }
                if kind == "data_gap":
                    evidence["samples_lost_total"] = t.count
                out.append(_end(t.active, device_s, now, evidence))
                t.active = None
        return out


class OnOff:
    """One runtime technical condition of one bed (`queue_backpressure`, `journal_failed`,
    `sink_failed`; `key` tells sinks apart): `update(True, ...)` starts it once,
    `update(False, ...)` ends it once; reporting the same state again gives nothing."""

    def __init__(
        self,
        kind: str,
        bed: str,
        *,
        key: str = "",
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        spec = CONDITION_KINDS.get(kind)
        if spec is None or spec.category is not Category.TECHNICAL:
            raise ValueError(f"OnOff: {kind!r} is not a technical condition kind")
        self.kind, self.bed, self.key = kind, bed, key
        self._clock = clock_ns
        self.active: Condition | None = None

    def update(self, on: bool, device_s: float, **evidence: Any) -> list[Condition]:
        """The state now (`device_s`: the bed's latest device time); evidence says what was
        seen (queue depth, the error, the sink's name): JSON-compatible values only."""
        if on and self.active is None:
            now = self._clock()
            self.active = _start(self.kind, self.bed, device_s, now, evidence, key=self.key)
            return [self.active]
        if not on and self.active is not None:
            done = _end(self.active, device_s, self._clock(), evidence)
            self.active = None
            return [done]
        return []


def runtime_condition(kind: str, bed: str, device_s: float, **evidence: Any) -> Condition:
    """The start of a runtime technical condition (one of `RUNTIME_KINDS`), decided now.
    Its end: `ended(start, device_s)`; `OnOff` keeps that state for you."""
    if kind not in RUNTIME_KINDS:
        raise ValueError(f"runtime_condition: {kind!r} is not one of {', '.join(RUNTIME_KINDS)}")
    return _start(kind, bed, device_s, time.monotonic_ns(), evidence)


def _start(
    kind: str, bed: str, device_s: float, now_ns: int, evidence: dict[str, Any], *, key: str = ""
) -> Condition:
    return condition(
        kind,
        bed,
        device_s,
        key=key,
        evidence=evidence,
        decided_at_s=device_s,
        decided_ns=now_ns,
    )


def _end(active: Condition, device_s: float, now_ns: int, evidence: dict[str, Any]) -> Condition:
    """End at the bed's device time, never before the onset (a device that restarted its
    clock after a reset would otherwise end a condition before it began)."""
    end_s = max(device_s, active.onset_s)
    return ended(active, end_s, evidence=evidence, decided_at_s=device_s, decided_ns=now_ns)
