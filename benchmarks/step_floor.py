"""How far the engine's training step is from NumPy's floor on this machine (issue 10).

The tuned King County spec trains 8 folds x 500 epochs x 148 batches; with one worker per core,
each of two workers runs 74,000 steps of ``R = 4`` replicas. This script times, on the spec's
own network (built from the packaged spec and data), one BLAS thread per process:

* ``engine``: ``Network.train_step`` on random batches (what a worker runs, less gathering and
  validation);
* ``matmul``: only the step's matrix products, the same calls the engine makes (forward,
  weight gradients, input gradients) -- what any NumPy/BLAS engine of this network must run;
* ``relu``: the activations' ``max(z, 0)`` and ``g * (a > 0)``, one pass each per layer;
* ``adam``: the optimizer's 14 passes over the parameters (Adam with L2).

each alone and with ``--processes`` copies at once (the demo's workers share the machine that
way), and the seconds each costs for the spec's steps per worker. The parts' sum is a floor for
any engine built on NumPy calls: if it exceeds a wall-time target, the target is out of reach
on this machine whatever the Python around the calls. Run from the repository root::

    python benchmarks/step_floor.py [--steps 2000] [--rounds 5] [--processes 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _machine import machine

PARTS = ("engine", "matmul", "relu", "adam")


def _spec():
    """The packaged tuned spec, its number of inputs and of rows on the packaged data."""
    from nnforge.data import Pipeline, derive
    from nnforge.datasets import king_county
    from nnforge.demos import example_spec
    from nnforge.model import Model

    model = Model.from_json_file(example_spec("king-county"))
    frame = derive(model.dataset, king_county())
    return model, len(Pipeline(model.dataset).fit(frame).input_features_), frame.height


def _network(replicas: int):
    """The tuned spec's network for the packaged King County data, and the spec."""
    model, n_inputs, _ = _spec()
    return model, model.build_network(n_inputs, seeds=list(range(replicas)))


def _parts(net) -> dict[str, Callable[[], object]]:
    """One call per part, on buffers shaped like the engine's for one batch."""
    R, B, f32 = net.replicas, 128, net.dtype
    rng = np.random.default_rng(0)
    x = rng.standard_normal((R, B, net.n_inputs)).astype(f32)
    y = rng.standard_normal((R, B, net.n_outputs)).astype(f32)
    ws = [layer.weights for layer in net.layers]
    xs = [np.ones((R, B, w.shape[1]), f32) for w in ws]  # augmented inputs
    zs = [np.empty((R, B, w.shape[2]), f32) for w in ws]
    gw = [np.empty_like(w) for w in ws]
    dx = [np.empty((R, B, w.shape[1] - 1), f32) for w in ws]
    wt = [np.ascontiguousarray(w[:, :-1].transpose(0, 2, 1)) for w in ws]
    last = len(ws) - 1

    def matmul() -> None:
        for i in range(last + 1):
            np.matmul(xs[i], ws[i], out=zs[i])
        for i in range(last, -1, -1):
            np.matmul(xs[i].transpose(0, 2, 1), zs[i], out=gw[i])
            if i == last and ws[i].shape[2] == 1:  # the engine's outer product for one unit
                np.multiply(zs[i], ws[i][:, :-1].transpose(0, 2, 1), out=dx[i])
            elif i > 0:
                np.matmul(zs[i], wt[i], out=dx[i])

    acts = [rng.standard_normal(a.shape).astype(f32) for a in xs[1:]]
    grads = [rng.standard_normal(a.shape).astype(f32) for a in xs[1:]]
    zeros = np.zeros_like(acts[0])

    def relu() -> None:
        for a, g in zip(acts, grads, strict=True):
            np.maximum(a, zeros, out=a)
            np.multiply(g, a > 0, out=g)

    p = net.params.copy()
    g = rng.standard_normal(p.size).astype(f32) * np.float32(1e-3)
    m, v, tmp, decay = np.zeros_like(p), np.zeros_like(p), np.empty_like(p), np.full_like(p, 1e-5)

    def adam() -> None:  # nnforge.nn.Adam's passes, with its L2 term
        np.multiply(p, decay, out=tmp)
        np.add(g, tmp, out=g)
        np.subtract(g, m, out=tmp)
        np.multiply(tmp, 0.1, out=tmp)
        np.add(m, tmp, out=m)
        np.multiply(g, g, out=tmp)
        np.subtract(tmp, v, out=tmp)
        np.multiply(tmp, 0.001, out=tmp)
        np.add(v, tmp, out=v)
        np.sqrt(v, out=tmp)
        np.add(tmp, 1e-7, out=tmp)
        np.divide(m, tmp, out=tmp)
        np.multiply(tmp, 1e-4, out=tmp)
        np.subtract(p, tmp, out=p)

    return {"engine": lambda: net.train_step(x, y), "matmul": matmul, "relu": relu, "adam": adam}


