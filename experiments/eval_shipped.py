"""Dice of the shipped weights (models/us_segmenter/weights.safetensors) on the same held-out
frames train_eval.py uses (EVAL_RANGES, seed offset 7,000,001, first N frames)."""

import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
from arch import build
from train_eval import EVAL_SEED_OFFSET, dice

from vigil.models.synthetic.ultrasound import EVAL_RANGES, phantom_batch

n = int(sys.argv[1]) if len(sys.argv) > 1 else 64
torch.set_num_threads(1)
m = build("shipped")
m.load_state_dict(
    load_file(str(Path(__file__).resolve().parents[1] / "models/us_segmenter/weights.safetensors"))
)
m.eval()
im, mk = phantom_batch(EVAL_SEED_OFFSET, n, 256, EVAL_RANGES)
with torch.inference_mode():
    d = dice(lambda x: m(torch.from_numpy(x)).numpy(), im, mk)
    print(f"shipped dice (torch fp32, {n} frames): {d:.4f}")
