"""What a caller must know to feed the model: labels, rate, window, lead, normalisation.

Dependency-free on purpose: the package's `REFERENCE` (and so `vigil models`-style listings
and export manifests) reads these without importing numpy's synthesizer or torch.
"""

from __future__ import annotations

LABELS = ("normal", "ventricular", "other")
SOURCE_RATE_HZ = 500  # the monitor's ECG rate (the synthesizer's default)
DECIMATION = 2
SAMPLE_RATE_HZ = SOURCE_RATE_HZ // DECIMATION
WINDOW_SAMPLES = 384  # 1.536 s: the beats before and after a PVC are in view at >= 50/min
R_PEAK_INDEX = WINDOW_SAMPLES // 2  # window = x[r - 192 : r + 192] at 250 Hz
JITTER_SAMPLES = 5  # ±20 ms at 250 Hz: the R-peak error the model is specified (and tested) for
TRAIN_JITTER_SAMPLES = 10  # ±40 ms in training, so accuracy does not fall off a cliff at 21 ms
LEAD = "II"
CLIP_MV = 5.0  # after the median: bounds artefacts and keeps the INT8 input range symmetric
NORMALISATION = {
    "resample": "mean of consecutive sample pairs, 500 Hz -> 250 Hz",
    "subtract": "median of the window",
    "clip_mv": [-CLIP_MV, CLIP_MV],
    "scale": 1.0,
    "units": "mV",
}
