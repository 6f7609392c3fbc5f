"""Draws docs/figures/scenarios.png: what the shared synthesizer's scenarios look like.

python docs/figures/scenarios.py      (needs matplotlib: pip install -e '.[dev]')
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from vigil.models.synthetic import PatientSimulator

PANELS = [  # scenario, window (s) around its onset
    ("normal", 10, 16),
    ("pvc_rich", 30, 36),
    ("ventricular_tachycardia", 17, 23),
    ("ventricular_fibrillation", 17, 23),
    ("asystole", 17, 23),
    ("leads_off", 17, 23),
]


def main() -> None:
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(11, 2.0 * len(PANELS)), sharey=True)
    for ax, (name, t0, t1) in zip(axes, PANELS, strict=True):
        block = PatientSimulator(name, seed=3).render(Fraction(t0), Fraction(t1))
        t_ecg = (block.ecg_first_index + np.arange(block.ecg.shape[1])) / 500
        t_pleth = (block.pleth_first_index + np.arange(block.pleth.size)) / 125
        t_resp = (block.resp_first_index + np.arange(block.resp.size)) / 62.5
        ax.plot(t_ecg, block.ecg[1], lw=0.7, color="#1f4e9c", label="ECG II (mV)")
        ax.plot(t_pleth, block.pleth - 1.6, lw=0.7, color="#e07b00", label="pleth (au, offset)")
        ax.plot(t_resp, block.resp - 2.7, lw=0.7, color="#2a9d55", label="resp (Ω, offset)")
        for beat in block.beats:
            ax.text(beat.t_s, 1.55, beat.label, fontsize=7, ha="center",
                    color="#d62728" if beat.label == "V" else "black")  # fmt: skip
        ax.set_title(f"{name} (true beat labels above)", fontsize=9, loc="left")
        ax.set_ylim(-3.6, 1.9)
        ax.set_yticks([])
    axes[0].legend(loc="upper right", fontsize=7, ncol=3)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    out = Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=90)
    print(out)


if __name__ == "__main__":
    main()
