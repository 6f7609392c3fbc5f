"""Shared test setup: tests run against the installed `vigil` package."""

import os

from hypothesis import HealthCheck, settings

# CI: repeatable examples, no per-example deadline on a loaded 2-core machine.
settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
