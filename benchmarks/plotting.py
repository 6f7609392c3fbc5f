"""The benchmarks' one way to matplotlib: pyplot on the Agg backend, or None (with a line on
stderr) when the `plot` extra is not installed, so a benchmark still prints its tables."""

from __future__ import annotations

import sys
from typing import Any


def pyplot_or_none() -> Any | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return None
    return plt
