"""One record of one bed through its analysis: what the alarm core must hear of it.

The same step runs in the runtime's own processing loop (one process) and in an analysis
worker (`runtime.analysis_processes` > 1); only where its `BedOutput` goes differs: straight
into the alarm manager, or as one JSON message over the worker's pipe (`wire.py`). Keeping the
step here, apart from both loops, is what keeps the two modes' behaviour the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.records import LinkEvent, Numerics, OperatorAction, Record, WaveformChunk
from vigil.runtime.alarms.model import OperatorCommand
from vigil.runtime.analysis.condition import Condition
from vigil.runtime.service.bed import BedState


@dataclass(slots=True)
class BedOutput:
    """What one record of one bed asks of the alarm core, in the order it must be applied:
    `hello` (resend the bed's alarms to its device), then `action` (an operator key on the
    device), `numerics` (device seconds, values: for the journal's trends) and `conditions`
    with their stage `stamps` (host monotonic ns)."""

    bed: int
    conditions: tuple[Condition, ...] = ()
    stamps: dict[str, int] = field(default_factory=dict)
    hello: bool = False
    action: OperatorCommand | None = None
    numerics: tuple[float, dict[str, float]] | None = None


def analyse_record(
    bed: BedState, record: Record, queued_ns: int, now_ns: Callable[[], int]
) -> BedOutput | None:
    """Feed `record` to `bed` (its view state, link alarms or analysis) and say what follows;
    None in the common case, where nothing does (no object is built per record then, and
    stamps only for records that raise or end conditions)."""
    if type(record) is WaveformChunk:  # most records: skip the checks for the rare kinds
        bed.observe_chunk(record)
        return _analyse(bed, record, queued_ns, now_ns, False)
    bed.observe(record)
    if isinstance(record, LinkEvent):
        conditions = bed.link_alarms.on_event(record, bed.device_s)
        hello = record.kind == "hello"
        if not (conditions or hello):
            return None
        out = BedOutput(bed.index, hello=hello)
        if conditions:
            out.conditions = tuple(conditions)
            out.stamps = {"arrived": _arrival_ns(record), "queued": queued_ns}
        return out
    if isinstance(record, OperatorAction):
        action = OperatorCommand(
            record.action,
            bed.name,
            f"device:{record.source}",
            alarm_id=record.alarm_id,
            seconds=float(record.seconds),
        )
        return BedOutput(bed.index, action=action)
    return _analyse(bed, record, queued_ns, now_ns, isinstance(record, Numerics))


def _analyse(
    bed: BedState, record: Record, queued_ns: int, now_ns: Callable[[], int], numerics: bool
) -> BedOutput | None:
    assert bed.analyzer is not None, f"bed {bed.name} is analysed in a worker"
    step = bed.analyzer.feed(record)
    analysed_ns = now_ns()
    if step.heart_rate:
        bed.heart_rate_from(step.heart_rate)
    if not (step.conditions or numerics):
        return None
    out = BedOutput(bed.index)
    if numerics:
        out.numerics = (record.device_time_us / 1e6, dict(record.values))
    if step.conditions:
        out.conditions = tuple(step.conditions)
        out.stamps = {
            "arrived": _arrival_ns(record),
            "queued": queued_ns,
            "analysed": analysed_ns,
        }
        sample_ns = _sample_host_ns(record, bed)
        if sample_ns:
            out.stamps["sample"] = sample_ns
    return out


def _arrival_ns(record: Record) -> int:
    return int(getattr(record, "arrival_ns", 0) or 0)


def _sample_host_ns(record: Record, bed: BedState) -> int:
    """Host time of the record's last sample (its device time through the link's clock fit);
    0 while the clock is not fitted."""
    host = int(getattr(record, "host_time_ns", 0) or 0)
    if not host or not isinstance(record, WaveformChunk) or len(record.samples) < 2:
        return host
    hello = bed.link.session.hello
    scale = float(hello.time_scale) if hello is not None else 1.0
    span_s = (len(record.samples) - 1) / float(record.rate)
    return host + int(span_s / scale * 1e9)
