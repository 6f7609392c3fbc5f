"""Multi-lead QRS detection on two QRS-energy bands per lead, with adaptive thresholds.

Channels. Each usable lead gives two envelopes (band-passed, squared, smoothed at 8 Hz,
square-rooted back to mV): the QRS band, 5-15 Hz (`ecg_filters`), where every complex,
narrow or wide, has its energy; and the high band, `HIGH_BAND_HZ` = 15-30 Hz of the monitor
signal (`HighBandEnvelope`), where only narrow complexes do. The bands separate what the
noise kinds overlap: electrode-motion artefacts are slow (skin stretch and electrode
movement, mostly below ~8 Hz; large, and on every lead at once because the limb leads share
electrodes), so they fill the QRS band but leave the high band nearly clean; muscle noise is
broadband above ~20 Hz and does the reverse; a wide ventricular complex (VT, PVC) has almost
nothing above 15 Hz. Each channel is divided by its QRS level, a running average of its
envelope at accepted complexes, so a typical complex scores about 1 on every channel
whatever the lead's gain.

Feature: a weighted mean of the scaled channels, weights fixed per quarter window when the
window closes (so a burst is weighed while it lasts, not a window late). Noise is measured
as each channel's noise floor, a low percentile of its envelope in the quarter, in mV or,
divided by the channel's level, in "scaled" units.

- Within a lead, its two bands by 1 / max(scaled floor, `WEIGHT_FLOOR`)^4, the high band's
  weight times `HIGH_BAND_GAIN` and times the recent complexes' narrowness (`_narrowness`).
  The QRS band is preferred while it is clean, because every complex, a PVC too, has its
  energy there: the high band takes over only where the QRS band's scaled noise rises past
  about 0.18 (a motion burst), and decisively (fourth power rather than inverse variance).
  The high band is not clean in a burst either (a heavy one leaks into it at a third of a
  QRS's level), so its prior must not be too small: at 0.03 the QRS band kept the feature
  until its noise was 2.4 times the high band's, and most artefacts counted at 6 dB SNR
  were judged on it alone; at 0.1, 1.8 times, and a clean QRS band still has 90 % of the
  weight. The price: a complex without high-band energy scores that much less, which costs
  a few PVCs on the T wave that already scraped the threshold (couplings of 0.3-0.45 RR,
  12 patients: 10 of 586 missed, 8 at 0.03).
  In VT and other wide rhythms (narrowness 0: the median equivalent width of the last
  `WIDTH_BEATS` QRS on the monitor signal over `WIDE_S`; also until `WIDTH_MIN_BEATS` are
  known) the high band holds no QRS, only noise, so it is not used at all. Nor where the
  lead's high band shows no complex in the quarter or the next (its largest envelope there
  under `PRESENCE` of its level, fully from `PRESENCE` + `PRESENCE_RAMP`): when narrow
  beats give way to VT, the wide complexes fill the QRS band like noise while the median
  width is still narrow, and the high band must not take over and hide the first of them
  (it would delay the VT alarm). The price: where narrow beats are more than a quarter
  apart, an artefact peak between them is judged on the QRS band as before. The high band's
  levels are learned from narrow QRS only, so the first wide complexes cannot lower them and
  so fake that presence.
  The QRS band's noise here is read from the quarters before and after (the larger), not
  from its own quarter: a complex, above all a wide, tall PVC and its T wave, fills the
  quarter it lies in and would look like noise there, handing its own detection to the high
  band where it has no energy; an artefact burst (0.5-2 s) outlasts a complex and shows in
  the neighbouring quarters too. The cost: a burst starting in the last quarter of a window
  is weighed from the quarter before it only.
  A wide complex inside a motion burst that the high band took over can be missed: a PVC is
  as slow as the artefact there, and nothing in the signal tells them apart.
- Across leads, in a window of narrow complexes (the narrowness and high-band presence
  above, over the whole window, median over the leads), by level² / noise², the level
  being the lead's QRS-band level (or the window's largest envelope, if smaller: a level
  that a burst inflated must not make a quiet lead dominate), the noise its QRS-band floor
  in mV but at least the median floor of the usable leads. Noise common to every lead
  (motion moves every electrode; the limb leads share them) thus leaves the weights at
  level²: the leads with the tallest complexes count most, the best weighting for equal
  noise, and a lead with small complexes does not amplify the noise it carries; a lead
  noisier than the typical lead (an electrode rubbing on its own) counts by its own
  signal-to-noise ratio, so it fades out. Elsewhere (VT, fibrillation, the change to them)
  by the inverse variance of each lead's scaled floor, capped at `WEIGHT_FLOOR`: every
  clean lead counts alike, since ventricular complexes and fibrillation waves have their
  own axis and may be tallest on the lead where the narrow complexes were smallest. The
  weights sum to 1, so a lead that joins or drops out does not change the scale the
  thresholds learned.

Candidates are the local maxima of the feature. One is a QRS when

1. it is at least `REFRACTORY_S` after the previous QRS;
2. its prominence clears the Pan-Tompkins-like threshold NPK + `THRESHOLD_FRACTION` (SPK -
   NPK), SPK and NPK being running levels of accepted and rejected candidates. Prominence,
   not height, so noise riding on a raised noise floor does not pass, nor does the notch of
   a wide complex. When no QRS came for `SEARCH_BACK_RR` mean RR intervals the threshold
   halves (Pan-Tompkins' search-back, applied forward so that nothing reported is revised)
   and the lead levels decay each window; the QRS found so resets them. Complexes that
   shrank (a moved electrode, a lower-voltage rhythm) are thus counted again within about
   three seconds instead of the detector locking out into a false asystole. Until the first
   QRS the search-back counts from where the data (re)started, so levels learned from an
   artefact at the start cannot lock the detector out either;
3. its peak-to-peak amplitude on the 0.5-40 Hz monitor signal, on the lead that shows it best,
   is at least `QRS_FLOOR_MV` (CLINICAL.md: a deflection under 0.15 mV is not a QRS), or
   `WIDE_QRS_FLOOR_MV` for a deflection as wide as a P wave (half-amplitude width over
   `NARROW_WIDTH_S`). The second floor keeps P waves of up to 0.25 mV from counting as QRS in
   P-wave asystole; ventricular complexes are wide but large (typically 1-3 mV), so the
   cost is that a wide complex under 0.4 mV is not counted;
4. it is not an electrode-motion artefact (`_artefact`). Between the beats of a narrow
   rhythm (the recent median width and the last QRS narrow), a candidate is one when
   - it is premature: sooner than `ARTEFACT_DUE_RR` of the mean RR after the last QRS. A
     candidate on the beat's schedule is taken: a beat is due, and one buried in motion
     looks like the motion;
   - it is not narrow: its high-band peak, above that band's lowest level within
     +-`HIGH_FLOOR_S` (motion lifts the whole band, a QRS rises from it), is under
     `ARTEFACT_HIGH` of its QRS-band peak, each band scaled to the leads' levels and the
     leads weighted by their QRS level squared (as in the feature's narrow windows). A QRS
     scores about 1 even in motion, a PVC 0.1-0.2 (a wide complex has little energy
     above 15 Hz), an artefact mostly under 0.5;
   - and it does not stand out from the QRS band around it: the largest value of its
     complex in that signal is under `ARTEFACT_CONTRAST` times the signal's mean over
     `AROUND_S` before and after it, leaving out its complex (where the signal stays over
     `COMPLEX_FRACTION` of its value at the candidate, and at least +-`COMPLEX_S`: a
     wide, notched QRS) and +-`AROUND_QRS_S` about each recent narrow QRS. The envelope
     of band-limited noise peaks at about 2-3 times its mean: the artefacts it judged at
     6 dB stood out 2.5 times (median), up to 8 right after a beat, where leaving the
     narrow QRS out leaves little around; the PVCs of clean records, 6 times or more
     (couplings of 0.3-0.7 RR, R on T included). A complex smaller than the narrow beats
     (peak-to-peak amplitude on the monitor signal under `ARTEFACT_SMALL` of the median of
     the recent narrow QRS) must stand out `ARTEFACT_SMALL_CONTRAST` times: a PVC is about
     as tall as the narrow beats or taller (the ventricles depolarise from one focus,
     without the cancellation of normal conduction), while the artefacts that stood out
     4.5-8 times were mostly smaller. Measured: at 6 dB the artefacts counted stood out
     5.6-7.8 times at 0.6-1.9 of the narrow amplitude; in 12 dB bursts among PVCs (12
     one-minute records) the PVCs standing out under 8 times were 0.8-1.6 of it, and a
     clean R-on-T PVC 0.97 at 7.95 times. Artefacts counted there 9 -> 5, no PVC more
     missed (9 of 152); benchmark sinus motion 6 dB 7 -> 5 (4 patients x 90 s).
   A PVC is premature and not narrow too: what tells it from motion is the third test,
   so a PVC inside a motion burst, whose QRS-band energy is as large as the burst's, is
   not counted (12 dB bursts among sinus beats with PVCs: 7 of 178 PVCs missed, 1 before;
   artefacts counted, 13 instead of 27). A candidate the search-back found is never
   rejected, nor the one after a rejected one: a rhythm change mistaken for motion (the
   first complexes of VT) costs one complex, not a lock-out (in the delay benchmark 2 of
   40 VT episodes were decided 0.3 and 0.6 s later: their first complex, 0.18 s after a
   sinus beat, went undetected as before, and the rule took the second, which the first
   kept from standing out); and the rule is off in wide rhythms and once a wide complex
   is the last QRS. What it leaves, at 6 dB: artefacts
   that stand out like a PVC (a burst's first large swing after a quiet stretch), and a
   second one in a row.

Refractory period: `REFRACTORY_S` = 0.16 s. Detectors that hold 0.3 s between beats cannot
count faster than 200 /min (CLINICAL.md); VT and 1:1 flutter reach 300 /min, an RR of 0.2 s
that beat-to-beat variation shortens to about 0.18 s. The refractory must stay below that,
yet be as long as a wide QRS (up to ~0.16 s) so a notched complex yields one peak. T waves
come later and are rejected by the threshold: their QRS-band energy is a few percent of the
QRS's. The refractory is a module constant so a test can show that 0.3 s would fail.

The R peak is the dominant turning point of the monitor signal near where the envelope
maximum puts it (`ENERGY_DELAY_S` earlier: 72 ms for narrow complexes, ~100 ms for VT),
within +-`SEARCH_S`.
"""

