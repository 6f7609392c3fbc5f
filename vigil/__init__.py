"""Vigil: an edge inference runtime for bedside and point-of-care medical devices.

This root package holds only what every room shares: the version, the `VigilError` root,
logging setup, the core value types and the `vigil` command line. It imports nothing heavy.
Vigil is not a certified medical device.
"""

from vigil._version import __version__
from vigil.errors import VigilError

__all__ = ["VigilError", "__version__"]
