"""Accuracy of Vigil's bed analysis on the synthesizer: R peaks, alarm delays, false alarms, PVCs.

Four measurements, each on signals from the shared synthesizer (`vigil.models.synthetic`),
which knows the truth (beat times and labels, rhythm episodes):

1. R-peak detection, scored beat by beat as EC57 does (`ec57.score`: a detection matches a
   reference beat within 150 ms; Se = TP/(TP+FN), +P = TP/(TP+FP)), gross over seeds, from
   3 s into each record to 2 s before its end (the detectors' start-up and the causal front
   end's look-ahead left out for every detector alike). Signals: sinus rhythm and VT at
   30-250 /min with the synthesizer's default noise ("clean": baseline wander 0.08 mV RMS,
   EMG 0.012 mV RMS, mains 0.005 mV, about 40 dB EMG SNR), then each noise kind at 12 and
   6 dB SNR, SNR = 20 log10(R amplitude in lead II / level) as noise.py defines it, with the
   R amplitude measured on a noise-free render of the same patient and rhythm (median over
   beats of max |lead II| within 60 ms of the R peak). The level is the kind's PhysioState
   knob: `emg_mv` and `baseline_mv` (lead RMS), `motion_mv` (burst peak level; bursts at
   MOTION_PER_MIN), `mains_mv` (per-lead amplitude). Detectors on the same samples: Vigil's
   `EcgFrontEnd` on leads I, II, III and on lead II alone, neurokit2's default detector
   (`ecg_peaks`, method "neurokit") on raw lead II, and on lead II after `ecg_clean` (the
   library's documented pipeline). Vigil is compared with whichever neurokit2 variant did
   better on each condition (min(Se, +P)): the baseline at its best.
2. Detection delay of asystole, VT and VF: episodes that start 12-13 s into a record of a
   different simulated patient each (seed), after sinus rhythm at 55-100 /min, with baseline
   wander 0.05-0.15 mV and EMG 0.01-0.03 mV; VT at 110-220 /min; asystole with or without P
   waves. The record is fed to the bed in 40 ms chunks, as the live runtime gets it;
   delay = the condition's `decided_at_s` (device time of the newest sample the bed had
   received when it decided: every look-ahead included) minus the ground-truth episode start
   (`SignalBlock.episodes`). Where `decided_at_s` is NaN the delay is onset_s plus the
   pipeline's stated look-ahead (counted in `delay_source`). Episodes in which the
   `organised_qrs` rule vetoed a fibrillatory window are listed: in VT episodes these are
   VF alarms on VT the rule prevented, in VF episodes its cost in delay.
3. False alarms over long normal sinus rhythm with realistic noise and electrode-motion
   bursts, analysed with the fusion rules on and off (`AnalysisSettings(fusion=...)`): every
   physiological condition counts, per kind; `AnalysisResult.suppressed` lists what the
   `pleth_pulses` rule vetoed. The VF detector's `organised_qrs` rule (arrhythmia.py) has no
   switch and no public counter: its counters (`vf_windows`, `vf_vetoed`) are read from the
   bed's ArrhythmiaDetector, and runs of >= 4 consecutive vetoed windows (a VF condition the
   rule prevented) are counted from its `vetoes` log.
4. PVC classification (EC57 ventricular rows: V Se, V +P) on pvc_rich-like patients (sinus
   rhythm with frequent isolated PVCs), with the shipped ECG beat model (default) and with
   the morphology fallback (`ModelSettings(enabled=False)`).

    python benchmarks/analysis_accuracy.py [--quick] [--seeds 4] [--episodes 40]
                                           [--minutes 60] [--out DIR] [--only SECTION]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
from plotting import pyplot_or_none

from vigil.models.synthetic import Event, PatientSimulator, PhysioState, Scenario, SignalBlock
from vigil.records import Record
from vigil.runtime.analysis import ec57
from vigil.runtime.analysis.analyze import analyze_records, analyze_with
from vigil.runtime.analysis.beat_classifier import lookahead_samples
from vigil.runtime.analysis.bed_analyzer import BedAnalyzer
from vigil.runtime.analysis.condition import Category
from vigil.runtime.analysis.ecg_front_end import EcgFrontEnd
from vigil.runtime.analysis.result import AnalysisResult
from vigil.runtime.analysis.settings import AnalysisSettings, ModelSettings
from vigil.runtime.analysis.simulated_records import block_records

FS = Fraction(500)
LEADS = ("I", "II", "III")
SKIP_S, TAIL_S = 3.0, 2.0  # left out of R-peak scoring, for every detector alike
NOISE_KINDS = {
    "motion": "motion_mv",
    "emg": "emg_mv",
    "baseline": "baseline_mv",
    "mains": "mains_mv",
}
MOTION_PER_MIN = 10.0  # bursts of 0.5-2 s: about a fifth of the time under a burst
LIVE_CHUNK = Fraction(1, 25)  # 40 ms, the wire's chunk
ALARMS = ("asystole", "vt", "vf")
DELAY_TARGET_S = {"asystole": 5.0, "vt": 5.0, "vf": 6.0}
DETECTED_TARGET = 0.99
ONSET_S = 12.0  # episode start, plus U(0, 1) s so it falls anywhere on the 1 s window grid
AFTER_ONSET_S = 14.0  # record length after the episode starts
VF_WINDOWS = math.ceil(AnalysisSettings().arrhythmia.vf_s)  # 1 s windows in a row for VF
PIPELINE_LOOKAHEAD_S = EcgFrontEnd.LOOKAHEAD_S + lookahead_samples(FS) / float(FS) + 1.0
VIGIL = ("vigil I+II+III", "vigil II")
NEUROKIT = ("neurokit2 ecg_peaks II", "neurokit2 clean+peaks II")
NK_BEST = "neurokit2 best of two"
DETECTORS = (*VIGIL, *NEUROKIT)
SECTIONS = ("r_peaks", "delays", "false_alarms", "pvc")


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def scenario(name: str, initial: PhysioState, events: tuple[Event, ...] = ()) -> Scenario:
    return Scenario(name, f"benchmarks/analysis_accuracy.py: {name}", initial, events)


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


COUNTS = ("tp", "fn", "fp", "v_tp", "v_fn", "v_fp")


@dataclass(slots=True)
class Tally:
    """Gross EC57 counts over several records; the rates are `ec57.Ec57Score`'s own."""

    tp: int = 0
    fn: int = 0
    fp: int = 0
    v_tp: int = 0
    v_fn: int = 0
    v_fp: int = 0

    def add(self, other: ec57.Ec57Score | Tally) -> None:
        for k in COUNTS:
            setattr(self, k, getattr(self, k) + getattr(other, k))

    merge = add

    def score(self) -> ec57.Ec57Score:
        return ec57.Ec57Score(**{k: getattr(self, k) for k in COUNTS}, start_s=0.0, end_s=math.inf)

    @property
    def se(self) -> float | None:
        return self.score().se

    @property
    def ppv(self) -> float | None:
        return self.score().ppv

    @property
    def v_se(self) -> float | None:
        return self.score().v_se

    @property
    def v_ppv(self) -> float | None:
        return self.score().v_ppv

    def as_dict(self) -> dict[str, float | int | None]:
        score = self.score()
        return {
            "tp": self.tp,
            "fn": self.fn,
            "fp": self.fp,
            "se": score.se,
            "ppv": score.ppv,
            "v_tp": self.v_tp,
            "v_fn": self.v_fn,
            "v_fp": self.v_fp,
            "v_se": score.v_se,
            "v_ppv": score.v_ppv,
        }


