"""The LSTM autoencoder (torch): windows in, reconstruction and anomaly score out.

An encoder LSTM reads the 30 bins and its last hidden state is squeezed through a small
tanh bottleneck; a decoder LSTM unrolls that code back into 30 bins. The bottleneck is what
makes it a detector: trained on normal windows only, it can only reproduce the shapes and
levels of normal physiology, so a window outside them (HR 120 with systolic 80) comes back
wrong and its reconstruction error is large.

The score is computed in the graph, so every backend returns the number the threshold was
calibrated on: the squared error averaged over vitals per bin, then averaged over the
`STEPS - TRIM_BINS` best-reconstructed bins. Dropping the worst 6 bins (60 s) makes the score
measure a sustained departure from normal physiology, not a transient one: a talking spell,
an SpO2 motion artefact or an arterial-line flush lasts under a minute, a deterioration
shifts the whole window. `scoring.score_from_reconstruction` is the same rule in numpy.
"""

from __future__ import annotations

import torch
from torch import nn

from vigil.models.vitals_ae.preprocess import FEATURES, STEPS
from vigil.models.vitals_ae.scoring import TRIM_BINS


class VitalsAutoencoder(nn.Module):
    def __init__(
        self, features: int = len(FEATURES), steps: int = STEPS, hidden: int = 32, latent: int = 4
    ) -> None:
        super().__init__()
        self.steps = steps
        self.encoder = nn.LSTM(features, hidden, batch_first=True)
        self.to_code = nn.Linear(hidden, latent)
        self.from_code = nn.Linear(latent, hidden)
        self.decoder = nn.LSTM(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, features)

    def forward(self, vitals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """vitals (N, T, F) normalised -> (reconstruction (N, T, F), score (N,))."""
        _, (h, _) = self.encoder(vitals)
        code = torch.tanh(self.to_code(h[-1]))
        seed = self.from_code(code).unsqueeze(1).expand(-1, self.steps, -1)
        out, _ = self.decoder(seed)
        reconstruction = self.head(out)
        per_bin = (reconstruction - vitals).pow(2).mean(dim=2)
        kept = torch.topk(per_bin, self.steps - TRIM_BINS, dim=1, largest=False).values
        return reconstruction, kept.mean(dim=1)


def build() -> VitalsAutoencoder:
    return VitalsAutoencoder()
