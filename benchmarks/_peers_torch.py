"""PyTorch's peers of ``seed_workload.py``: one model per fold (eager or ``torch.compile``), and
all folds in one batched-matmul network as nnforge's replicas are."""

from __future__ import annotations

import numpy as np
from _workload import ADAM, BATCH, HIDDEN, UNITS, padded_orders, stack_padded


def _torch_mlp(torch, n_in: int):
    layers, width = [], n_in
    for units in [UNITS] * HIDDEN + [1]:
        lin = torch.nn.Linear(width, units)
        torch.nn.init.xavier_uniform_(lin.weight)  # Glorot uniform
        torch.nn.init.zeros_(lin.bias)
        layers += [lin, torch.nn.ReLU()]
        width = units
    return torch.nn.Sequential(*layers[:-1])  # linear output


def run_torch(folds, epochs, seed, clock, *, compile_model: bool = False) -> list[np.ndarray]:
    """One PyTorch model per fold, trained sequentially (eager, or torch.compile)."""
    import torch

    preds = []
    for f in folds:
        torch.manual_seed(seed + f.index)
        model = _torch_mlp(torch, f.x_train.shape[1])
        opt = torch.optim.Adam(
            model.parameters(),
            lr=ADAM["lr"],
            betas=(ADAM["beta_1"], ADAM["beta_2"]),
            eps=ADAM["epsilon"],
        )
        forward = torch.compile(model) if compile_model else model
        x, y = torch.from_numpy(f.x_train), torch.from_numpy(f.y_train)
        gen = torch.Generator().manual_seed(seed + 1000 + f.index)
        clock.fold()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), BATCH):
                rows = order[start : start + BATCH]
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.mse_loss(forward(x[rows]), y[rows])
                loss.backward()
                opt.step()
            clock.tick()
        with torch.no_grad():
            preds.append(model(torch.from_numpy(f.x_valid)).numpy())
    return preds


def run_torch_replicas(folds, epochs, seed, clock) -> list[np.ndarray]:
    """PyTorch eager with nnforge's trick: all folds in one batched-matmul (bmm) network."""
    import torch

    R, n_in = len(folds), folds[0].x_train.shape[1]
    torch.manual_seed(seed + folds[0].index)
    params, width = [], n_in
    for units in [UNITS] * HIDDEN + [1]:
        limit = (6.0 / (width + units)) ** 0.5
        w = (torch.rand(R, width, units) * 2 - 1) * limit
        params += [w.requires_grad_(), torch.zeros(R, 1, units, requires_grad=True)]
        width = units
    opt = torch.optim.Adam(
        params, lr=ADAM["lr"], betas=(ADAM["beta_1"], ADAM["beta_2"]), eps=ADAM["epsilon"]
    )

    def forward(x):
        for j in range(0, len(params), 2):
            x = torch.baddbmm(params[j + 1], x, params[j])
            if j + 2 < len(params):
                x = torch.relu(x)
        return x

    x = torch.from_numpy(stack_padded([f.x_train for f in folds]))
    y = torch.from_numpy(stack_padded([f.y_train for f in folds]))
    counts = [len(f.x_train) for f in folds]
    rngs = [np.random.default_rng(seed + 1000 + f.index) for f in folds]
    replica = torch.arange(R)[:, None]
    clock.fold()
    for _ in range(epochs):
        order = torch.from_numpy(padded_orders(rngs, counts, x.shape[1]))
        for start in range(0, x.shape[1], BATCH):
            rows = order[:, start : start + BATCH]
            opt.zero_grad(set_to_none=True)
            # sum of per-replica means: each replica's gradient is its own MSE's gradient
            loss = ((forward(x[replica, rows]) - y[replica, rows]) ** 2).mean(dim=(1, 2)).sum()
            loss.backward()
            opt.step()
        clock.tick()
    with torch.no_grad():
        pred = forward(torch.from_numpy(stack_padded([f.x_valid for f in folds]))).numpy()
    return [pred[r, : len(f.x_valid)] for r, f in enumerate(folds)]