def reference(block: SignalBlock) -> ec57.Reference:
    return ec57.Reference.from_symbols([b.t_s for b in block.beats], [b.label for b in block.beats])


# -- 1. R peaks ------------------------------------------------------------------------------
def vigil_peaks(ecg: np.ndarray, leads: tuple[str, ...]) -> np.ndarray:
    front = EcgFrontEnd(FS, leads)
    out = front.feed(0, ecg)
    tail = front.gap(ecg.shape[1])  # report the peaks still pending at the record's end
    return np.array([p.t_s for p in out.peaks + tail.peaks])


def neurokit_peaks(lead_ii: np.ndarray, clean: bool) -> np.ndarray:
    import neurokit2 as nk

    x = lead_ii.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if clean:
            x = nk.ecg_clean(x, sampling_rate=int(FS))
        _, info = nk.ecg_peaks(x, sampling_rate=int(FS))
    return np.asarray(info["ECG_R_Peaks"], dtype=np.float64) / float(FS)


def r_amplitude_mv(rhythm: str, rate: float, seed: int, seconds: float) -> float:
    """Median R amplitude in lead II on a noise-free render of the same patient and rhythm."""
    quiet = PhysioState(rhythm=rhythm, rate=rate, baseline_mv=0.0, emg_mv=0.0, mains_mv=0.0)
    block = PatientSimulator(scenario("noise-free", quiet), seed).render(0, min(seconds, 20))
    half = round(0.06 * FS)
    x = block.ecg[1]
    peaks = [
        float(np.abs(x[max(0, b.ecg_index - half) : b.ecg_index + half]).max()) for b in block.beats
    ]
    return float(np.median(peaks))


