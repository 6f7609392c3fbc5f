"""Which recorded signal feeds which monitor channel.

Files name signals their own way (MIT-BIH `MLII`, MIMIC `II`, `PLETH`, a CSV `ECG II`);
the monitor's channels are `ecg_i`, `ecg_ii`, `ecg_iii`, `pleth`, `resp`, ... An explicit
map (`--map 'MLII=ecg_ii,V5=ecg_i'`) always wins. Without one, names are compared after
folding case and dropping everything but letters and digits, through the aliases below.
A guess is made only when it is unambiguous: two signals that could feed one channel, or
one signal that could feed two, is an error asking for a map.

Deliberately not guessed: `V1`..`V6` onto `ecg_i` (a precordial lead is not lead I; map it
explicitly if that is what you want), and a bare `ECG` onto any lead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from vigil.errors import ReplayError

LIMB_PREFIXES = ("", "ecg", "lead", "ml")
"""For a channel `ecg_<lead>`: the file may call it `<lead>`, `ECG <lead>`, `Lead <lead>`,
or (MIT-BIH's modified limb leads) `ML<lead>`."""

ALIASES: dict[str, tuple[str, ...]] = {
    "pleth": ("pleth", "ppg", "plethysmogram", "spo2pleth"),
    "resp": ("resp", "respiration", "impedancerespiration"),
    "ecg_v": ("v", "v1", "v2", "v3", "v4", "v5", "v6", "mcl1"),
}
"""Further names (folded) a channel answers to, beyond its own name."""


def fold(name: str) -> str:
    """Case- and punctuation-free form for comparing names: `ECG_II`, `ecg ii` -> `ecgii`."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def channel_aliases(channel: str) -> frozenset[str]:
    """Every folded file-signal name that matches monitor channel `channel`."""
    names = {fold(channel), *ALIASES.get(channel, ())}
    match = re.fullmatch(r"ecg[_ ]?(\w+)", channel.lower())
    if match:
        lead = fold(match.group(1))
        names.update(prefix + lead for prefix in LIMB_PREFIXES)
    return frozenset(names)


def parse_channel_map(text: str) -> dict[str, str]:
    """Parse `--map 'MLII=ecg_ii,V5=ecg_i,PLETH=pleth'` into `{file signal: channel}`.

    Items are `SIGNAL=CHANNEL`, comma-separated, spaces around either side ignored (a signal
    name may contain inner spaces: `ECG II=ecg_ii`). A signal listed twice, or two signals
    onto one channel, is an error naming the item.
    """
    mapping: dict[str, str] = {}
    if not text.strip():
        raise ReplayError("--map is empty; write SIGNAL=CHANNEL pairs, e.g. 'MLII=ecg_ii'")
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            raise ReplayError(f"--map {text!r} has an empty item; remove the extra comma")
        parts = item.split("=")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ReplayError(f"--map item {item!r} is not SIGNAL=CHANNEL (e.g. 'MLII=ecg_ii')")
        signal, channel = parts[0].strip(), parts[1].strip()
        if signal in mapping:
            raise ReplayError(f"--map item {item!r}: signal {signal!r} is mapped twice")
        if channel in mapping.values():
            raise ReplayError(
                f"--map item {item!r}: channel {channel!r} already has a signal; "
                "one signal per channel"
            )
        mapping[signal] = channel
    return mapping


def match_channels(
    signal_names: Iterable[str],
    channels: Iterable[str],
    channel_map: dict[str, str] | None = None,
    *,
    source: str = "recording",
) -> dict[str, str]:
    """Decide `{file signal: monitor channel}` for a recording; see the module docstring.

    With `channel_map`, every entry must name a signal the file has (exactly, or failing
    that case-insensitively) and a channel the monitor has. Without it, aliases decide.
    Raises `ReplayError` listing the file's signals and the monitor's channels when the
    map is wrong, a guess is ambiguous, or nothing matches.
    """
    names = list(signal_names)
    targets = list(channels)
    listing = f"the file has {names}, the monitor has {targets}"
    if channel_map is not None:
        return _apply_map(names, targets, channel_map, source=source, listing=listing)
    matches: dict[str, str] = {}
    for name in names:
        found = [channel for channel in targets if fold(name) in channel_aliases(channel)]
        if len(found) > 1:
            raise ReplayError(
                f"{source}: signal {name!r} could feed channels {found}; "
                f"choose with --map ({listing})"
            )
        if found:
            matches[name] = found[0]
    claimed: dict[str, list[str]] = {}
    for name, channel in matches.items():
        claimed.setdefault(channel, []).append(name)
    for channel, rivals in claimed.items():
        if len(rivals) > 1:
            raise ReplayError(
                f"{source}: signals {rivals} could all feed channel {channel!r}; "
                f"choose with --map, e.g. --map '{rivals[0]}={channel}' ({listing})"
            )
    if not matches:
        raise ReplayError(
            f"{source}: no signal matches a monitor channel ({listing}); "
            "name them with --map 'SIGNAL=channel,...'"
        )
    return matches


def _apply_map(
    names: list[str],
    targets: list[str],
    channel_map: dict[str, str],
    *,
    source: str,
    listing: str,
) -> dict[str, str]:
    if not channel_map:
        raise ReplayError(f"{source}: the channel map is empty ({listing})")
    matches: dict[str, str] = {}
    for wanted, channel in channel_map.items():
        if wanted in names:
            name = wanted
        else:
            folded = [n for n in names if n.lower() == wanted.lower()]
            if len(folded) != 1:
                raise ReplayError(
                    f"{source}: --map names signal {wanted!r}, which the file lacks ({listing})"
                )
            name = folded[0]
        if channel not in targets:
            raise ReplayError(
                f"{source}: --map sends {wanted!r} to channel {channel!r}, which the monitor "
                f"lacks ({listing})"
            )
        if channel in matches.values():
            raise ReplayError(f"{source}: --map sends two signals to channel {channel!r}")
        if name in matches:
            raise ReplayError(f"{source}: --map names signal {name!r} twice")
        matches[name] = channel
    return matches