from __future__ import annotations

import itertools
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, peak_prominences

from vigil.runtime.analysis.ecg_filters import ENVELOPE_HZ, SosChain
from vigil.runtime.analysis.events import RPeak

REFRACTORY_S = 0.16
"""Shortest RR the detector accepts; must stay below ~0.18 s so that 300 /min is counted."""
THRESHOLD_FRACTION = 0.3
MIN_PROMINENCE = 0.1  # maxima below this are not even noise worth tracking
SEARCH_BACK_RR = 1.66  # no QRS for this many mean RR intervals: a beat was missed
SEARCH_BACK_FACTOR = 0.5  # ... so the threshold halves until the next QRS
RR_AVERAGE_BEATS = 8
LEVEL_GAIN = 0.125  # SPK / NPK running-average gain (Pan-Tompkins)
INITIAL_SPK = 0.8
INITIAL_NPK = 0.1

QRS_FLOOR_MV = 0.15
WIDE_QRS_FLOOR_MV = 0.4
NARROW_WIDTH_S = 0.04  # half-amplitude width: narrow R ~25 ms, P wave ~52 ms, VT ~80 ms
QRS_HALF_S = 0.06  # QRS amplitude measured over R +- this
ENERGY_DELAY_S = 0.085  # envelope maximum after the R peak (72 ms narrow, ~100 ms VT)
SEARCH_S = 0.05  # R peak searched within this of where the envelope puts it
BOUNDARY_S = 0.03  # windows weight leads differently, which can move a peak this far

