"""`python -m vigil.firmware_bridge.vectors [--check] [--docs PATH]`.

Rewrites vectors.json and the table in docs/protocol.md from the Python encoder; with
`--check`, changes nothing and exits 1 if either file is stale (for CI).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vigil.firmware_bridge.vectors import PROTOCOL_MD, VECTORS_JSON, stale_files, write_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vigil.firmware_bridge.vectors")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    parser.add_argument(
        "--docs",
        type=Path,
        default=PROTOCOL_MD,
        help=f"the spec whose table to keep up to date (default {PROTOCOL_MD})",
    )
    args = parser.parse_args(argv)
    docs: Path | None = args.docs
    if docs is not None and not docs.exists():
        print(f"note: {docs} not found (installed package?); only {VECTORS_JSON.name} is handled")
        docs = None
    if args.check:
        stale = stale_files(docs, VECTORS_JSON)
        for path in stale:
            print(f"stale: {path} (run python -m vigil.firmware_bridge.vectors)")
        return 1 if stale else 0
    for path in write_files(docs, VECTORS_JSON):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
