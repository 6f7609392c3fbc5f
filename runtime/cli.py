"""The runtime's subcommands: `vigil analyze RECORD`, and (registered from their rooms) `run`,
`demo`, `config`, `alarms`, `report`, `ack`, `pause`, `ultrasound`.

Only argparse is imported here; the handler imports the analysis (numpy, scipy, ONNX
Runtime) when it runs, so `vigil --help` stays fast.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vigil.records import Record
    from vigil.runtime.analysis.ec57 import Ec57Score
    from vigil.runtime.analysis.recording_input import RecordingInput
    from vigil.runtime.analysis.result import AnalysisResult


def _positive(text: str) -> Fraction:
    try:
        value = Fraction(text).limit_denominator(1000)
    except (ValueError, ZeroDivisionError) as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    analyze = sub.add_parser(
        "analyze",
        help="analyse a recording: beats, alarms, EC57 score",
        description="Run one bed's clinical analysis over a recording as fast as the CPU "
        "allows and print what it found: beats per class, heart-rate range, alarm "
        "conditions, and with --reference the EC57 beat-by-beat score. RECORD is a WFDB "
        "record (name, .hea or .dat), a CSV or .npy/.npz file, or a raw byte recording "
        "from `vigil listen --record`.",
        epilog="Roles for --channel: ecg (lead II unless said), ecg_i, ecg_ii, ecg_iii, "
        "ecg_avr, ecg_avl, ecg_avf, ecg_v, pleth, resp. Without --channel, signals are "
        "recognised by name (MLII, II, V1, V5, PLETH, RESP, ...); with it, only the named "
        "columns are analysed. Not a certified medical device.",
    )
    analyze.add_argument("record", type=Path, metavar="RECORD", help="the recording")
    analyze.add_argument("--fs", type=_positive, help="sample rate in Hz (.npy, CSV without time)")
    analyze.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="ROLE=COLUMN",
        help="analyse COLUMN as ROLE (repeatable), e.g. ecg=MLII, pleth=2",
    )
    analyze.add_argument("--json", type=Path, metavar="OUT", help="write the full report here")
    analyze.add_argument("--plot", type=Path, metavar="OUT.png", help="draw HR trend + ECG strips")
    analyze.add_argument(
        "--reference",
        metavar="ANNOTATOR",
        help="score beats against WFDB annotations RECORD.ANNOTATOR (e.g. atr), as EC57",
    )
    analyze.add_argument(
        "--skip-s",
        type=_non_negative,
        default=0.0,
        help="leave the first seconds out of the score (EC57 uses 300; default 0)",
    )
    analyze.add_argument("--bed", default="bed", help="bed name in conditions (default: bed)")
    analyze.add_argument(
        "--no-models", action="store_true", help="rule-based analysis only (no ONNX models)"
    )
    analyze.add_argument(
        "--chunk-s",
        type=_positive,
        default=Fraction(10),
        help="seconds of signal fed per step (results do not depend on it; default 10)",
    )
    analyze.set_defaults(handler=_analyze)

    # The live runtime's commands, each room keeping its own parser and lazy handler.
    from vigil.runtime.config.cli import register as register_config
    from vigil.runtime.control.cli import register as register_control
    from vigil.runtime.imaging.cli import register as register_imaging
    from vigil.runtime.journal.cli import register as register_journal
    from vigil.runtime.service.cli import register as register_service

    register_service(sub)
    register_config(sub)
    register_journal(sub)
    register_control(sub)
    register_imaging(sub)


MAX_ALARM_LINES = 20  # the most urgent conditions are listed; --json has them all
UNDECIDED_TAIL_S = 2.0
"""EC57 scoring stops this long before the record's end: a causal analyser reports a beat up
to its look-ahead after the R peak, so the last beats of a record are still undecided."""


def _analyze(args: argparse.Namespace) -> int:
    from vigil.errors import ConfigError
    from vigil.runtime.analysis import ec57, strip_plot
    from vigil.runtime.analysis.recording_input import (
        AnalysisInputError,
        open_recording,
        parse_channel_args,
    )
    from vigil.runtime.analysis.report_json import analysis_report, write_report
    from vigil.runtime.analysis.settings import AnalysisSettings, ModelSettings

    for option, out in (("--json", args.json), ("--plot", args.plot)):
        if out is not None and not out.parent.is_dir():  # say so before a long analysis
            raise ConfigError(f"cannot write {option} {out}: folder {out.parent} does not exist")
    channels = parse_channel_args(args.channel) if args.channel else None
    opened = time.perf_counter()
    source = open_recording(args.record, fs=args.fs, channels=channels)
    open_s = time.perf_counter() - opened  # files are read whole here; byte recordings stream
    reference = None
    if args.reference:
        if source.format != "WFDB":
            raise AnalysisInputError(
                f"{args.record}: --reference reads WFDB annotations; this is a {source.format}"
            )
        reference = ec57.load_reference(args.record, args.reference)
    if args.plot:
        strip_plot.require_matplotlib()
    settings = AnalysisSettings(bed=args.bed, models=ModelSettings(enabled=not args.no_models))
    records = source.records(args.chunk_s)
    trace = strip_plot.EcgTrace()
    if args.plot:
        records = trace.tap(records)
    from vigil.runtime.analysis.analyze import analyze_records  # the heavy part: stages, models

    timed = _Timed(records)
    started = time.perf_counter()
    # files carry waveforms only: the bed derives HR, pulse and respiration rate itself
    result = analyze_records(timed, settings, derive_numerics=not source.has_numerics)
    elapsed = time.perf_counter() - started
    times = {"input_s": timed.seconds, "open_s": open_s}

    score = None
    if reference is not None:
        score = ec57.score(
            reference,
            [b.t_s - source.start_s for b in result.beats],
            [b.label for b in result.beats],
            start_s=args.skip_s,
            end_s=result.duration_s - UNDECIDED_TAIL_S,
        )
    for line in summary_lines(result, source, elapsed, score, **times):
        print(line)
    if args.json:
        report = analysis_report(result, source, analysis_s=elapsed, ec57=score, **times)
        write_report(report, args.json)
        print(f"report   {args.json}")
    if args.plot:
        title = f"{source.path.name}  ({source.format}, {result.duration_s:.1f} s, bed {args.bed})"
        strip_plot.plot_analysis(result, trace, args.plot, start_s=source.start_s, title=title)
        print(f"plot     {args.plot}")
    return 0


def summary_lines(
    result: AnalysisResult,
    source: RecordingInput,
    elapsed_s: float,
    score: Ec57Score | None = None,
    *,
    input_s: float = 0.0,
    open_s: float = 0.0,
) -> list[str]:
    """What `vigil analyze` prints: one labelled line per fact, alarms one per line."""
    from collections import Counter

    t0 = source.start_s
    long = result.duration_s > 600
    channels = ", ".join(c.describe() for c in source.channels)
    lines = [f"record   {source.path} ({source.format}): {channels}"]
    lines += [f"         note: {note}" for note in source.notes]
    lines.append(
        f"analysed {_time(result.duration_s, long)} in {elapsed_s:.2f} s: "
        f"{_speed(result.duration_s, elapsed_s)} "
        f"(producing the records {input_s:.2f} s of it, analysis alone "
        f"{_speed(result.duration_s, elapsed_s - input_s)}); opening the file took "
        f"{open_s:.2f} s; bed {result.bed!r}"
    )
    per_class = Counter(b.label for b in result.beats)
    classes = ", ".join(f"{label} {n}" for label, n in sorted(per_class.items())) or "none"
    lines.append(f"beats    {len(result.beats)} ({classes})")
    lines.append(f"classifier {', '.join(result.decided_by) or '-'}")
    rates = [bpm for _, bpm in result.heart_rate if math.isfinite(bpm)]
    if rates:
        lines.append(f"heart rate {min(rates):.0f}-{max(rates):.0f} /min")
    else:
        lines.append("heart rate -")
    per_kind = Counter(s.kind for s in result.spans)
    counts = ", ".join(f"{kind} {n}" for kind, n in per_kind.most_common())
    lines.append(f"alarms   {len(result.spans)}: {counts}" if result.spans else "alarms   none")
    urgent = sorted(result.spans, key=lambda s: (-s.start.priority, s.onset_s))[:MAX_ALARM_LINES]
    for span in sorted(urgent, key=lambda s: (s.onset_s, -s.start.priority)):
        end = "active at the end" if span.end_s is None else f"to {_time(span.end_s - t0, long)}"
        value = f"  value {span.start.value:.4g}" if math.isfinite(span.start.value) else ""
        lines.append(
            f"  {span.start.priority.name.lower():<7} {span.kind:<17} "
            f"from {_time(span.onset_s - t0, long)} {end}{value}"
        )
    if len(result.spans) > len(urgent):
        lines.append(f"  ... {len(result.spans) - len(urgent)} less urgent ones: see --json")
    if result.suppressed:
        vetoed = Counter(c.kind for c in result.suppressed)
        lines.append("fusion   vetoed " + ", ".join(f"{k} {n}" for k, n in sorted(vetoed.items())))
    counters = {**source.counters, **{k: v for k, v in result.counters.items() if v}}
    shown = {k: v for k, v in counters.items() if k != "ecg_samples" and v}
    if shown:
        lines.append("counters " + ", ".join(f"{k} {v}" for k, v in sorted(shown.items())))
    if score is not None:
        lines.extend(score.lines())
    return lines


def _speed(duration_s: float, seconds: float) -> str:
    return f"{duration_s / seconds:.0f}x real time" if seconds > 0 else "-"


class _Timed:
    """Iterates `records`, adding up the wall time spent producing them (reading, decoding)."""

    def __init__(self, records: Iterable[Record]) -> None:
        self._records = records
        self.seconds = 0.0

    def __iter__(self) -> Iterator[Record]:
        it = iter(self._records)
        while True:
            started = time.perf_counter()
            record = next(it, None)
            self.seconds += time.perf_counter() - started
            if record is None:
                return
            yield record


def _time(t_s: float, long: bool) -> str:
    if not long:
        return f"{t_s:.1f} s"
    hours, rest = divmod(t_s, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{int(hours)}:{int(minutes):02d}:{seconds:04.1f}"
