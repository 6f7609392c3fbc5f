"""Logging through the standard library, configured once by the command line."""

import logging
import sys


def configure_logging(verbosity: int = 0) -> None:
    """Send records to stderr; `verbosity` 0 = WARNING, 1 = INFO, 2+ = DEBUG."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