def peak_conditions(quick: bool) -> list[dict]:
    if quick:
        sinus, vt, noisy_rhythms = (30, 80, 250), (180, 250), (("sinus", 80.0),)
    else:
        sinus = (30, 40, 60, 80, 100, 120, 150, 180, 200, 220, 250)
        vt, noisy_rhythms = (100, 130, 160, 190, 220, 250), (("sinus", 80.0), ("vt", 180.0))
    rows = [
        {"group": "clean", "rhythm": "sinus", "rate": float(r), "noise": "default", "snr_db": None}
        for r in sinus
    ]
    rows += [
        {"group": "clean", "rhythm": "vt", "rate": float(r), "noise": "default", "snr_db": None}
        for r in vt
    ]
    for rhythm, rate in noisy_rhythms:
        for kind in NOISE_KINDS:
            for snr in (12, 6):
                rows.append(
                    {"group": "noisy", "rhythm": rhythm, "rate": rate, "noise": kind, "snr_db": snr}
                )
    return rows


def bench_r_peaks(seeds: list[int], seconds: float, quick: bool) -> dict:
    conditions = peak_conditions(quick)
    has_nk = _has_neurokit()
    detectors = (*DETECTORS, NK_BEST) if has_nk else VIGIL
    rows = []
    for k, cond in enumerate(conditions, 1):
        tallies = {d: Tally() for d in detectors if d != NK_BEST}
        levels = []
        for seed in seeds:
            initial = PhysioState(rhythm=cond["rhythm"], rate=cond["rate"])
            if cond["snr_db"] is not None:
                amp = r_amplitude_mv(cond["rhythm"], cond["rate"], seed, seconds)
                level = amp / 10 ** (cond["snr_db"] / 20)
                levels.append(level)
                initial = replace(initial, **{NOISE_KINDS[cond["noise"]]: level})
                if cond["noise"] == "motion":
                    initial = replace(initial, motion_per_min=MOTION_PER_MIN)
            block = PatientSimulator(scenario("r-peaks", initial), seed).render(0, seconds)
            ref = reference(block)
            found = {
                "vigil I+II+III": vigil_peaks(block.ecg, LEADS),
                "vigil II": vigil_peaks(block.ecg[1:2], ("II",)),
            }
            if has_nk:
                found["neurokit2 ecg_peaks II"] = neurokit_peaks(block.ecg[1], clean=False)
                found["neurokit2 clean+peaks II"] = neurokit_peaks(block.ecg[1], clean=True)
            for name, times in found.items():
                score = ec57.score(
                    ref, times, ["N"] * len(times), start_s=SKIP_S, end_s=seconds - TAIL_S
                )
                tallies[name].add(score)
        if has_nk:  # the baseline at its best: whichever neurokit2 variant did better here
            best = max(NEUROKIT, key=lambda d: min(tallies[d].se or 0, tallies[d].ppv or 0))
            tallies[NK_BEST] = tallies[best]
        row = dict(
            cond,
            level=statistics.mean(levels) if levels else None,
            neurokit2_best=best if has_nk else None,
            detectors={d: t.as_dict() for d, t in tallies.items()},
        )
        rows.append(row)
        v = tallies["vigil I+II+III"]
        progress(
            f"  r-peaks [{k}/{len(conditions)}] {cond['rhythm']} {cond['rate']:g}/min "
            f"{cond['noise']} {cond['snr_db'] or ''}: vigil Se {pct(v.se)} +P {pct(v.ppv)}"
        )
    groups: dict[str, dict[str, Tally]] = defaultdict(lambda: {d: Tally() for d in detectors})
    for row in rows:
        for key in (row["group"], f"{row['group']} {row['rhythm']}"):
            for d in detectors:
                groups[key][d].merge(
                    Tally(
                        *(
                            row["detectors"][d][c]
                            for c in ("tp", "fn", "fp", "v_tp", "v_fn", "v_fp")
                        )
                    )
                )
    summary = {g: {d: t.as_dict() for d, t in ts.items()} for g, ts in groups.items()}
    worse = [
        f"{r['rhythm']} {r['rate']:g}/min {r['noise']} {r['snr_db'] or ''}".strip()
        for r in rows
        if has_nk and _quality(r["detectors"]["vigil I+II+III"]) < _quality(r["detectors"][NK_BEST])
    ]
    return {
        "seeds": seeds,
        "seconds": seconds,
        "detectors": list(detectors),
        "neurokit2": _neurokit_version(),
        "rows": rows,
        "vigil_below_neurokit2": worse,
        "groups": summary,
    }


def _quality(d: dict) -> float:
    return min(d["se"] or 0.0, d["ppv"] or 0.0)


def _has_neurokit() -> bool:
    try:
        import neurokit2  # noqa: F401
    except ImportError:
        progress("neurokit2 not installed: the baseline detector is left out")
        return False
    return True


def _neurokit_version() -> str | None:
    try:
        import neurokit2
    except ImportError:
        return None
    return str(neurokit2.__version__)


