"""The local control socket: real Unix sockets, real file modes, real peer credentials.

The handler here stands in for the runtime (the server's one collaborator): it records what
it was asked and by whom, and answers as the runtime's contract says.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from vigil.errors import ConfigError, VigilError
from vigil.runtime.control import MAX_REQUEST_BYTES, ControlError
from vigil.runtime.control.cli import register
from vigil.runtime.control.client import send_request
from vigil.runtime.control.server import ControlServer

ME = f"socket:uid={os.getuid()},pid={os.getpid()}"


class Runtime:
    """Answers like the runtime: records (request, actor); "nope" alarms are refused."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], str]] = []
        self.lock = threading.Lock()

    def __call__(self, request: dict[str, Any], actor: str) -> dict[str, Any]:
        with self.lock:
            self.calls.append((request, actor))
        if request["op"] == "boom":
            raise RuntimeError("a bug in the handler")
        if request.get("alarm_id") == 99:
            raise VigilError("no alarm #99 (it may have ended)")
        if request.get("bed") == "bed-x":
            return {"ok": False, "error": "no bed 'bed-x'"}
        if request["op"] == "alarms":
            return {"ok": True, "alarms": []}
        return {"ok": True, "message": f"{request['op']} done by {actor}"}


@pytest.fixture
def folder():
    """A short private folder (AF_UNIX paths are limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="vigil-ctl-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def runtime() -> Runtime:
    return Runtime()


@pytest.fixture
def server(folder: Path, runtime: Runtime):
    srv = ControlServer(folder / "control.sock", runtime).start()
    yield srv
    srv.stop()


def connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5.0)
    sock.connect(str(path))
    return sock


def exchange(sock: socket.socket, line: bytes) -> dict[str, Any]:
    sock.sendall(line)
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a reply (got {data!r})"
        data += chunk
    return json.loads(data)


# ---------------------------------------------------------------------------- the server
def test_socket_is_0600_in_a_0700_folder_created_for_it(folder: Path, runtime: Runtime):
    path = folder / "vigil" / "control.sock"
    with ControlServer(path, runtime):
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o600
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert not path.exists()  # stop() removes it


def test_ack_round_trip_passes_the_request_and_the_kernels_name_for_the_caller(
    server: ControlServer, runtime: Runtime
):
    reply = send_request(server.path, {"op": "ack", "alarm_id": 12})
    assert reply == {"ok": True, "message": f"ack done by {ME}"}
    assert runtime.calls == [({"op": "ack", "alarm_id": 12}, ME)]


def test_one_connection_can_send_several_requests(server: ControlServer, runtime: Runtime):
    with connect(server.path) as sock:
        assert exchange(sock, b'{"op": "alarms"}\n') == {"ok": True, "alarms": []}
        assert exchange(sock, b'{"op": "pause", "bed": "bed-1", "seconds": 60}\n')["ok"]
    assert [r for r, _ in runtime.calls] == [
        {"op": "alarms"},
        {"op": "pause", "bed": "bed-1", "seconds": 60},
    ]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"{not json\n", "malformed request: not JSON"),
        (b"\xff\xfe\n", "malformed request: not UTF-8"),
        (b"[1, 2]\n", 'expected a JSON object with an "op"'),
        (b'{"alarm_id": 3}\n', 'expected a JSON object with an "op"'),
    ],
)
def test_a_malformed_request_gets_an_error_reply_and_the_connection_keeps_serving(
    server: ControlServer, runtime: Runtime, line: bytes, error: str
):
    with connect(server.path) as sock:
        reply = exchange(sock, line)
        assert reply["ok"] is False
        assert error in reply["error"]
        assert exchange(sock, b'{"op": "ack", "alarm_id": 5}\n')["ok"] is True
    assert [r for r, _ in runtime.calls] == [{"op": "ack", "alarm_id": 5}]


def test_an_oversize_request_is_refused_and_its_connection_closed(
    server: ControlServer, runtime: Runtime
):
    padding = "x" * MAX_REQUEST_BYTES
    with connect(server.path) as sock:
        reply = exchange(sock, json.dumps({"op": "ack", "pad": padding}).encode() + b"\n")
        assert reply == {"ok": False, "error": f"request longer than {MAX_REQUEST_BYTES} bytes"}
        assert sock.recv(65536) == b""  # closed: nothing more is read or answered
    assert runtime.calls == []
    assert send_request(server.path, {"op": "alarms"})["ok"]  # the server still serves


def test_a_request_of_exactly_the_limit_is_served(server: ControlServer, runtime: Runtime):
    head = b'{"op": "alarms", "pad": "'
    line = head + b"y" * (MAX_REQUEST_BYTES - len(head) - 2) + b'"}'
    assert len(line) == MAX_REQUEST_BYTES
    with connect(server.path) as sock:
        assert exchange(sock, line + b"\n")["ok"] is True


def test_handler_errors_become_error_replies_and_the_server_keeps_serving(
    server: ControlServer, caplog
):
    refused = send_request(server.path, {"op": "ack", "alarm_id": 99})
    assert refused == {"ok": False, "error": "no alarm #99 (it may have ended)"}
    with caplog.at_level("ERROR"):
        bug = send_request(server.path, {"op": "boom"})
    assert bug["ok"] is False
    assert "internal error handling 'boom'" in bug["error"]
    assert "a bug in the handler" in caplog.text  # logged in full, not hidden
    assert send_request(server.path, {"op": "ack", "alarm_id": 1})["ok"] is True
    assert server.errors == 2


def test_an_idle_connection_does_not_lock_others_out(server: ControlServer):
    with connect(server.path):  # connected, says nothing
        assert send_request(server.path, {"op": "alarms"})["ok"] is True


def test_connections_beyond_the_limit_are_told_to_retry(folder: Path, runtime: Runtime):
    with ControlServer(folder / "c.sock", runtime, max_connections=1) as srv:
        with connect(srv.path) as idle, connect(srv.path) as second:
            reply = exchange(second, b'{"op": "alarms"}\n')
            assert reply == {"ok": False, "error": "too many control connections; try again"}
            assert exchange(idle, b'{"op": "alarms"}\n')["ok"] is True
        assert runtime.calls == [({"op": "alarms"}, ME)]


def test_a_stale_socket_file_is_replaced(folder: Path, runtime: Runtime):
    path = folder / "control.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # a runtime that died without removing its socket
    dead.close()
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    with ControlServer(path, runtime):
        assert send_request(path, {"op": "alarms"})["ok"] is True


def test_a_live_socket_is_refused_and_left_to_its_runtime(server: ControlServer, runtime: Runtime):
    other = ControlServer(server.path, runtime)
    with pytest.raises(ControlError, match="another vigil runtime is listening on") as caught:
        other.start()
    assert str(server.path) in str(caught.value)
    other.stop()  # must not remove the first runtime's socket
    assert send_request(server.path, {"op": "alarms"})["ok"] is True


def test_a_file_that_is_not_a_socket_is_never_replaced(folder: Path, runtime: Runtime):
    path = folder / "control.sock"
    path.write_text("my notes")
    with pytest.raises(ControlError, match="exists and is not a socket"):
        ControlServer(path, runtime).start()
    assert path.read_text() == "my notes"


def test_a_folder_others_can_write_is_refused_unless_sticky(folder: Path, runtime: Runtime):
    shared = folder / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(ControlError, match=r"writable by others \(mode 777\)"):
        ControlServer(shared / "control.sock", runtime).start()
    shared.chmod(0o1777)  # like /tmp: others cannot remove or replace our file
    with ControlServer(shared / "control.sock", runtime) as srv:
        assert send_request(srv.path, {"op": "alarms"})["ok"] is True


# ---------------------------------------------------------------------------- the client
def test_client_names_a_missing_socket_and_what_to_start(folder: Path):
    path = folder / "control.sock"
    with pytest.raises(ControlError) as caught:
        send_request(path, {"op": "alarms"})
    assert str(caught.value) == (
        f"no vigil runtime is listening on {path} (is `vigil run` or `vigil demo` running?)"
    )


def test_client_names_a_stopped_runtimes_socket_as_not_listening(server: ControlServer):
    path = server.path
    server.stop()
    with pytest.raises(ControlError, match="no vigil runtime is listening on"):
        send_request(path, {"op": "alarms"})


@pytest.mark.skipif(os.geteuid() == 0, reason="root connects whatever the mode")
def test_client_permission_denied_names_the_socket_and_its_owner_only_mode(
    server: ControlServer,
):
    server.path.chmod(0)
    with pytest.raises(ControlError, match=r"permission denied on control socket .* 0600"):
        send_request(server.path, {"op": "alarms"})


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_another_user_is_denied_and_told_why(server: ControlServer, runtime: Runtime):
    """A child process becomes `nobody` and tries to acknowledge an alarm."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery from here on, only os._exit
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                send_request(server.path, {"op": "ack", "alarm_id": 1})
                said = "no error"
            except VigilError as exc:
                said = str(exc)
            os.write(write_end, said.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as child:
        said = child.read().decode()
    os.waitpid(pid, 0)
    assert said == (
        f"permission denied on control socket {server.path}: it is mode 0600 for the user "
        "who runs vigil; run this command as that user"
    )
    assert runtime.calls == []


# ---------------------------------------------------------------------------- vigil ack/pause
def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vigil")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_vigil_ack_sends_the_alarm_id_and_prints_the_outcome(
    server: ControlServer, runtime: Runtime, capsys
):
    args = parse("ack", "12", "--socket", str(server.path))
    assert args.handler(args) == 0
    assert runtime.calls == [({"op": "ack", "alarm_id": 12}, ME)]
    assert capsys.readouterr().out == f"ack done by {ME}\n"


