"""Apnea: no breath onset for `settings.respiration.apnea_s` (20 s by default).

No condition delay is added (CLINICAL.md: delays never apply to apnea): the onset is exactly
the last breath onset (or the time the respiration signal became valid, when no breath was
seen since) plus `apnea_s`, decided as soon as the breath detector has analysed past it, so
its timing does not depend on how the signal was chunked. The condition ends at the next
breath onset.

While the respiration signal is not valid (impedance electrodes off, a gap) apnea cannot be
judged: an active apnea ends then with evidence `ended_by: "resp_invalid"` (the technical
leads-off condition says why; the alarm manager's latching keeps a high-priority apnea
visible), and the clock restarts when the signal is valid again, so a disconnection is never
mistaken for a breathless interval.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from vigil.runtime.analysis.condition import Condition, condition, ended
from vigil.runtime.analysis.events import Breath
from vigil.runtime.analysis.settings import AnalysisSettings


class ApneaDetector:
    """Apnea conditions of one bed from the breath detector's onsets."""

    def __init__(self, bed: str, settings: AnalysisSettings) -> None:
        self.bed = bed
        self.apnea_s = float(settings.respiration.apnea_s)
        if not self.apnea_s > 0:
            raise ValueError(f"apnea_s must be positive, got {self.apnea_s}")
        self._clock: float | None = None  # last breath onset, or when the signal became valid
        self._clock_from = "signal valid"
        self._active: Condition | None = None
        self._through: float | None = None  # analysed_through_s of the previous call

    def restart(self, t_s: float) -> list[Condition]:
        """The respiration signal is valid from `t_s` (its first sample, or the end of a gap
        or of leads off): the apnea clock starts there. Call it for exact, chunk-independent
        timing; otherwise a valid update after an invalid one restarts the clock at the
        previous call's `analysed_through_s`."""
        self._clock, self._clock_from = t_s, "signal valid"
        return []

    def suspend(self, t_s: float) -> list[Condition]:
        """The respiration signal is invalid from `t_s`: end an active apnea there, stop."""
        out = []
        if self._active is not None:
            out.append(
                ended(
                    self._active,
                    t_s,
                    evidence={"ended_by": "resp_invalid"},
                    decided_ns=time.monotonic_ns(),
                )
            )
            self._active = None
        self._clock = None
        return out

    def update(
        self, breaths: Sequence[Breath], analysed_through_s: float, valid: bool
    ) -> list[Condition]:
        """Breaths just reported and how far the breath detector has analysed (every onset
        before `analysed_through_s` is known); `valid` says whether the signal was valid
        since the previous call."""
        prev, self._through = self._through, analysed_through_s
        if not valid:
            at = prev if prev is not None else analysed_through_s
            return self.suspend(at) if self._clock is not None or self._active else []
        if self._clock is None:
            self.restart(prev if prev is not None else analysed_through_s)
        out: list[Condition] = []
        for b in sorted(breaths, key=lambda x: x.t_s):
            clock = self._clock
            assert clock is not None
            if b.t_s < clock:
                continue  # before the signal became valid again
            if self._active is None and b.t_s > clock + self.apnea_s:
                out.append(self._start(analysed_through_s))
            if self._active is not None:
                evidence = {"ended_by": "breath", "breath_s": b.t_s}
                out.append(
                    ended(
                        self._active,
                        b.t_s,
                        evidence=evidence,
                        decided_at_s=analysed_through_s,
                        decided_ns=time.monotonic_ns(),
                    )
                )
                self._active = None
            self._clock, self._clock_from = b.t_s, "breath"
        clock = self._clock
        assert clock is not None
        if self._active is None and analysed_through_s > clock + self.apnea_s:
            out.append(self._start(analysed_through_s))
        return out

    def _start(self, decided_at_s: float) -> Condition:
        clock = self._clock
        assert clock is not None
        evidence = {
            "apnea_s": self.apnea_s,
            "last_breath_s": clock if self._clock_from == "breath" else None,
            "clock_started_at_s": clock,
            "clock_started_by": self._clock_from,
        }
        self._active = condition(
            "apnea",
            self.bed,
            clock + self.apnea_s,
            value=self.apnea_s,
            evidence=evidence,
            decided_at_s=decided_at_s,
            decided_ns=time.monotonic_ns(),
        )
        return self._active
