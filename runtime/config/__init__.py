"""The runtime's configuration: vigil.toml, validated against one declarative schema.

`load_config(path)` reads a file, `parse_config(text)` a string, `example_config()` prints a
commented file with every option at its default. Errors are `ConfigError`s naming the file
and the key.
"""

from vigil.runtime.config.example import example_config
from vigil.runtime.config.load import config_in_folder, load_config, parse_config
from vigil.runtime.config.schema import (
    BedConfig,
    JournalConfig,
    RuntimeConfig,
    RuntimeSettings,
    SinksConfig,
)

__all__ = [
    "BedConfig",
    "JournalConfig",
    "RuntimeConfig",
    "RuntimeSettings",
    "SinksConfig",
    "config_in_folder",
    "example_config",
    "load_config",
    "parse_config",
]
