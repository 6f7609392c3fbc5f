"""How the alarm manager behaves where vendors differ (CLINICAL.md): every default named.

Defaults marked "unverified" follow CLINICAL.md's common practice without a public source
confirming the number; they are configuration (`[alarms]` in vigil.toml), not constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.runtime.analysis.condition import Priority

BREAKTHROUGH_POLICIES = ("none", "higher_priority", "any")


@dataclass(frozen=True, slots=True)
class AlarmPolicy:
    """Alarm-manager settings.

    audio_pause_s: how long an AUDIO PAUSE silences a bed (IEC common practice <= 2 min).
    max_audio_pause_s: an operator may ask for longer, up to this.
    breakthrough: what sounds during an audio pause: "none" (nothing until it expires),
        "higher_priority" (a new alarm of higher priority than any signalling when the pause
        began), "any" (every new alarm). A new alarm always sounds through an acknowledge:
        acknowledging silences the alarms acknowledged, not the future.
    reannounce_s: an acknowledged alarm whose condition persists this long after the
        acknowledge signals again (Philips: every 2-3 min); None: never.
    escalate_after_s: an ACTIVE alarm unacknowledged this long is raised one priority level
        (capped at HIGH), once; None per priority: never (unverified defaults).
    delays_s: per condition kind, a manager delay (PENDING) before it signals, beyond the
        clinical delay the analysis already applied (SpO2's 15 s lives in the limits).
        Asystole, VF, VT and apnea never wait: a delay configured for them is refused.
    latching: per condition kind, override the kind's default (high priority and arrhythmia
        latch). Technical alarms never latch, whatever is configured.
    """

    audio_pause_s: float = 120.0
    max_audio_pause_s: float = 300.0
    breakthrough: str = "higher_priority"
    reannounce_s: float | None = 150.0
    escalate_after_s: dict[Priority, float | None] = field(
        default_factory=lambda: {Priority.LOW: None, Priority.MEDIUM: 120.0, Priority.HIGH: None}
    )
    delays_s: dict[str, float] = field(default_factory=dict)
    latching: dict[str, bool] = field(default_factory=dict)


NEVER_DELAYED = frozenset({"asystole", "vf", "vt", "apnea"})
"""CLINICAL.md: delays never apply to these."""
