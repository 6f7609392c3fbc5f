"""Ventricular fibrillation: the VF-filter leakage of Kuo & Dillman (1978), per lead.

Algorithm (Kuo S, Dillman R, "Computer detection of ventricular fibrillation", Computers in
Cardiology 1978, 347-349; as evaluated by Amann A, Tratnig R, Unterkofler K, "Reliability of
old and new ventricular fibrillation detection algorithms for automated external
defibrillators", BioMed Eng OnLine 2005, 4:60). VF looks like a sine wave; a sine wave added
to itself delayed by half its period cancels. For the samples V_i of a segment:

    N = floor(pi * sum|V_i| / sum|V_i - V_(i-1)| + 1/2)     (half the mean period, samples)
    l = sum|V_i + V_(i-N)| / sum(|V_i| + |V_(i-N)|)         (the "leakage", 0..1)

and the segment is fibrillatory when l < l0. Organised rhythms (narrow QRS spikes on a
quiet baseline) leak: l is near 1; near-sinusoidal VF (and ventricular flutter, and fast VT)
does not. Sources checked (the `search` tool): the definition of N and l matches Qiao Li's
PhysioNet VF_detector `leakage.m` and a review draft summarising Amann et al. 2005 and
Jekova 2000. The thresholds l0 = 0.406 (used with QRS detection) and 0.625 (without), and
Amann's reported performance of the VF filter on MIT-BIH + CU + AHA (8 s segments, no
preselection: sensitivity 18.8 %, specificity 100 %, integrated ROC 87 %; at 95 %
specificity, sensitivity 73.4 %) come from that secondary summary only: the primary paper's
tables could not be read here, so treat these numbers as unconfirmed (the summary even
states the comparison both ways in two places; a sine cancels, so VF is l below l0). It
also notes the low sensitivity comes from database VF at 3-5 Hz, slower than the filter was
tuned for.

What Vigil does with it, and why:
- Segments are the front end's 1 s analysis windows (Amann used 8 s): alarms need a decision
  each second, and 1 s holds 4-8 VF cycles. Measured on the synthesizer (8 seeds, l0 = 0.406,
  this preprocessing): 100 % of 472 VF windows flagged on at least one lead; none of the
  windows of asystole, sinus tachycardia at 150 /min, or sinus rhythm under heavy noise
  (baseline 0.3, EMG 0.05, motion 1 mV at 6 /min, mains 0.05 mV; 8 x 120 s); but 99 % of the
  windows of VT at 180 /min, which is near-sinusoidal too.
- l0 = 0.406, the value for use beside QRS detection, because Vigil does detect QRS
  complexes: the arrhythmia detector declares VF only when no organised QRS complexes are
  seen either (arrhythmia.py, rule `organised_qrs`), which is what rejects fast VT and a
  lead whose noise looks fibrillatory while another lead shows clean QRS complexes.
- Preprocessing as in Amann et al. (drift and high-frequency suppression), here a causal
  2nd-order Butterworth band-pass 1-30 Hz with its state carried across calls.
- An amplitude floor: a lead whose mean |V| in the window is below 0.05 mV (a sine of
  0.16 mV peak to peak, about the 0.15 mV QRS floor of CLINICAL.md) is never fibrillatory.
  Without it mains hum on a flat asystolic line (near-sinusoidal after the band-pass)
  leaks as little as VF, and would hold back the asystole alarm (tested).
- Only leads the front end calls usable in the window are judged; the overall decision is
  "at least one usable lead fibrillatory" (per-lead flags and metrics kept for evidence).

**Look-ahead**: none beyond the front end's: a window is decided as soon as the front end
reports it (its samples have arrived by then).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.signal import butter

from vigil.runtime.analysis.beat_classifier import LeadHistory
from vigil.runtime.analysis.events import EcgWindow
from vigil.runtime.analysis.feed_contract import check_feed

LEAKAGE_THRESHOLD = 0.406  # l0 with QRS detection (Amann et al. 2005, via a summary)
MIN_MEAN_ABS_MV = 0.05  # quieter leads are not fibrillatory
BAND_HZ = (1.0, 30.0)
KEEP_S = 3.0  # filtered samples kept for windows the front end reports late


@dataclass(frozen=True, slots=True)
class VfDecision:
    """The VF filter's verdict on one analysis window [start, stop) (sample indices).

    Per lead, in `leads` order: `usable` (the front end's verdict; unusable leads are not
    judged), `fibrillatory`, `leakage` (l, NaN when not computed) and `frequency_hz` (the
    mean frequency fs / 2N the filter was tuned to). `fibrillatory_any` is the overall
    decision: at least one usable lead fibrillatory."""

    start: int
    stop: int
    t_s: float
    leads: tuple[str, ...]
    usable: tuple[bool, ...]
    fibrillatory: tuple[bool, ...]
    leakage: tuple[float, ...]
    frequency_hz: tuple[float, ...]
    fibrillatory_any: bool

    @property
    def fibrillatory_leads(self) -> tuple[str, ...]:
        return tuple(lead for lead, f in zip(self.leads, self.fibrillatory, strict=True) if f)


def leakage(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kuo & Dillman's VF-filter leakage of segments (rows = leads): (l, N) per row, l NaN
    and N 0 where the segment has no period (flat) or one too long for it."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    mag = np.abs(x)
    total = mag.sum(axis=1)
    steps = np.abs(np.diff(x, axis=1)).sum(axis=1)
    out_l = np.full(len(x), np.nan)
    out_n = np.zeros(len(x), dtype=int)
    for k in range(len(x)):
        if not steps[k] > 0:
            continue
        n = math.floor(math.pi * total[k] / steps[k] + 0.5)
        if not 1 <= n < x.shape[1] // 2:
            continue
        a, b = x[k, n:], x[k, :-n]
        den = total[k] - mag[k, :n].sum() + total[k] - mag[k, -n:].sum()
        if den > 0:
            out_l[k] = float(np.abs(a + b).sum() / den)
            out_n[k] = n
    return out_l, out_n


class VfDetector:
    """Per-lead VF-filter leakage on every analysable 1 s window (see the module docstring)."""

    LOOKAHEAD_S = 0.0

    def __init__(self, fs: Fraction, leads: Sequence[str]) -> None:
        self.fs = Fraction(fs)
        self.leads = tuple(leads)
        self._fsf = float(self.fs)
        sos = butter(2, BAND_HZ, btype="bandpass", fs=self._fsf, output="sos")
        self._history = LeadHistory(len(self.leads), sos)
        self._keep = round(KEEP_S * self._fsf)
        self._next: int | None = None

    def feed(
        self, first_index: int, samples: np.ndarray, windows: Sequence[EcgWindow]
    ) -> list[VfDecision]:
        """Decisions for the analysable windows the front end just reported, in order."""
        samples = np.asarray(samples)
        check_feed("VfDetector", self._next, first_index, samples, rows=len(self.leads))
        if self._next is None:
            self.gap(first_index)
        h = self._history
        h.append(samples)
        self._next = h.end
        todo = [w for w in windows if w.analysable]
        if todo:
            h.filtered(todo[-1].start, todo[-1].stop)  # filter the whole feed at once
        out = [self._decide(w) for w in todo]
        if h.end - h.start >= 2 * self._keep:  # in steps: trimming costs a copy
            h.trim(h.end - self._keep)
        return out

    def gap(self, next_index: int) -> None:
        """A discontinuity: restart the filters and the buffer at `next_index`."""
        self._next = next_index
        self._history.reset(next_index)

    def _decide(self, w: EcgWindow) -> VfDecision:
        usable = tuple(lead in w.usable_leads for lead in self.leads)
        n_leads = len(self.leads)
        leak = [math.nan] * n_leads
        freq = [math.nan] * n_leads
        fib = [False] * n_leads
        rows = [k for k in range(n_leads) if usable[k]]
        if rows:
            x = self._history.filtered(w.start, w.stop)[rows]
            if w.start < self._history.start:  # only part of it kept (after a restart)
                x = x[:, np.isfinite(x).all(axis=0)]
            if x.shape[1] >= (w.stop - w.start) // 2:
                loud = np.abs(x).mean(axis=1) >= MIN_MEAN_ABS_MV
                values, half = leakage(x)
                for j, k in enumerate(rows):
                    leak[k] = float(values[j])
                    if half[j]:
                        freq[k] = self._fsf / (2 * int(half[j]))
                    fib[k] = bool(loud[j] and values[j] < LEAKAGE_THRESHOLD)
        return VfDecision(
            start=w.start,
            stop=w.stop,
            t_s=w.t_s,
            leads=self.leads,
            usable=usable,
            fibrillatory=tuple(fib),
            leakage=tuple(leak),
            frequency_hz=tuple(freq),
            fibrillatory_any=any(fib),
        )
