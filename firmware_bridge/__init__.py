"""vigil.firmware_bridge: the link to a bedside monitor's microcontroller.

Wire protocol (docs/protocol.md), a pure codec, the C encoder the firmware compiles, the
serial link with reconnects, and a simulated monitor. Knows nothing of models or alarms.
"""