SCALE_GAIN = 0.25  # per-lead QRS level running-average gain
SEARCH_BACK_SCALE_GAIN = 1.0  # ... for a QRS found by search-back: the scale has changed
SCALE_DECAY = 0.7  # per window while a beat is overdue
SPK_CAP = 2.0  # a complex scoring more (levels decayed) counts this much towards SPK
SCALE_FLOOR_MV = 0.03  # a channel's level never drops below this envelope amplitude
PEAK_HALF_S = 0.04  # a lead's envelope maximum at a QRS is taken within this of the peak
WEIGHT_BLOCKS = 4  # channel weights are set per quarter window
WEIGHT_PERCENTILE = 35  # noise floor: this percentile of the envelope in a block
WEIGHT_FLOOR = 0.1  # scaled noise floor below which a band counts as clean
NOISE_FLOOR_MV = 0.005  # a lead's noise is taken as at least this (noise-free input)

HIGH_BAND_HZ = (15.0, 30.0)
PRESENCE = 0.4  # the high band counts where its largest envelope is over this of its level
PRESENCE_RAMP = 0.3  # ... and fully from PRESENCE + PRESENCE_RAMP
HIGH_BAND_GAIN = 0.1  # the high band's prior weight: it counts once the QRS band is noisy
NARROW_S = 0.03  # equivalent QRS width (area / height) under which the high band counts fully
WIDE_S = 0.045  # ... and over which it does not count (narrow QRS ~20 ms, VT ~65 ms)
WIDTH_BEATS = 9  # the median width of this many recent QRS decides
WIDTH_MIN_BEATS = 3  # the high band counts only once this many widths are known
WIDTH_SMOOTH_S = 0.018  # widths are measured on the monitor signal smoothed over this

# motion artefacts between narrow beats (module docstring: Candidates, 4)
ARTEFACT_DUE_RR = 0.85  # a candidate this late (of the mean RR) is due: never an artefact
ARTEFACT_HIGH = 0.65  # high-band peak under this of the QRS-band peak: not a narrow complex
ARTEFACT_CONTRAST = 4.5  # QRS-band peak under this times the signal around: not standing out
ARTEFACT_SMALL = 0.75  # ... or, for a complex under this of the narrow QRS' amplitude,
ARTEFACT_SMALL_CONTRAST = 8.0  # ... under this times
AROUND_S = (0.45, 0.16)  # the signal around: from this long before the candidate to this after
COMPLEX_S = 0.12  # ... leaving out its complex: at least this either side of it, and
COMPLEX_FRACTION = 0.5  # ... as far as the signal stays over this of its value at the candidate
AROUND_QRS_S = 0.1  # ... and this either side of each narrow QRS
AROUND_STEP_S = 0.008  # ... read every this (the envelopes are smoothed at 8 Hz)
HIGH_FLOOR_S = 0.1  # the high band's peak is taken above its lowest level within this


class HighBandEnvelope:
    """The high-band detection envelope of each lead from its monitor signal, state carried
    sample by sample like `ecg_filters` (so any chunking gives the same output)."""

    def __init__(self, fs: float, n_leads: int) -> None:
        band = (HIGH_BAND_HZ[0], min(HIGH_BAND_HZ[1], 0.4 * fs))
        self.band = SosChain(butter(2, band, btype="band", fs=fs, output="sos"), n_leads)
        self.smooth = SosChain(butter(2, ENVELOPE_HZ, btype="low", fs=fs, output="sos"), n_leads)

    def reset(self) -> None:
        self.band.reset()
        self.smooth.reset()

    def __call__(self, monitor: np.ndarray) -> np.ndarray:
        """monitor: (n_leads, n) float64, C-contiguous; the envelopes in mV."""
        band = self.band(monitor)
        np.square(band, out=band)
        envelope = self.smooth(band)
        return np.sqrt(np.maximum(envelope, 0.0, out=envelope), out=envelope)


