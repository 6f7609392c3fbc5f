"""Alarm sinks: JSON Lines, the device (ALARM back over the bridge), log lines."""
