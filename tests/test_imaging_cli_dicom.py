"""`vigil ultrasound` on a compressed DICOM cine, as the issue's "done" asks: phantom frames
written as an RLE Lossless multi-frame file with an ultrasound region (spacing in cm), read
back through the real source, segmented by the shipped U-Net, with overlay, JSON and summary."""

from __future__ import annotations

import json

import numpy as np
import pytest
from imaging_files import us_region, write_dicom

from vigil.cli import main
from vigil.runtime.imaging.sources.phantom import PhantomSource

pytest.importorskip("pydicom")
pytest.importorskip("cv2")


def test_vigil_ultrasound_reads_a_compressed_dicom_cine_and_reports_areas_in_cm2(tmp_path, capsys):
    frames = np.stack(
        [f.image for _, f in zip(range(12), PhantomSource(7, paced=False).frames(), strict=False)]
    )
    cine = write_dicom(
        tmp_path / "cine.dcm",
        frames,
        frame_time_ms=50.0,
        regions=[us_region((0, 0, 255, 255), 0.02, 0.02)],  # 0.2 mm pixels: 256 px = 5.1 cm
        compress_to="1.2.840.10008.1.2.5",  # RLE Lossless
    )
    overlay, jsonl = tmp_path / "overlay.avi", tmp_path / "frames.jsonl"
    code = main(
        [
            "ultrasound",
            "--source",
            str(cine),
            "--as-fast-as-possible",
            "--threads",
            "1",
            "--min-area-cm2",
            "0.3",
            "--save-overlay",
            str(overlay),
            "--json",
            str(jsonl),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "read 12, processed 12, skipped 0" in out
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    regions = [r for line in lines if line.get("type") == "frame" for r in line["regions"]]
    assert regions
    for r in regions:  # every area in cm², and the same area as its pixels say
        assert r["area_unit"] == "cm2"
        assert r["area"] == pytest.approx(r["area_px"] * 0.02 * 0.02, rel=1e-3)
    assert any("us_anechoic_region" in json.dumps(line) for line in lines)
    import cv2

    cap = cv2.VideoCapture(str(overlay))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
