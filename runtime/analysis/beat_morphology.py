"""Rule-based beat labels: QRS width, correlation with a running normal template, prematurity.

The fallback of the beat classifier (beat_classifier.py): it labels every beat when no model
artifact loads, and single beats whose lead II the model cannot read (lead off, missing, no
QRS on it). It also lets the classifier overrule the model's "other" for a beat another lead
shows cleanly (lead II buried in noise over a real beat).

Why these features: a ventricular beat is conducted outside the His-Purkinje system, so its
QRS is wide (> 120 ms, the clinical definition of a wide complex) and unlike the patient's
own conducted beats; an isolated PVC also comes early. A running template of the patient's
normal beats on each lead makes the comparison patient-specific (a bundle branch block, wide
but like the template, stays normal). A deflection under 0.15 mV is not a QRS (CLINICAL.md).

Measurements are on a band-passed copy of the leads (1-40 Hz, filtered by the caller), one
segment per lead from `before` samples before the R peak to `after` after it, all leads of a
beat at once. Beats are processed strictly one after another (each updates the templates the
next is compared with), so labels do not depend on how the stream was chunked. A segment
reaches 0.31 s past the R peak at most, inside the classifier's window: no look-ahead of its
own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

QRS_WIDE_S = 0.12  # wider is a wide complex (ventricular or aberrant conduction)
MIN_QRS_MV = 0.15  # CLINICAL.md: a deflection under 0.15 mV is not a QRS complex
SHOWS_MV = 0.075  # a lead shows a beat the detector found (after the floor, on its own
# measure) if its band-passed QRS reaches half the floor (the band-pass shaves small QRS)
SEARCH_S = 0.06  # the QRS peak is sought within this of the detector's R index
TEMPLATE_BEFORE_S = 0.12  # template span around the QRS peak: Q wave to early ST segment
TEMPLATE_AFTER_S = 0.24
MAX_SHIFT_S = 0.01  # template alignment search (detector jitter)
WIDTH_SPAN_S = 0.15  # the QRS boundaries are sought within this of its peak
SLOPE_FRACTION = 0.12  # QRS boundary: slope under this fraction of the beat's steepest ...
SLOPE_GAP_S = 0.03  # ... for longer than this (the flat apex of a wide R stays inside)
SMOOTH_S = 0.008  # slope smoothing
NOISE_SLOPES = 1.0  # ... and above the segment's median slope (a floor for flat, noisy leads)
MATCH = 0.85  # correlation at or above: the patient's normal morphology
LEARN = 0.8  # normal beats at least this similar refresh the template
UNLIKE = 0.7  # a premature beat less similar than this is ventricular
NOISE = 0.4  # a narrow, on-time "beat" this unlike the template is not a QRS (other)
RELEARN_BELOW = 0.6  # narrow, on-time beats this unlike the template ...
RELEARN_AFTER = 8  # ... this many in a row: the morphology changed, start a new template
TEMPLATE_WEIGHT = 1.0 / 8.0  # running template: exponential mean over ~8 normal beats
PREMATURE = 0.85  # RR below this fraction of the running normal RR is premature
RR_WEIGHT = 1.0 / 8.0


@dataclass(frozen=True, slots=True)
class Shapes:
    """What a beat looks like on some leads (rows), independent of any template: measured for
    a whole batch of beats in one vectorised pass."""

    width_s: np.ndarray  # QRS width (NaN under the QRS floor)
    amplitude_mv: np.ndarray  # QRS peak-to-peak within SEARCH_S of its peak
    wide: np.ndarray  # the beat around its QRS peak: the template span +- the alignment shift


@dataclass(frozen=True, slots=True)
class Measures:
    """One beat on every lead (NaN where a lead was not measured)."""

    width_s: np.ndarray  # QRS width
    correlation: np.ndarray  # best correlation with the lead's template (NaN: none yet)
    amplitude_mv: np.ndarray  # QRS peak-to-peak within SEARCH_S of its peak
    spans: np.ndarray  # (n_leads, template length): the beat as a template would see it
    measured: np.ndarray  # bool per lead


class MorphologyClassifier:
    """Per-lead templates and measurements; one rhythm (mean RR) shared by the leads."""

    def __init__(self, fs: float, n_leads: int) -> None:
        self.fs = float(fs)
        self.n_leads = n_leads
        self._search = max(1, round(SEARCH_S * self.fs))
        self._tb = round(TEMPLATE_BEFORE_S * self.fs)
        self._ta = round(TEMPLATE_AFTER_S * self.fs)
        self._shift = max(1, round(MAX_SHIFT_S * self.fs))
        self._span = round(WIDTH_SPAN_S * self.fs)
        self._gap = max(1, round(SLOPE_GAP_S * self.fs))
        self._smooth = max(1, round(SMOOTH_S * self.fs))
        # the segment holds every span measured around a QRS peak found within `search` of R
        reach = self._span + self._smooth + 2
        self.before = self._search + max(self._tb + self._shift, reach)
        self.after = self._search + max(self._ta + self._shift, reach)
        self._amp_at = np.arange(-self._search, self._search + 1)
        self._wide_at = np.arange(-self._tb - self._shift, self._ta + self._shift)
        self._slope_at = np.arange(2 * self._span) - self._span
        self._pos = np.arange(2 * self._span)
        n_t = self._tb + self._ta
        self._templates = np.zeros((n_leads, n_t))
        self._has = np.zeros(n_leads, dtype=bool)
        self._mismatch = np.zeros(n_leads, dtype=int)
        self.mean_rr_s = math.nan
        self._prev_label = ""

    @property
    def length(self) -> int:
        """Samples in a measured segment; R is at index `before`."""
        return self.before + self.after

    # -- measurements ----------------------------------------------------------------------
    def shapes(self, x: np.ndarray, timed: np.ndarray | None = None) -> Shapes:
        """Template-free measurements of segments (rows: finite, band-passed, R at
        `before`; no offset to remove: nothing below depends on it). QRS widths only for
        the rows flagged in `timed` (all by default; NaN elsewhere): they cost the most."""
        r, q = self.before, self._search
        peak = r - q + np.argmax(np.abs(x[:, r - q : r + q + 1]), axis=1)
        pick = np.arange(len(x))[:, None]
        around = x[pick, peak[:, None] + self._amp_at]
        amp = around.max(axis=1) - around.min(axis=1)
        # a QRS under the floor is too close to the noise, P and T waves to time its edges
        timed = amp >= MIN_QRS_MV if timed is None else timed & (amp >= MIN_QRS_MV)
        width = np.full(len(x), np.nan)
        if timed.any():
            rows = np.flatnonzero(timed)
            width[rows] = self._width(x[rows], peak[rows], pick[: len(rows)])
        return Shapes(width, amp, x[pick, peak[:, None] + self._wide_at])

    def time_qrs(self, shapes: Shapes, x: np.ndarray, rows: np.ndarray) -> None:
        """Fill in the QRS widths of `rows` of `shapes` (segments `x`) not timed yet."""
        rows = rows[np.isnan(shapes.width_s[rows]) & (shapes.amplitude_mv[rows] >= MIN_QRS_MV)]
        if len(rows):
            r, q = self.before, self._search
            sub = x[rows]
            peak = r - q + np.argmax(np.abs(sub[:, r - q : r + q + 1]), axis=1)
            shapes.width_s[rows] = self._width(sub, peak, np.arange(len(rows))[:, None])

    def measures(self, shapes: Shapes, rows: np.ndarray) -> Measures:
        """One beat's measures on every lead: `rows[lead]` is its row in `shapes`, -1 where
        the lead was not measured. Correlates with the templates as they are now."""
        n_leads = len(rows)
        measured = rows >= 0
        width = np.full(n_leads, np.nan)
        corr = np.full(n_leads, np.nan)
        amp = np.full(n_leads, np.nan)
        spans = np.full((n_leads, self._tb + self._ta), np.nan)
        leads = np.flatnonzero(measured)
        if len(leads):
            r = rows[leads]
            width[leads] = shapes.width_s[r]
            amp[leads] = shapes.amplitude_mv[r]
            wide = shapes.wide[r]
            spans[leads] = wide[:, self._shift : self._shift + self._tb + self._ta]
            have = self._has[leads]
            if have.any():
                corr[leads[have]] = self._correlation(wide[have], self._templates[leads[have]])
        return Measures(width, corr, amp, spans, measured)

    def measure(self, segments: np.ndarray, measured: np.ndarray) -> Measures:
        """Measure one beat on the leads flagged in `measured` (their segments finite)."""
        rows = np.where(measured, np.cumsum(measured) - 1, -1)
        return self.measures(self.shapes(segments[measured]), rows)

    def _width(self, x: np.ndarray, peak: np.ndarray, pick: np.ndarray) -> np.ndarray:
        """QRS width per row: the run of steep slope around the QRS peak, gaps of up to
        SLOPE_GAP_S bridged (so the flat apex of a wide R does not split it)."""
        k, m = self._smooth, 2 * self._span
        dx = np.abs(np.diff(x, axis=1))
        c = np.zeros((len(x), dx.shape[1] + 1))
        np.cumsum(dx, axis=1, out=c[:, 1:])
        smooth = c[:, k:] - c[:, :-k]  # smooth[i]: sum of dx[i .. i+k-1], centred at i + k/2
        slope = smooth[pick, peak[:, None] - k // 2 + self._slope_at]
        steep = np.argmax(slope, axis=1)
        top = slope[pick[:, 0], steep]
        # the boundary threshold stays above the noise: a small QRS in noise is not "wide"
        half = dx.shape[1] // 2
        noise = NOISE_SLOPES * k * np.partition(dx, half, axis=1)[:, half]
        above = slope >= np.maximum(SLOPE_FRACTION * top, noise)[:, None]
        pos = self._pos
        left = np.maximum.accumulate(np.where(above, pos, -m), axis=1)
        right = np.minimum.accumulate(np.where(above, pos, 2 * m)[:, ::-1], axis=1)[:, ::-1]
        gaps = (right - left) > self._gap  # outside any bridged run of steep slope
        first = np.where(gaps & (pos < steep[:, None]), pos, -1).max(axis=1) + 1
        last = np.where(gaps & (pos > steep[:, None]), pos, m).min(axis=1) - 1
        return np.where(top > 0, (last - first + 1) / self.fs, np.nan)

    def _correlation(self, wide: np.ndarray, templates: np.ndarray) -> np.ndarray:
        """Best Pearson correlation over the alignment shifts, per lead."""
        n = templates.shape[1]
        t = templates - templates.mean(axis=1, keepdims=True)
        tt = (t * t).sum(axis=1)
        c = np.zeros((2, len(wide), wide.shape[1] + 1))
        np.cumsum(wide, axis=1, out=c[0, :, 1:])
        np.cumsum(wide * wide, axis=1, out=c[1, :, 1:])
        sums = c[:, :, n:] - c[:, :, :-n]
        vv = sums[1] - sums[0] * sums[0] / n  # sum of squares about each view's mean
        num = np.stack([np.correlate(w, k, mode="valid") for w, k in zip(wide, t, strict=True)])
        den = np.sqrt(np.maximum(vv, 0.0) * tt[:, None])
        r = np.where(den > 1e-12, num / np.where(den > 1e-12, den, 1.0), -np.inf)
        best = r.max(axis=1)
        return np.where(np.isfinite(best), np.clip(best, -1.0, 1.0), np.nan)

    # -- decisions -------------------------------------------------------------------------
    def premature(self, rr_s: float) -> bool:
        return (
            math.isfinite(rr_s)
            and math.isfinite(self.mean_rr_s)
            and rr_s < PREMATURE * self.mean_rr_s
        )

    def classify(self, width_s: float, correlation: float, amplitude_mv: float, rr_s: float) -> str:
        """'N', 'V' or 'Q' for a beat measured on one lead (see the module docstring)."""
        if not amplitude_mv >= SHOWS_MV:
            return "Q"
        wide = width_s > QRS_WIDE_S
        if not math.isfinite(correlation):  # no template yet: width alone
            return "V" if wide else "N"
        if correlation >= MATCH:
            return "N"
        if wide:
            return "V"
        premature = self.premature(rr_s)
        if premature and correlation < UNLIKE:
            return "V"
        if correlation < NOISE and not premature:
            return "Q"
        return "N"

    @staticmethod
    def matches_normal(width_s: float, correlation: float, amplitude_mv: float) -> bool:
        """A clean beat of the patient's normal morphology (lets it overrule the model)."""
        return amplitude_mv >= MIN_QRS_MV and correlation >= MATCH and not width_s > QRS_WIDE_S

    # -- learning --------------------------------------------------------------------------
    def learn(self, m: Measures, label: str, rr_s: float) -> None:
        """Update the templates with a beat whose final label is known.

        Narrow normal beats like a lead's template refresh it; the first narrow normal beat
        starts it. A run of narrow, on-time beats unlike the template (whatever their label)
        means the template no longer fits (a bad start, a moved electrode): it restarts."""
        on_time = not self.premature(rr_s)
        for k in np.flatnonzero(m.measured):
            if not m.amplitude_mv[k] >= MIN_QRS_MV or m.width_s[k] > QRS_WIDE_S:
                continue
            corr = m.correlation[k]
            if not self._has[k]:
                if label == "N":
                    self._templates[k] = m.spans[k]
                    self._has[k] = True
            elif label == "N" and corr >= LEARN:
                self._templates[k] += TEMPLATE_WEIGHT * (m.spans[k] - self._templates[k])
                self._mismatch[k] = 0
            elif on_time and not corr >= RELEARN_BELOW:
                self._mismatch[k] += 1
                if self._mismatch[k] >= RELEARN_AFTER:
                    self._templates[k] = m.spans[k]
                    self._mismatch[k] = 0

    def observe_rhythm(self, label: str, rr_s: float) -> None:
        """Running mean RR of consecutive normal beats (the prematurity reference)."""
        if label == "N" and self._prev_label == "N" and 0.25 <= rr_s <= 3.0:
            if not math.isfinite(self.mean_rr_s):
                self.mean_rr_s = rr_s
            elif not self.premature(rr_s):
                self.mean_rr_s += RR_WEIGHT * (rr_s - self.mean_rr_s)
        if label != "Q":
            self._prev_label = label

    def reset_rhythm(self) -> None:
        """After a gap: the next RR says nothing about prematurity."""
        self._prev_label = ""
