"""The alarm manager's value types: what it says about an alarm, and what it decided.

These cross stages (manager -> journal -> sinks -> live view -> restart), so they are small
frozen values with JSON-ready fields. Times: `at_s` is the manager's clock (host monotonic
seconds in the live runtime, injected, never read inside the manager); device times stay in
the `Condition` they came from; per-stage host timestamps live in `AlarmEvent.stamps`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from vigil.runtime.analysis.condition import Category, Condition, Priority


class AlarmState(str, enum.Enum):
    """IEC 60601-1-8 alarm states as Vigil implements them (CLINICAL.md).

    PENDING: the condition holds but its manager delay has not elapsed (nothing signalled).
    ACTIVE: the condition holds (or came back) and the alarm signals.
    LATCHED: the condition ended but the alarm latches: it keeps signalling until acknowledged.
    ACKNOWLEDGED: an operator acknowledged it while the condition still holds: visual only,
        re-announced (back to ACTIVE) if it persists for the re-announce period.
    ENDED: over; nothing signals. A final state: a new condition of the same identity starts
        a new alarm with a new id.
    """

    PENDING = "pending"
    ACTIVE = "active"
    LATCHED = "latched"
    ACKNOWLEDGED = "acknowledged"
    ENDED = "ended"


SIGNALLING = frozenset({AlarmState.ACTIVE, AlarmState.LATCHED})
"""States whose alarms are shown as alarming (and sound unless audio is paused)."""

VISIBLE = frozenset({AlarmState.ACTIVE, AlarmState.LATCHED, AlarmState.ACKNOWLEDGED})
"""States the live view lists."""


class EventKind(str, enum.Enum):
    """Why an `AlarmEvent` was emitted."""

    PENDING = "pending"  # condition started, manager delay running
    ACTIVATED = "activated"  # alarm starts signalling (delay elapsed, or no delay)
    RETURNED = "returned"  # its condition came back while latched or acknowledged
    CONDITION_ENDED = "condition_ended"  # condition ended, alarm latched (still signals)
    ACKNOWLEDGED = "acknowledged"  # operator acknowledged
    AUDIO_PAUSED = "audio_paused"  # the bed's audio was paused (this alarm is silenced)
    AUDIO_RESUMED = "audio_resumed"  # the pause expired and this alarm still signals
    BREAKTHROUGH = "breakthrough"  # signals audibly despite an audio pause (policy)
    ESCALATED = "escalated"  # unacknowledged too long: priority raised
    REANNOUNCED = "reannounced"  # acknowledged but persisting: signals again
    UPDATED = "updated"  # same condition, new value or evidence (e.g. a VT run grows)
    ENDED = "ended"  # over: condition ended (non-latching) or latched alarm acknowledged
    CANCELLED = "cancelled"  # ended while PENDING: never signalled


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm as the manager holds it: a snapshot, replaced on every transition."""

    alarm_id: int
    bed: str
    kind: str
    key: str
    category: Category
    priority: Priority  # current (after escalation)
    base_priority: Priority  # the condition's own
    latching: bool
    state: AlarmState
    condition: Condition  # the latest start (or end) of its condition
    condition_present: bool
    raised_s: float  # manager time it went PENDING (or ACTIVE)
    activated_s: float | None = None  # manager time it first signalled
    acknowledged_by: str = ""  # actor of the last acknowledge
    acknowledged_s: float | None = None
    escalated: bool = False

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.bed, self.kind, self.key)

    @property
    def technical(self) -> bool:
        return self.category is Category.TECHNICAL


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One state transition of one alarm: journaled before any sink sees it.

    `audible` says whether the alarm sounds after this event (signalling state, the bed's audio
    not paused or broken through). `actor` names who caused an operator-driven event
    ("device:VIGIL-SIM-0001", "socket:uid=1000", "view"); empty for the manager's own.
    `stamps` maps stage name -> host monotonic ns (see `STAGES`); the runtime fills the ones
    the manager cannot know.
    """

    alarm: Alarm  # the alarm after the transition
    event: EventKind
    at_s: float
    audible: bool
    actor: str = ""
    stamps: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def alarm_id(self) -> int:
        return self.alarm.alarm_id

    @property
    def bed(self) -> str:
        return self.alarm.bed


STAGES = (
    "sample",  # the completing sample's device time mapped to host monotonic time
    "arrived",  # its bytes arrived (LinkEvent/record arrival_ns)
    "queued",  # the decoded record entered the bed's queue
    "analysed",  # BedAnalyzer.feed returned
    "decided",  # the condition was decided (Condition.decided_ns)
    "managed",  # the alarm manager emitted the event
    "journaled",  # the journal committed it
    "emitted",  # the first sink signalled it
)
"""Per-alarm-event stage timestamps, in pipeline order. Processing delay = emitted - arrived."""


@dataclass(frozen=True, slots=True)
class BedSignal:
    """What one bed's alarm signal shows now (the live view and the device sink follow it).

    `priority` is the highest priority among signalling alarms (None when none signals);
    `audible_priority` the highest among those that sound (None while silenced).
    """

    bed: str
    priority: Priority | None
    audible_priority: Priority | None
    audio_paused_until_s: float | None


@dataclass(frozen=True, slots=True)
class OperatorCommand:
    """An operator's action as the runtime receives it, from any place.

    action: "ack" (alarm_id, or 0 for every alarm of `bed`) or "audio_pause" (bed, seconds; 0
    means the policy's default). `actor` says who and where ("device:ID", "socket:uid=N",
    "view").
    """

    action: str
    bed: str
    actor: str
    alarm_id: int = 0
    seconds: float = 0.0