def _worker(conn, replicas: int) -> None:
    """Build the parts once, then time the part each message names (best of three rounds)."""
    from threadpoolctl import threadpool_limits

    from nnforge.nn.fpmode import flush_denormals

    threadpool_limits(1)
    _, net = _network(replicas)
    parts = _parts(net)
    with flush_denormals():
        for call in parts.values():  # warm up
            for _ in range(200):
                call()
        conn.send("ready")
        while (msg := conn.recv()) is not None:
            part, steps = msg
            call, best = parts[part], float("inf")
            for _ in range(3):
                start = time.perf_counter()
                for _ in range(steps):
                    call()
                best = min(best, (time.perf_counter() - start) / steps)
            conn.send(best)


class _Workers:
    """``n`` spawned processes (fresh interpreters, like the demo's workers) that time parts."""

    def __init__(self, n: int, replicas: int) -> None:
        ctx = mp.get_context("spawn")
        pipes = [ctx.Pipe() for _ in range(n)]
        self.conns = [parent for parent, _ in pipes]
        self.procs = [ctx.Process(target=_worker, args=(c, replicas)) for _, c in pipes]
        for proc in self.procs:
            proc.start()
        for conn in self.conns:
            conn.recv()

    def time(self, part: str, steps: int, n: int) -> list[float]:
        """Seconds per call of ``part`` in the first ``n`` workers, timed at the same time."""
        for conn in self.conns[:n]:
            conn.send((part, steps))
        return [conn.recv() for conn in self.conns[:n]]

    def close(self) -> None:
        for conn in self.conns:
            conn.send(None)
        for proc in self.procs:
            proc.join()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="calls per timing round")
    parser.add_argument("--processes", type=int, default=2, help="simultaneous copies")
    parser.add_argument("--rounds", type=int, default=5, help="best of this many rounds")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    model, _, rows = _spec()
    folds = model.trainer.k
    replicas = -(-folds // args.processes)
    batches = -(-(folds - 1) * rows // folds // model.batch_size)  # the largest fold's
    spec_steps = model.epochs * batches
    info = machine()
    print(f"{info['cpu']} | {info['cpus']} CPUs | BLAS {', '.join(info.get('blas', []))}")
    print(
        f"tuned King County spec: {folds} folds x {model.epochs} epochs x {batches} batches; "
        f"{args.processes} workers of R = {replicas}: {spec_steps:,} steps each\n"
    )
    print(f"{'part':8} {'alone µs':>9} {'s/worker':>9} {'together µs':>12} {'s/worker':>9}")
    workers = _Workers(args.processes, replicas)
    alone = {p: float("inf") for p in PARTS}
    together = dict(alone)
    try:  # rounds alternate the parts, so that a noisy minute hits them all alike
        for _ in range(args.rounds):
            for part in PARTS:
                alone[part] = min(alone[part], workers.time(part, args.steps, 1)[0])
                slowest = max(workers.time(part, args.steps, args.processes))
                together[part] = min(together[part], slowest)
    finally:
        workers.close()
    results = {p: {"alone_s": alone[p], "together_s": together[p]} for p in PARTS}
    for part in PARTS:
        a, t = alone[part], together[part]
        print(
            f"{part:8} {a * 1e6:9.0f} {a * spec_steps:9.1f} {t * 1e6:12.0f} {t * spec_steps:9.1f}"
        )
    floor = {k: sum(results[p][k] for p in PARTS[1:]) for k in ("alone_s", "together_s")}
    print(
        f"{'floor':8} {floor['alone_s'] * 1e6:9.0f} {floor['alone_s'] * spec_steps:9.1f} "
        f"{floor['together_s'] * 1e6:12.0f} {floor['together_s'] * spec_steps:9.1f}"
    )
    engine = results["engine"]
    print(
        f"\nengine / floor: {engine['alone_s'] / floor['alone_s']:.2f} alone, "
        f"{engine['together_s'] / floor['together_s']:.2f} together"
    )
    if args.json:
        payload = {"machine": info, "spec_steps_per_worker": spec_steps, "replicas": replicas}
        payload.update(parts=results, floor=floor)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
