"""One sequence model for every task; each remedy is an independent option of its config."""

from __future__ import annotations

import torch
from torch import nn

from rnnbench.models.config import ModelConfig, input_size, recurrent_layers
from rnnbench.models.inits import INITS
from rnnbench.tasks.base import TaskSpec


class SequenceModel(nn.Module):
    """Input encoding -> stacked recurrent layers -> a linear readout at the task's scored steps.

    Tokens (long [B, L]) go through an embedding of size `embed_dim`; real values (float
    [B, L, input_dim]) go straight into the first layer, whose input weights are their linear
    projection (as in the IRNN's adding experiments). Outputs: logits [B, S, num_classes] for
    classes, values [B, S] for regression, S = len(spec.scored_steps).
    """

    def __init__(self, spec: TaskSpec, config: ModelConfig):
        super().__init__()
        config.validate()
        config = config.sized_for(spec)  # the hidden size a parameter budget gives this cell and skip
        self.spec, self.config = spec, config
        H = config.hidden_size
        self.embed = nn.Embedding(spec.vocab_size, config.embed_dim or H) if spec.input_kind == "tokens" else None
        self.layers = recurrent_layers(config, input_size(spec, config))
        self.readout = nn.Linear(H, spec.output_dim)
        for layer in self.layers:
            INITS.get(config.init).apply(layer, spec.seq_len)

    def sizes(self) -> dict[str, int]:
        """The hidden size and the parameter counts: the recurrent layers' (what a parameter budget matches) and
        the whole model's (with the embedding and the readout)."""
        return {"hidden_size": self.config.hidden_size,
                "recurrent_params": sum(p.numel() for p in self.layers.parameters()),
                "params": sum(p.numel() for p in self.parameters())}

    @property
    def fused(self) -> bool:
        """Whether the model can run on torch's fused nn.RNN / nn.LSTM / nn.GRU kernels (cuDNN on GPU; with a
        temporal skip, one kernel call per k steps). Which path it does run: path()."""
        return all(layer.fused for layer in self.layers)

    def path(self, device, loop: bool | None = None) -> str:
        """The path forward() takes on `device` (models.layer.route; every layer takes the same one)."""
        return self.layers[0].path(device, loop)

    def forward(self, x: torch.Tensor, loop: bool | None = None) -> torch.Tensor:
        """loop: None takes the path chosen for x's device; True forces the hand-written path, False the fused
        kernel where the activation has one (same parameters, same function; models.layer.route)."""
        h = self.encode(x)  # (B, L, D)
        for layer in self.layers:
            h = layer(h, loop=loop)  # (B, L, H)
        return self.read(h)

    def hidden_states(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Loop path: the top layer's h_1 .. h_L (each [B, H], the tensors the output depends on) and the output."""
        h = self.encode(x)  # (B, L, D)
        for layer in self.layers[:-1]:
            h = layer(h, loop=True)  # (B, L, H)
        hs = []  # filled by the top layer: L x (B, H)
        out = self.read(self.layers[-1](h, steps=hs))
        return hs, out

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x) if self.embed is not None else x  # (B, L, D)

    def read(self, h: torch.Tensor) -> torch.Tensor:
        s = self.spec.scored_steps
        out = self.readout(h[:, s.start : s.stop])  # (B, S, output_dim)
        return out if self.spec.output_kind == "classes" else out.squeeze(-1)  # (B, S, C) | (B, S)