def test_vigil_ack_0_with_a_bed_acknowledges_the_whole_bed(server: ControlServer, runtime: Runtime):
    args = parse("ack", "0", "--bed", "bed-2", "--socket", str(server.path))
    assert args.handler(args) == 0
    assert runtime.calls == [({"op": "ack", "alarm_id": 0, "bed": "bed-2"}, ME)]


def test_vigil_ack_0_without_a_bed_is_refused_before_sending(server: ControlServer, runtime):
    args = parse("ack", "0", "--socket", str(server.path))
    with pytest.raises(ConfigError, match="--bed"):
        args.handler(args)
    assert runtime.calls == []


def test_vigil_pause_sends_bed_and_seconds(server: ControlServer, runtime: Runtime, capsys):
    args = parse("pause", "bed-1", "--seconds", "90", "--socket", str(server.path))
    assert args.handler(args) == 0
    args = parse("pause", "bed-1", "--socket", str(server.path))
    assert args.handler(args) == 0
    assert [r for r, _ in runtime.calls] == [
        {"op": "pause", "bed": "bed-1", "seconds": 90.0},
        {"op": "pause", "bed": "bed-1"},
    ]
    assert capsys.readouterr().out.splitlines() == [f"pause done by {ME}"] * 2


def test_a_refusal_prints_the_runtimes_reason_and_exits_1(server: ControlServer, capsys):
    args = parse("pause", "bed-x", "--socket", str(server.path))
    assert args.handler(args) == 1
    assert capsys.readouterr().err == "vigil: refused: no bed 'bed-x'\n"
    args = parse("ack", "99", "--socket", str(server.path))
    assert args.handler(args) == 1
    assert "no alarm #99" in capsys.readouterr().err


def test_vigil_ack_with_no_runtime_raises_the_clients_error(folder: Path):
    args = parse("ack", "3", "--socket", str(folder / "none.sock"))
    with pytest.raises(ControlError, match="is `vigil run` or `vigil demo` running"):
        args.handler(args)


@pytest.mark.parametrize(
    "argv",
    [("ack", "-1"), ("ack", "x"), ("pause", "bed-1", "--seconds", "0"), ("pause",)],
)
def test_bad_arguments_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        parse(*argv)
    assert caught.value.code == 2
