"""The one `vigil` command line. Each room defines its own subcommands; this dispatches.

Rooms register lazily: `register(subparsers)` functions are imported here, and each keeps
its heavy imports inside the handler it runs, so `vigil --help` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vigil._version import __version__
from vigil.errors import VigilError
from vigil.logging_setup import configure_logging

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Edge inference runtime for bedside and point-of-care medical devices.",
        epilog="Not a certified medical device: for development and evaluation only.",
    )
    parser.add_argument("--version", action="version", version=f"vigil {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from vigil.firmware_bridge.cli import register as register_bridge

    register_bridge(sub)
    from vigil.export.cli import register as register_export

    register_export(sub)
    from vigil.runtime.cli import register as register_runtime

    register_runtime(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.handler(args) or EXIT_OK)
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
