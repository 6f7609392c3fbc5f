"""The one exception root. Every error Vigil raises on purpose is a `VigilError`.

Messages name the file, key, port or model at fault and say what to do about it.
"""


class VigilError(Exception):
    """Root of every error Vigil raises deliberately."""


class ConfigError(VigilError):
    """A configuration, scenario or command-line value is wrong."""


class ProtocolError(VigilError):
    """A message cannot be encoded within the wire protocol's bounds."""


class LinkError(VigilError):
    """A serial link cannot be opened or used."""


class ReplayError(VigilError):
    """A recording cannot be read or mapped onto channels."""
