"""Pleth pulses: systolic peaks, foot-to-peak amplitude and pulse rate, causal and incremental.

Method. The pleth is smoothed by a short symmetric Hann FIR (40 ms: keeps the systolic upstroke,
removes sensor noise; symmetric, so its delay is an exact number of samples and peak indices
stay on the raw grid). On the smoothed signal a `SwingTracker` finds alternating troughs and
peaks with hysteresis: a trough is confirmed when the signal has risen `delta` above the lowest
point of the trailing window, a peak when it has fallen `delta` below the highest. `delta` is
`RELATIVE` (30 %) of the signal's peak-to-trough range over the previous 3 s, never below
`FLOOR`, so the dicrotic notch and diastolic wave (rise ~15-20 % of the pulse) are not pulses
while a weak pulse train (VT, amplitude a third of normal) is followed within 3 s. A pulse is a
confirmed peak; its amplitude is peak minus the trough (foot) before it. A flat trace (probe
off) or NaN (treated as a gap: the tracker restarts after it) gives no pulses.

Chunk invariance: `delta` is a causal function of the samples on a fixed grid of blocks of
sample indices, windows are measured in samples, and every decision is the first sample
meeting a condition, so feeding one chunk or many gives the same events (tests prove it with
one chunk, 40 ms chunks and random chunks).

Look-ahead: a pulse is reported when the signal has fallen `delta` below its peak inside the
trailing window, at most `PEAK_WINDOW_S` after the peak, plus the FIR's half length:
`PulseDetector.LOOKAHEAD_S` (0.52 s; ~0.1 s typically). `analysed_through` is exact: the
earliest index at which a pulse could still be found.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import as_strided
from scipy.ndimage import maximum_filter1d, minimum_filter1d

from vigil.runtime.analysis.events import Pulse, seconds_at
from vigil.runtime.analysis.feed_contract import check_feed


@dataclass(frozen=True, slots=True)
class Extremum:
    """A confirmed trough or peak of the smoothed signal; `confirmed_at` is the smoothed-grid
    index whose value confirmed it (its raw sample arrives `delay` samples later)."""

    kind: str  # "trough" | "peak"
    index: int
    value: float
    confirmed_at: int


class SwingTracker:
    """Alternating troughs and peaks with an adaptive hysteresis, on a fixed sample grid.

    Shared by the pulse and breath detectors. Smoothed sample c is the FIR output centred on
    raw sample c, known once raw sample c + `delay` arrived. Starts by looking for a trough.

    A trough is confirmed at the first sample c whose value exceeds the minimum of the window
    [max(c - window, last extremum), c] by more than `delta(c)` (a peak: falls below the
    maximum); the extremum is that window's first minimum (maximum), or for a trough with
    `trough_tolerance`, the last sample within `trough_tolerance` x delta of that minimum
    (where the rise leaves the bottom). `delta(c)` is `relative` times the range of the
    signal over the previous `range_blocks` blocks of `block` samples (a fixed grid of
    indices) and the current block up to c, never below `floor`: causal, and the same however
    the signal is chunked.

    Cost: a live bed feeds a few samples at a time, so per-call overhead is what counts. A
    chunk shorter than a window that cannot confirm anything (the largest rise or fall it
    could make stays within delta) is rejected from its own few samples (Python's min and max
    on a list: the smoothed samples are finite, so they agree with numpy's) and the trailing
    window's extremum, which `earliest_candidate` keeps from call to call; otherwise the
    trailing windows are vectorised (strided views, or scipy's running min/max for long
    chunks) and Python loops only over confirmed extrema. Smoothed samples are appended in
    place, not copied with the history each call.
    """

    def __init__(
        self,
        fs: float,
        *,
        smooth_s: float,
        window_s: float,
        floor: float,
        relative: float,
        block_s: float,
        range_s: float,
        keep_s: float = 0.0,
        trough_tolerance: float = 0.0,
    ) -> None:
        k = max(1, 2 * round(smooth_s * fs / 2) + 1)
        kernel = np.hanning(k + 2)[1:-1]
        self.kernel = kernel / kernel.sum()
        self.delay = (k - 1) // 2
        self.window = max(1, round(window_s * fs))
        self.block = max(1, round(block_s * fs))
        self.range_blocks = max(1, round(range_s / block_s))
        self.floor = floor
        self.relative = relative
        self.trough_tolerance = trough_tolerance
        self._keep = self.window + self.block + round(keep_s * fs) + 1
        self.reset(0)

    # -- state ------------------------------------------------------------------------------
    def reset(self, next_index: int) -> None:
        """Forget everything; the next raw sample is `next_index` (after a gap)."""
        self._tail = np.empty(0)
        self._next_raw = next_index
        self.start = next_index + self.delay  # first smoothed index since the reset
        self._y = np.empty(0)  # smoothed samples from index `_y0`: a view into `_store`
        self._y0 = self.start
        self._store = np.empty(0)  # room to append without copying what is kept each time
        self._store_at = 0  # where `_y` starts in `_store`
        self.mode = "trough"
        self._anchor = self.start
        self._block_k = self.start // self.block  # the block being accumulated
        self._block_hi = -np.inf
        self._block_lo = np.inf
        # highs and lows of the last `range_blocks` complete blocks, and their range
        self._highs: deque[float] = deque(maxlen=self.range_blocks)
        self._lows: deque[float] = deque(maxlen=self.range_blocks)
        self._top, self._bottom = -np.inf, np.inf
        self._forget_candidate()

    def _forget_candidate(self) -> None:
        """Drop `earliest_candidate`'s memo (the mode, anchor or start changed)."""
        self._cand_end: int | None = None  # the end the memo was taken at
        self._cand_index: int | None = None  # the window's first extremum; None: empty window
        self._cand_value = math.nan

    @property
    def end(self) -> int:
        """One past the last smoothed sample (raw samples up to end + delay have arrived)."""
        return self._y0 + len(self._y)

    @property
    def next_raw(self) -> int:
        return self._next_raw

    def earliest_candidate(self) -> int:
        """The earliest smoothed index at which a future extremum (of either kind) can lie:
        the first lowest (trough mode) or highest (peak mode) sample of the trailing window.

        Memoised for small chunks: the window only moves forward while the mode and anchor
        stay, so the previous call's first extremum, while still inside, is the first
        extremum of the window's older part, and only the samples since need a look (ties go
        to the earlier sample, as `argmin` does)."""
        e = self._y0 + len(self._y)
        lo = max(e - self.window, self._anchor, self.start)
        trough = self.mode == "trough"
        i: int | None
        if lo >= e:
            i, v = None, math.nan
        elif self._cand_end is not None and self._cand_index is not None and self._cand_index >= lo:
            # the memo (of this mode and anchor) is still inside the window
            i, v = self._cand_index, self._cand_value
            if self._cand_end < e:
                j, m = _first_extremum(self._y[self._cand_end - self._y0 :], trough)
                if (m < v) if trough else (m > v):
                    i, v = self._cand_end + j, m
        else:
            j, v = _first_extremum(self._y[lo - self._y0 : e - self._y0], trough)
            i = lo + j
        self._cand_end, self._cand_index, self._cand_value = e, i, v
        return e if i is None else i

    def max_between(self, lo: int, hi: int) -> float:
        """Highest smoothed value over [lo, hi) still buffered (NaN if none)."""
        a, b = max(lo, self._y0) - self._y0, min(hi, self.end) - self._y0
        return float(self._y[a:b].max()) if b > a else math.nan

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, samples: np.ndarray) -> list[Extremum]:
        """Finite raw samples continuing at `next_raw`; the extrema they confirm, in order."""
        n = len(samples)
        if n == 0:
            return []
        raw = np.concatenate((self._tail, samples))  # float64, the FIR's history first
        self._next_raw += n
        k = len(self.kernel)
        self._tail = raw[-(k - 1) :] if k > 1 else raw[:0]
        if len(raw) < k:
            return []
        s = self._y0 + len(self._y)
        new = np.convolve(raw, self.kernel, mode="valid")
        self._append(new)
        return self._scan(s, new)

    def _append(self, new: np.ndarray) -> None:
        """`_y` += `new`, in place in `_store` (moved to its front, or a larger store, when
        full), so a short chunk costs its own samples, not a copy of the whole history."""
        used, m, at = len(self._y), len(new), self._store_at
        if at + used + m > len(self._store):
            full = 2 * (used + m) > len(self._store)
            store = np.empty(4 * (used + m)) if full else self._store
            store[:used] = self._y  # numpy copies through a buffer where the two overlap
            self._store, at = store, 0
        self._store[at + used : at + used + m] = new
        self._y = self._store[at : at + used + m]
        self._store_at = at

    def trim(self) -> None:
        """Drop smoothed samples no window needs any more (after the caller used the events:
        `max_between` may still look back to them)."""
        if len(self._y) > self._keep:
            cut = len(self._y) - self._keep
            self._y = self._y[cut:]
            self._y0 += cut
            self._store_at += cut

    def _advance_blocks(
        self, s: int, new: np.ndarray, new_hi: float, new_lo: float
    ) -> list[tuple[int, int, float, float, float, float]]:
        """Update the block ranges with smoothed samples `new`, [s, e) (highest `new_hi`,
        lowest `new_lo`); per piece of one block: (lo, hi, top and bottom of the previous
        blocks, the block's high and low before the piece)."""
        b, e = self.block, s + len(new)
        k0, k1 = s // b, (e - 1) // b
        if k0 == k1 == self._block_k:  # the common case of short chunks: one block, no turn
            piece = (s, e, self._top, self._bottom, self._block_hi, self._block_lo)
            self._block_hi = max(self._block_hi, new_hi)
            self._block_lo = min(self._block_lo, new_lo)
            return [piece]
        if k0 == k1:
            his, los = [new_hi], [new_lo]
        else:  # every piece's high and low in two calls
            starts = [0, *range((k0 + 1) * b - s, e - s, b)]
            his = np.maximum.reduceat(new, starts).tolist()
            los = np.minimum.reduceat(new, starts).tolist()
        pieces = []
        for k, seg_hi, seg_lo in zip(range(k0, k1 + 1), his, los, strict=True):
            lo, hi = max(k * b, s), min((k + 1) * b, e)
            if k != self._block_k:  # entering block k: the one before is complete
                self._highs.append(self._block_hi)
                self._lows.append(self._block_lo)
                self._block_k, self._block_hi, self._block_lo = k, -np.inf, np.inf
                self._top, self._bottom = max(self._highs), min(self._lows)
            pieces.append((lo, hi, self._top, self._bottom, self._block_hi, self._block_lo))
            self._block_hi = max(self._block_hi, seg_hi)
            self._block_lo = min(self._block_lo, seg_lo)
        return pieces

    def _least_delta(self, pieces: list[tuple[int, int, float, float, float, float]]) -> float:
        """The smallest delta over the pieces: the span only grows within a block, so each
        piece's smallest is at its first sample."""
        least = math.inf
        for lo, _, top, bottom, bhi, blo in pieces:
            v = float(self._y[lo - self._y0])
            span = max(top, bhi, v) - min(bottom, blo, v)
            least = min(least, max(self.floor, self.relative * span))
        return least

    def _deltas(self, s: int, e: int, pieces: list[tuple[int, int, float, float, float, float]]):
        """delta for every smoothed index in [s, e): `relative` x the range of the previous
        blocks and of the current block up to that sample (causal), at least `floor`."""
        if len(pieces) == 1:
            _, _, top, bottom, bhi, blo = pieces[0]
            seg = self._y[s - self._y0 : e - self._y0]
            highs = np.maximum.accumulate(seg)
            np.maximum(highs, max(top, bhi), out=highs)
            lows = np.minimum.accumulate(seg)
            np.minimum(lows, min(bottom, blo), out=lows)
            highs -= lows
            highs *= self.relative
            return np.maximum(highs, self.floor, out=highs)
        # one row per block of the index grid, the samples before s padded with -inf
        # (running highs) and +inf (running lows), which no running maximum (minimum) keeps
        b, n, y = self.block, len(pieces), self._y[s - self._y0 : e - self._y0]
        head = s - s // b * b
        grid = np.full((2, n * b), [[-np.inf], [np.inf]])
        grid[:, head : head + len(y)] = y
        highs = np.maximum.accumulate(grid[0].reshape(n, b), axis=1)
        lows = np.minimum.accumulate(grid[1].reshape(n, b), axis=1)
        np.maximum(highs, [[max(p[2], p[4])] for p in pieces], out=highs)
        np.minimum(lows, [[min(p[3], p[5])] for p in pieces], out=lows)
        highs -= lows
        highs *= self.relative
        return np.maximum(highs, self.floor).reshape(-1)[head : head + len(y)]

    def _cannot_confirm(
        self,
        s: int,
        new_hi: float,
        new_lo: float,
        pieces: list[tuple[int, int, float, float, float, float]],
    ) -> bool:
        """Whether the new samples from s (highest `new_hi`, lowest `new_lo`) surely confirm
        nothing: the largest rise (fall) they could make against the lowest (highest) point of
        every window stays within the smallest delta."""
        trough = self.mode == "trough"
        old: float | None  # the lowest (trough mode) or highest point of the old window
        if self._cand_end == s:  # `earliest_candidate` found it for this window
            old = None if self._cand_index is None else self._cand_value
        else:
            lo = max(s - self.window, self._anchor, self.start)
            seg = self._y[lo - self._y0 : s - self._y0]
            old = (float(seg.min()) if trough else float(seg.max())) if len(seg) else None
        if trough:
            bound = new_hi - (min(new_lo, old) if old is not None else new_lo)
        else:
            bound = (max(new_hi, old) if old is not None else new_hi) - new_lo
        return bound <= self._least_delta(pieces)

    def _scan(self, s: int, new: np.ndarray) -> list[Extremum]:
        """The extrema confirmed by the smoothed samples `new`, [s, end)."""
        e, w = self._y0 + len(self._y), self.window
        if len(new) <= _SMALL:  # Python's min and max beat numpy's call overhead here
            values = new.tolist()
            new_hi, new_lo = max(values), min(values)
        else:
            new_hi, new_lo = float(new.max()), float(new.min())
        pieces = self._advance_blocks(s, new, new_hi, new_lo)
        # fast path: no confirmation is possible if even the largest rise (fall) over the new
        # samples against the lowest (highest) point of every window stays within delta
        # (tried for chunks shorter than a window: a longer one holds a swing of its own)
        if e - s <= w and self._cannot_confirm(s, new_hi, new_lo, pieces):
            return []
        self._forget_candidate()  # extrema may be confirmed: mode and anchor may change
        delta = self._deltas(s, e, pieces)
        lo = max(s - w, self.start)
        seg = self._y[lo - self._y0 : e - self._y0]
        hits: dict[str, np.ndarray] = {}

        def hits_for(mode: str) -> np.ndarray:
            """Indices in [s, e) whose trailing window confirms an extremum of `mode`
            (computed once per mode, and only when `_next` looks past the anchor's windows)."""
            if mode not in hits:
                y = seg[s - lo :]
                if mode == "trough":
                    hits[mode] = np.flatnonzero(y - _running(seg, w, e - s, np.min) > delta) + s
                else:
                    hits[mode] = np.flatnonzero(_running(seg, w, e - s, np.max) - y > delta) + s
            return hits[mode]

        out: list[Extremum] = []
        c = s
        while c < e:
            found = self._next(c, s, e, delta, hits_for)
            if found is None:
                break
            out.append(found)
            self.mode = "peak" if found.kind == "trough" else "trough"
            self._anchor = found.index
            c = found.confirmed_at + 1
        return out

    def _next(
        self, c: int, s: int, e: int, delta: np.ndarray, hits_for: Callable[[str], np.ndarray]
    ) -> Extremum | None:
        """The first extremum confirmed at or after c (before e) in the current mode."""
        a, w, y0 = self._anchor, self.window, self._y0
        trough = self.mode == "trough"
        f = None
        clip_end = min(e, a + w)
        if c < clip_end:  # windows cut short by the last extremum: [a, c']
            part = self._y[a - y0 : clip_end - y0]
            if trough:
                excess = part - np.minimum.accumulate(part)
            else:
                excess = np.maximum.accumulate(part) - part
            over = excess[c - a :] > delta[c - s : clip_end - s]
            j = int(over.argmax())  # the first True, if any
            if over[j]:
                f = c + j
        if f is None:
            if max(c, clip_end) >= e:  # no full-length window left in [c, e)
                return None
            hits = hits_for(self.mode)
            j = int(hits.searchsorted(max(c, clip_end)))
            if j == len(hits):
                return None
            f = int(hits[j])
        lo = max(f - w, a)
        win = self._y[lo - y0 : f + 1 - y0]
        if trough and self.trough_tolerance > 0:  # where the rise leaves the bottom
            near = win <= win.min() + self.trough_tolerance * delta[f - s]
            i = lo + len(win) - 1 - int(np.argmax(near[::-1]))
        else:
            i = lo + int(win.argmin() if trough else win.argmax())
        return Extremum("trough" if trough else "peak", i, float(self._y[i - y0]), f)


