"""The local control socket: operators acknowledge and pause alarms from a shell
(`vigil ack`, `vigil pause`) while `vigil run` or `vigil demo` runs.

Transport: a Unix domain stream socket (default `runtime.control_paths.default_control_socket`),
mode 0600 in a 0700 directory, so only the user running Vigil can reach it; the server names
each caller from the kernel's peer credentials ("socket:uid=1000,pid=4242"), and that actor is
journaled with every acknowledge and pause. Each request is one JSON object on one line (at
most `MAX_REQUEST_BYTES`), answered by one JSON object on one line; a connection may send
several requests.

Requests (the runtime's `handle(request, actor)` implements them):

    {"op": "ack", "alarm_id": N}                 acknowledge alarm N
    {"op": "ack", "alarm_id": 0, "bed": B}       acknowledge every alarm of bed B
    {"op": "pause", "bed": B}                    pause bed B's audio for the policy's default
    {"op": "pause", "bed": B, "seconds": S}      ... for S seconds (capped by the policy)
    {"op": "alarms"}                             the visible alarms

Replies:

    {"ok": true, "message": "..."}               done ("message" optional: what to print)
    {"ok": true, "alarms": [alarm dicts]}        for "alarms" (serialize.alarm_to_dict)
    {"ok": false, "error": "..."}                refused: unknown alarm or bed, bad request
"""

from __future__ import annotations

from vigil.errors import VigilError

MAX_REQUEST_BYTES = 4096
"""The longest request line the server reads; a longer one is refused and the connection
closed (a local tool never needs more, and nothing unbounded is read)."""

MAX_REPLY_BYTES = 4 * 1024 * 1024
"""The longest reply line the client reads (an "alarms" reply lists every visible alarm)."""


class ControlError(VigilError):
    """The control socket cannot be served or reached."""
