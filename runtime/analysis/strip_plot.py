"""`vigil analyze --plot OUT.png`: what the analysis saw, drawn the way a clinician reads ECG.

One page: a heart-rate trend over the whole record with the alarm conditions shaded, then
ECG strips on standard paper (25 mm/s and 10 mm/mV at the saved size; 1 mm minor grid =
0.04 s and 0.1 mV, 5 mm major grid), each detected beat marked with its class (N, V red,
Q grey) and each alarm span shaded and named. A short record is drawn whole, strip after
strip; a long one gets a strip around each alarm onset (most urgent first), else the start
and the fastest and slowest moments. The ECG is shown through a 0.5-40 Hz display filter
(a monitor's "monitor mode"), applied forward and backward so waves are not shifted.

matplotlib (the `[plot]` extra) is imported when a plot is drawn, with the Agg backend, so
the analysis runs where it is not installed.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.errors import ConfigError
from vigil.records import Record, WaveformChunk
from vigil.runtime.analysis.condition import Priority
from vigil.runtime.analysis.result import AnalysisResult, ConditionSpan

LEAD_PREFERENCE = ("ECG_II", "ECG_I", "ECG_III", "ECG_V", "ECG_AVF", "ECG_AVL", "ECG_AVR")
CHOOSE_AFTER_S = 20.0  # the plotted lead is chosen once a lead has this much signal
MM_PER_S = 25.0
MM_PER_MV = 10.0
MM_PER_INCH = 25.4
STRIP_S = 10.0
MAX_STRIPS = 6
LEAD_IN_S = 3.0  # an alarm strip starts this long before the onset
DISPLAY_BAND_HZ = (0.5, 40.0)
PRIORITY_COLOURS = {Priority.HIGH: "#d62728", Priority.MEDIUM: "#f08c00", Priority.LOW: "#1c7ed6"}
LABEL_COLOURS = {"N": "#222222", "V": "#d62728", "Q": "#868e96"}
INSTALL_HINT = "pip install 'vigil-edge[plot]'"
LANE_IN = 0.17  # height of one alarm kind's row in the timeline


class EcgTrace:
    """One ECG lead kept as the records stream past (`tap`), for drawing strips afterwards.

    Lead II is kept when the recording has it, else the first lead in `LEAD_PREFERENCE`;
    the others are dropped once the choice is made, so memory is one lead (4 bytes a sample).
    """

    def __init__(self) -> None:
        self.kind: str | None = None
        self.label = ""
        self.fs: float | None = None
        self._chunks: dict[str, list[tuple[int, np.ndarray]]] = {}
        self._labels: dict[str, str] = {}
        self._rates: dict[str, float] = {}

    def tap(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            if isinstance(record, WaveformChunk) and record.kind in LEAD_PREFERENCE:
                self._add(record)
            yield record

    def segment(self, t0: float, t1: float) -> np.ndarray:
        """Samples with times in `[t0, t1)` (device seconds); NaN where none arrived."""
        self._choose()
        if self.kind is None or self.fs is None:
            return np.zeros(0, dtype=np.float32)
        a, b = math.ceil(t0 * self.fs), math.ceil(t1 * self.fs)
        out = np.full(max(0, b - a), np.nan, dtype=np.float32)
        chunks = self._chunks[self.kind]
        k = max(0, bisect.bisect_right([first for first, _ in chunks], a) - 1)
        for first, x in chunks[k:]:
            if first >= b:
                break
            lo, hi = max(a, first), min(b, first + len(x))
            if hi > lo:
                out[lo - a : hi - a] = x[lo - first : hi - first]
        return out

    def _add(self, chunk: WaveformChunk) -> None:
        if self.kind is not None and chunk.kind != self.kind:
            return
        self._chunks.setdefault(chunk.kind, []).append(
            (chunk.first_index, np.asarray(chunk.samples, dtype=np.float32))
        )
        self._labels.setdefault(chunk.kind, chunk.label)
        self._rates.setdefault(chunk.kind, float(chunk.rate))
        held = sum(len(x) for _, x in self._chunks[chunk.kind]) / float(chunk.rate)
        if self.kind is None and (chunk.kind == LEAD_PREFERENCE[0] or held >= CHOOSE_AFTER_S):
            self._choose()

    def _choose(self) -> None:
        if self.kind is not None or not self._chunks:
            return
        self.kind = min(self._chunks, key=LEAD_PREFERENCE.index)
        self.label = self._labels[self.kind]
        self.fs = self._rates[self.kind]
        self._chunks = {self.kind: sorted(self._chunks[self.kind], key=lambda c: c[0])}


def choose_strips(
    result: AnalysisResult,
    start_s: float,
    end_s: float,
    *,
    max_strips: int = MAX_STRIPS,
    strip_s: float = STRIP_S,
) -> list[tuple[float, str]]:
    """Strip start times (device seconds) and why each was chosen, in time order: the whole
    record when it fits, else the first onset of each alarm kind (most urgent first), the
    start, the fastest and slowest heart rate, then later onsets, strips never overlapping
    by more than half."""
    if end_s - start_s <= max_strips * strip_s:
        count = max(1, math.ceil((end_s - start_s) / strip_s - 1e-9))
        return [(start_s + k * strip_s, "") for k in range(count)]
    last = max(start_s, end_s - strip_s)
    chosen: list[tuple[float, str]] = []

    def add(t: float, why: str) -> None:
        t = min(max(t - LEAD_IN_S, start_s), last)
        if len(chosen) < max_strips and all(abs(t - c) >= strip_s / 2 for c, _ in chosen):
            chosen.append((t, why))

    by_kind: dict[str, list[ConditionSpan]] = {}
    for span in sorted(result.spans, key=lambda s: (-s.start.priority, s.onset_s)):
        by_kind.setdefault(span.kind, []).append(span)
    for spans in by_kind.values():  # the first onset of every kind, most urgent kinds first
        add(spans[0].onset_s, f"{spans[0].kind} onset")
    add(start_s + LEAD_IN_S, "start")
    rates = [(bpm, t) for t, bpm in result.heart_rate if math.isfinite(bpm)]
    if rates:
        add(max(rates)[1], "fastest heart rate")
        add(min(rates)[1], "slowest heart rate")
    for k in range(1, max((len(v) for v in by_kind.values()), default=0)):  # then later ones
        for spans in by_kind.values():
            if k < len(spans):
                add(spans[k].onset_s, f"{spans[k].kind} onset")
    return sorted(chosen)


def plot_analysis(
    result: AnalysisResult,
    trace: EcgTrace,
    path: str | Path,
    *,
    start_s: float = 0.0,
    title: str = "",
    max_strips: int = MAX_STRIPS,
    strip_s: float = STRIP_S,
    dpi: int = 120,
) -> list[tuple[float, str]]:
    """Draw the page (module docstring) to `path`; returns the strips drawn."""
    plt = _pyplot()
    page = _Page(result, trace, start_s, start_s + result.duration_s, strip_s)
    strips = choose_strips(result, page.start_s, page.end_s, max_strips=max_strips, strip_s=strip_s)
    whole = len(strips) * strip_s >= page.end_s - page.start_s
    segments = [
        (t0, why if whole else f"[{k}] {why}", trace.segment(t0, t0 + strip_s))
        for k, (t0, why) in enumerate(strips, start=1)
    ]
    ranges = [_mv_range(x) for _, _, x in segments]

    kinds = sorted({span.kind for span in result.spans}, key=lambda k: _kind_order(result, k))
    strip_w = strip_s * MM_PER_S / MM_PER_INCH
    left, right, head, trend_h, gap = 1.2, 0.3, 0.7, 1.5, 0.75
    lanes_h = LANE_IN * max(1, len(kinds))
    heights = [(hi - lo) * MM_PER_MV / MM_PER_INCH for lo, hi in ranges]
    strip_lanes = [len(page.active(t0)) * LANE_IN for t0, _, _ in segments]
    fig_w = left + strip_w + right
    fig_h = head + trend_h + lanes_h + gap + sum(heights) + sum(strip_lanes)
    fig_h += gap * len(segments)

    def box(top: float, height: float) -> tuple[float, float, float, float]:
        return (left / fig_w, (top - height) / fig_h, strip_w / fig_w, height / fig_h)

    fig = plt.figure(figsize=(fig_w, fig_h), dpi=dpi)
    try:
        fig.suptitle(title, x=left / fig_w, ha="left", y=1 - 0.12 / fig_h, fontsize=10)
        top = fig_h - head
        trend = fig.add_axes(box(top, trend_h))
        timeline = fig.add_axes(box(top - trend_h, lanes_h), sharex=trend)
        page.trend(trend, timeline, kinds, [] if whole else strips)
        top -= trend_h + lanes_h + gap
        for (t0, why, x), mv_range, h, lh in zip(segments, ranges, heights, strip_lanes,
                                                 strict=True):  # fmt: skip
            ecg = fig.add_axes(box(top, h))
            lanes = fig.add_axes(box(top - h, lh), sharex=ecg) if lh else None
            page.strip(ecg, lanes, t0, x, mv_range=mv_range, why=why)
            top -= h + lh + gap
        try:
            fig.savefig(path, dpi=dpi)
        except OSError as exc:
            raise ConfigError(f"cannot write --plot {path}: {exc.strerror or exc}") from exc
    finally:
        plt.close(fig)
    return strips


def _kind_order(result: AnalysisResult, kind: str) -> tuple[int, float]:
    """Most urgent first, then by first onset."""
    spans = [s for s in result.spans if s.kind == kind]
    return (-max(s.start.priority for s in spans), min(s.onset_s for s in spans))


def require_matplotlib() -> None:
    """Fail now, with the install hint, rather than after a long analysis."""
    _pyplot()


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ConfigError(f"--plot needs matplotlib: {INSTALL_HINT}") from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


@dataclass(frozen=True, slots=True)
class _Page:
    """What every panel of one page draws from; axes show seconds from `start_s`."""

    result: AnalysisResult
    trace: EcgTrace
    start_s: float
    end_s: float
    strip_s: float

    def active(self, t0: float) -> list[ConditionSpan]:
        """Conditions active at some time in the strip starting at `t0`."""
        spans = [s for s in self.result.spans if _overlap(s, t0, t0 + self.strip_s)]
        return sorted(spans, key=lambda s: (-s.start.priority, s.onset_s))

    def strip(
        self,
        ax: Any,
        lanes: Any,
        t0: float,
        x: np.ndarray,
        *,
        mv_range: tuple[float, float],
        why: str,
    ) -> None:
        """One ECG strip on paper (`ax`); under it (`lanes`) one bar per alarm condition
        active in the strip, and a dashed line on the ECG at each onset."""
        lo, hi = mv_range
        t1 = t0 + self.strip_s
        r0, r1 = t0 - self.start_s, t1 - self.start_s
        ax.set_xlim(r0, r1)
        ax.set_ylim(lo, hi)
        _ecg_grid(ax, (r0, r1), (lo, hi))
        fs = self.trace.fs or 1.0
        if len(x) and np.isfinite(x).any():
            y = _display_filter(x, fs)
            t = math.ceil(t0 * fs) / fs + np.arange(len(y)) / fs - self.start_s
            ax.plot(t, y, color="black", linewidth=0.8, zorder=3)
        else:
            ax.text((r0 + r1) / 2, (lo + hi) / 2, "no ECG", ha="center", va="center")
        active = self.active(t0)
        for row, span in enumerate(active):
            colour = PRIORITY_COLOURS.get(span.start.priority, "#868e96")
            a, b = _overlap(span, t0, t1) or (t0, t0)
            lanes.broken_barh([(a - self.start_s, b - a)], (row + 0.15, 0.7), color=colour)
            if span.onset_s >= t0:
                ax.axvline(span.onset_s - self.start_s, color=colour, linestyle="--",
                           linewidth=0.9, zorder=2)  # fmt: skip
        if lanes is not None:
            lanes.set_ylim(len(active), 0)
            lanes.set_yticks([k + 0.5 for k in range(len(active))])
            lanes.set_yticklabels([f"{s.kind} ({s.start.priority.name.lower()})" for s in active],
                                  fontsize=6.5)  # fmt: skip
            lanes.tick_params(axis="y", length=0)
            lanes.tick_params(axis="x", labelsize=7, length=2)
            lanes.set_xlabel("s from record start", fontsize=7, labelpad=1)
            ax.tick_params(labelbottom=False)
        else:
            ax.set_xlabel("s from record start", fontsize=7, labelpad=1)
        for beat in self.result.beats:
            if t0 <= beat.t_s < t1:
                ax.text(
                    beat.t_s - self.start_s,
                    hi - 0.08,
                    beat.label,
                    ha="center",
                    va="top",
                    fontsize=7,
                    fontweight="normal" if beat.label == "N" else "bold",
                    color=LABEL_COLOURS.get(beat.label, "#5f3dc4"),
                    zorder=4,
                )
        ax.set_xticks(np.arange(math.ceil(r0), math.floor(r1) + 1))
        ax.set_yticks(np.arange(math.ceil(lo), math.floor(hi) + 1))
        ax.tick_params(labelsize=7, length=2)
        ax.set_ylabel("mV", fontsize=7)
        rates = [bpm for t, bpm in self.result.heart_rate if t0 <= t < t1 and math.isfinite(bpm)]
        hr = f"HR {min(rates):.0f}-{max(rates):.0f} /min" if rates else "HR -"
        lead = self.trace.label or "ECG"
        ax.set_title(
            f"{lead}   {r0:.1f}-{r1:.1f} s   {hr}   25 mm/s, 10 mm/mV, 0.5-40 Hz   {why}",
            fontsize=8,
            loc="left",
        )
        for side in ax.spines.values():
            side.set_linewidth(0.5)

    def trend(
        self, ax: Any, timeline: Any, kinds: list[str], strips: list[tuple[float, str]]
    ) -> None:
        """Heart rate over the whole record; under it, one timeline row per alarm kind."""
        minutes = self.end_s - self.start_s > 600
        unit = 60.0 if minutes else 1.0
        ax.set_xlim(0, max(self.end_s - self.start_s, 1e-3) / unit)
        hr = [(t, bpm) for t, bpm in self.result.heart_rate if math.isfinite(t)]
        if hr:
            t = (np.array([p[0] for p in hr]) - self.start_s) / unit
            ax.plot(t, [p[1] for p in hr], color="black", linewidth=0.8)
        else:
            ax.text(0.5, 0.5, "no heart rate", transform=ax.transAxes, ha="center", va="center")
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(lo, 40), max(hi, 130))
        for k, (t0, _) in enumerate(strips, start=1):  # where the strips below come from
            a = (t0 - self.start_s) / unit
            ax.axvspan(a, a + self.strip_s / unit, color="#adb5bd", alpha=0.5, linewidth=0)
            ax.text(a, 0.98, str(k), transform=ax.get_xaxis_transform(), fontsize=7, va="top")
        where = f"; grey: strips 1-{len(strips)} below" if strips else ""
        ax.set_title(f"heart rate{where}", fontsize=8, loc="left")
        ax.set_ylabel("HR /min", fontsize=7)
        ax.tick_params(labelsize=7, labelbottom=False)
        ax.grid(True, linewidth=0.3, color="#dee2e6")

        timeline.set_ylim(len(kinds) or 1, 0)
        timeline.set_yticks([k + 0.5 for k in range(len(kinds))])
        timeline.set_yticklabels(kinds, fontsize=6.5)
        timeline.tick_params(axis="y", length=0)
        for row, kind in enumerate(kinds):
            for span in (s for s in self.result.spans if s.kind == kind):
                a, b = _overlap(span, self.start_s, self.end_s) or (span.onset_s, span.onset_s)
                colour = PRIORITY_COLOURS.get(span.start.priority, "#868e96")
                width = max((b - a) / unit, (self.end_s - self.start_s) / unit / 400)
                timeline.broken_barh([((a - self.start_s) / unit, width)], (row + 0.15, 0.7),
                                     color=colour)  # fmt: skip
        if not kinds:
            timeline.set_yticks([0.5])
            timeline.set_yticklabels(["no alarms"], fontsize=6.5)
        timeline.grid(True, axis="x", linewidth=0.3, color="#dee2e6")
        timeline.set_xlabel(
            "min from record start" if minutes else "s from record start", fontsize=7
        )
        timeline.tick_params(axis="x", labelsize=7)


def _overlap(span: ConditionSpan, t0: float, t1: float) -> tuple[float, float] | None:
    """The part of `span` within [t0, t1) (an active span runs on), or None."""
    end = span.end_s if span.end_s is not None else math.inf
    a, b = max(span.onset_s, t0), min(end, t1)
    return (a, b) if b > a else None


def _display_filter(x: np.ndarray, fs: float) -> np.ndarray:
    """0.5-40 Hz zero-phase band-pass for display; NaN (no signal) stays NaN."""
    from scipy.signal import butter, sosfiltfilt

    missing = ~np.isfinite(x)
    centred = x - np.nanmedian(x)
    if len(x) < 3 * round(fs):
        return centred
    high = min(DISPLAY_BAND_HZ[1], 0.45 * fs)
    sos = butter(2, (DISPLAY_BAND_HZ[0], high), btype="bandpass", fs=fs, output="sos")
    y = sosfiltfilt(sos, np.where(missing, 0.0, centred)).astype(np.float32)
    y[missing] = np.nan
    return y


def _mv_range(x: np.ndarray) -> tuple[float, float]:
    """The strip's amplitude range on the 0.5 mV grid: at least -1 to +1.5 mV."""
    finite = x[np.isfinite(x)]
    lo, hi = -1.0, 1.5
    if finite.size:
        centred = finite - np.median(finite)
        lo = min(lo, math.floor(float(np.percentile(centred, 0.2)) * 2 - 0.5) / 2)
        hi = max(hi, math.ceil(float(np.percentile(centred, 99.8)) * 2 + 1.0) / 2)
    return max(lo, -5.0), min(hi, 5.0)


def _ecg_grid(ax: Any, t: tuple[float, float], mv: tuple[float, float]) -> None:
    """ECG paper: 1 mm = 0.04 s by 0.1 mV, heavier lines every 5 mm (0.2 s, 0.5 mV)."""
    from matplotlib.collections import LineCollection

    (t0, t1), (lo, hi) = t, mv
    for step_s, step_mv, colour, width in (
        (0.04, 0.1, "#f7d4d4", 0.4),
        (0.2, 0.5, "#e8a0a0", 0.8),
    ):
        xs = _steps(t0, t1, step_s)
        ys = _steps(lo, hi, step_mv)
        lines = [((x, lo), (x, hi)) for x in xs] + [((t0, y), (t1, y)) for y in ys]
        ax.add_collection(LineCollection(lines, colors=colour, linewidths=width, zorder=0))


def _steps(a: float, b: float, step: float) -> np.ndarray:
    """Multiples of `step` in [a, b], robust to float round-off at the ends."""
    return np.arange(math.ceil(a / step - 1e-9), math.floor(b / step + 1e-9) + 1) * step