_SMALL = 32  # up to this many samples, reductions run on a Python list


def _first_extremum(seg: np.ndarray, lowest: bool) -> tuple[int, float]:
    """(position, value) of the first minimum (`lowest`) or maximum of a non-empty `seg`."""
    if len(seg) <= _SMALL:
        values = seg.tolist()
        v = min(values) if lowest else max(values)
        return values.index(v), v
    j = int(np.argmin(seg) if lowest else np.argmax(seg))
    return j, float(seg[j])


def _running(seg: np.ndarray, w: int, n: int, reduce: Callable[..., np.ndarray]) -> np.ndarray:
    """min or max (`reduce`) of the trailing windows [j - w, j] (clipped at the start of `seg`)
    for the last `n` samples of `seg`."""
    if len(seg) == n + w and n <= 256:  # full history: a strided view is cheapest
        st = seg.strides[0]
        return reduce(as_strided(seg, shape=(n, w + 1), strides=(st, st), writeable=False), axis=1)
    filt = minimum_filter1d if reduce is np.min else maximum_filter1d
    return filt(seg, w + 1, origin=w // 2, mode="nearest")[len(seg) - n :]


def finite_runs(samples: np.ndarray) -> Iterator[tuple[int, int, bool]]:
    """(start, stop, finite) runs of a 1-D array, in order."""
    if len(samples) == 0:
        return
    # one pass; NaN or inf (or overflow) look closer; Python's sum is cheaper for a few
    total = sum(samples.tolist()) if len(samples) <= _SMALL else float(samples.sum())
    if math.isfinite(total):
        yield 0, len(samples), True
        return
    finite = np.isfinite(samples)
    edges = np.flatnonzero(np.diff(finite.astype(np.int8))) + 1
    bounds = [0, *edges.tolist(), len(samples)]
    for a, b in itertools.pairwise(bounds):
        yield a, b, bool(finite[a])


def rate_per_min(times: list[float], t_s: float, window_s: float, last_n: int | None) -> float:
    """60 / mean interval of the events in [t_s - window_s, t_s); NaN with fewer than two."""
    recent = [t for t in times if t_s - window_s <= t < t_s]
    if last_n is not None:
        recent = recent[-(last_n + 1) :]
    if len(recent) < 2:
        return math.nan
    return 60.0 * (len(recent) - 1) / (recent[-1] - recent[0])


@dataclass(slots=True)
class PlethOutput:
    """Pulses confirmed by one call; every pulse before `analysed_through` has been reported."""

    pulses: list[Pulse] = field(default_factory=list)
    analysed_through: int = 0


class PulseDetector:
    """Pulses of one pleth channel at `fs` (a.u., any scale above `FLOOR`)."""

    SMOOTH_S = 0.04
    PEAK_WINDOW_S = 0.5  # a peak must be confirmed within this (the fall takes ~0.1 s)
    RELATIVE = 0.3
    FLOOR = 0.05  # a.u.: smallest pulse swing; above respiratory baseline modulation (~0.03)
    BLOCK_S = 0.5
    RANGE_S = 3.0  # covers a full cycle at 30 /min with margin
    RATE_WINDOW_S = 8.0
    STALE_S = 4.0  # no pulse for this long: no rate
    MEMORY_S = 60.0  # pulse times kept for `pulse_rate` queries into the recent past
    LOOKAHEAD_S = PEAK_WINDOW_S + SMOOTH_S / 2  # nominal; each instance holds its exact one

    def __init__(self, fs: Fraction) -> None:
        self.fs = Fraction(fs)
        if self.fs <= 0:
            raise ValueError(f"PulseDetector needs a positive sample rate, got {fs}")
        self._tracker = SwingTracker(
            float(self.fs),
            smooth_s=self.SMOOTH_S,
            window_s=self.PEAK_WINDOW_S,
            floor=self.FLOOR,
            relative=self.RELATIVE,
            block_s=self.BLOCK_S,
            range_s=self.RANGE_S,
        )
        # the exact bound at this rate (window and FIR rounded to whole samples)
        self.LOOKAHEAD_S = (self._tracker.window + self._tracker.delay) / float(self.fs)
        self._expected: int | None = None
        self._foot = math.nan
        self._recent: deque[float] = deque()

    def feed(self, first_index: int, samples: np.ndarray) -> PlethOutput:
        samples = np.asarray(samples)
        check_feed("PulseDetector", self._expected, first_index, samples, rows=None)
        if self._expected is None:
            self._tracker.reset(first_index)
        out = PlethOutput()
        for a, b, finite in finite_runs(samples):
            if finite:
                for ext in self._tracker.feed(samples[a:b]):
                    self._take(ext, out)
                self._tracker.trim()
            else:
                self._restart(first_index + b)
        self._expected = first_index + len(samples)
        out.analysed_through = self._tracker.earliest_candidate()
        return out

    def gap(self, next_index: int) -> PlethOutput:
        """A discontinuity: forget the signal's state; the next feed starts at `next_index`."""
        self._restart(next_index)
        self._expected = next_index
        return PlethOutput([], next_index)

    def _restart(self, next_index: int) -> None:
        self._tracker.reset(next_index)
        self._foot = math.nan

    def _take(self, ext: Extremum, out: PlethOutput) -> None:
        if ext.kind == "trough":
            self._foot = ext.value
            return
        if math.isnan(self._foot):
            return
        t_s = seconds_at(ext.index, self.fs)
        pulse = Pulse(ext.index, t_s, ext.value - self._foot, ext.confirmed_at + self._delay)
        out.pulses.append(pulse)
        self._recent.append(t_s)
        while self._recent and self._recent[0] < t_s - self.MEMORY_S:
            self._recent.popleft()

    @property
    def _delay(self) -> int:
        return self._tracker.delay

    def pulse_rate(self, t_s: float) -> float:
        """Pulse rate (/min) from the pulses in the last `RATE_WINDOW_S` before `t_s` (at most
        `MEMORY_S` before the newest pulse, and analysed past: see `analysed_through`); NaN with
        fewer than two pulses there or none in the last `STALE_S` (no rate to show: whether
        that means no pulse or no probe is the caller's knowledge, from the device status)."""
        times = list(self._recent)
        recent = [t for t in times if t < t_s]
        if not recent or t_s - recent[-1] > self.STALE_S:
            return math.nan
        return rate_per_min(times, t_s, self.RATE_WINDOW_S, None)
