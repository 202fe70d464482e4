"""`rnnbench perf` part 4, data generation: samples/s of each synthetic task's bulk generator against training
samples/s on it (the generator must never be what a run waits for)."""

from __future__ import annotations

import torch

from rnnbench.bench.metrics import task_loss
from rnnbench.bench.optim import make_optimizer
from rnnbench.bench.speed.timing import Row, alternate, clock, summarize
from rnnbench.bench.suite import load_suite
from rnnbench.models import ModelConfig, SequenceModel
from rnnbench.tasks import TASKS
from rnnbench.tasks.base import SyntheticSizes


def data_generation(quick: bool) -> list[Row]:
    suite = load_suite("quick")
    batch, k = suite.budget.batch_size, 10
    rows = []
    for name, params in suite.tasks.items():
        if not issubclass(TASKS.get(name), SyntheticSizes):
            continue
        task = TASKS.get(name).from_params({p: v[0] for p, v in params.items()})
        n = task.train_size
        x, y = task.make_split("train", 0)
        torch.manual_seed(0)
        model = SequenceModel(task.spec(), ModelConfig(**suite.model, cell="rnn"))  # the suite's baseline model
        opt = make_optimizer(model.parameters(), suite.budget)
        loss_fn = task_loss(task.spec())

        def train():
            for i in range(k):
                xb, yb = x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]
                opt.zero_grad()
                loss_fn(model(xb), yb).backward()
                opt.step()

        gen = torch.Generator().manual_seed(0)
        pairs = alternate(lambda: clock(lambda: task.generate(n, gen)) / n, lambda: clock(train) / (k * batch),
                          repeats=5, warmup=1)
        per_gen, per_train, ratio = summarize(pairs)
        rows.append(Row("4 data", f"{name}: generator samples/s / training samples/s", 1 / ratio, ">= 20",
                        f"{1 / per_gen:,.0f} vs {1 / per_train:,.0f} samples/s (rnn H={suite.model['hidden_size']}, "
                        f"{suite.model['num_layers']} layers, B={batch}, seq len {task.spec().seq_len})"))
    return rows
