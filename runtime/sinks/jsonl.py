"""The JSON Lines sink: every alarm event as one JSON object per line, for tools to tail.

Each line is `event_to_dict(event)` (the journal's shape, `event_from_dict` reads it back)
plus "wall_utc", the UTC wall-clock time the sink wrote it (ISO 8601, for people; intervals
use the monotonic stamps). Lines are appended and flushed once per `emit` batch, so a reader
tailing the file sees whole batches. Durability: a flushed line survives a crash of Vigil;
with `fsync=True` it also survives power loss, at the cost of a disk sync per batch. The
journal (SQLite) is the durable record; this file is a convenience copy, off by default.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vigil.runtime.alarms.model import AlarmEvent, BedSignal
from vigil.runtime.alarms.serialize import event_to_dict
from vigil.runtime.sinks.base import SinkError


class JsonlSink:
    name = "jsonl"

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.lines_written = 0
        try:
            self._file = self.path.open("a", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise SinkError(
                f"cannot open the JSON Lines alarm file {self.path}: {exc.strerror or exc}; "
                f"create its folder {self.path.parent} or choose another path"
            ) from exc

    def emit(self, events: Sequence[AlarmEvent], signals: Mapping[str, BedSignal]) -> None:
        if not events:
            return
        wall = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        lines = "".join(_line(event, wall) for event in events)
        try:
            self._file.write(lines)
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
        except (OSError, ValueError) as exc:  # ValueError: written after close
            raise SinkError(
                f"cannot write {len(events)} alarm event(s) to {self.path}: {exc}"
            ) from exc
        self.lines_written += len(events)

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as exc:  # the last flush failed (disk full)
            raise SinkError(f"cannot close the JSON Lines alarm file {self.path}: {exc}") from exc


def _line(event: AlarmEvent, wall_utc: str) -> str:
    record = event_to_dict(event)
    record["wall_utc"] = wall_utc
    try:
        text = json.dumps(record, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a non-finite number in evidence: write null, never bare NaN
        text = json.dumps(_finite(record), allow_nan=False, separators=(",", ":"))
    return text + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
