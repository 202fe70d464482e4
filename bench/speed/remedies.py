"""`rnnbench perf` part 2, remedy paths: every remedy path of the models (rows from bench.speed.models) against
the fused kernel of the same cell, forward + backward; the vanilla recurrence's own backward and the one-call
recurrence against the fused kernel (what models.layer.RECURRENCE_PAYS is decided from); and on a GPU the
recurrence replayed from CUDA graphs against the eager one (models.graphed.GRAPH_DEVICES)."""

from __future__ import annotations

import dataclasses
import time

import torch

from rnnbench.bench.speed import models as sm  # its path list and sizes, read at call time (a test shrinks them)
from rnnbench.bench.speed.timing import Row, fwd_bwd, fwd_bwd_row, sync
from rnnbench.models import ModelConfig, SequenceModel, graphed
from rnnbench.tasks import TASKS


def adding_batch(device: str):
    """The part-2 rows' data: the adding task's spec and one batch of bench.speed.models' size (B, T) on `device`."""
    task = TASKS.get("adding")(seq_len=sm.T, train_size=sm.B, val_size=1, test_size=1)
    x, y = (t.to(device) for t in task.make_split("train", 0))
    return task.spec(), x, y


def remedy_paths(quick: bool, device: str = "cpu") -> list[Row]:
    spec, x, y = adding_batch(device)
    target = "<= 1.2" if device == "cpu" else "info"  # the target is a CPU one
    rows = []
    for label, config, loop, base_config, extra in sm.rows(forced_loops=False):
        if extra or (quick and "init=" in label):  # reference rows: timed against each temporal row below
            continue
        torch.manual_seed(0)
        wide = dataclasses.replace(spec, input_dim=spec.input_dim + extra)
        x_wide = torch.cat([x, torch.rand(sm.B, sm.T, extra, device=device)], 2)  # (B, T, 2 + extra)
        model, base = SequenceModel(wide, config).to(device), SequenceModel(spec, base_config).to(device)
        path = model.path(device, loop)
        rows.append(fwd_bwd_row(f"{label} ({path}) / fused {base_config.cell}",
                                lambda: fwd_bwd(model, x_wide, loop, y), lambda: fwd_bwd(base, x, False, y),
                                device, target))
        if config.skip == "temporal":  # W_s h_{t-k} is H more input columns: against the fused kernel doing that work
            ref_spec = dataclasses.replace(spec, input_dim=spec.input_dim + sm.H)
            x_ref = torch.cat([x, torch.rand(sm.B, sm.T, sm.H, device=device)], 2)
            ref = SequenceModel(ref_spec, dataclasses.replace(base_config, num_layers=config.num_layers)).to(device)
            rows.append(fwd_bwd_row(f"{label} ({path}) / fused {base_config.cell}, same work (input +H)",
                                    lambda: fwd_bwd(model, x, loop, y), lambda: fwd_bwd(ref, x_ref, False, y),
                                    device, target))
    rows += recurrence_backward(x, y, spec, device)
    return rows


def recurrence_backward(x, y, spec, device: str) -> list[Row]:
    """The vanilla RNN's loop as one autograd node with a hand-written backward (models.cells.VanillaRecurrence)
    against autograd through the per-step loop (the probe's path), 1 layer; the vanilla
    RNN's and the GRU's recurrences against the fused kernel (one call, or ceil(T/k) with a temporal skip)."""
    torch.manual_seed(0)
    model = SequenceModel(spec, ModelConfig(cell="rnn", activation="leaky_relu", hidden_size=sm.H)).to(device)

    def autograd_loop():
        sync(device)
        start = time.perf_counter()
        ((model.hidden_states(x)[1] - y) ** 2).mean().backward()
        sync(device)
        return time.perf_counter() - start

    rows = [fwd_bwd_row("rnn leaky_relu: loop with its own backward / autograd through the loop",
                        lambda: fwd_bwd(model, x, True, y), autograd_loop, device)]
    # what models.layer.RECURRENCE_PAYS is decided from, per device type and cell
    for cell, activation, skip in (("rnn", "tanh", "temporal"), ("rnn", "relu", "temporal"), ("gru", "tanh", "none"),
                                   ("gru", "tanh", "temporal")):
        torch.manual_seed(0)
        config = ModelConfig(cell=cell, activation=activation, hidden_size=sm.H, skip=skip)
        model = SequenceModel(spec, config).to(device)
        label = f"{cell} {activation} temporal: one-call recurrence / chunked" if skip == "temporal" else \
            f"{cell}: one-call recurrence / one call of the"
        rows.append(fwd_bwd_row(f"{label} fused kernel", lambda: fwd_bwd(model, x, True, y),
                                lambda: fwd_bwd(model, x, False, y), device,
                                note=f"; taken here: {model.path(device)}"))
    return rows


def graphed_recurrence(quick: bool, device: str = "cuda") -> list[Row]:
    """The recurrence replayed from CUDA graphs (models.graphed) against the eager one, and against the chunked
    cuDNN calls of the temporal skip: what decides GRAPH_DEVICES and RECURRENCE_PAYS on a GPU. A measurement of
    its own: the newest GPU code, so that an error here costs only these rows."""
    spec, x, y = adding_batch(device)

    def timed(model, loop: bool, graphs: bool):
        def run():
            saved, graphed.GRAPH_DEVICES = graphed.GRAPH_DEVICES, {"cuda"} if graphs else set()
            try:
                return fwd_bwd(model, x, loop, y)
            finally:
                graphed.GRAPH_DEVICES = saved
        return run

    rows = []
    for activation, skip in (("leaky_relu", "none"), ("tanh", "temporal")):
        torch.manual_seed(0)
        config = ModelConfig(cell="rnn", activation=activation, hidden_size=sm.H, num_layers=2, skip=skip)
        model = SequenceModel(spec, config).to(device)
        label = f"rnn {activation}{' temporal' if skip != 'none' else ''}, 2 layers"
        rows.append(fwd_bwd_row(f"{label}: graphed recurrence / eager recurrence", timed(model, True, True),
                                timed(model, True, False), device))
        if skip == "temporal":
            rows.append(fwd_bwd_row(f"{label}: graphed recurrence / chunked cuDNN calls", timed(model, True, True),
                                    timed(model, False, False), device))
    return rows
