"""Cross-channel rules against false arrhythmia alarms.

Most monitor alarms are false (CLINICAL.md: 88.8 % of arrhythmia alarms in one ICU study),
and the commonest false asystole is an ECG whose QRS complexes shrank under the 0.15 mV floor
or were lost to noise while the heart beats on. The pleth sees the same heart through another
sensor, so:

**Rule `pleth_pulses`** (asystole, pause): a "no beat" condition is suspect while the pleth,
with the probe on, shows pulses at >= 30 /min over the span the ECG calls beatless. Such a
candidate is held, not raised, and counted as suppressed. If the pulses stop while the
candidate still holds, it is raised then, at the first whole second of pleth time with too
few pulses in the last span (so a true asystole with an artefact-ridden pleth is delayed,
never lost). Without a pleth channel, or with the probe off, the rule cannot speak and the
condition passes at once, saying so in its evidence.

The rule waits for the pleth analysis to reach the candidate's onset (its look-ahead, under a
second) and at most `MAX_WAIT_S` more: a stalled pleth never holds back an alarm.

The other rule of issue 6, a fibrillatory lead beside a lead with clean QRS complexes is
noise (`organised_qrs`), lives in arrhythmia.py, the one stage that sees beats and VF
windows together.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace

from vigil.runtime.analysis.condition import Condition

CHECKED_KINDS = frozenset({"asystole", "pause"})
MIN_PULSE_RATE = 30.0  # /min over the beatless span: below it the pleth does not contradict
MAX_WAIT_S = 3.0  # pleth analysis this far behind the ECG: decide without it
PULSE_MEMORY_S = 30.0


@dataclass(slots=True)
class _Held:
    start: Condition
    span_s: float
    vetoed: bool = False
    next_check_s: float = math.nan


class PulseFusion:
    """The `pleth_pulses` rule over a bed's arrhythmia candidates."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._held: dict[tuple[str, str, str], _Held] = {}
        self._pulses: list[float] = []  # pulse times (s), recent, sorted
        self._pleth_through_s = -math.inf
        self._probe_on = False
        self._has_pleth = False
        self.suppressed: list[Condition] = []

    def add_pulses(self, times_s: list[float], analysed_through_s: float, probe_on: bool) -> None:
        self._has_pleth = True
        self._pulses.extend(times_s)
        self._pleth_through_s = analysed_through_s
        self._probe_on = probe_on
        cut = bisect_left(self._pulses, analysed_through_s - PULSE_MEMORY_S)
        if cut:
            del self._pulses[:cut]

    def step(self, candidates: list[Condition], ecg_through_s: float) -> list[Condition]:
        """Conditions to emit now: candidates passed through, held ones decided, raised."""
        out: list[Condition] = []
        for c in candidates:
            if not self.enabled or c.kind not in CHECKED_KINDS:
                out.append(c)
            elif c.end_s is None:
                self._held[c.identity] = _Held(c, _span(c))
            else:
                held = self._held.pop(c.identity, None)
                if held is None:  # it was emitted: its end follows
                    out.append(c)
                elif held.vetoed:  # never raised: nothing to end
                    continue
                else:  # ended before the pleth could speak: decide it, then end it
                    out.extend(self._decide(held, ecg_through_s, force=True))
                    out.append(c)
        for identity in list(self._held):
            held = self._held[identity]
            emitted = self._decide(held, ecg_through_s, force=False)
            if emitted:
                del self._held[identity]
                out.extend(emitted)
        return out

    def _decide(self, held: _Held, ecg_through_s: float, *, force: bool) -> list[Condition]:
        start = held.start
        if not held.vetoed:
            if not (self._has_pleth and self._probe_on):
                return [_with(start, "not checked: no pleth with the probe on")]
            waited = ecg_through_s - start.onset_s
            if self._pleth_through_s < start.onset_s and not force and waited < MAX_WAIT_S:
                return []
            if self._pleth_through_s < start.onset_s:
                return [_with(start, "not checked: pleth analysis too far behind")]
            count = self._count(start.onset_s - held.span_s, start.onset_s)
            if count < _needed(held.span_s):
                return [_with(start, f"checked: {count} pulses in the beatless span")]
            held.vetoed = True
            held.next_check_s = math.floor(start.onset_s) + 1.0
            self.suppressed.append(_with(start, f"vetoed: {count} pulses in the beatless span"))
            return []
        # vetoed and still holding on the ECG: raise once the pulses stop too
        while held.next_check_s <= self._pleth_through_s:
            t = held.next_check_s
            held.next_check_s += 1.0
            count = self._count(t - held.span_s, t)
            if count < _needed(held.span_s):
                raised = replace(start, onset_s=t)
                note = f"raised late: pulses stopped ({count} in the last span at {t:.0f} s)"
                return [_with(raised, note)]
        return []

    def _count(self, t0: float, t1: float) -> int:
        return bisect_right(self._pulses, t1) - bisect_left(self._pulses, t0)


def _span(c: Condition) -> float:
    """The beatless span the ECG reports before the condition's onset."""
    last = c.evidence.get("last_beat_s")
    if isinstance(last, int | float) and math.isfinite(last) and last < c.onset_s:
        return c.onset_s - float(last)
    return 4.0


def _needed(span_s: float) -> int:
    return max(2, math.ceil(span_s * MIN_PULSE_RATE / 60.0))


def _with(c: Condition, finding: str) -> Condition:
    evidence = dict(c.evidence)
    fusion = dict(evidence.get("fusion", {}))
    fusion["pleth_pulses"] = finding
    evidence["fusion"] = fusion
    return replace(c, evidence=evidence)
