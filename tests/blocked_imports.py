"""Source for a child Python process in which some packages cannot be imported.

Tests that prove a room works without a dependency (the runtime without torch, an artifact
loaded without safetensors) run their code in `python -c` with this prepended.
"""

from __future__ import annotations


def block_imports(*top_level: str) -> str:
    """Python source that makes importing any of `top_level` (or a submodule of one) raise
    ModuleNotFoundError, as it would where the package is not installed."""
    names = tuple(top_level)
    return (
        "import sys\n"
        "class _Blocked:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {names!r}:\n"
        "            raise ModuleNotFoundError('blocked for this test: ' + name, name=name)\n"
        "sys.meta_path.insert(0, _Blocked())\n"
    )
