"""vigil.toml: the runtime's configuration, validated against one schema before any port opens.

Files are real files in a temporary folder; `vigil config` runs through a real argparse
parser with the command's own `register`.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest

from vigil.errors import ConfigError
from vigil.runtime.alarms.policy import NEVER_DELAYED, AlarmPolicy
from vigil.runtime.analysis.condition import Priority
from vigil.runtime.analysis.settings import DEFAULT_LIMITS, AnalysisSettings, Limit
from vigil.runtime.artifact_loader import shipped_artifact
from vigil.runtime.config import (
    BedConfig,
    JournalConfig,
    RuntimeConfig,
    RuntimeSettings,
    SinksConfig,
    example_config,
    load_config,
    parse_config,
)
from vigil.runtime.config import cli as config_cli
from vigil.runtime.config.schema import DOCUMENT, KindMap, Option, Table, TableArray
from vigil.runtime.control_paths import default_control_socket

BED = '[[bed]]\nname = "bed-1"\nport = "/dev/ttyUSB0"\n'


def write(folder: Path, text: str, name: str = "vigil.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(text: str, folder: Path) -> str:
    """The ConfigError message for `text` loaded from folder/vigil.toml."""
    path = write(folder, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message  # every error names the file first
    return message


def fake_artifact(folder: Path) -> Path:
    """A folder shaped like a model artifact: the config check looks for manifest.json only
    (the runtime verifies the artifact's hashes when it loads it)."""
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}", encoding="utf-8")
    return folder


def defaults(base_dir: Path, *beds: BedConfig) -> RuntimeConfig:
    return RuntimeConfig(
        path=None,
        runtime=RuntimeSettings(control_socket=default_control_socket()),
        journal=JournalConfig(path=base_dir / "vigil-journal.db"),
        alarms=AlarmPolicy(),
        sinks=SinksConfig(),
        beds=beds,
    )


# -- the example is the defaults --------------------------------------------------------------


def test_example_parses_back_to_exactly_the_defaults(tmp_path):
    config = parse_config(example_config(), base_dir=tmp_path)
    expected = defaults(tmp_path, BedConfig(name="bed-1", port="/dev/ttyUSB0"))
    assert config.runtime == expected.runtime
    assert config.journal == expected.journal
    assert config.alarms == expected.alarms
    assert config.sinks == expected.sinks
    assert config.beds == expected.beds
    assert config.beds[0].analysis == AnalysisSettings(bed="bed-1")
    assert config == expected


def _option_names(table: Table) -> set[str]:
    names = set()
    for item in table.items:
        if isinstance(item, Option):
            names.add(item.name)
        elif isinstance(item, Table):
            names |= _option_names(item)
        elif isinstance(item, TableArray):
            names |= _option_names(item.table)
        elif isinstance(item, KindMap):
            names.add(item.name)
    return names


def test_example_shows_every_option_with_its_help():
    text = example_config()
    shown = set(re.findall(r"^(?:# )?(\w+) = ", text, re.MULTILINE))
    shown |= set(re.findall(r"^(?:# )?\[(?:\w+\.)*(\w+)\]", text, re.MULTILINE))
    assert _option_names(DOCUMENT) <= shown
    assert "Not a certified medical device" in text
    assert "# No QRS this long, leads on -> asystole. Number, 3-10 s." in text


def test_minimal_config_is_one_bed_with_name_and_port(tmp_path):
    config = load_config(write(tmp_path, BED))
    assert config.path == tmp_path / "vigil.toml"
    assert config.beds == (BedConfig(name="bed-1", port="/dev/ttyUSB0"),)
    assert config.beds[0].analysis.bed == "bed-1"
    assert config.beds[0].baudrate == 115200
    assert config.runtime == RuntimeSettings()
    assert config.alarms == AlarmPolicy()


# -- values reach the settings ---------------------------------------------------------------


