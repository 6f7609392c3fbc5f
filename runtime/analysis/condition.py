"""Alarm conditions: what the analysis decides, before any alarm manager acts on it.

A detector emits a `Condition` when its criterion starts to hold (`end_s` is None) and the
same condition again, with `end_s` set, when it stops holding. Latching, acknowledgement,
audio pause and signalling belong to the alarm manager (CLINICAL.md, IEC 60601-1-8
vocabulary); a condition only says "the data show this, from then to then, because".

Times are device time in seconds (the bed's device clock; for a recording, seconds from its
start), so a condition is reproducible from the data alone: feeding a record in one chunk or
in 40 ms chunks gives equal conditions (`Condition.same_decision`). The host monotonic time at
which the analysis decided (`decided_ns`) and the device time of the newest sample it had
received by then (`decided_at_s`: a detection delay counted from the event to it includes
every look-ahead the decision waited for) are the per-stage timestamps that show where the
milliseconds went; they depend on chunking and arrival, so they are excluded from
`same_decision`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any


class Priority(enum.IntEnum):
    """IEC 60601-1-8 priorities; ordered so max() picks the most urgent."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3


class Category(str, enum.Enum):
    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"


@dataclass(frozen=True, slots=True)
class ConditionKind:
    """The defaults of one kind of condition (CLINICAL.md). `latching` is a hint the alarm
    manager may follow (high priority and arrhythmia alarms latch; technical ones never)."""

    name: str
    priority: Priority
    category: Category
    latching: bool
    description: str


P, T = Category.PHYSIOLOGICAL, Category.TECHNICAL
H, M, L = Priority.HIGH, Priority.MEDIUM, Priority.LOW
_KINDS = (
    # arrhythmia (suspended during leads off and unanalysable ECG)
    ConditionKind("asystole", H, P, True, "no QRS complex for the asystole delay, leads on"),
    ConditionKind("vf", H, P, True, "ventricular fibrillation: fibrillatory ECG, no organised QRS"),
    ConditionKind("vt", H, P, True, ">= 5 consecutive ventricular beats at >= 100 /min"),
    ConditionKind("brady_extreme", H, P, True, "heart rate >= 10 /min below the low limit"),
    ConditionKind("tachy_extreme", H, P, True, "heart rate >= 20 /min above the high limit"),
    ConditionKind("pause", M, P, False, "no beat for the pause threshold"),
    ConditionKind("pvc_high", L, P, False, "more PVCs per minute than the limit"),
    ConditionKind("couplet", L, P, False, "two consecutive ventricular beats"),
    ConditionKind("bigeminy", L, P, False, "normal and ventricular beats alternating"),
    # limits on numerics
    ConditionKind("hr_low", M, P, False, "heart rate below its low limit"),
    ConditionKind("hr_high", M, P, False, "heart rate above its high limit"),
    ConditionKind("pulse_low", M, P, False, "pulse rate below its low limit"),
    ConditionKind("pulse_high", M, P, False, "pulse rate above its high limit"),
    ConditionKind("spo2_low", M, P, False, "SpO2 below its low limit for the SpO2 delay"),
    ConditionKind("spo2_desat", H, P, True, "SpO2 below the desaturation limit (80 %)"),
    ConditionKind("nibp_sys_low", M, P, False, "systolic pressure below its low limit"),
    ConditionKind("nibp_sys_high", M, P, False, "systolic pressure above its high limit"),
    ConditionKind("nibp_dia_low", M, P, False, "diastolic pressure below its low limit"),
    ConditionKind("nibp_dia_high", M, P, False, "diastolic pressure above its high limit"),
    ConditionKind("nibp_mean_low", M, P, False, "mean pressure below its low limit"),
    ConditionKind("nibp_mean_high", M, P, False, "mean pressure above its high limit"),
    ConditionKind("resp_low", M, P, False, "respiration rate below its low limit"),
    ConditionKind("resp_high", M, P, False, "respiration rate above its high limit"),
    ConditionKind("temp_low", L, P, False, "temperature below its low limit"),
    ConditionKind("temp_high", L, P, False, "temperature above its high limit"),
    ConditionKind("apnea", H, P, True, "no breath for the apnea delay"),
    # scores and models
    ConditionKind("news2_medium", M, P, False, "NEWS2 >= 5, or 3 in a single parameter"),
    ConditionKind("news2_high", H, P, False, "NEWS2 >= 7"),
    ConditionKind("trend_anomaly", L, P, False, "vital-sign trends unlike normal ones (model)"),
    # technical (never latching)
    ConditionKind("leads_off", M, T, False, "ECG electrode(s) off: arrhythmia analysis suspended"),
    ConditionKind(
        "ecg_unanalysable", M, T, False, "ECG too noisy to analyse: arrhythmia suspended"
    ),
    ConditionKind("probe_off", M, T, False, "SpO2 probe off: no SpO2 or pulse"),
    ConditionKind("numeric_invalid", L, T, False, "a monitored numeric is invalid (NaN)"),
    ConditionKind("model_unavailable", L, T, False, "a model failed to load or its hash check"),
    ConditionKind("device_fault", H, T, False, "the device reports a fault"),
    ConditionKind("battery_low", M, T, False, "the device battery is low"),
    # technical, from the link and the runtime (runtime/link_alarms.py). Priorities follow
    # what is lost while the condition lasts:
    # - link_lost HIGH: nothing of the patient is monitored at all, no physiological alarm can
    #   be raised; the operator must act immediately (reconnect, or watch the patient).
    # - journal_failed HIGH: alarms can no longer be recorded; the journal is written before
    #   any sink signals (DESIGN.md), so this is an alarm-system failure.
    # - queue_backpressure MEDIUM: the bed's analysis falls behind its data; alarms come late.
    # - sink_failed MEDIUM: one way of signalling alarms (device, MQTT, HL7...) is not reached.
    # - data_gap, crc_errors LOW: samples were lost or frames rejected, but monitoring goes on;
    #   a gap is visible on the strip and CRC-rejected frames never reach analysis (what they
    #   cost shows up as a data_gap). A burst of CRC errors warns of a failing cable.
    # - clock_jump, device_reset LOW: advisories; times around them may be off, the device may
    #   have lost settings; the data flows.
    # - inference_degraded LOW: a model runs on a fallback backend or not at all and the
    #   rule-based path decides; monitoring goes on.
    ConditionKind("link_lost", H, T, False, "no data from the bed's device: nothing is monitored"),
    ConditionKind("data_gap", L, T, False, "samples from the device were lost (gap or dropped)"),
    ConditionKind("crc_errors", L, T, False, "a burst of corrupt frames on the link (cable?)"),
    ConditionKind("clock_jump", L, T, False, "the device clock jumped; times around it may be off"),
    ConditionKind("device_reset", L, T, False, "the device restarted (new boot id)"),
    ConditionKind(
        "inference_degraded", L, T, False, "a model failed at run time: fallback backend or rules"
    ),
    ConditionKind(
        "queue_backpressure", M, T, False, "the bed's bounded queue is full: analysis lags"
    ),
    ConditionKind("journal_failed", H, T, False, "the alarm journal cannot be written"),
    ConditionKind("sink_failed", M, T, False, "an alarm sink (device, MQTT, HL7...) fails"),
    ConditionKind(
        "us_anechoic_region", L, P, False, "ultrasound: a stable anechoic region over the area rule"
    ),
)
del P, T, H, M, L