class LeadScales:
    """Each channel's QRS level: a running average of its envelope (mV) at accepted
    complexes.

    Until a channel has shown a QRS, the largest envelope of its usable windows stands in.
    Levels learned from beats ignore artefacts (a motion burst not taken for a QRS leaves the
    level alone), so a clean channel's scaled noise floor stays low and its weight high, and
    a complex keeps scoring about 1 through noise. While a beat is overdue they decay, the
    stand-ins too (an artefact at the start must not set them for good).
    (Plain floats: with six channels, numpy would cost more than the arithmetic.)
    """

    def __init__(self, n_leads: int) -> None:
        self.levels: list[float | None] = [None] * n_leads
        self._provisional = [0.0] * n_leads

    def clear(self) -> None:
        self.levels = [None] * len(self.levels)
        self._provisional = [0.0] * len(self.levels)

    def window(self, window_max: list[float], usable: list[bool]) -> np.ndarray:
        """Take one window's envelope maxima; the level of each lead to use there."""
        for i, level in enumerate(self.levels):
            if level is None and usable[i]:
                self._provisional[i] = max(self._provisional[i], window_max[i])
        return np.array(self.current())

    def beat(self, peak: list[float], usable: list[bool], gain: float = SCALE_GAIN) -> None:
        """A QRS was accepted; `peak` is each lead's envelope maximum around it."""
        for i, level in enumerate(self.levels):
            if usable[i]:
                self.levels[i] = peak[i] if level is None else level + gain * (peak[i] - level)

    def current(self) -> list[float]:
        """The level of each lead now (plain floats): its learned level, or until it has one
        its stand-in, never below `SCALE_FLOOR_MV`."""
        return [
            max(p if v is None else v, SCALE_FLOOR_MV)
            for v, p in zip(self.levels, self._provisional, strict=True)
        ]

    def decay(self) -> None:
        """No QRS for a while: lower the known levels, so complexes that became smaller (a
        moved electrode, a lower-voltage rhythm) are heard again instead of locking out."""
        self.levels = [None if v is None else v * SCALE_DECAY for v in self.levels]
        self._provisional = [v * SCALE_DECAY for v in self._provisional]