def test_bed_limit_override_keeps_the_other_defaults(tmp_path):
    config = load_config(write(tmp_path, BED + "[bed.limits.spo2]\nlow = 88\n"))
    limits = config.beds[0].analysis.limits
    assert limits["spo2"] == Limit(88.0, None, 1.0, delay_s=15.0)
    assert {k: v for k, v in limits.items() if k != "spo2"} == {
        k: v for k, v in DEFAULT_LIMITS.items() if k != "spo2"
    }


def test_off_removes_one_side_of_a_limit(tmp_path):
    config = load_config(write(tmp_path, BED + '[bed.limits.hr]\nhigh = "off"\n'))
    assert config.beds[0].analysis.limits["hr"] == Limit(50.0, None, 2.0)


def test_each_bed_has_its_own_settings(tmp_path):
    text = (
        BED
        + "fusion = false\n[bed.arrhythmia]\nasystole_s = 6\n[bed.news2]\nscale = 2\n"
        + '[[bed]]\nname = "bed-2"\nport = "socket://127.0.0.1:7000"\nbaudrate = 230400\n'
    )
    first, second = load_config(write(tmp_path, text)).beds
    assert (first.analysis.fusion, first.analysis.arrhythmia.asystole_s) == (False, 6.0)
    assert first.analysis.news2.scale == 2
    assert second.analysis == AnalysisSettings(bed="bed-2")
    assert (second.port, second.baudrate) == ("socket://127.0.0.1:7000", 230400)


def test_alarm_policy_from_the_file_zero_meaning_never(tmp_path):
    text = (
        '[alarms]\naudio_pause_s = 60\nbreakthrough = "any"\nreannounce_s = 0\n'
        "escalate_after_s = { low = 600 }\n"
        "[alarms.delays_s]\nhr_high = 10\n[alarms.latching]\nspo2_low = true\n" + BED
    )
    policy = load_config(write(tmp_path, text)).alarms
    assert policy == AlarmPolicy(
        audio_pause_s=60.0,
        breakthrough="any",
        reannounce_s=None,
        escalate_after_s={Priority.LOW: 600.0, Priority.MEDIUM: 120.0, Priority.HIGH: None},
        delays_s={"hr_high": 10.0},
        latching={"spo2_low": True},
    )


def test_bed_models_override_only_what_it_sets_over_the_global_models(tmp_path):
    text = (
        '[models]\nprecision = "fp16"\nbackends = ["onnxruntime-cpu"]\n'
        + BED
        + "[bed.models]\nenabled = false\n"
        + '[[bed]]\nname = "bed-2"\nport = "/dev/ttyUSB1"\n'
    )
    first, second = load_config(write(tmp_path, text)).beds
    assert first.analysis.models.enabled is False
    assert first.analysis.models.precision == "fp16"
    assert first.analysis.models.backends == ("onnxruntime-cpu",)
    assert second.analysis.models.enabled is True
    assert second.analysis.models.precision == "fp16"


def test_relative_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    fake_artifact(folder / "models" / "st")
    (folder / "logs").mkdir()
    text = (
        '[journal]\npath = "journal.db"\n[sinks]\njsonl = "logs/alarms.jsonl"\n'
        '[runtime]\ncontrol_socket = "vigil.sock"\n'
        + BED
        + '[[bed.detector]]\nname = "st_high"\nartifact = "models/st"\nsource = "ecg:II"\n'
        'output = "score"\nthreshold = 0.5\nlabel = "ST high"\n'
    )
    path = write(folder, text)
    monkeypatch.chdir(tmp_path)  # elsewhere: the file's folder decides, not the cwd
    config = load_config(Path("site") / "vigil.toml")
    assert config.journal.path == folder / "journal.db"
    assert config.sinks.jsonl == folder / "logs" / "alarms.jsonl"
    assert config.runtime.control_socket == folder / "vigil.sock"
    (detector,) = config.beds[0].analysis.custom_detectors
    assert detector.artifact == folder / "models" / "st"
    assert (detector.priority, detector.compare, detector.fields) == ("low", "above", ())
    assert config.path == path


