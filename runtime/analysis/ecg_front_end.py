"""EcgFrontEnd: filters, lead quality and R-peak detection for one bed's ECG leads.

Samples are filtered causally as they arrive (`ecg_filters`, and the detector's high band,
`qrs_detector.HighBandEnvelope`, from the monitor signal). Every `round(fs)` samples from
index 0 a 1 s window closes and each lead's quality there is assessed (`lead_quality`); only
then are the QRS candidates whose envelope maximum lies in that window decided
(`qrs_detector`), on the leads usable there. So a lead is excluded during the very window of
its noise burst or disconnection, not one window late as a causal guess from the previous
window would be; the price is waiting for the window to close.

Look-ahead (`LOOKAHEAD_S` = 1.2 s): a candidate in window k is decided once the window has
closed (sample (k+1)·W - 1) and the envelope is known `REFRACTORY_S` + 1 sample past it. Its R
peak lies up to `ENERGY_DELAY_S` + `SEARCH_S` (0.135 s) before it, and a candidate up to
`BOUNDARY_S` (0.03 s) before the window may be decided with it. The worst case, an R peak
just before a window starts, is reported W - 1 samples + 0.165 s after it (1.163 s at 500 Hz);
a peak late in a window waits 0.16 + 0.135 s. A `gap()` reports pending peaks at once.
`analysed_through` follows the decisions: about 0.33 s behind the newest sample when a window
closes and again 0.16 s later (0.164 s before the last decided candidate), falling 1.16 s
behind just before the next close.

Quiet spans: a beatless span (asystole, pause) need not wait for its window to close. Once
no R peak came for `QUIET_AFTER_S` (1.5 s) before the open window, after each of its first
three quarters (on the detector's quarter grid) the front end checks the window's part so far:
its lead quality, judged on that part alone (`lead_quality`), and that the detector cannot
accept any candidate there, whatever weights and usable leads the window gets
(`qrs_absence`). Where some lead is usable it reports a `QuietSpan` up to the first position
not cleared less 0.135 s (the R peak's lag behind its candidate), and `analysed_through`
advances to it. The amplitude bound reads the monitor signal 0.032 s past a candidate (at
500 Hz), so a quarter's check clears up to about 0.167 s before the quarter's end. Through a
beatless span `analysed_through` thus trails the newest sample by at most a quarter plus
0.167 s (0.42 s; around a close the decisions lead: 0.33 s), and a beatless deadline is known
at most that long after it, against 1.165 s on decisions alone. A candidate that might be a
QRS (a beat, or a deflection over 0.15 mV as narrow as one) stops the span there until the
window closes. The wait before checking saves the checks' cost while beats come: a pause
needs 1.5 s without a beat, asystole 3 s (CLINICAL.md); it is kept that short because any
reported peak restarts it, also one the classifier will reject (a P wave counted as Q).

Any chunking of a record gives identical peaks, windows and quiet spans: filters carry their
state sample by sample, and quality, checks and decisions happen on the fixed window grid,
each from a span of data that does not depend on the chunks (long chunks are processed in
slices; a quarter's check reads only samples before the quarter's end).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from vigil.runtime.analysis.ecg_filters import EcgFilterBank
from vigil.runtime.analysis.events import EcgWindow, LeadQuality, QuietSpan, RPeak
from vigil.runtime.analysis.feed_contract import check_feed
from vigil.runtime.analysis.lead_quality import (
    LeadsOffTimeline,
    WindowStats,
    assess_window,
    missing_window,
    window_stats,
)
from vigil.runtime.analysis.qrs_absence import QrsAbsence
from vigil.runtime.analysis.qrs_detector import (
    DetectionWindow,
    HighBandEnvelope,
    QrsDetector,
    envelope_stats,
)

MIN_FS = 100
SLICE_WINDOWS = 4  # long chunks are processed in slices of this many windows
QUIET_CHECKS = 3  # an open window is checked for quiet after each of its first 3 quarters
QUIET_AFTER_S = 1.5  # ... once no R peak came for this long before it


@dataclass(slots=True)
class EcgOutput:
    """What one feed() or gap() call could decide: R peaks in index order, the windows that
    closed, quiet spans of the window still open (in order), and `analysed_through` (every R
    peak before it has been reported, and every window that ends at or before it)."""

    peaks: list[RPeak] = field(default_factory=list)
    windows: list[EcgWindow] = field(default_factory=list)
    quiet: list[QuietSpan] = field(default_factory=list)
    analysed_through: int = 0


# per-lead signals kept in the history, in this row-block order; the two detection envelopes
# (QRS band, high band) are adjacent, so one slice holds every detection channel
_RAW, _MISSING, _MONITOR, _ENVELOPE, _HIGH, _HF, _LF = range(7)


class _History:
    """Recent samples of every per-lead signal, addressed by absolute sample index."""

    def __init__(self, rows: int, capacity: int) -> None:
        self.data = np.zeros((rows, capacity))
        self.first = 0  # absolute index of data[:, 0]
        self.end = 0  # absolute index after the last sample held

    def restart(self, index: int) -> None:
        self.first = self.end = index

    def append(self, block: np.ndarray, keep_from: int) -> None:
        """Add samples; those before `keep_from` may be dropped to make room."""
        n = block.shape[1]
        used = self.end - self.first
        if used + n > self.data.shape[1]:
            drop = min(max(keep_from - self.first, 0), used)
            self.data[:, : used - drop] = self.data[:, drop:used]
            self.first += drop
            used -= drop
            if used + n > self.data.shape[1]:
                grown = np.zeros((self.data.shape[0], 2 * (used + n)))
                grown[:, :used] = self.data[:, :used]
                self.data = grown
        self.data[:, used : used + n] = block
        self.end += n

    def view(self, rows: slice, start: int, stop: int) -> np.ndarray:
        start = max(start, self.first)
        return self.data[rows, start - self.first : stop - self.first]


class EcgFrontEnd:
    """Causal, chunk-invariant ECG front end (docs/analysis.md)."""

    LOOKAHEAD_S: float = 1.2
    """Most device time between an R peak and the sample whose arrival reports it."""

    def __init__(self, fs: Fraction, leads: Sequence[str]) -> None:
        if Fraction(fs) < MIN_FS:
            raise ValueError(f"ECG sample rate must be at least {MIN_FS} Hz, got {fs}")
        leads = tuple(leads)
        if not leads or len(set(leads)) != len(leads):
            raise ValueError(f"need one or more distinct lead names, got {leads!r}")
        self.fs = Fraction(fs)
        self.leads = leads
        self._f = float(fs)
        self._n = n = len(leads)
        self._w = round(self.fs)  # window length in samples
        self._bank = EcgFilterBank(self._f, n)
        self._high = HighBandEnvelope(self._f, n)
        self._det = QrsDetector(self._f, leads)
        self._off = LeadsOffTimeline(leads)
        self._rows = [slice(k * n, (k + 1) * n) for k in range(7)]
        self._channels = slice(_ENVELOPE * n, (_HIGH + 1) * n)  # both detection envelopes
        self._hist = _History(7 * n, (SLICE_WINDOWS + 4) * self._w)
        self._end: int | None = None  # next expected sample index; None before any
        self._data_start = 0  # first index of the current run of contiguous samples
        self._next_window = 0  # next window to assess
        self._decided = 0  # candidates with envelope index below this are decided
        self._through = 0
        self._hold = np.zeros(n)  # last finite sample per lead, held over missing ones
        self._quarters = [k * self._w // 4 for k in range(1, QUIET_CHECKS + 1)]
        self._quiet_after = round(QUIET_AFTER_S * self._f)
        self._last_peak = 0  # R index of the last peak reported, or where the data restarted
        self._checks = QUIET_CHECKS  # quiet checks of the open window done (all: none to do)
        self._absence: QrsAbsence | None = None  # the open window's bounds, while checked
        self._clear = 0  # envelope indices of the open window before this cannot be QRS
        self._windows: dict[int, DetectionWindow] = {}  # assessed, candidates not all decided
        self._batch: tuple[int, WindowStats, np.ndarray, np.ndarray, np.ndarray] | None = None

    # -- public -------------------------------------------------------------------------
    @property
    def analysed_through(self) -> int:
        return self._through

    def set_leads_off(self, index: int, leads_off: Collection[str]) -> None:
        """From sample `index` on, exactly `leads_off` are off (device STATUS; names of leads
        not analysed here are ignored). Applies to windows not yet assessed: call it before
        feeding the samples it covers for a result independent of timing."""
        self._off.set(int(index), leads_off)

    def feed(self, first_index: int, samples: np.ndarray) -> EcgOutput:
        """Take the next samples, (n_leads, n) in mV with rows in `leads` order; NaN or inf
        samples are missing data."""
        x = np.asarray(samples)
        check_feed("EcgFrontEnd", self._end, first_index, x, rows=self._n)
        if self._end is None:
            if first_index < 0:
                raise ValueError(f"ECG sample indices start at 0, got {first_index}")
            self._restart(int(first_index))
        out = EcgOutput()
        step = SLICE_WINDOWS * self._w
        for a in range(0, x.shape[1], step):
            self._ingest(np.array(x[:, a : a + step], dtype=np.float64))
            self._advance(out)
        out.analysed_through = self._through
        return out

    def gap(self, next_index: int) -> EcgOutput:
        """Samples are missing until `next_index`: decide what the samples received allow,
        report the windows up to the gap's end as missing, and restart detection there.
        Before any sample, it only sets where the data starts."""
        out = EcgOutput()
        next_index = int(next_index)
        if self._end is not None:
            if next_index < self._end:
                raise ValueError(
                    f"gap to index {next_index} goes back before the end of the samples "
                    f"received, {self._end}"
                )
            self._flush(out)
            for k in range(self._next_window, next_index // self._w):
                out.windows.append(self._missing_window(k))
        self._restart(next_index)
        self._through = max(self._through, next_index)
        out.analysed_through = self._through
        return out

    # -- samples in -----------------------------------------------------------------------
    def _restart(self, index: int) -> None:
        self._end = self._data_start = self._decided = index
        self._next_window = index // self._w
        self._bank.reset()
        self._high.reset()
        self._det.reset(index)
        self._windows.clear()
        self._batch = None
        self._hist.restart(index)
        self._off.forget_before(self._next_window * self._w)
        self._last_peak = index
        self._checks = QUIET_CHECKS
        self._absence = None

    def _ingest(self, x: np.ndarray) -> None:
        assert self._end is not None
        finite = np.isfinite(x)
        missing = ~finite
        if missing.any():
            x = _hold_last(x, finite, self._hold)
        if x.shape[1]:
            self._hold = x[:, -1].copy()
        f = self._bank(x)
        keep = min(self._next_window * self._w, self._decided - self._reach())
        high = self._high(f.monitor)
        self._hist.append(
            np.concatenate([x, missing, f.monitor, f.envelope, high, f.hf, f.lf]), keep
        )
        self._end += x.shape[1]

    def _reach(self) -> int:
        """How far before the next undecided envelope index samples are still read."""
        det = self._det
        reads = det.reach + det.lookback  # the monitor signal; the envelope, for the detector
        return det.refractory + det.boundary + reads + self._bank.monitor_delay + 2

    # -- decisions ------------------------------------------------------------------------
    def _advance(self, out: EcgOutput) -> None:
        assert self._end is not None
        while True:
            self._decide(out, self._end - self._det.refractory - 1)
            self._check_quiet(out)
            if (self._next_window + 1) * self._w > self._end:
                break
            self._assess(out)
        self._update_through()

    def _flush(self, out: EcgOutput) -> None:
        """Before a gap: decide the candidates of closed windows on the data there is."""
        assert self._end is not None
        margin = self._det.half + self._bank.monitor_delay + 1
        self._decide(out, self._end - margin, reported_at=self._end - 1)
        self._update_through()

    def _update_through(self) -> None:
        det = self._det
        lag = det.boundary + det.delay + det.search  # how far an R peak precedes its candidate
        self._through = max(self._through, self._decided - lag)

    def _decide(self, out: EcgOutput, limit: int, reported_at: int | None = None) -> None:
        """Decide candidates below envelope index `limit` in assessed windows, in order."""
        assert self._end is not None
        w, r = self._w, self._det.refractory
        while True:
            k = self._decided // w
            window = self._windows.get(k)
            stop = min((k + 1) * w, limit)
            if window is None or stop <= self._decided:
                return
            start = self._decided
            if start == k * w:  # the previous window's weights may have put a peak just past
                start -= self._det.boundary  # its end, and this window's just before its start
            start = max(start, self._data_start)
            f0 = max(start - r - 1 - self._det.lookback, self._hist.first)
            f1 = min(stop + r + 1, self._end)
            m0 = max(start - self._det.reach - 1, self._hist.first)
            peaks = self._det.decide(
                window,
                self._hist.view(self._channels, f0, f1),
                f0,
                start=start,
                stop=stop,
                monitor=self._hist.view(self._rows[_MONITOR], m0, f1),
                monitor_first=m0,
                monitor_delay=self._bank.monitor_delay,
                reported_min=(k + 1) * w - 1,
            )
            if reported_at is not None:
                peaks = [replace(p, reported_at=min(p.reported_at, reported_at)) for p in peaks]
            out.peaks.extend(peaks)
            if peaks:
                self._last_peak = peaks[-1].index
            self._decided = stop
            if stop == (k + 1) * w:
                del self._windows[k]

    def _assess(self, out: EcgOutput) -> None:
        k = self._next_window
        start, stop = k * self._w, (k + 1) * self._w
        self._next_window += 1
        self._checks = 0  # the next window opens
        if start < self._data_start:  # samples before the data (re)started are missing
            window = self._missing_window(k)
            self._windows[k] = DetectionWindow.empty(start, self._w, self._n)
        else:
            batch = self._batch
            if batch is None or not batch[0] <= k < batch[0] + batch[1].top.shape[1]:
                batch = self._batch = self._batch_stats(k)
            column = k - batch[0]
            stats, maxima, floors, peaks = batch[1:]
            quality = assess_window(
                self.leads,
                start,
                stop,
                self._f,
                stats=stats,
                column=column,
                raw=self._hist.view(self._rows[_RAW], start, stop),
                off=self._off.off_during(start, stop),
            )
            self._off.forget_before(stop)
            window = _window(start, stop, self._f, quality)
            usable = np.array([q.usable for q in quality])
            self._windows[k] = self._det.new_window(
                start,
                self._w,
                usable,
                maxima=maxima[:, column],
                floors=floors[:, column],
                peaks=peaks[:, column],
            )
        out.windows.append(window)

    # -- quiet spans of the open window ---------------------------------------------------
    def _check_quiet(self, out: EcgOutput) -> None:
        """After each of the open window's first quarters: if it follows QUIET_AFTER_S
        without an R peak, report how far the window is analysable (on its part so far) and
        free of R peaks (`qrs_absence`). Runs once the previous window is fully decided, on
        samples before the quarter's end only, so it does not depend on the chunks."""
        assert self._end is not None
        start = self._next_window * self._w
        if self._checks >= QUIET_CHECKS or self._decided != start:
            return
        if self._absence is None:
            if start - self._last_peak < self._quiet_after:
                self._checks = QUIET_CHECKS
                return
            self._absence = QrsAbsence(self._det)
            self._clear = start - self._det.boundary  # this window decides from here
        while self._checks < QUIET_CHECKS:
            stop = start + self._quarters[self._checks]
            if stop > self._end:
                return
            self._checks += 1
            blocked = self._clear_until(stop)
            through = self._clear - self._det.delay - self._det.search
            if through > max(start, self._through) and self._analysable(start, stop):
                out.quiet.append(QuietSpan(start, through))
                self._through = through
            if blocked:
                break
        self._checks = QUIET_CHECKS
        self._absence = None

    def _analysable(self, start: int, stop: int) -> bool:
        """Whether some lead is usable over [start, stop), judged on that span alone."""
        h, rows = self._hist, self._rows
        raw = h.view(rows[_RAW], start, stop)
        stats = window_stats(
            stop - start,
            raw=raw,
            missing=h.view(rows[_MISSING], start, stop) > 0,
            hf=h.view(rows[_HF], start, stop),
            lf=h.view(rows[_LF], start, stop),
        )
        quality = assess_window(
            self.leads,
            start,
            stop,
            self._f,
            stats=stats,
            column=0,
            raw=raw,
            off=self._off.off_during(start, stop),
        )
        return any(q.usable for q in quality)

    def _clear_until(self, stop: int) -> bool:
        """Advance `_clear` towards `stop` over the envelope indices that cannot be a QRS;
        True when a candidate that might be one blocks it for good."""
        bound, det, md = self._absence, self._det, self._bank.monitor_delay
        assert bound is not None
        lo = self._clear
        if lo >= stop:
            return False
        suspects = np.flatnonzero(bound.suspects(self._hist.view(self._channels, lo, stop))) + lo
        suspects = suspects[suspects >= det.origin + det.reach]  # rejected before the data
        # the amplitude bound reads the monitor signal past the candidate: only those it can
        ready = suspects[suspects + bound.reach_after + md < stop]
        if len(ready):
            m0 = int(ready[0]) - det.reach + md
            assert m0 >= self._hist.first
            monitor = self._hist.view(self._rows[_MONITOR], m0, stop)
            qrs = bound.first_possible_qrs(ready, monitor, m0, md)
            if qrs is not None:
                self._clear = qrs
                return True
        self._clear = int(suspects[len(ready)]) if len(ready) < len(suspects) else stop
        return False

    def _batch_stats(self, k: int) -> tuple[int, WindowStats, np.ndarray, np.ndarray, np.ndarray]:
        """Statistics of every window from k that has closed, in one vectorised pass."""
        assert self._end is not None
        h, rows, w = self._hist, self._rows, self._w
        start = k * w
        stop = start + (self._end - start) // w * w
        stats = window_stats(
            w,
            raw=h.view(rows[_RAW], start, stop),
            missing=h.view(rows[_MISSING], start, stop) > 0,
            hf=h.view(rows[_HF], start, stop),
            lf=h.view(rows[_LF], start, stop),
        )
        maxima, floors, peaks = envelope_stats(h.view(self._channels, start, stop), w)
        return k, stats, maxima, floors, peaks

    def _missing_window(self, k: int) -> EcgWindow:
        start, stop = k * self._w, (k + 1) * self._w
        return _window(start, stop, self._f, missing_window(self.leads, start, stop))


def _window(start: int, stop: int, fs: float, quality: tuple[LeadQuality, ...]) -> EcgWindow:
    usable = tuple(q.lead for q in quality if q.usable)
    unusable = [q for q in quality if not q.usable]
    return EcgWindow(
        start=start,
        stop=stop,
        t_s=start / fs,
        usable_leads=usable,
        analysable=bool(usable),
        leads_off=bool(unusable) and all(q.reason == "leads_off" for q in unusable),
        quality=quality,
    )


def _hold_last(x: np.ndarray, finite: np.ndarray, hold: np.ndarray) -> np.ndarray:
    """x with every non-finite sample replaced by the last finite one before it in its row
    (or by `hold`, the row's last finite sample before this block)."""
    n = x.shape[1]
    idx = np.where(finite, np.arange(n), -1)
    np.maximum.accumulate(idx, axis=1, out=idx)
    filled = np.take_along_axis(x, np.maximum(idx, 0), axis=1)
    return np.where(idx >= 0, filled, hold[:, None])