# -- running a bed ---------------------------------------------------------------------------
@dataclass(slots=True)
class BedRun:
    result: AnalysisResult
    arrhythmia_counters: dict[str, int] = field(default_factory=dict)
    vetoes: list[dict] = field(default_factory=list)


def run_bed(records: list[Record], settings: AnalysisSettings) -> BedRun:
    """`analyze_records`, keeping hold of the bed to read the `organised_qrs` rule's counters
    (the ArrhythmiaDetector's; AnalysisResult does not carry them)."""
    analyzer = BedAnalyzer(settings)
    result = analyze_with(analyzer, records)
    return BedRun(result, analyzer.arrhythmia_counters, analyzer.vf_vetoes)


def vetoed_runs(vetoes: list[dict], windows: int) -> int:
    """Runs of >= `windows` consecutive 1 s windows vetoed by a rule: VF conditions it cut."""
    times = sorted(v["t_s"] for v in vetoes)
    runs, length, last = 0, 0, None
    for t in times:
        length = length + 1 if last is not None and abs(t - last - 1.0) < 1e-6 else 1
        last = t
        if length == windows:
            runs += 1
    return runs


# -- 2. detection delay ----------------------------------------------------------------------
def live_records(sim: PatientSimulator, seconds: float) -> tuple[list[Record], list]:
    """Records in 40 ms chunks, as the wire delivers them, and the ground-truth episodes."""
    records: list[Record] = []
    episodes = []
    t, end = Fraction(0), Fraction(seconds)
    while t < end:
        t1 = min(end, t + LIVE_CHUNK)
        block = sim.render(t, t1)
        episodes.extend(block.episodes)
        records.extend(block_records(block, sim))
        t = t1
    return records, episodes


def episode_scenario(kind: str, rng: np.random.Generator) -> tuple[Scenario, float]:
    onset = ONSET_S + float(rng.uniform(0, 1))
    initial = PhysioState(
        rate=float(rng.uniform(55, 100)),
        baseline_mv=float(rng.uniform(0.05, 0.15)),
        emg_mv=float(rng.uniform(0.01, 0.03)),
    )
    changes: dict[str, object] = {"rhythm": kind}
    if kind == "vt":
        changes["rate"] = float(rng.uniform(110, 220))
    elif kind == "asystole":
        changes["p_waves"] = bool(rng.random() < 0.5)
    event = Event(onset, tuple(changes.items()))
    return scenario(f"{kind} episode", initial, (event,)), onset + AFTER_ONSET_S


def bench_delays(episodes: int) -> dict:
    out = {}
    for kind in ALARMS:
        delays, onset_parts, missed, early, sources = [], [], [], 0, Counter()
        seeds: list[int] = []
        vetoed: list[int] = []  # episodes where organised_qrs vetoed a fibrillatory window
        runs_cut, others = 0, Counter()
        for i in range(episodes):
            seed = 10_000 * (1 + ALARMS.index(kind)) + i
            sc, seconds = episode_scenario(kind, np.random.default_rng(seed))
            sim = PatientSimulator(sc, seed)
            records, truth = live_records(sim, seconds)
            start = next(e.start_s for e in truth if e.kind == kind)
            run = run_bed(records, AnalysisSettings())
            if any(v["t_s"] >= start - 1.0 for v in run.vetoes):  # windows overlapping it
                vetoed.append(seed)
                runs_cut += vetoed_runs(run.vetoes, VF_WINDOWS)
            others.update(
                s.kind
                for s in run.result.spans
                if s.kind in ALARMS and s.kind != kind and s.onset_s >= start
            )
            spans = [s for s in run.result.spans if s.kind == kind]
            early += sum(1 for s in spans if s.onset_s < start)
            hits = [s for s in spans if s.onset_s >= start]
            if not hits:
                missed.append(seed)
                continue
            first = hits[0].start
            decided = float(first.decided_at_s)
            if math.isnan(decided):
                decided = first.onset_s + PIPELINE_LOOKAHEAD_S
                sources["onset_s + stated look-ahead"] += 1
            else:
                sources["decided_at_s"] += 1
            delays.append(decided - start)
            onset_parts.append(first.onset_s - start)
            seeds.append(seed)
        n = len(delays)
        out[kind] = {
            "episodes": episodes,
            "detected": n,
            "detected_fraction": n / episodes if episodes else None,
            "missed_seeds": missed,
            "raised_before_episode": early,
            "median_s": statistics.median(delays) if delays else None,
            "p90_s": float(np.percentile(delays, 90)) if delays else None,
            "worst_s": max(delays) if delays else None,
            "best_s": min(delays) if delays else None,
            "median_criterion_s": statistics.median(onset_parts) if onset_parts else None,
            "delays_s": [round(d, 3) for d in delays],
            "worst_seeds": [seeds[i] for i in np.argsort(delays)[::-1][:3]],
            "delay_source": dict(sources),
            "target_s": DELAY_TARGET_S[kind],
            "other_alarms_raised": dict(others),
            "organised_qrs_vetoed_seeds": vetoed,
            "organised_qrs_vf_runs_cut": runs_cut,
            "organised_qrs_vetoed_delays_s": [
                round(delays[seeds.index(x)], 3) for x in vetoed if x in seeds
            ],
        }
        r = out[kind]
        progress(
            f"  delay {kind}: detected {n}/{episodes}, median "
            f"{_s(r['median_s'])}, worst {_s(r['worst_s'])}; organised_qrs vetoed windows "
            f"in {len(vetoed)} episodes"
        )
    return out


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f} s"


