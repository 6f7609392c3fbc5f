"""Arrhythmia alarm conditions from classified beats, analysis windows and VF decisions.

Criteria (CLINICAL.md; numbers from `ArrhythmiaSettings` and the bed's HR limits). Onset is
when the criterion became true; the episode's start is in the evidence.
- asystole: no N/V beat for `asystole_s` while analysable and no VF; onset = clock start +
  `asystole_s`. Ends at the next N/V beat or a window that qualifies as VF.
- vf: `vf_s` of 1 s windows in a row that are fibrillatory (vf_detector.py) with no organised
  QRS; onset = the last one's end. Ends after VF_END_WINDOWS windows in a row that are not.
- vt: >= `vt_min_beats` V beats detected in a row (a Q detection restarts the count) whose
  mean rate over the last `vt_min_beats` is >= `vt_min_rate`, none of them closer than
  0.24 s (faster is flutter or fibrillation: the VF detector's); onset = that beat. Ends at
  an N beat, when that rate falls below, or when no beat comes within 1.5 RR at the minimum
  rate.
- brady_extreme / tachy_extreme: HR (mean of `hr_average_beats` RR intervals, N and V beats)
  <= max(low - 10, 30) / >= min(high + 20, 180); onset = the beat. Ends when the HR is back
  past the threshold by the limit's hysteresis (brady also at asystole).
- pause: no N/V beat for `pause_s` after one; onset = that beat + `pause_s`. Ends at the next
  beat, at asystole or VF.
- pvc_high: more than `pvc_per_min_limit` V beats in the last 60 s; onset = the beat. Ends
  when one leaves the minute and the count is back at the limit.
- couplet: N V V N; decided at the closing N beat, spanning the first V to it.
- bigeminy: 6 alternating N/V beats (3 cycles); onset = the sixth. Ends at two equal labels.

The asystole clock starts at the latest of: the last N/V beat, the end of the last window that
qualified as VF, the moment analysis (re)started. Q beats are not QRS complexes: they neither
stop the clock nor count in any rule.

**Rule `organised_qrs`** (VF needs the absence of organised QRS complexes): a window the VF
filter calls fibrillatory counts towards VF only if no organised QRS complex falls in it: an
N or V beat that ends ORGANISED_BEATS (5) detections in a row at a steady rhythm. Either all
five are QRS complexes of one label, every RR interval 0.24-3.0 s (250 to 20 /min), the
longest and shortest differing by at most 30 % of the longest; or the classifier rejected
some of them (Q), the others share one label, and the rhythm is slower and steadier: RR
0.5-3.0 s (120 to 20 /min), within 15 %. A fibrillatory-looking lead beside a usable lead
showing clean QRS complexes is noise (the beats come from that lead), and so is fast VT
(its beats are organised; the VT rule alarms). Why five, and why Q detections may take part:
- the front end also detects "beats" on fibrillation waves, and the model labels many of
  them V. Three in a row (the rule's first version) look steady often enough to matter:
  on the accuracy benchmark's 300 VF episodes (benchmarks/analysis_accuracy.py `--only
  delays`, seeds 30000-30299, replayed on the front end's recorded output) they made 1.65
  chance "organised" beats per minute of VF; each vetoed a window and restarted the 4 s
  count, which put 17 episodes past the 6 s target and one never alarmed. Five: 0.10 per
  minute, none past 6 s. Fast VT is as organised over five beats as over three: 99.7 % of
  its fibrillatory windows from 3 s after onset are vetoed either way (300 VT episodes);
  at a VT onset, while its first five beats arrive, at most 2 windows in a row go
  unvetoed, of the 4 VF needs.
- under heavy electrode motion the classifier rejects true sinus beats as Q; a rule broken
  by every Q leaves the windows unvetoed until five clean beats have come again, though
  the timing still shows the rhythm. So Q detections may fill a chain, but only at sinus
  rates: fibrillation waves come at 3-8 Hz, and a detector that finds every wave (as in
  `test_detections_on_fibrillation_waves_neither_hold_vf_back_nor_alarm_as_beats`) finds
  them nearly periodic over five waves at 0.2-0.4 s. On the stress of
  `test_fibrillatory_looking_lead_beside_clean_qrs_is_noise_not_vf` (VF waves as electrode
  motion on two leads for 20 s, the third lead clean) over 40 seeds x 2 electrodes, 1 of
  80 records still builds 4 unvetoed fibrillatory windows, a false VF (3 beats: 6 of 80).
Vetoed windows are counted and kept in `vetoes`; the VF condition's evidence says the rule
was checked and what it found. Once VF holds, its "beats" are not a rhythm: VT, pause,
extreme rates, PVC rate and bigeminy end at VF onset and are not raised while it lasts.

**Suspension.** Arrhythmia analysis needs an analysable ECG (an `EcgWindow` with at least one
usable lead). While it is not, every arrhythmia condition is suspended: those active end at
the start of the first window that is not analysable, the rhythm state restarts, and a
technical condition says why: `leads_off` (the device flags every unusable lead off; raised
too, without suspension, while some lead is off and another still carries the analysis), or
`ecg_unanalysable` after `unanalysable_s` of noise or missing data. Active conditions end
rather than stay open because the detector can no longer tell whether they still hold: an
asystole "through" a disconnected lead is exactly the false alarm CLINICAL.md warns about,
and a condition left open would assert it. Latching of a high-priority alarm that was
already signalled is the alarm manager's job, so ending the condition loses nothing a
clinician saw. Analysis resumes at the first analysable window, the asystole clock from there.

**Determinism.** Every decision is made on device time from beat indices and the window grid,
in time order, over the span where everything is known: beats up to `analysed_through` minus
the classifier's look-ahead (`beat_classifier.lookahead_samples`), or up to the classifier's
`beats_through` when the caller passes it (sooner when no peak waits), and windows up to the
last one reported. Feeding in any chunks gives the same conditions.

**Quiet spans.** Asystole and pause need no beat, only that none came and that the ECG was
analysable up to their deadline. The window holding the deadline closes up to 1 s after it;
the front end's quiet spans (`EcgOutput.quiet`: from a window's start, analysable on that
part alone and without R peak) say it sooner. A timer whose deadline a quiet span covers
fires before that span's window opens in the sweep, once beats are complete through the
deadline; the window's own verdict follows. If that window then proves unanalysable (noise or
leads off after the deadline), the suspension ends the condition at its onset: it was decided
on the ECG up to its deadline and is not taken back. Since the quiet spans are the same however
the stream is chunked, so is this order.

**Look-ahead** (beyond the front end's): beat-driven decisions (VT, rate, PVC, couplet,
bigeminy) follow their beat by the classifier's look-ahead (0.768 s at 500 Hz); VF the end of
its last window by the same; timed ones (asystole, pause, unanalysable) their deadline by at
most 1 s (the window covering the deadline must be known to be analysable), or by
max(classifier look-ahead, that) without `beats_through`. With quiet spans, asystole and pause
follow their deadline by the front end's `analysed_through` alone (at most 0.42 s at 500 Hz,
ecg_front_end.py).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from vigil.runtime.analysis.beat_classifier import lookahead_samples
from vigil.runtime.analysis.condition import Condition, condition, ended
from vigil.runtime.analysis.events import Beat, EcgWindow, QuietSpan
from vigil.runtime.analysis.heart_rate import HeartRateMeter
from vigil.runtime.analysis.settings import AnalysisSettings
from vigil.runtime.analysis.vf_detector import VfDecision

ORGANISED_QRS = "organised_qrs"
ORGANISED_BEATS = 5  # detections in a row that show an organised rhythm
ORGANISED_RR_S = (0.24, 3.0)  # RR range of organised QRS complexes (250 to 20 /min)
ORGANISED_STEADINESS = 0.3  # RR spread of an organised rhythm, as a part of the longest RR
ORGANISED_STEADINESS_WITH_Q = 0.15  # the same when some detections in it were rejected (Q)
ORGANISED_RR_WITH_Q_S = (0.5, 3.0)  # and its RR range then (120 to 20 /min)
VF_END_WINDOWS = 3  # VF ends after this many windows in a row that do not qualify
VT_TIMEOUT_RR = 1.5  # VT ends if no beat comes within this many RR at the minimum rate
BIGEMINY_BEATS = 6  # alternating N/V beats (3 cycles) before bigeminy
PVC_WINDOW_S = 60.0
MAX_EVIDENCE_BEATS = 32
SUPERSEDED_BY_VF = ("pause", "vt", "brady_extreme", "tachy_extreme", "pvc_high", "bigeminy")
MAX_VETOES = 256
ARRHYTHMIA_KINDS = (
    "asystole",
    "vf",
    "vt",
    "brady_extreme",
    "tachy_extreme",
    "pause",
    "pvc_high",
    "bigeminy",
)

QUIET_TIMERS = ("asystole", "pause")  # timers a quiet span may decide before its window

# event order at equal times: a window's VF verdict closes it before the next opens; a timer
# that a quiet span of the next window covers fires before that window opens; a window
# (possibly suspending analysis) applies before the beats in it; timers see both
_EVAL, _QUIET, _START, _BEAT, _TIMER = range(5)


def _ms(t: float) -> float:
    return round(t, 3)


def _organised(chain: Sequence[tuple[float, str]]) -> bool:
    """Whether detections in a row, (time, label) with the last an N or V beat, show an
    organised rhythm: their QRS complexes all of one label (Q detections aside), every RR
    interval in ORGANISED_RR_S, and the longest and shortest differing by at most
    ORGANISED_STEADINESS of the longest (ORGANISED_RR_WITH_Q_S and
    ORGANISED_STEADINESS_WITH_Q if any was a Q). Detections on fibrillation waves come
    faster, at random intervals, or with labels that do not agree."""
    labels = {label for _, label in chain if label != "Q"}
    if len(labels) != 1 or chain[-1][1] == "Q":
        return False
    q = any(label == "Q" for _, label in chain)
    lo, hi = ORGANISED_RR_WITH_Q_S if q else ORGANISED_RR_S
    spread = ORGANISED_STEADINESS_WITH_Q if q else ORGANISED_STEADINESS
    rr = [b - a for (a, _), (b, _) in itertools.pairwise(chain)]
    return all(lo <= x <= hi for x in rr) and max(rr) - min(rr) <= spread * max(rr)


class ArrhythmiaDetector:
    """Beats, windows and VF decisions in; arrhythmia and ECG technical conditions out."""

    def __init__(self, bed: str, fs: Fraction, settings: AnalysisSettings) -> None:
        self.bed = bed
        self.fs = Fraction(fs)
        self._fsf = float(self.fs)
        self.settings = settings.arrhythmia
        a = self.settings
        hr = settings.limit("hr")
        self.brady_below = (
            None
            if hr.low is None
            else max(hr.low - a.extreme_brady_below_low, a.extreme_brady_floor)
        )
        self.tachy_above = (
            None
            if hr.high is None
            else min(hr.high + a.extreme_tachy_above_high, a.extreme_tachy_cap)
        )
        self.hysteresis = hr.hysteresis
        self.lag = lookahead_samples(self.fs)
        self._window = round(self.fs)
        self._vf_windows = max(1, math.ceil(a.vf_s * self.fs / self._window - Fraction(1, 10**6)))
        self._vt_timeout = VT_TIMEOUT_RR * 60.0 / a.vt_min_rate
        self._beats: deque[Beat] = deque()
        self._starts: deque[EcgWindow] = deque()
        self._evals: deque[EcgWindow] = deque()
        self._vf: dict[int, VfDecision] = {}
        self._quiet: deque[QuietSpan] = deque()
        self._through = 0
        self._beats_through = 0
        self._windows_through = -1
        self._next_window: int | None = None
        self._out: list[Condition] = []
        self._decided_at = math.nan
        self.active: dict[str, Condition] = {}
        self.vetoes: deque[dict[str, Any]] = deque(maxlen=MAX_VETOES)
        self.counters = {
            "beats": 0,
            "q_beats": 0,
            "ignored_beats": 0,
            "vf_windows": 0,
            "vf_vetoed": 0,
            "suspensions": 0,
        }
        # analysis state
        self._started = False
        self._suspended = True
        self._unanalysable_since: float | None = None
        self._unanalysable_why: dict[str, Any] = {}
        self._reset_rhythm(None)

    # -- public ----------------------------------------------------------------------------
    def update(
        self,
        beats: Sequence[Beat],
        windows: Sequence[EcgWindow],
        vf: Sequence[VfDecision],
        analysed_through: int,
        beats_through: int | None = None,
        *,
        quiet: Sequence[QuietSpan] = (),
    ) -> list[Condition]:
        """Condition starts and ends decided with this data, in order of decision.

        `analysed_through` is the front end's. `beats_through` (optional, from
        `BeatClassifier.beats_through`) says every beat before it has been given; without
        it beats are taken as complete only the classifier's look-ahead behind
        `analysed_through`. `quiet`: the front end's quiet spans (`EcgOutput.quiet`), which
        let asystole and pause be decided before the window holding their deadline closes.
        Either way the conditions are the same, only decided sooner."""
        self._beats.extend(beats)
        self._quiet.extend(quiet)
        for w in windows:
            self._starts.append(w)
            self._windows_through = max(self._windows_through, w.stop)
        for d in vf:
            self._vf[d.start] = d
        self._through = max(self._through, analysed_through)
        complete = self._through - self.lag
        if beats_through is not None:
            self._beats_through = max(self._beats_through, min(beats_through, self._through))
            complete = max(complete, self._beats_through)
        horizon = min(complete, self._windows_through)
        self._decided_at = self._through / self._fsf
        self._out = []
        self._sweep(horizon, complete)
        return self._out

    # -- the time-ordered sweep ------------------------------------------------------------
    def _t(self, index: int) -> float:
        return index / self._fsf  # deterministic (one division); not the exact Fraction

    def _sweep(self, horizon: int, complete: int) -> None:
        """Process every event up to `horizon` (index) in time order. A window's VF verdict
        is due at its end once beats are complete through it; a timer that a quiet span
        covers once beats are complete through its deadline (`complete`); anything else
        strictly before the horizon (a window starting at it is not known yet)."""
        h = self._t(horizon)
        while True:
            candidates: list[tuple[float, int, float, str]] = []
            if self._evals:
                candidates.append((self._t(self._evals[0].stop), _EVAL, 0.0, "eval"))
            if self._starts:
                candidates.append((self._t(self._starts[0].start), _START, 0.0, "start"))
            if self._beats:
                candidates.append((self._t(self._beats[0].index), _BEAT, 0.0, "beat"))
            for name, deadline in self._timers():
                opens = self._quiet_window(name, deadline)
                if opens is None:
                    candidates.append((deadline, _TIMER, deadline, name))
                else:
                    candidates.append((opens, _QUIET, deadline, name))
            if not candidates:
                return
            t, order, deadline, what = min(candidates)
            if order == _EVAL:
                due = self._evals[0].stop <= horizon
            elif order == _QUIET:
                due = deadline < self._t(complete)
            else:
                due = t < h
            if not due:
                return
            if order == _QUIET:
                self._timer(what, deadline)
            elif what == "eval":
                self._evaluate(self._evals.popleft())
            elif what == "start":
                w = self._starts.popleft()
                self._window_start(w)
                self._evals.append(w)
            elif what == "beat":
                self._beat(self._beats.popleft(), t)
            else:
                self._timer(what, t)

    def _quiet_window(self, name: str, deadline: float) -> float | None:
        """The start of the window that has not opened yet (in this sweep) and whose quiet
        span covers the deadline of timer `name`, if there is one: the timer then fires
        before that window opens."""
        if name not in QUIET_TIMERS:
            return None
        opened = self._next_window
        while self._quiet and opened is not None and self._quiet[0].start < opened:
            self._quiet.popleft()  # its window has opened: the window itself decides now
        for q in self._quiet:
            if self._t(q.start) <= deadline < self._t(q.through):
                return self._t(q.start)
        return None

    def _timers(self) -> list[tuple[str, float]]:
        a = self.settings
        out = []
        quiet = self._quiet_since
        if not self._suspended and quiet is not None and "asystole" not in self.active:
            out.append(("asystole", quiet + a.asystole_s))
            if self._last_qrs is not None and "pause" not in self.active:
                out.append(("pause", quiet + a.pause_s))
        if "vt" in self.active and self._vt_deadline is not None:
            out.append(("vt_timeout", self._vt_deadline))
        if "pvc_high" in self.active and self._pvcs:
            out.append(("pvc_expiry", self._pvcs[0] + PVC_WINDOW_S))
        if self._unanalysable_since is not None and "ecg_unanalysable" not in self.active:
            out.append(("unanalysable", self._unanalysable_since + a.unanalysable_s))
        return out

    # -- conditions ------------------------------------------------------------------------
    def _start(
        self, kind: str, t: float, value: float = math.nan, evidence: dict[str, Any] | None = None
    ) -> None:
        c = condition(
            kind, self.bed, t, value=value, evidence=evidence, decided_at_s=self._decided_at
        )
        self.active[kind] = c
        self._out.append(c)

    def _end(self, kind: str, t: float, reason: str) -> None:
        c = self.active.pop(kind, None)
        if c is not None:
            self._out.append(
                ended(
                    c,
                    max(t, c.onset_s),
                    evidence={"ended_by": reason},
                    decided_at_s=self._decided_at,
                )
            )

    # -- windows: suspension and technical conditions --------------------------------------
    def _window_start(self, w: EcgWindow) -> None:
        t = self._t(w.start)
        if self._next_window is not None and w.start > self._next_window:
            self._unanalysable(self._t(self._next_window), leads_off=[], missing=True)
        self._next_window = w.stop
        self._started = True
        off = [q.lead for q in w.quality if q.reason == "leads_off"]
        if not w.analysable and w.leads_off and not off:
            off = [q.lead for q in w.quality if not q.usable] or ["all"]
        if off and "leads_off" not in self.active:
            self._start(
                "leads_off",
                t,
                evidence={
                    "leads": off,
                    "arrhythmia_suspended": not w.analysable,
                    "usable_leads": list(w.usable_leads),
                },
            )
        elif not off and "leads_off" in self.active:
            self._end("leads_off", t, "leads back on")
        if w.analysable:
            self._unanalysable_since = None
            self._end("ecg_unanalysable", t, "ECG analysable again")
            if self._suspended:
                self._resume(t)
        else:
            self._unanalysable(
                t,
                leads_off=off if w.leads_off else [],
                missing=False,
                reasons={q.lead: q.reason for q in w.quality},
            )

    def _unanalysable(
        self, t: float, leads_off: list[str], missing: bool, reasons: dict[str, str] | None = None
    ) -> None:
        if not self._suspended:
            self._suspend(t, "leads off" if leads_off else "ECG not analysable")
        if leads_off:  # the leads_off condition says why; no second technical condition
            self._unanalysable_since = None
            self._end("ecg_unanalysable", t, "leads off")
        elif self._unanalysable_since is None:
            self._unanalysable_since = t
            self._unanalysable_why = {"missing windows": True} if missing else dict(reasons or {})

    def _suspend(self, t: float, why: str) -> None:
        self.counters["suspensions"] += 1
        for kind in ARRHYTHMIA_KINDS:
            self._end(kind, t, f"arrhythmia analysis suspended: {why}")
        self._suspended = True
        self._reset_rhythm(None)

    def _resume(self, t: float) -> None:
        self._suspended = False
        self._reset_rhythm(t)

    def _reset_rhythm(self, t: float | None) -> None:
        self._quiet_since = t  # asystole clock start
        self._last_qrs: float | None = None
        # the detections before the next one, Q included: (time, label)
        self._recent: deque[tuple[float, str]] = deque(maxlen=ORGANISED_BEATS - 1)
        self._organised: float | None = None
        self._hr = HeartRateMeter(self.settings.hr_average_beats)
        self._run: list[float] = []  # consecutive V beats
        self._vt_deadline: float | None = None
        self._labels: deque[tuple[str, float]] = deque(maxlen=4)
        self._alternating = 0
        self._pvcs: deque[float] = deque()
        self._vf_run = 0
        self._vf_run_start = math.nan
        self._vf_leads: dict[str, float] = {}
        self._vf_quiet = 0
        self._vf_quiet_start = math.nan

    # -- beats -----------------------------------------------------------------------------
    def _beat(self, b: Beat, t: float) -> None:
        if self._suspended or not self._started:
            self.counters["ignored_beats"] += 1
            return
        recent = self._recent
        if b.label == "Q":  # not a QRS; and a detection on something else breaks a run
            self.counters["q_beats"] += 1
            recent.append((t, "Q"))
            self._run = []
            return
        self.counters["beats"] += 1
        if len(recent) == recent.maxlen and _organised([*recent, (t, b.label)]):
            self._organised = t
        recent.append((t, b.label))
        self._end("asystole", t, "QRS complex")
        self._end("pause", t, "QRS complex")
        self._last_qrs = t
        self._quiet_since = t if self._quiet_since is None else max(self._quiet_since, t)
        if "vf" in self.active:  # fibrillation waves the detector took for beats: no rhythm
            self._run = []
            return
        rate = self._hr.add(t)
        if rate is not None and self._hr.intervals >= self.settings.hr_average_beats:
            self._rate(t, rate)
        self._ventricular(b, t)
        self._patterns(b, t)

    def _rate(self, t: float, rate: float) -> None:
        h = self.hysteresis
        if self.brady_below is not None:
            if "brady_extreme" not in self.active and rate <= self.brady_below:
                self._start(
                    "brady_extreme",
                    t,
                    rate,
                    {
                        "hr_per_min": round(rate, 1),
                        "threshold_per_min": self.brady_below,
                        "rr_intervals": self._hr.intervals,
                    },
                )
            elif "brady_extreme" in self.active and rate > self.brady_below + h:
                self._end("brady_extreme", t, f"HR {rate:.0f} /min")
        if self.tachy_above is not None:
            if "tachy_extreme" not in self.active and rate >= self.tachy_above:
                self._start(
                    "tachy_extreme",
                    t,
                    rate,
                    {
                        "hr_per_min": round(rate, 1),
                        "threshold_per_min": self.tachy_above,
                        "rr_intervals": self._hr.intervals,
                    },
                )
            elif "tachy_extreme" in self.active and rate < self.tachy_above - h:
                self._end("tachy_extreme", t, f"HR {rate:.0f} /min")

    def _ventricular(self, b: Beat, t: float) -> None:
        a = self.settings
        if b.label != "V":
            self._run = []
            self._end("vt", t, "non-ventricular beat")
            return
        self._run.append(t)
        k = a.vt_min_beats
        if len(self._run) >= k:
            last = self._run[-k:]
            rate = 60.0 * (k - 1) / (last[-1] - last[0]) if last[-1] > last[0] else math.inf
            # faster than 250 /min is flutter or fibrillation: the VF detector's to judge
            flutter = any(y - x < ORGANISED_RR_S[0] for x, y in itertools.pairwise(last))
            if rate >= a.vt_min_rate and not flutter and "vt" not in self.active:
                beats = self._run[-MAX_EVIDENCE_BEATS:]
                self._start(
                    "vt",
                    t,
                    rate,
                    {
                        "beat_times_s": [_ms(x) for x in beats],
                        "run_start_s": _ms(self._run[0]),
                        "rate_per_min": round(rate, 1),
                        "criterion": f">= {k} consecutive V beats at >= {a.vt_min_rate:g} /min",
                        "decided_by": b.decided_by,
                    },
                )
            elif rate < a.vt_min_rate and "vt" in self.active:
                self._end("vt", t, f"rate {rate:.0f} /min")
        if "vt" in self.active:
            self._vt_deadline = t + self._vt_timeout
        # PVCs per minute (every ventricular beat counts)
        self._pvcs.append(t)
        while self._pvcs and self._pvcs[0] <= t - PVC_WINDOW_S:
            self._pvcs.popleft()
        count = len(self._pvcs)
        if count > a.pvc_per_min_limit and "pvc_high" not in self.active:
            self._start(
                "pvc_high",
                t,
                float(count),
                {"pvcs_last_minute": count, "limit_per_min": a.pvc_per_min_limit},
            )

    def _patterns(self, b: Beat, t: float) -> None:
        labels = self._labels
        prev = labels[-1][0] if labels else None
        labels.append((b.label, t))
        # couplet: exactly two V beats between normal beats, decided at the closing N
        if [x[0] for x in labels] == ["N", "V", "V", "N"]:
            c = condition(
                "couplet",
                self.bed,
                labels[1][1],
                evidence={"beat_times_s": [_ms(labels[1][1]), _ms(labels[2][1])]},
                decided_at_s=self._decided_at,
            )
            self._out.append(c)
            self._out.append(
                ended(c, t, evidence={"ended_by": "normal beat"}, decided_at_s=self._decided_at)
            )
        # bigeminy: alternating N and V beats
        if prev is not None and b.label != prev:
            self._alternating += 1
        else:
            if "bigeminy" in self.active:
                self._end("bigeminy", t, "two equal beats in a row")
            self._alternating = 1
        if self._alternating >= BIGEMINY_BEATS and "bigeminy" not in self.active:
            self._start("bigeminy", t, evidence={"alternating_beats": self._alternating})

    # -- VF windows ------------------------------------------------------------------------
    def _evaluate(self, w: EcgWindow) -> None:
        d = self._vf.pop(w.start, None)
        if self._suspended or not w.analysable:
            return
        start, stop = self._t(w.start), self._t(w.stop)
        qualifies = False
        if d is not None and d.fibrillatory_any:
            self.counters["vf_windows"] += 1
            if self._organised is not None and self._organised >= start:
                self.counters["vf_vetoed"] += 1
                self.vetoes.append(
                    {
                        "t_s": _ms(start),
                        "rule": ORGANISED_QRS,
                        "fibrillatory_leads": list(d.fibrillatory_leads),
                        "organised_beat_s": _ms(self._organised),
                    }
                )
            else:
                qualifies = True
        if not qualifies:
            self._vf_run = 0
            self._vf_leads = {}
            if "vf" in self.active:
                if self._vf_quiet == 0:
                    self._vf_quiet_start = start
                self._vf_quiet += 1
                if self._vf_quiet >= VF_END_WINDOWS:
                    self._end("vf", self._vf_quiet_start, "not fibrillatory")
                    self._vf_quiet = 0
            return
        assert d is not None
        self._vf_quiet = 0
        if self._vf_run == 0:
            self._vf_run_start = start
        self._vf_run += 1
        for lead, fib, leak in zip(d.leads, d.fibrillatory, d.leakage, strict=True):
            if fib:
                self._vf_leads[lead] = min(leak, self._vf_leads.get(lead, math.inf))
        if self._quiet_since is not None:
            self._quiet_since = max(self._quiet_since, stop)
        self._end("asystole", start, "fibrillatory ECG")
        if self._vf_run >= self._vf_windows and "vf" not in self.active:
            for kind in SUPERSEDED_BY_VF:  # beats on fibrillation waves are not a rhythm
                self._end(kind, stop, "ventricular fibrillation")
            self._run = []
            self._start(
                "vf",
                stop,
                evidence={
                    "fibrillatory_since_s": _ms(self._vf_run_start),
                    "windows": self._vf_run,
                    "leads": {k: round(v, 3) for k, v in self._vf_leads.items()},
                    "detector": "VF-filter leakage (Kuo & Dillman 1978) < 0.406",
                    "rules": {
                        ORGANISED_QRS: f"checked: no organised QRS complex in the "
                        f"{self._vf_run} fibrillatory windows"
                    },
                },
            )

    # -- timers ----------------------------------------------------------------------------
    def _timer(self, what: str, t: float) -> None:
        a = self.settings
        if what == "asystole":
            self._end("pause", t, "asystole")
            self._end("brady_extreme", t, "asystole")
            self._start(
                "asystole",
                t,
                evidence={
                    "last_beat_s": None if self._last_qrs is None else _ms(self._last_qrs),
                    "no_qrs_since_s": _ms(self._quiet_since or t),
                    "delay_s": a.asystole_s,
                    "vf": "none: no window qualified as VF in the span",
                },
            )
        elif what == "pause":
            assert self._last_qrs is not None
            self._start(
                "pause", t, a.pause_s, {"last_beat_s": _ms(self._last_qrs), "pause_s": a.pause_s}
            )
        elif what == "vt_timeout":
            self._end("vt", t, "no beat")
            self._run = []
            self._vt_deadline = None
        elif what == "pvc_expiry":
            self._pvcs.popleft()
            if len(self._pvcs) <= a.pvc_per_min_limit:
                self._end("pvc_high", t, f"{len(self._pvcs)} PVCs in the last minute")
        elif what == "unanalysable":
            since = self._unanalysable_since
            assert since is not None
            self._start(
                "ecg_unanalysable",
                t,
                evidence={
                    "since_s": _ms(since),
                    "delay_s": a.unanalysable_s,
                    "lead_reasons": self._unanalysable_why,
                },
            )
