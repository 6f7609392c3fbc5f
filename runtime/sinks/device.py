"""The device sink: ALARM messages back over the bridge, so the monitor's lights, tone and
alarm bar follow Vigil's alarm manager.

State on the wire (protocol ALARM.state) from the manager's state and the event's `audible`:

    manager ACTIVE or LATCHED, audible      -> ACTIVE / LATCHED
    manager ACTIVE or LATCHED, not audible  -> AUDIO_PAUSED (the bed's audio is paused)
    manager ACKNOWLEDGED                    -> ACKNOWLEDGED
    manager ENDED                           -> ENDED
    manager PENDING                         -> nothing (not signalled yet)

A latched alarm under an audio pause goes out as AUDIO_PAUSED, not LATCHED: the wire has one
state field and the device must stay silent; when the pause ends the manager emits
AUDIO_RESUMED and the device gets LATCHED again.

A sender returning False (the port is down) is counted in `dropped`, never raised: the link
counts it too and raises its own technical alarm, and the runtime calls `resend_all` when the
link reconnects, which re-sends every current alarm and every ENDED the device missed, so a
device never keeps showing an alarm that is over. A sender that raises is a bug or a broken
port: the sink reports it as `SinkError` after trying the other events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

from vigil.errors import VigilError
from vigil.firmware_bridge.messages import AlarmMsg
from vigil.firmware_bridge.protocol import MAX_ALARM_TEXT, AlarmPriority
from vigil.firmware_bridge.protocol import AlarmState as WireState
from vigil.runtime.alarm_text import alarm_text, fit_text
from vigil.runtime.alarms.model import Alarm, AlarmEvent, AlarmState, BedSignal, EventKind
from vigil.runtime.sinks.base import SinkError

Sender = Callable[[AlarmMsg], bool]

_PRIORITY = {1: AlarmPriority.LOW, 2: AlarmPriority.MEDIUM, 3: AlarmPriority.HIGH}
_U32 = 0xFFFFFFFF


def wire_state(state: AlarmState, audible: bool) -> WireState | None:
    """The ALARM state the device shows for a manager state (None: send nothing)."""
    if state is AlarmState.PENDING:
        return None
    if state in (AlarmState.ACTIVE, AlarmState.LATCHED) and not audible:
        return WireState.AUDIO_PAUSED
    return {
        AlarmState.ACTIVE: WireState.ACTIVE,
        AlarmState.LATCHED: WireState.LATCHED,
        AlarmState.ACKNOWLEDGED: WireState.ACKNOWLEDGED,
        AlarmState.ENDED: WireState.ENDED,
    }[state]


def alarm_message(alarm: Alarm, state: WireState, time_us: int) -> AlarmMsg:
    """The ALARM message for `alarm` shown in wire `state` (text fitted to the wire's bound)."""
    if not 0 < alarm.alarm_id <= _U32:
        raise SinkError(f"alarm #{alarm.alarm_id} of {alarm.bed}: id does not fit the wire's u32")
    return AlarmMsg(
        time_us=time_us,
        alarm_id=alarm.alarm_id,
        priority=_PRIORITY[int(alarm.priority)],
        state=state,
        technical=alarm.technical,
        text=fit_text(alarm_text(alarm), MAX_ALARM_TEXT),
    )


class DeviceSink:
    name = "device"

    def __init__(self, senders: Mapping[str, Sender], *, clock_us: Callable[[], int]) -> None:
        self._senders = dict(senders)
        self._clock_us = clock_us
        self._lock = threading.Lock()
        self._shown: dict[str, dict[int, AlarmMsg]] = {}  # what each device should show now
        self._missed_ends: dict[str, dict[int, AlarmMsg]] = {}  # ENDED sends that failed
        self.sent = 0
        self.dropped = 0

    def emit(self, events: Sequence[AlarmEvent], signals: Mapping[str, BedSignal]) -> None:
        failures: list[str] = []
        with self._lock:
            for event in events:
                send = self._senders.get(event.bed)
                if send is None or event.event is EventKind.CANCELLED:
                    continue  # no device for this bed; a cancelled alarm was never shown
                state = wire_state(event.alarm.state, event.audible)
                if state is None:
                    continue
                try:
                    msg = alarm_message(event.alarm, state, self._clock_us())
                except SinkError as exc:
                    failures.append(str(exc))
                    continue
                shown = self._shown.setdefault(event.bed, {})
                missed = self._missed_ends.setdefault(event.bed, {})
                if state is WireState.ENDED:
                    shown.pop(msg.alarm_id, None)
                else:
                    shown[msg.alarm_id] = msg
                    missed.pop(msg.alarm_id, None)
                ok = self._send(send, msg, failures)
                if state is WireState.ENDED and not ok:
                    missed[msg.alarm_id] = msg
        if failures:
            raise SinkError("device sink: " + "; ".join(failures))

    def resend_all(self, alarms: Iterable[Alarm], bed: str) -> None:
        """Bring `bed`'s device up to date after a reconnect: ENDED for every alarm whose end
        it missed, then every current alarm of `alarms` (this bed's; pending ones skipped) in
        the state last sent for it (an alarm never sent goes out as the manager holds it)."""
        send = self._senders.get(bed)
        if send is None:
            return
        failures: list[str] = []
        with self._lock:
            missed = self._missed_ends.setdefault(bed, {})
            for alarm_id, msg in list(missed.items()):
                if self._send(send, _restamped(msg, self._clock_us()), failures):
                    del missed[alarm_id]
            shown = self._shown.setdefault(bed, {})
            for alarm in alarms:
                if alarm.bed != bed:
                    continue
                last = shown.get(alarm.alarm_id)
                if last is not None and _same_state(last.state, alarm.state):
                    msg = _restamped(last, self._clock_us())
                else:
                    state = wire_state(alarm.state, audible=True)
                    if state is None or state is WireState.ENDED:
                        continue
                    msg = alarm_message(alarm, state, self._clock_us())
                shown[alarm.alarm_id] = msg
                self._send(send, msg, failures)
        if failures:
            raise SinkError("device sink: " + "; ".join(failures))

    def close(self) -> None:
        """Nothing to release: the links belong to the runtime."""

    def _send(self, send: Sender, msg: AlarmMsg, failures: list[str]) -> bool:
        try:
            ok = send(msg)
        except (VigilError, OSError) as exc:
            failures.append(f"sending alarm #{msg.alarm_id} ({msg.state.name}) failed: {exc}")
            self.dropped += 1
            return False
        if ok:
            self.sent += 1
        else:
            self.dropped += 1
        return bool(ok)


def _same_state(wire: WireState, state: AlarmState) -> bool:
    """Whether the last message sent still describes the manager's state (AUDIO_PAUSED does
    for a signalling alarm: the pause is known only from events)."""
    if wire is WireState.AUDIO_PAUSED:
        return state in (AlarmState.ACTIVE, AlarmState.LATCHED)
    return wire_state(state, audible=True) is wire


def _restamped(msg: AlarmMsg, time_us: int) -> AlarmMsg:
    return AlarmMsg(time_us, msg.alarm_id, msg.priority, msg.state, msg.technical, msg.text)
