"""The spec's bandwidth budget is computed, not hoped: docs/protocol.md section 3."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from vigil.firmware_bridge.protocol import bandwidth_bytes_per_s, line_bytes_per_s
from vigil.firmware_bridge.simulator.channels import default_rates

SPEC = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text(encoding="utf-8")


def test_default_channel_set_fits_115200_baud_with_the_margin_the_spec_states():
    total = bandwidth_bytes_per_s(default_rates().values())
    stated = int(re.search(r"\*\*total\*\*.*\*\*([\d,]+)\*\*", SPEC).group(1).replace(",", ""))
    assert round(total) == stated
    share = total / line_bytes_per_s(115200)
    assert f"**{round(share * 100)} % of 115200 baud**" in SPEC
    assert share < 0.6  # margin left for HELLO bursts and retransmitted alarms


def test_921600_baud_carries_twelve_leads_at_1000_hz():
    rates = [Fraction(1000)] * 12 + [Fraction(125), Fraction(125, 2), Fraction(125)]
    share = bandwidth_bytes_per_s(rates) / line_bytes_per_s(921600)
    assert share < 0.4
    assert f"fit in {round(share * 100)} %" in SPEC
