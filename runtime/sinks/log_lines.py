"""The log sink: one readable line per alarm event, what `vigil run --headless` shows.

    bed-1 #12 HIGH vt activated: VT 5 beats 152/min (audible)
    bed-1 #12 HIGH vt acknowledged by socket:uid=1000,pid=42: VT 152/min (silent, acknowledged)
    bed-2 #13 MEDIUM technical leads_off activated: ECG LEADS OFF (audible)

Log level: an event that makes an alarm signal (activated, returned, breakthrough,
escalated, re-announced, audio resumed) logs at its priority's level: high ERROR, medium
WARNING, low INFO; every other event (pending, updates, acknowledgements, pauses, ends)
at INFO. So the default WARNING threshold shows high and medium alarms starting; a headless
runtime that wants the whole story sets the "vigil.alarms" logger to INFO.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from vigil.runtime.alarm_text import alarm_text
from vigil.runtime.alarms.model import AlarmEvent, AlarmState, BedSignal, EventKind
from vigil.runtime.analysis.condition import Priority

SIGNAL_EVENTS = frozenset(
    {
        EventKind.ACTIVATED,
        EventKind.RETURNED,
        EventKind.BREAKTHROUGH,
        EventKind.ESCALATED,
        EventKind.REANNOUNCED,
        EventKind.AUDIO_RESUMED,
    }
)
"""Events after which an alarm starts (or starts again) to signal."""

_LEVELS = {
    Priority.HIGH: logging.ERROR,
    Priority.MEDIUM: logging.WARNING,
    Priority.LOW: logging.INFO,
}


def event_line(event: AlarmEvent) -> str:
    """The one line that says what happened to which alarm, and whether it sounds now."""
    a = event.alarm
    technical = "technical " if a.technical else ""
    by = f" by {event.actor}" if event.actor else ""
    if event.audible:
        sound = "audible"
    elif a.state is AlarmState.ACTIVE:
        sound = "silent, audio paused"
    else:
        sound = f"silent, {a.state.value}"
    return (
        f"{a.bed} #{a.alarm_id} {a.priority.name} {technical}{a.kind} "
        f"{event.event.value.replace('_', ' ')}{by}: {alarm_text(a)} ({sound})"
    )


def event_level(event: AlarmEvent) -> int:
    if event.event in SIGNAL_EVENTS:
        return _LEVELS[event.alarm.priority]
    return logging.INFO


class LogSink:
    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger if logger is not None else logging.getLogger("vigil.alarms")

    def emit(self, events: Sequence[AlarmEvent], signals: Mapping[str, BedSignal]) -> None:
        for event in events:
            self.logger.log(event_level(event), "%s", event_line(event))

    def close(self) -> None:
        """Nothing to release: logging belongs to the process."""