def envelope_stats(envelope: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the windows of `length` samples that envelope (channels, k * length) covers: each
    channel's maximum (channels, k), and per quarter (channels, k, WEIGHT_BLOCKS) its noise
    floor, a low percentile (complexes are brief, so it lies below them), and its maximum."""
    n, k = envelope.shape[0], envelope.shape[1] // length
    windows = envelope.reshape(n, k, length)
    q = length // WEIGHT_BLOCKS
    blocks = windows[:, :, : q * WEIGHT_BLOCKS].reshape(n, k, WEIGHT_BLOCKS, q)
    p = (q - 1) * WEIGHT_PERCENTILE // 100
    floors = np.partition(blocks, p, axis=3)[..., p]
    return windows.max(axis=2), floors, blocks.max(axis=3)


@dataclass(frozen=True, slots=True)
class DetectionWindow:
    """What detection uses in one analysis window [start, start + length), fixed when the
    window closed: the usable channels (`usable`, a mask over QRS-band then high-band
    channels; `rows`: their indices), the usable leads (`leads`: their indices) and, per
    usable channel and quarter window, the coefficient that turns its envelope into its share
    of the feature (its weight, the weights summing to 1, divided by its level)."""

    start: int
    length: int
    usable: np.ndarray
    rows: np.ndarray
    leads: np.ndarray
    coefficients: np.ndarray  # (len(rows), WEIGHT_BLOCKS)

    @classmethod
    def empty(cls, start: int, length: int, n_leads: int) -> DetectionWindow:
        none = np.zeros(2 * n_leads, dtype=bool)
        rows = np.flatnonzero(none)
        return cls(start, length, none, rows, rows, np.zeros((0, WEIGHT_BLOCKS)))

    def feature(self, envelope: np.ndarray, first: int) -> np.ndarray:
        """The weighted mean over the usable channels of envelope / level, for envelope
        (channels, n) from index `first`; samples outside the window take the coefficients of
        its nearest quarter."""
        n = envelope.shape[1]
        edges = [0]
        for b in range(1, WEIGHT_BLOCKS):
            edges.append(min(max(self.start + b * self.length // WEIGHT_BLOCKS - first, 0), n))
        edges.append(n)
        counts = [hi - lo for lo, hi in itertools.pairwise(edges)]
        c = np.repeat(self.coefficients, counts, axis=1)
        return np.einsum("ln,ln->n", c, envelope[self.rows])


class QrsDetector:
    """Decides candidates in index order; keeps only running levels, recent RR intervals and
    the last QRS."""

    def __init__(self, fs: float, leads: Sequence[str]) -> None:
        self.fs = fs
        self.leads = tuple(leads)
        self.refractory = max(1, round(REFRACTORY_S * fs))
        self.delay = round(ENERGY_DELAY_S * fs)
        self.search = round(SEARCH_S * fs)
        self.half = round(QRS_HALF_S * fs)
        self.peak_half = round(PEAK_HALF_S * fs)
        self.boundary = round(BOUNDARY_S * fs)
        self.narrow = NARROW_WIDTH_S * fs
        self.smooth = max(1, round(WIDTH_SMOOTH_S * fs))
        self.around = (round(AROUND_S[0] * fs), round(AROUND_S[1] * fs))
        self.complex = round(COMPLEX_S * fs)
        self.around_qrs = round(AROUND_QRS_S * fs)
        self.high_floor = round(HIGH_FLOOR_S * fs)
        self.step = max(1, round(AROUND_STEP_S * fs))
        self.scales = LeadScales(2 * len(self.leads))
        self.reset()

    def reset(self, origin: int = 0) -> None:
        """Forget everything; the data (re)starts at sample `origin`."""
        self.scales.clear()
        self.spk = INITIAL_SPK
        self.npk = INITIAL_NPK
        self.origin = origin
        self.last: int | None = None  # envelope index of the last QRS
        self.rr: deque[int] = deque(maxlen=RR_AVERAGE_BEATS)
        self.widths: deque[float] = deque(maxlen=WIDTH_BEATS)  # recent QRS widths, samples
        self.narrow_qrs: deque[int] = deque(maxlen=4)  # envelope indices of recent narrow QRS
        self.narrow_mv: deque[float] = deque(maxlen=WIDTH_BEATS)  # their amplitudes, mV
        self.rejected_artefact = False  # the last candidate the artefact rule judged
        self._last_floors: np.ndarray | None = None  # QRS-band floors, previous quarter

    @property
    def lookback(self) -> int:
        """How much more envelope `decide` reads before its span than the refractory period
        (samples): the artefact rule's signal around a candidate."""
        return self.around[0]

    @property
    def reach(self) -> int:
        """How far before an envelope index the monitor signal is read (samples)."""
        return self.delay + self.search + self.half

    def new_window(
        self,
        start: int,
        length: int,
        usable: np.ndarray,
        *,
        maxima: np.ndarray,
        floors: np.ndarray,
        peaks: np.ndarray,
    ) -> DetectionWindow:
        """Fix the feature's coefficients for the window [start, start + length) that just
        closed, from its usable leads (mask (n_leads,)), its envelope statistics (see
        `envelope_stats`: maxima (channels,), noise floors and maxima per quarter (channels,
        WEIGHT_BLOCKS)) and the levels and widths learned before it (module docstring:
        Feature)."""
        if start - self._since() > SEARCH_BACK_RR * self._rr():
            self.scales.decay()
        n = len(self.leads)
        channels = np.concatenate([usable, usable])
        levels = self.scales.window(maxima.tolist(), channels.tolist())
        qrs_floors = floors[:n]
        before = self._last_floors if self._last_floors is not None else np.zeros((n, 1))
        self._last_floors = qrs_floors[:, -1:].copy()
        leads = np.flatnonzero(usable)
        if not len(leads):
            return DetectionWindow.empty(start, length, n)
        rows = np.concatenate([leads, leads + n])
        # how far each lead shows narrow complexes: the recent widths, and the high band's
        # largest envelope beside its level, in each quarter and the next (for the bands) or
        # in the whole window (for the leads); the quarter after the window's last is unknown
        high = peaks[leads + n]
        ahead = np.maximum(high, np.concatenate([high[:, 1:], np.zeros((len(leads), 1))], axis=1))
        narrowness = self._narrowness()
        narrow = narrowness * _shown(ahead / levels[leads + n, None])
        narrow_window = narrowness * _shown(maxima[leads + n] / levels[leads + n])
        # the QRS band's noise around each quarter: the larger of the quarters before and after
        # (the one after the window's last quarter is not known yet: it counts as quiet)
        around = np.maximum(
            np.concatenate([before, qrs_floors[:, :-1]], axis=1),
            np.concatenate([qrs_floors[:, 1:], np.zeros((n, 1))], axis=1),
        )
        noise = np.concatenate([around[leads], floors[leads + n]])
        bands = _band_shares(noise / levels[rows, None], narrow)
        # a lead counts by the complexes it shows now: a level that noise inflated (a burst
        # during the beats it learned from) must not make the lead dominate once it is quiet
        signal = np.minimum(levels[leads], maxima[leads])
        f = float(_median_rows(narrow_window[:, None])[0])
        if f >= 1.0:
            weights = _level_weights(qrs_floors[leads], signal)
        elif f <= 0.0:
            weights = _snr_weights(qrs_floors[leads], levels[leads])
        else:
            weights = f * _level_weights(qrs_floors[leads], signal) + (1 - f) * _snr_weights(
                qrs_floors[leads], levels[leads]
            )
        coefficients = bands * np.concatenate([weights, weights]) / levels[rows, None]
        return DetectionWindow(start, length, channels, rows, leads, coefficients)

    def decide(
        self,
        window: DetectionWindow,
        envelope: np.ndarray,
        first: int,
        *,
        start: int,
        stop: int,
        monitor: np.ndarray,
        monitor_first: int,
        monitor_delay: int,
        reported_min: int,
    ) -> list[RPeak]:
        """QRS complexes among the feature maxima with envelope index in [start, stop).

        `envelope` (channels, n) covers [first, ...) and should span
        [start - refractory - 1 - `lookback`, stop + refractory + 1); a shorter one (at a
        start, or a flush before a gap) is judged on what there is. `monitor` (n_leads, m)
        covers [monitor_first, ...) as far as `envelope`; `monitor_delay` is its lag in
        samples. A peak is reported at max(`reported_min`, its envelope index + refractory +
        1)."""
        if stop <= start or not len(window.leads):
            return []
        # the feature from the refractory period before `start` on (the envelope before that
        # is only for the artefact rule)
        skip = max(start - self.refractory - 1 - first, 0)
        feature = window.feature(envelope[:, skip:], first + skip)
        lo, hi = start - first - skip, stop - first - skip
        maxima = _local_maxima(feature)
        maxima = maxima[(maxima >= lo) & (maxima < hi)]
        if not len(maxima):
            return []
        wlen = 2 * self.refractory + 1
        prominence = peak_prominences(feature, maxima, wlen=wlen)[0]
        keep = prominence >= MIN_PROMINENCE
        maxima, prominence = maxima[keep], prominence[keep]
        if not len(maxima):
            return []
        js = maxima + first + skip
        index, amplitude, seen, valid, shapes = self._measure(
            js, monitor, monitor_first, monitor_delay, window
        )
        peaks: list[RPeak] = []
        for n, (j, f) in enumerate(zip(js.tolist(), prominence.tolist(), strict=True)):
            overdue = self._judge(j, f)
            if overdue is None:
                continue
            if not valid[n]:
                continue  # under the amplitude floor: neither a QRS nor noise to learn from
            c = j - first
            around = envelope[:, max(c - self.peak_half, 0) : c + self.peak_half + 1]
            lead_peaks = around.max(axis=1)
            if not overdue and self._artefact(
                j, lead_peaks, window, envelope=envelope, first=first, amplitude=amplitude[n]
            ):
                continue
            width = _equivalent_width(shapes[n], self.smooth)
            learn = window.usable.copy()
            if width > WIDE_S * self.fs:  # the high band's levels are those of narrow QRS
                learn[len(self.leads) :] = False
            else:
                self.narrow_qrs.append(j)
                self.narrow_mv.append(amplitude[n])
            self._accept(j, f, lead_peaks, learn, overdue=overdue)
            self.widths.append(width)
            peaks.append(
                RPeak(
                    index=index[n],
                    t_s=index[n] / self.fs,
                    amplitude_mv=amplitude[n],
                    leads=tuple(self.leads[i] for i in window.leads[seen[n]].tolist()),
                    reported_at=max(reported_min, j + self.refractory + 1),
                )
            )
        return peaks

    # -- one candidate ----------------------------------------------------------------------
    def _judge(self, j: int, prominence: float) -> bool | None:
        """None when the candidate at envelope index j is not a QRS; else whether it was found
        by search-back."""
        if (
            prominence < MIN_PROMINENCE
            or j - self.origin < self.reach  # its R would lie before the data (re)started
            or (self.last is not None and j - self.last < self.refractory)
        ):
            return None
        threshold = self.npk + THRESHOLD_FRACTION * (self.spk - self.npk)
        overdue = j - self._since() > SEARCH_BACK_RR * self._rr()
        if overdue:
            threshold *= SEARCH_BACK_FACTOR
        if prominence < threshold:
            if self.last is not None:  # before any QRS, no candidate is known to be noise
                self.npk += LEVEL_GAIN * (prominence - self.npk)
            return None
        return overdue

    def _accept(
        self,
        j: int,
        prominence: float,
        lead_peaks: np.ndarray,
        learn: np.ndarray,
        *,
        overdue: bool,
    ) -> None:
        """A QRS at envelope index j: update the levels, of the channels in `learn` from
        their envelope maxima around it, `lead_peaks`, and the RR intervals."""
        spk_gain = 2 * LEVEL_GAIN if overdue else LEVEL_GAIN
        self.spk += spk_gain * (min(prominence, SPK_CAP) - self.spk)
        gain = SEARCH_BACK_SCALE_GAIN if overdue else SCALE_GAIN
        self.scales.beat(lead_peaks.tolist(), learn.tolist(), gain)
        if self.last is not None:
            self.rr.append(j - self.last)
        self.last = j
        self.rejected_artefact = False

    def _artefact(
        self,
        j: int,
        lead_peaks: np.ndarray,
        window: DetectionWindow,
        *,
        envelope: np.ndarray,
        first: int,
        amplitude: float,
    ) -> bool:
        """Whether the candidate at envelope index j, over threshold and amplitude floor, is an
        electrode-motion artefact (module docstring: Candidates, 4). `lead_peaks`: each
        channel's envelope maximum around it; `envelope` starts at index `first`;
        `amplitude`: its peak-to-peak amplitude on the monitor signal (mV)."""
        judged = (
            not self.rejected_artefact
            and self.last is not None
            and j - self.last < ARTEFACT_DUE_RR * self._rr()
            and len(self.widths) >= WIDTH_MIN_BEATS
            and self.widths[-1] <= WIDE_S * self.fs
            and self._narrowness() >= 1.0
        )
        small = (
            judged
            and bool(self.narrow_mv)
            and amplitude < ARTEFACT_SMALL * statistics.median(self.narrow_mv)
        )
        self.rejected_artefact = judged and self._not_a_qrs(
            j, lead_peaks, window, envelope=envelope, first=first, small=small
        )
        return self.rejected_artefact

    def _not_a_qrs(
        self,
        j: int,
        lead_peaks: np.ndarray,
        window: DetectionWindow,
        *,
        envelope: np.ndarray,
        first: int,
        small: bool,
    ) -> bool:
        """The artefact rule's last two tests: not narrow, and not standing out (by
        `ARTEFACT_SMALL_CONTRAST` if the complex is `small`)."""
        n, c, hf = len(self.leads), j - first, self.high_floor
        leads = window.leads.tolist()
        levels = self.scales.current()
        # each band's mean over the usable leads, scaled to their levels and weighted by their
        # QRS level squared: coefficient level / sum(level^2) for the QRS band
        sq = sum(levels[i] ** 2 for i in leads)
        qrs_w = [levels[i] / sq for i in leads]
        high_w = [levels[i] ** 2 / sq / levels[i + n] for i in leads]
        floors = envelope[n : 2 * n, max(c - hf, 0) : c + hf + 1].min(axis=1).tolist()
        peaks = lead_peaks.tolist()
        qrs_peak = sum(w * peaks[i] for w, i in zip(qrs_w, leads, strict=True))
        high_peak = sum(w * (peaks[i + n] - floors[i]) for w, i in zip(high_w, leads, strict=True))
        if high_peak >= ARTEFACT_HIGH * qrs_peak:
            return False
        # the QRS-band signal around it, every `step` samples from a multiple of it
        step = self.step
        lo = max(j - self.around[0], first)
        lo += (-lo) % step
        span = slice(lo - first, j + self.around[1] - first, step)
        band = qrs_w[0] * envelope[leads[0], span]
        for w, i in zip(qrs_w[1:], leads[1:], strict=True):
            band += w * envelope[i, span]
        x = band.tolist()  # a few dozen values: plain floats are cheaper
        k, m = (j - lo + step // 2) // step, len(x)
        if not 0 <= k < m:
            return False
        # its complex: as far as the signal stays over COMPLEX_FRACTION of its value at the
        # candidate, and at least COMPLEX_S either side
        low = COMPLEX_FRACTION * x[k]
        a, b, half = k, k + 1, self.complex // step
        while a > 0 and x[a - 1] >= low:
            a -= 1
        while b < m and x[b] >= low:
            b += 1
        a, b = min(a, max(k - half, 0)), min(max(b, k + half + 1), m)
        # the signal around: the rest, the narrow QRS left out (spans merged, in order)
        spans = [(a, b)]
        for q in self.narrow_qrs:
            q0 = max(-((lo - q + self.around_qrs) // step), 0)
            q1 = min((q + self.around_qrs - lo) // step + 1, m)
            if q0 < q1:
                spans.append((q0, q1))
        total, count, end = sum(x), m, 0
        for s0, s1 in sorted(spans):
            left = max(s0, end)
            if s1 > left:
                total -= sum(x[left:s1])
                count -= s1 - left
                end = s1
        contrast = ARTEFACT_SMALL_CONTRAST if small else ARTEFACT_CONTRAST
        return count > 0 and max(x[a:b]) * count < contrast * total

    def _since(self) -> int:
        """Where the wait for the next QRS started: the last QRS, else the data's start."""
        return self.origin if self.last is None else self.last

    def _narrowness(self) -> float:
        """How much the high band counts: 1 for narrow recent complexes, 0 for wide ones."""
        if len(self.widths) < WIDTH_MIN_BEATS:
            return 0.0
        width = statistics.median(self.widths) / self.fs
        return min(1.0, max(0.0, (WIDE_S - width) / (WIDE_S - NARROW_S))) ** 2

    def _rr(self) -> float:
        return sum(self.rr) / len(self.rr) if self.rr else self.fs

    def _measure(
        self,
        js: np.ndarray,
        monitor: np.ndarray,
        monitor_first: int,
        monitor_delay: int,
        window: DetectionWindow,
    ) -> tuple[list[int], list[float], np.ndarray, list[bool], np.ndarray]:
        """For candidates at envelope indices `js`, all at once: the R index, the QRS
        amplitude on the lead that shows it best, which usable leads show one (over
        `QRS_FLOOR_MV`; mask (len(js), len(leads))), whether it clears the floor, and the
        monitor signal of its best lead over R +- QRS_HALF_S (len(js), 2 half + 1)."""
        s, h = self.search, self.half
        # the monitor around each expected R: (candidates, usable leads, 2 (s + h) + 1)
        first = js - self.delay + monitor_delay - monitor_first - s - h
        idx = np.clip(first[:, None] + np.arange(2 * (s + h) + 1), 0, monitor.shape[1] - 1)
        wide = monitor[window.leads][:, idx].transpose(1, 0, 2)
        best = np.argmax(wide.max(axis=2) - wide.min(axis=2), axis=1)
        x = wide[np.arange(len(js)), best]
        r = h + dominant_turns(x[:, h : h + 2 * s + 1])
        qrs = np.take_along_axis(wide, (r[:, None] + np.arange(-h, h + 1))[:, None, :], axis=2)
        amps = qrs.max(axis=2) - qrs.min(axis=2)
        amplitude = amps.max(axis=1).tolist()
        valid = []
        for n, a in enumerate(amplitude):
            ok = a >= QRS_FLOOR_MV
            if ok and a < WIDE_QRS_FLOOR_MV:  # as small as a P wave: it must be narrow too
                ok = half_width(qrs[n, best[n]], h) <= self.narrow
            valid.append(ok)
        index = (first + r + monitor_first - monitor_delay).tolist()
        shapes = qrs[np.arange(len(js)), best]
        return index, amplitude, amps >= QRS_FLOOR_MV, valid, shapes


def _median_rows(x: np.ndarray) -> np.ndarray:
    """The median over the rows of x (few rows: np.median's overhead would dominate)."""
    k = len(x)
    y = np.sort(x, axis=0)
    return y[k // 2] if k % 2 else 0.5 * (y[k // 2 - 1] + y[k // 2])


def _shown(presence: np.ndarray) -> np.ndarray:
    """0 where the high band's largest envelope is under PRESENCE of its level, 1 from
    PRESENCE + PRESENCE_RAMP."""
    return np.minimum(np.maximum((presence - PRESENCE) / PRESENCE_RAMP, 0.0), 1.0)


def _band_shares(scaled: np.ndarray, narrow: np.ndarray) -> np.ndarray:
    """Each usable lead's share of its QRS band (first half of the rows of `scaled`, their
    scaled noise per quarter) and its high band (second half), given how much each lead's
    window shows narrow complexes, per quarter (module docstring: Feature)."""
    k = len(scaled) // 2
    weights = 1.0 / np.maximum(scaled, WEIGHT_FLOOR) ** 4
    weights[k:] *= HIGH_BAND_GAIN * narrow
    total = weights[:k] + weights[k:]
    return weights / np.concatenate([total, total])


def _level_weights(floors: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Lead weights (summing to 1 per quarter) from QRS-band noise floors (leads,
    WEIGHT_BLOCKS) and levels (leads,), in mV: level^2 / noise^2, each lead's noise taken as
    at least the median of them all (noise common to every lead leaves the weights at
    level^2; a lead noisier than the rest fades out)."""
    common = np.maximum(_median_rows(floors), NOISE_FLOOR_MV)
    weights = (levels[:, None] / np.maximum(floors, common)) ** 2
    return weights / weights.sum(axis=0)


def _snr_weights(floors: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Lead weights (summing to 1 per quarter) by inverse variance of each lead's scaled
    noise floor, capped at WEIGHT_FLOOR: every clean lead counts alike, whatever the height
    of the complexes it learned."""
    weights = 1.0 / np.maximum(floors / levels[:, None], WEIGHT_FLOOR) ** 2
    return weights / weights.sum(axis=0)


def _local_maxima(x: np.ndarray) -> np.ndarray:
    """Indices with both neighbours in x, not below the left one and above the right one (a
    plateau counts once, at its last sample): an edge sample is never a maximum, so the
    answer at an index does not depend on how far x extends."""
    mid = x[1:-1]
    return np.flatnonzero((mid >= x[:-2]) & (mid > x[2:])) + 1


def dominant_turns(x: np.ndarray) -> np.ndarray:
    """Per row of x, the index of the larger deviation, its maximum or its minimum, from the
    level at the row's ends; a true turning point wins over one at an end of the row (a wave
    still rising into the range belongs to a neighbour)."""
    last = x.shape[1] - 1
    i_max, i_min = x.argmax(axis=1), x.argmin(axis=1)
    rows = np.arange(len(x))
    base = 0.5 * (x[:, 0] + x[:, last])
    larger_max = x[rows, i_max] - base >= base - x[rows, i_min]
    inner_max = (i_max > 0) & (i_max < last)
    inner_min = (i_min > 0) & (i_min < last)
    pick_max = np.where(inner_max != inner_min, inner_max, larger_max)
    return np.where(pick_max, i_max, i_min)


def half_width(seg: np.ndarray, k: int) -> int:
    """Width in samples of the deflection at seg[k] above half its height over the baseline
    (the mean of the segment's ends)."""
    dev = seg - 0.5 * (seg[0] + seg[-1])
    if dev[k] < 0:
        dev = -dev
    below = dev < 0.5 * dev[k]
    left = np.flatnonzero(below[:k])
    right = np.flatnonzero(below[k:])
    lo = left[-1] + 1 if len(left) else 0
    hi = k + right[0] if len(right) else len(seg)
    return int(hi - lo)


def _equivalent_width(seg: np.ndarray, smooth: int) -> float:
    """Area over height, in samples, of the deflection in `seg` about the baseline through
    its ends, after a boxcar of `smooth` samples. A Gaussian wave of sigma s gives about
    2.5 s; noise adds little to the area (it averages out), unlike to a half-height width."""
    x = np.convolve(seg, np.ones(smooth) / smooth, mode="valid")
    dev = x - 0.5 * (x[0] + x[-1])
    peak = dev[np.argmax(np.abs(dev))]
    return float(dev.sum() / peak) if peak else 0.0
