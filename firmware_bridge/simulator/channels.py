"""The simulated monitor's default channel table (docs/protocol.md, section 3)."""

from __future__ import annotations

from fractions import Fraction

from vigil.firmware_bridge.messages import ChannelInfo
from vigil.firmware_bridge.protocol import ChannelKind

ECG_RATE = Fraction(500)
PLETH_RATE = Fraction(125)
RESP_RATE = Fraction(125, 2)

# name -> channel info. ECG at 5 µV/LSB spans ±163 mV; pleth 0..1 au at 1e-4; impedance
# respiration at 1 mΩ/LSB spans ±32 Ω.
DEFAULT_CHANNELS: dict[str, ChannelInfo] = {
    "ecg_i": ChannelInfo(0, ChannelKind.ECG_I, ECG_RATE, 0.005, 0.0, "mV", "ECG I"),
    "ecg_ii": ChannelInfo(1, ChannelKind.ECG_II, ECG_RATE, 0.005, 0.0, "mV", "ECG II"),
    "ecg_iii": ChannelInfo(2, ChannelKind.ECG_III, ECG_RATE, 0.005, 0.0, "mV", "ECG III"),
    "pleth": ChannelInfo(3, ChannelKind.PLETH, PLETH_RATE, 1e-4, 0.0, "au", "Pleth"),
    "resp": ChannelInfo(4, ChannelKind.RESPIRATION, RESP_RATE, 1e-3, 0.0, "Ohm", "Resp"),
}


def default_rates() -> dict[str, Fraction]:
    return {name: ch.rate for name, ch in DEFAULT_CHANNELS.items()}