CONDITION_KINDS: dict[str, ConditionKind] = {k.name: k for k in _KINDS}
"""Every built-in kind. A bring-your-own detector adds its own kind by name at configuration
(`register_kind`); anything else raises, so a typo cannot invent a silent alarm."""


def register_kind(kind: ConditionKind) -> ConditionKind:
    """Add a configured kind (bring-your-own detector). Re-registering the same definition
    is allowed; a different definition under an existing name is refused."""
    existing = CONDITION_KINDS.get(kind.name)
    if existing is not None and existing != kind:
        raise ValueError(f"condition kind {kind.name!r} is already defined differently")
    CONDITION_KINDS[kind.name] = kind
    return kind


@dataclass(frozen=True, slots=True)
class Condition:
    """One alarm condition of one bed, as decided by a detector.

    `key` tells conditions of the same kind apart within a bed (the parameter, the lead, the
    detector's configured name); start and end of one condition share kind, bed and key.
    `value` is the measurement that decided (HR in /min, SpO2 in %, a model's score; NaN when
    there is none). `evidence` holds what a clinician or a reviewer needs to trust it (beat
    times of a VT run, the limit and delay applied, which fusion rules were checked and what
    they found, which classifier decided): JSON-compatible values only.
    """

    kind: str
    bed: str
    priority: Priority
    category: Category
    onset_s: float
    end_s: float | None = None
    value: float = float("nan")
    key: str = ""
    evidence: dict[str, Any] = field(default_factory=dict, compare=False)
    decided_at_s: float = field(default=float("nan"), compare=False)
    decided_ns: int = field(default=0, compare=False)

    @property
    def active(self) -> bool:
        return self.end_s is None

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.bed, self.kind, self.key)

    def same_decision(self, other: Condition) -> bool:
        """Equal in everything decided from the data (not in when the host decided it)."""
        return (
            self.identity == other.identity
            and self.priority == other.priority
            and self.onset_s == other.onset_s
            and self.end_s == other.end_s
            and _same_number(self.value, other.value)
            and self.evidence == other.evidence
        )


def _same_number(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def condition(
    kind: str,
    bed: str,
    onset_s: float,
    *,
    key: str = "",
    value: float = float("nan"),
    evidence: dict[str, Any] | None = None,
    priority: Priority | None = None,
    decided_at_s: float = float("nan"),
    decided_ns: int = 0,
) -> Condition:
    """A new active condition with its kind's defaults (priority and category)."""
    try:
        spec = CONDITION_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown condition kind {kind!r}") from None
    return Condition(
        kind=kind,
        bed=bed,
        priority=spec.priority if priority is None else priority,
        category=spec.category,
        onset_s=onset_s,
        value=value,
        key=key,
        evidence=dict(evidence or {}),
        decided_at_s=decided_at_s,
        decided_ns=decided_ns,
    )


def ended(
    active: Condition,
    end_s: float,
    *,
    decided_at_s: float = float("nan"),
    decided_ns: int = 0,
    evidence: dict[str, Any] | None = None,
) -> Condition:
    """The end of `active` at `end_s` (evidence merged with any given)."""
    merged = dict(active.evidence)
    merged.update(evidence or {})
    return Condition(
        kind=active.kind,
        bed=active.bed,
        priority=active.priority,
        category=active.category,
        onset_s=active.onset_s,
        end_s=end_s,
        value=active.value,
        key=active.key,
        evidence=merged,
        decided_at_s=decided_at_s,
        decided_ns=decided_ns,
    )
