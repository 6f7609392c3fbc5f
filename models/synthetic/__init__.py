"""The one torch-free physiological synthesizer (numpy and scipy only).

Every synthetic vital sign in Vigil comes from here (and the B-mode ultrasound phantoms of
`ultrasound`, with their masks): the simulated bedside monitor streams it forever, training
draws beat and trend data from it, and tests regenerate the samples a decoder saw from the
same seed. Hence the three promises of `PatientSimulator.render`:
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
from vigil.models.synthetic.trends import (
    DEFAULT_TREND_RANGES,
    DETERIORATIONS,
    Deterioration,
    TrendBatch,
    TrendRanges,
    generate_trends,
    trend_record,
)
from vigil.models.synthetic.trends import VITALS as TREND_VITALS
from vigil.models.synthetic.ultrasound import (
    EVAL_RANGES,
    TRAIN_RANGES,
    AnechoicRegion,
    PhantomFrame,
    PhantomParams,
    PhantomRanges,
    PhantomStream,
    draw_params,
    phantom,
    phantom_batch,
)

__all__ = [
    "DEFAULT_RANGES",
    "DEFAULT_TREND_RANGES",
    "DETERIORATIONS",
    "EVAL_RANGES",
    "RHYTHMS",
    "TRAIN_RANGES",
    "TREND_VITALS",
    "AnechoicRegion",
    "Beat",
    "Deterioration",
    "Episode",
    "Event",
    "NumericsSample",
    "ParameterRanges",
    "PatientParams",
    "PatientSimulator",
    "PhantomFrame",
    "PhantomParams",
    "PhantomRanges",
    "PhantomStream",
    "PhysioState",
    "Scenario",
    "SignalBlock",
    "StatusSample",
    "TrendBatch",
    "TrendRanges",
    "builtin_scenarios",
    "concatenate_blocks",
    "draw_params",
    "draw_patient",
    "generate_recording",
    "generate_trends",
    "iter_blocks",
    "load_scenario",
    "parse_scenario",
    "phantom",
    "phantom_batch",
    "scenario_from_toml",
    "trend_record",
]
