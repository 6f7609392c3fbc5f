"""The one torch-free physiological synthesizer (numpy and scipy only).

Every synthetic vital sign in Vigil comes from here: the simulated bedside monitor streams
it forever, training draws beat and trend data from it, and tests regenerate the samples a
decoder saw from the same seed. Hence the three promises of `PatientSimulator.render`:
deterministic by seed, partition independent (bit-identical however [0, T) is split into
blocks), and bounded in memory and CPU per simulated second. Every block carries its ground
truth (beats and labels, rhythm episodes, breath onsets) beside the signals.

Numerics convention: NaN means "no valid value" (see `records` and `numerics`).
"""

from vigil.models.synthetic.patient import (
    DEFAULT_RANGES,
    ParameterRanges,
    PatientParams,
    draw_patient,
)
from vigil.models.synthetic.records import (
    Beat,
    Episode,
    NumericsSample,
    SignalBlock,
    StatusSample,
    concatenate_blocks,
)
from vigil.models.synthetic.scenario import (
    RHYTHMS,
    Event,
    PhysioState,
    Scenario,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
    scenario_from_toml,
)
from vigil.models.synthetic.simulator import PatientSimulator, generate_recording, iter_blocks

__all__ = [
    "DEFAULT_RANGES",
    "RHYTHMS",
    "Beat",
    "Episode",
    "Event",
    "NumericsSample",
    "ParameterRanges",
    "PatientParams",
    "PatientSimulator",
    "PhysioState",
    "Scenario",
    "SignalBlock",
    "StatusSample",
    "builtin_scenarios",
    "concatenate_blocks",
    "draw_patient",
    "generate_recording",
    "iter_blocks",
    "load_scenario",
    "parse_scenario",
    "scenario_from_toml",
]