# -- 3. false alarms -------------------------------------------------------------------------
def noisy_normal(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    initial = PhysioState(
        rate=float(rng.uniform(60, 95)),
        baseline_mv=float(rng.uniform(0.08, 0.2)),
        emg_mv=float(rng.uniform(0.03, 0.05)),
        motion_mv=float(rng.uniform(0.5, 1.0)),
        motion_per_min=float(rng.uniform(1, 3)),
        mains_mv=float(rng.uniform(0.005, 0.02)),
    )
    return scenario("noisy normal sinus rhythm", initial)


def block_chunks(sim: PatientSimulator, seconds: float, chunk_s: Fraction) -> Iterator[Record]:
    t, end = Fraction(0), Fraction(seconds)
    while t < end:
        t1 = min(end, t + chunk_s)
        yield from block_records(sim.render(t, t1), sim)
        t = t1


def bench_false_alarms(seeds: list[int], minutes: float) -> dict:
    seconds = 60.0 * minutes
    per_seed = []
    totals: dict[str, Counter] = {"fusion on": Counter(), "fusion off": Counter()}
    suppressed: Counter = Counter()
    technical: Counter = Counter()
    organised = Counter()
    for seed in seeds:
        sc = noisy_normal(seed)
        sim = PatientSimulator(sc, seed)
        progress(f"  false alarms: rendering {minutes:g} min, seed {seed}")
        records = list(block_chunks(sim, seconds, Fraction(10)))
        entry: dict[str, object] = {"seed": seed, "state": _state_dict(sc.initial)}
        for fusion in (True, False):
            label = "fusion on" if fusion else "fusion off"
            t0 = time.perf_counter()
            run = run_bed(records, AnalysisSettings(fusion=fusion))
            res = run.result
            physio = Counter(
                s.kind for s in res.spans if s.start.category is Category.PHYSIOLOGICAL
            )
            totals[label].update(physio)
            entry[label] = {
                "physiological": dict(physio),
                "physiological_onsets_s": [
                    (s.kind, round(s.onset_s, 2))
                    for s in res.spans
                    if s.start.category is Category.PHYSIOLOGICAL
                ],
                "technical": dict(
                    Counter(s.kind for s in res.spans if s.start.category is Category.TECHNICAL)
                ),
                "seconds": round(time.perf_counter() - t0, 2),
            }
            if fusion:
                for c in res.suppressed:
                    for rule in c.evidence.get("fusion", {}):
                        suppressed[f"{rule}: {c.kind}"] += 1
                technical.update(entry[label]["technical"])
                organised.update(
                    {
                        k: v
                        for k, v in run.arrhythmia_counters.items()
                        if k in ("vf_windows", "vf_vetoed")
                    }
                )
                organised["vetoed runs >= vf_s (VF conditions cut)"] += vetoed_runs(
                    run.vetoes, VF_WINDOWS
                )
                organised["vetoes logged"] += len(run.vetoes)
                entry["suppressed"] = [
                    (c.kind, round(c.onset_s, 2), c.evidence.get("fusion")) for c in res.suppressed
                ]
                entry["beats"] = len(res.beats)
            progress(
                f"    seed {seed} {label}: physiological {dict(physio) or 'none'} "
                f"({entry[label]['seconds']} s)"
            )
        per_seed.append(entry)
    hours = len(seeds) * minutes / 60.0
    return {
        "seeds": seeds,
        "minutes_per_seed": minutes,
        "hours": hours,
        "physiological": {k: dict(v) for k, v in totals.items()},
        "physiological_total": {k: sum(v.values()) for k, v in totals.items()},
        "per_hour": {k: sum(v.values()) / hours for k, v in totals.items()},
        "suppressed_by_rule": dict(suppressed),
        "organised_qrs": dict(organised),
        "technical_fusion_on": dict(technical),
        "per_seed": per_seed,
    }


def _state_dict(s: PhysioState) -> dict[str, float]:
    keys = ("rate", "baseline_mv", "emg_mv", "motion_mv", "motion_per_min", "mains_mv")
    return {k: round(float(getattr(s, k)), 3) for k in keys}


# -- 4. PVC classification -------------------------------------------------------------------
def bench_pvc(seeds: list[int], seconds: float) -> dict:
    paths = {
        "model (default)": ModelSettings(),
        "morphology fallback": ModelSettings(enabled=False),
    }
    tallies = {p: Tally() for p in paths}
    decided: dict[str, Counter] = {p: Counter() for p in paths}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        initial = PhysioState(
            rate=float(rng.uniform(60, 95)), pvc_per_min=float(rng.uniform(8, 24))
        )
        sim = PatientSimulator(scenario("pvc_rich-like", initial), seed)
        block = sim.render(0, seconds)
        ref = reference(block)
        records = list(block_chunks(PatientSimulator(sim.scenario, seed), seconds, Fraction(10)))
        for name, models in paths.items():
            res = analyze_records(records, AnalysisSettings(models=models))
            score = ec57.score(
                ref,
                [b.t_s for b in res.beats],
                [b.label for b in res.beats],
                start_s=10.0,
                end_s=seconds - TAIL_S,
            )
            tallies[name].add(score)
            decided[name].update(b.decided_by for b in res.beats)
        progress(
            f"  pvc seed {seed}: "
            + ", ".join(f"{n} V Se {pct(t.v_se)} +P {pct(t.v_ppv)}" for n, t in tallies.items())
        )
    return {
        "seeds": seeds,
        "seconds": seconds,
        "score_from_s": 10.0,
        "paths": {p: t.as_dict() for p, t in tallies.items()},
        "decided_by": {p: dict(c) for p, c in decided.items()},
    }


# -- report ----------------------------------------------------------------------------------
def checks_of(report: dict) -> dict[str, bool]:
    checks: dict[str, bool] = {}
    peaks = report.get("r_peaks")
    if peaks:
        g = peaks["groups"]
        v_clean, v_noisy = g["clean"]["vigil I+II+III"], g["noisy"]["vigil I+II+III"]
        checks["R peaks, clean: Vigil Se and +P >= 99.5 %"] = (
            min(v_clean["se"], v_clean["ppv"]) >= 0.995
        )
        checks["R peaks, noisy: Vigil Se and +P >= 99 %"] = (
            min(v_noisy["se"], v_noisy["ppv"]) >= 0.99
        )
        nk = NK_BEST
        if nk in g["clean"]:
            ok = all(
                g[grp]["vigil I+II+III"][m] >= g[grp][nk][m] - 1e-12
                for grp in ("clean", "noisy")
                for m in ("se", "ppv")
            )
            checks["R peaks: Vigil at least as good as neurokit2 (clean and noisy)"] = ok
            vt = g.get("clean vt")
            if vt:
                checks["R peaks, VT: Vigil Se above neurokit2's"] = (
                    vt["vigil I+II+III"]["se"] > vt[nk]["se"]
                )
    delays = report.get("delays")
    if delays:
        for kind, r in delays.items():
            checks[f"{kind}: worst delay <= {r['target_s']:g} s, detected >= 99 %"] = (
                r["worst_s"] is not None
                and r["worst_s"] <= r["target_s"]
                and r["detected_fraction"] >= DETECTED_TARGET
            )
    fa = report.get("false_alarms")
    if fa:
        checks["no physiological condition on noisy normal sinus rhythm (fusion on)"] = (
            fa["physiological_total"]["fusion on"] == 0
        )
    return checks


def markdown(report: dict) -> str:
    lines = ["| measurement | Vigil | baseline | target | result |", "|---|---|---|---|---|"]
    peaks = report.get("r_peaks")
    nk = NK_BEST
    if peaks:
        g = peaks["groups"]
        targets = {"clean": ">= 99.5 %", "noisy": ">= 99 %"}
        for grp in ("clean sinus", "clean vt", "clean", "noisy sinus", "noisy vt", "noisy"):
            if grp not in g:
                continue
            v, v2 = g[grp]["vigil I+II+III"], g[grp]["vigil II"]
            base = (
                f"neurokit2 {pct(g[grp][nk]['se'])} / {pct(g[grp][nk]['ppv'])}"
                if nk in g[grp]
                else "-"
            )
            target = targets.get(grp, "")
            ok = min(v["se"], v["ppv"]) >= (0.995 if grp.startswith("clean") else 0.99)
            lines.append(
                f"| R peaks {grp}: Se / +P | {pct(v['se'])} / {pct(v['ppv'])} "
                f"(lead II alone {pct(v2['se'])} / {pct(v2['ppv'])}) | {base} | "
                f"{target or ('>= 99.5 %' if grp.startswith('clean') else '>= 99 %')} | "
                f"{'pass' if ok else 'FAIL'} |"
            )
    delays = report.get("delays")
    if delays:
        for kind, r in delays.items():
            ok = (
                r["worst_s"] is not None
                and r["worst_s"] <= r["target_s"]
                and r["detected_fraction"] >= DETECTED_TARGET
            )
            veto = "".join(f"; {k} raised in {v}" for k, v in r["other_alarms_raised"].items())
            if r["organised_qrs_vetoed_seeds"]:
                veto += (
                    f"; organised_qrs vetoed windows in {len(r['organised_qrs_vetoed_seeds'])}"
                    f" episodes, {r['organised_qrs_vf_runs_cut']} VF runs cut"
                )
            lines.append(
                f"| {kind} delay: median / worst (detected) | {_s(r['median_s'])} / "
                f"{_s(r['worst_s'])} ({r['detected']}/{r['episodes']}{veto}) | - | "
                f"<= {r['target_s']:g} s, >= 99 % | {'pass' if ok else 'FAIL'} |"
            )
    fa = report.get("false_alarms")
    if fa:
        on, off = fa["physiological"]["fusion on"], fa["physiological"]["fusion off"]
        lines.append(
            f"| physiological conditions, {fa['hours']:g} h noisy sinus rhythm | "
            f"{fa['physiological_total']['fusion on']} {_kinds(on)} | "
            f"fusion off: {fa['physiological_total']['fusion off']} {_kinds(off)} | 0 | "
            f"{'pass' if not on else 'FAIL'} |"
        )
        cut = dict(fa["suppressed_by_rule"])
        org = fa["organised_qrs"]
        cut_text = ", ".join(f"{k} {v}" for k, v in cut.items()) or "pleth_pulses: none"
        lines.append(
            f"| fusion rules' cuts | {cut_text}; organised_qrs: "
            f"{org.get('vf_vetoed', 0)} of {org.get('vf_windows', 0)} fibrillatory windows "
            f"vetoed, {org.get('vetoed runs >= vf_s (VF conditions cut)', 0)} VF runs cut | - "
            f"| - | - |"
        )
    pvc = report.get("pvc")
    if pvc:
        m, f = pvc["paths"]["model (default)"], pvc["paths"]["morphology fallback"]
        lines.append(
            f"| PVC (V) Se / +P | model {pct(m['v_se'])} / {pct(m['v_ppv'])} | "
            f"morphology {pct(f['v_se'])} / {pct(f['v_ppv'])} | - | - |"
        )
    return "\n".join(lines)


def detail_markdown(report: dict) -> str:
    peaks = report.get("r_peaks")
    if not peaks:
        return ""
    dets = peaks["detectors"]
    head = (
        "| rhythm | rate /min | noise | SNR dB | " + " | ".join(f"{d} Se / +P" for d in dets) + " |"
    )
    lines = [head, "|" + "---|" * (4 + len(dets))]
    for row in peaks["rows"]:
        cells = [
            f"{pct(row['detectors'][d]['se'])} / {pct(row['detectors'][d]['ppv'])}" for d in dets
        ]
        lines.append(
            f"| {row['rhythm']} | {row['rate']:g} | {row['noise']} | "
            f"{row['snr_db'] or '-'} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def _kinds(c: dict) -> str:
    return "(" + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) + ")" if c else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run, well under a minute")
    parser.add_argument("--seeds", type=int, default=4, help="patients per R-peak condition")
    parser.add_argument("--seconds", type=float, default=90.0, help="per R-peak record")
    parser.add_argument("--episodes", type=int, default=40, help="per alarm kind")
    parser.add_argument("--minutes", type=float, default=60.0, help="per false-alarm seed")
    parser.add_argument("--fa-seeds", type=int, default=3, help="false-alarm patients")
    parser.add_argument("--pvc-seeds", type=int, default=6)
    parser.add_argument("--pvc-seconds", type=float, default=180.0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        help="run only this section (repeatable); the default runs all four",
    )
    args = parser.parse_args(argv)
    only = set(args.only or SECTIONS)
    if args.quick:
        args.seeds, args.seconds, args.episodes = 1, 20.0, 3
        args.minutes, args.fa_seeds, args.pvc_seeds, args.pvc_seconds = 3.0, 1, 1, 60.0
    t0 = time.perf_counter()
    report: dict = {
        "quick": args.quick,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "motion_per_min": MOTION_PER_MIN,
        "pipeline_lookahead_s": PIPELINE_LOOKAHEAD_S,
    }
    if "r_peaks" in only:
        progress("[1/4] R-peak detection")
        report["r_peaks"] = bench_r_peaks(list(range(1, args.seeds + 1)), args.seconds, args.quick)
    if "delays" in only:
        progress("[2/4] alarm detection delay (40 ms chunks)")
        report["delays"] = bench_delays(args.episodes)
    if "false_alarms" in only:
        progress("[3/4] false alarms on noisy normal sinus rhythm")
        seeds = list(range(101, 101 + args.fa_seeds))
        report["false_alarms"] = bench_false_alarms(seeds, args.minutes)
    if "pvc" in only:
        progress("[4/4] PVC classification")
        report["pvc"] = bench_pvc(list(range(201, 201 + args.pvc_seeds)), args.pvc_seconds)
    report["checks"] = checks_of(report)
    report["markdown"] = markdown(report)
    report["detail_markdown"] = detail_markdown(report)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    print(report["markdown"])
    print()
    print(report["detail_markdown"])
    print()
    for key, ok in report["checks"].items():
        print(f"{key}: {'PASS' if ok else 'FAIL'}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "analysis_accuracy.json").write_text(json.dumps(report, indent=2, default=str))
    if only == set(SECTIONS):
        _plot(report, args.out / "analysis_accuracy.png")
    else:
        progress("a partial run (--only): no plot")
    return 0 if all(report["checks"].values()) else 1


def _plot(report: dict, path: Path) -> None:
    plt = pyplot_or_none()
    if plt is None:
        return
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    colors = {
        "vigil I+II+III": "#1f4e9c",
        "vigil II": "#4878d0",
        "neurokit2 ecg_peaks II": "#999999",
        "neurokit2 clean+peaks II": "#cccccc",
        NK_BEST: "#666666",
    }
    peaks = report["r_peaks"]
    shown = [d for d in (*VIGIL, NK_BEST) if d in peaks["detectors"]]
    ax = axes[0][0]
    for rhythm, marker in (("sinus", "o"), ("vt", "s")):
        rows = [r for r in peaks["rows"] if r["group"] == "clean" and r["rhythm"] == rhythm]
        for d in shown:
            ax.plot(
                [r["rate"] for r in rows],
                [100 * (r["detectors"][d]["se"] or 0) for r in rows],
                marker=marker,
                color=colors[d],
                linestyle="-" if rhythm == "sinus" else "--",
                label=f"{d} ({rhythm})",
            )
    ax.set_xlabel("rate, /min")
    ax.set_ylabel("Se, %")
    ax.set_title("R peaks, clean: sensitivity (solid sinus, dashed VT)", fontsize=9)
    ax.legend(fontsize=6)
    ax = axes[0][1]
    noisy = [r for r in peaks["rows"] if r["group"] == "noisy"]
    width = 0.8 / len(shown)
    for j, d in enumerate(shown):
        ax.bar(
            [i + j * width for i in range(len(noisy))],
            [100 * min(r["detectors"][d]["se"] or 0, r["detectors"][d]["ppv"] or 0) for r in noisy],
            width,
            color=colors[d],
            label=d,
        )
    ax.set_xticks(
        [i + 0.4 for i in range(len(noisy))],
        [f"{r['rhythm']} {r['noise']} {r['snr_db']}dB" for r in noisy],
        rotation=60,
        ha="right",
        fontsize=6,
    )
    ax.axhline(99, color="#d62728", linestyle="--")
    ax.set_ylim(0, 101)
    ax.set_ylabel("min(Se, +P), %")
    ax.set_title("R peaks under noise (dashed: 99 % target)", fontsize=9)
    ax.legend(fontsize=6)
    ax = axes[1][0]
    delays = report["delays"]
    kinds = list(delays)
    ax.boxplot([delays[k]["delays_s"] or [math.nan] for k in kinds])
    ax.set_xticks(
        range(1, len(kinds) + 1),
        [f"{k} ({delays[k]['detected']}/{delays[k]['episodes']})" for k in kinds],
    )
    for i, k in enumerate(kinds, 1):
        ax.hlines(delays[k]["target_s"], i - 0.4, i + 0.4, color="#d62728", linestyle="--")
    ax.set_ylabel("delay from episode start, s")
    ax.set_title("Alarm detection delay, 40 ms chunks (dashed: target)", fontsize=9)
    ax = axes[1][1]
    fa, pvc = report["false_alarms"], report["pvc"]
    labels = [f"false alarms/h\nfusion {k.split()[-1]}" for k in fa["per_hour"]]
    values = list(fa["per_hour"].values())
    ax.bar(range(len(values)), values, color=["#1f4e9c", "#999999"])
    for name in pvc["paths"]:
        labels += [f"PVC Se\n{name.split()[0]}", f"PVC +P\n{name.split()[0]}"]
    ax2 = ax.twinx()
    pvc_vals = [100 * (t[m] or 0) for t in pvc["paths"].values() for m in ("v_se", "v_ppv")]
    ax2.bar(range(len(values), len(values) + len(pvc_vals)), pvc_vals, color="#4878d0")
    ax2.set_ylim(0, 101)
    ax2.set_ylabel("PVC classification, %")
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("physiological conditions per hour")
    ax.set_title(f"False alarms over {fa['hours']:g} h; PVC Se/+P", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    progress(f"plot: {path}")


if __name__ == "__main__":
    sys.exit(main())
