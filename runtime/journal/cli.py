"""`vigil alarms` and `vigil report`: the journal read back, never written.

Only argparse and pathlib are imported here; handlers import the journal readers (and
matplotlib, for a report) when they run.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

DEFAULT_JOURNAL = "vigil-journal.db"  # = store.DEFAULT_JOURNAL_PATH, without importing it
_JOURNAL_HELP = (
    f"the journal file (default: {DEFAULT_JOURNAL} in the current directory, the "
    "configuration's default); opened read-only"
)
_SINCE_HELP = "only from this time: ISO 8601 (UTC unless it has an offset) or back from now: 10m"


def register(sub: argparse._SubParsersAction) -> None:
    alarms = sub.add_parser(
        "alarms",
        help="list alarm events from the journal",
        description="List the alarm events the runtime journaled (the record of truth), "
        "oldest first: time (UTC), bed, alarm id, kind, priority, event, state, who acted, "
        "value. --latency summarises where each alarm's milliseconds went instead.",
        epilog="Not a certified medical device.",
    )
    alarms.add_argument("--journal", type=Path, default=Path(DEFAULT_JOURNAL), metavar="DB")
    alarms.add_argument("--bed", metavar="B", help="only this bed")
    alarms.add_argument("--since", metavar="T", help=_SINCE_HELP)
    shape = alarms.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="JSON Lines of the stored events")
    shape.add_argument(
        "--latency",
        action="store_true",
        help="p50/p99/max ms per pipeline step (sample ... emitted), the processing delay "
        "(arrived -> emitted) and the clinical condition delay",
    )
    shape.add_argument("--actions", action="store_true", help="operator actions instead")
    alarms.set_defaults(handler=_alarms)
    _journal_help(alarms)

    report = sub.add_parser(
        "report",
        help="draw a journal: trends and alarm timeline as PNG or HTML",
        description="Draw, per bed, the numerics trends (HR, SpO2, RR, NIBP systolic) with "
        "the alarms beneath as bars from activation to end (high red, medium amber, low "
        "cyan, technical hatched). FILE.png is the figure; FILE.html is one self-contained "
        "page with the figure and the alarm and operator-action tables. Needs matplotlib "
        "(pip install 'vigil-edge[plot]').",
        epilog="Not a certified medical device.",
    )
    report.add_argument("--journal", type=Path, default=Path(DEFAULT_JOURNAL), metavar="DB")
    report.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="FILE.png or FILE.html"
    )
    report.add_argument("--bed", metavar="B", help="only this bed")
    report.add_argument("--since", metavar="T", help=_SINCE_HELP)
    report.set_defaults(handler=_report)
    _journal_help(report)


def _journal_help(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if action.dest == "journal":
            action.help = _JOURNAL_HELP


def _since(text: str | None) -> str | None:
    if text is None:
        return None
    import time

    from vigil.runtime.journal.queries import parse_since

    return parse_since(text, time.time())


def _alarms(args: argparse.Namespace) -> int:
    import json

    from vigil.runtime.journal import queries

    since = _since(args.since)
    conn = queries.open_read_only(args.journal)
    try:
        if args.actions:
            rows = queries.actions(conn, bed=args.bed, since=since)
        else:
            rows = queries.events(conn, bed=args.bed, since=since)
    finally:
        conn.close()
    if args.json:
        for row in rows:
            print(json.dumps(row, allow_nan=False, separators=(",", ":")))
    elif args.latency:
        print_table(latency_table(queries.latency(rows)))
        print(f"{len(rows)} events in {args.journal}")
    elif args.actions:
        print_table(action_table(rows))
        print(f"{len(rows)} operator actions in {args.journal}")
    else:
        print_table(event_table(rows))
        print(f"{len(rows)} alarm events in {args.journal}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from vigil.runtime.journal import report

    report.require_matplotlib()
    data = report.load(args.journal, bed=args.bed, since=_since(args.since))
    out = report.write_report(data, args.out)
    print(f"report   {out}: {len(data.beds)} bed(s), {len(data.spans)} alarm(s)")
    return 0


EVENT_HEAD = ("time (UTC)", "bed", "alarm", "kind", "priority", "event", "state", "actor", "value")


def event_table(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    table = [EVENT_HEAD]
    for row in rows:
        alarm = row["alarm"]
        kind = alarm["kind"] + (f"/{alarm['key']}" if alarm.get("key") else "")
        value = alarm["condition"].get("value")
        table.append(
            (
                _wall(row["wall_utc"]),
                alarm["bed"],
                str(alarm["alarm_id"]),
                kind,
                alarm["priority"] + (" (tech)" if alarm["category"] == "technical" else ""),
                row["event"],
                alarm["state"],
                row["actor"] or "-",
                "-" if value is None or not math.isfinite(value) else f"{value:.4g}",
            )
        )
    return table


def action_table(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    table = [("time (UTC)", "bed", "action", "alarm", "seconds", "actor", "outcome")]
    for row in rows:
        table.append(
            (
                _wall(row["wall_utc"]),
                row["bed"] or "-",
                row["action"],
                str(row["alarm_id"]),
                f"{row['seconds']:g}",
                row["actor"],
                row["outcome"],
            )
        )
    return table


def latency_table(steps: list[Any]) -> list[tuple[str, ...]]:
    table = [("step", "events", "p50 ms", "p99 ms", "max ms")]
    for s in steps:
        table.append(
            (s.step, str(s.count), f"{s.p50_ms:.3f}", f"{s.p99_ms:.3f}", f"{s.max_ms:.3f}")
        )
    return table


def print_table(table: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _wall(text: str) -> str:
    return text.replace("T", " ").removesuffix("Z")
