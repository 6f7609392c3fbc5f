"""The sink interface: where decided alarms go after the journal has committed them.

A sink receives every alarm event in order, already journaled (the journal is the record of
truth; a sink is a signal). The runtime calls `emit` from its alarm thread, so a sink must
return quickly (a file append, a serial write, a queue put); one that fails raises
`SinkError` and the runtime counts it, raises a technical alarm, and keeps calling the
others. New transports (MQTT, HL7) implement this and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from vigil.errors import VigilError
from vigil.runtime.alarms.model import AlarmEvent, BedSignal


class SinkError(VigilError):
    """A sink could not deliver (disk full, port down, broker gone)."""


class Sink(Protocol):
    name: str

    def emit(self, events: Sequence[AlarmEvent], signals: Mapping[str, BedSignal]) -> None:
        """Deliver journaled events; `signals` is each affected bed's signal after them."""
        ...

    def close(self) -> None: ...