def test_a_shipped_artifact_can_be_named_and_a_detector_kind_used_in_alarms(tmp_path):
    fake_artifact(tmp_path / "trend")
    text = (
        f'[models]\necg_beat = "{shipped_artifact("ecg_beat")}"\n'
        "[alarms.delays_s]\nspo2_trend = 30\n"
        + BED
        + '[[bed.detector]]\nname = "spo2_trend"\nartifact = "trend"\nsource = "numerics"\n'
        'fields = ["spo2", "hr"]\noutput = "risk"\nthreshold = 0.9\nlabel = "SpO2 trend"\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.beds[0].analysis.models.ecg_beat == shipped_artifact("ecg_beat")
    assert config.alarms.delays_s == {"spo2_trend": 30.0}
    assert config.beds[0].analysis.custom_detectors[0].fields == ("spo2", "hr")


# -- every class of error names the file and the key -----------------------------------------


def test_unknown_key_is_an_error_with_a_suggestion(tmp_path):
    message = error_of(BED + "[bed.arrhythmia]\nasystol_s = 5\n", tmp_path)
    assert message.endswith(
        'unknown key "asystol_s" in bed[0].arrhythmia (did you mean "asystole_s"?)'
    )


def test_unknown_section_and_unknown_numeric_are_errors(tmp_path):
    assert 'unknown key "runtim" at the top level (did you mean "runtime"?)' in error_of(
        "[runtim]\n" + BED, tmp_path
    )
    assert 'unknown key "spo" in bed[0].limits (did you mean "spo2"?)' in error_of(
        BED + "[bed.limits.spo]\nlow = 88\n", tmp_path
    )


def test_wrong_type_names_the_key_and_the_value(tmp_path):
    message = error_of(BED + '[bed.limits.spo2]\nlow = "ninety"\n', tmp_path)
    assert ': bed[0].limits.spo2.low: expected a number (50-100 %) or "off", got "ninety"' in (
        message
    )
    assert "runtime.queue_records: expected a whole number" in error_of(
        "[runtime]\nqueue_records = 4096.5\n" + BED, tmp_path
    )
    assert "bed[0].fusion: expected true or false, got 1" in error_of(
        BED + "fusion = 1\n", tmp_path
    )


def test_out_of_range_names_the_unit(tmp_path):
    assert "bed[0].arrhythmia.asystole_s: 12 s is outside 3-10 s" in error_of(
        BED + "[bed.arrhythmia]\nasystole_s = 12\n", tmp_path
    )
    assert "bed[0].limits.temp.high: 50 °C is outside 25-45 °C" in error_of(
        BED + "[bed.limits.temp]\nhigh = 50\n", tmp_path
    )
    assert "runtime.queue_records: 10 records is outside 64-1048576 records" in error_of(
        "[runtime]\nqueue_records = 10\n" + BED, tmp_path
    )


def test_low_must_be_below_high_after_merging_with_the_defaults(tmp_path):
    message = error_of(BED + "[bed.limits.hr]\nlow = 130\n", tmp_path)
    assert message.endswith("bed[0].limits.hr: low (130 /min) must be below high (120 /min)")


def test_duplicate_port_is_refused(tmp_path):
    text = BED + '[[bed]]\nname = "bed-2"\nport = "/dev/ttyUSB0"\n'
    assert error_of(text, tmp_path).endswith('bed[1].port: duplicate of bed[0].port "/dev/ttyUSB0"')


def test_the_same_device_through_a_link_is_a_duplicate_port(tmp_path):
    device = tmp_path / "ttyUSB0"
    device.touch()
    link = tmp_path / "by-id-link"
    link.symlink_to(device)
    text = f'[[bed]]\nname = "a"\nport = "{device}"\n[[bed]]\nname = "b"\nport = "{link}"\n'
    message = error_of(text, tmp_path)
    assert f'bed[1].port: duplicate of bed[0].port "{device}" (both are {device})' in message


def test_duplicate_bed_name_is_refused(tmp_path):
    text = BED + '[[bed]]\nname = "bed-1"\nport = "/dev/ttyUSB1"\n'
    assert error_of(text, tmp_path).endswith('bed[1].name: duplicate of bed[0].name "bed-1"')


def test_no_bed_is_an_error(tmp_path):
    assert "vigil.toml: no [[bed]]" in error_of('[runtime]\nlog_level = "debug"\n', tmp_path)
    assert "vigil.toml: no [[bed]]" in error_of("", tmp_path)


def test_a_bed_without_a_port_is_an_error(tmp_path):
    assert 'bed[0]: missing key "port"' in error_of('[[bed]]\nname = "bed-1"\n', tmp_path)


def test_toml_syntax_error_names_line_and_column(tmp_path):
    message = error_of("[runtime]\nqueue_records = \n" + BED, tmp_path)
    assert "not valid TOML" in message
    assert "line 2, column" in message


@pytest.mark.parametrize("kind", sorted(NEVER_DELAYED))
def test_a_delay_for_asystole_vf_vt_or_apnea_is_refused(tmp_path, kind):
    message = error_of(f"[alarms.delays_s]\n{kind} = 2\n" + BED, tmp_path)
    assert f"alarms.delays_s.{kind}: {kind} is never delayed (CLINICAL.md" in message


def test_alarm_keys_must_be_condition_kinds_and_technical_alarms_never_latch(tmp_path):
    assert 'unknown condition kind "spo2_lo" in alarms.delays_s (did you mean "spo2_low"?)' in (
        error_of("[alarms.delays_s]\nspo2_lo = 5\n" + BED, tmp_path)
    )
    assert "alarms.latching.leads_off: leads_off is a technical alarm" in error_of(
        "[alarms.latching]\nleads_off = true\n" + BED, tmp_path
    )


def test_audio_pause_cannot_exceed_its_maximum(tmp_path):
    assert "alarms.audio_pause_s: 400 s is longer than max_audio_pause_s (300 s)" in error_of(
        "[alarms]\naudio_pause_s = 400\n" + BED, tmp_path
    )


def test_missing_detector_artifact_is_named(tmp_path):
    text = (
        BED + '[[bed.detector]]\nname = "st_high"\nartifact = "models/st"\nsource = "ecg:II"\n'
        'output = "score"\nthreshold = 0.5\nlabel = "ST high"\n'
    )
    message = error_of(text, tmp_path)
    assert f"bed[0].detector[0].artifact: {tmp_path / 'models' / 'st'} does not exist" in message


def test_detector_name_source_and_fields_are_checked(tmp_path):
    fake_artifact(tmp_path / "m")
    detector = '[[bed.detector]]\nartifact = "m"\noutput = "y"\nthreshold = 1\nlabel = "x"\n'
    cases = {
        'name = "asystole"\nsource = "numerics"\nfields = ["hr"]\n': (
            'bed[0].detector[0].name: "asystole" is already a condition kind'
        ),
        'name = "d"\nsource = "ecg:V7"\n': 'bed[0].detector[0].source: "ecg:V7": no ECG lead',
        'name = "d"\nsource = "numerics"\n': "bed[0].detector[0].fields: a numerics detector",
        'name = "d"\nsource = "numerics"\nfields = ["sp02"]\n': '"sp02" is not one of',
        'name = "Bad Name"\nsource = "numerics"\n': 'bed[0].detector[0].name: "Bad Name"',
    }
    for lines, expected in cases.items():
        assert expected in error_of(BED + detector + lines, tmp_path)


def test_port_urls_must_use_a_scheme_pyserial_knows(tmp_path):
    assert 'bed[0].port: "tcp://host:1": pyserial knows no URL scheme "tcp"' in error_of(
        '[[bed]]\nname = "a"\nport = "tcp://host:1"\n', tmp_path
    )
    assert 'bed[0].port: "socket://host" is not a valid socket:// URL' in error_of(
        '[[bed]]\nname = "a"\nport = "socket://host"\n', tmp_path
    )
    ok = '[[bed]]\nname = "a"\nport = "rfc2217://10.0.0.5:4001"\n'
    assert load_config(write(tmp_path, ok)).beds[0].port == "rfc2217://10.0.0.5:4001"


def test_a_single_bed_table_instead_of_an_array_is_explained(tmp_path):
    message = error_of('[bed]\nname = "a"\nport = "/dev/ttyUSB0"\n', tmp_path)
    assert message.endswith("bed: expected [[bed]] (an array of tables), got [bed]")


def test_unreadable_file_is_a_config_error_naming_it(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=re.escape(f"{missing}: no such file")):
        load_config(missing)


def test_parse_config_names_the_given_path_or_a_placeholder():
    with pytest.raises(ConfigError, match=r"^<config>: no \[\[bed\]\]"):
        parse_config("")
    with pytest.raises(ConfigError, match=r"^/etc/vigil\.toml: no \[\[bed\]\]"):
        parse_config("", path=Path("/etc/vigil.toml"))


# -- vigil config check / example ------------------------------------------------------------


def vigil_config(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="vigil")
    config_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.handler(args)


def test_config_check_prints_a_summary_and_exits_0(tmp_path, capsys):
    path = write(tmp_path, BED + '[[bed]]\nname = "bed-2"\nport = "socket://10.0.0.9:7000"\n')
    assert vigil_config("config", "check", str(path)) == 0
    out = capsys.readouterr().out
    assert f"{path} is valid: 2 beds" in out
    assert "bed-1 on /dev/ttyUSB0 at 115200 baud; bed-2 on socket://10.0.0.9:7000" in out
    assert f"journal {tmp_path / 'vigil-journal.db'}" in out


def test_config_check_prints_the_error_and_exits_2(tmp_path, capsys):
    path = write(tmp_path, BED + "[bed.arrhythmia]\nasystol_s = 5\n")
    assert vigil_config("config", "check", str(path)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f'vigil: error: {path}: unknown key "asystol_s"')


def test_config_example_prints_a_file_that_checks(tmp_path, capsys):
    assert vigil_config("config", "example") == 0
    path = write(tmp_path, capsys.readouterr().out)
    assert vigil_config("config", "check", str(path)) == 0
    assert "is valid: 1 bed (bed-1 on /dev/ttyUSB0" in capsys.readouterr().out


def test_bed_config_takes_its_name_into_the_analysis_settings():
    bed = BedConfig(name="icu-3", port="/dev/ttyACM0", analysis=AnalysisSettings(bed="other"))
    assert bed.analysis.bed == "icu-3"
    assert os.fspath(RuntimeSettings().control_socket) == os.fspath(default_control_socket())


def test_config_in_folder_is_what_a_file_naming_only_the_beds_gives(tmp_path):
    from vigil.runtime.config import config_in_folder

    text = (
        f'[runtime]\ncontrol_socket = "{tmp_path / "control.sock"}"\n'
        f'[journal]\npath = "{tmp_path / "journal.db"}"\n'
        '[[bed]]\nname = "bed-1"\nport = "/dev/ttyUSB0"\n'
    )
    from_file = parse_config(text, base_dir=tmp_path)
    built = config_in_folder(tmp_path, [("bed-1", "/dev/ttyUSB0")])
    assert built.runtime == from_file.runtime
    assert built.journal == from_file.journal
    assert built.alarms == from_file.alarms
    assert built.sinks == from_file.sinks
    assert built.beds == from_file.beds
