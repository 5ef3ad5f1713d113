"""``nnforge xor``: the seed's first experiment, learning XOR with a 2-3-1 tanh network."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nnforge.cli._common import (
    add_command,
    check_output_file,
    is_figure_file,
    positive_int,
)
from nnforge.demos import XOR_X, XOR_Y, train_xor, xor_surface
from nnforge.nn import Network

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``xor`` subcommand."""
    parser = add_command(
        subparsers,
        "xor",
        help="learn XOR with the seed's 2-3-1 tanh network (SGD, MSE)",
        description=(
            "Train the seed's 2-3-1 tanh network on the four XOR cases with SGD and MSE, print "
            "the loss every N epochs and the final predictions."
        ),
        examples=["nnforge xor --epochs 2000 --lr 0.5 --plot xor.png"],
    )
    parser.add_argument("--epochs", type=int, default=1000, help="epochs (default: 1000)")
    parser.add_argument("--lr", type=float, default=0.5, help="learning rate (default: 0.5)")
    parser.add_argument(
        "--decay",
        type=float,
        default=0.0,
        metavar="RATE",
        help="inverse time decay per epoch: lr / (1 + RATE * epoch) (default: 0, off)",
    )
    parser.add_argument(
        "--dropout",
        type=float,
        default=0.0,
        metavar="P",
        help="dropout rate on the hidden layer's output (default: 0, off)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=4,
        choices=(1, 2, 4),
        help="cases per update; 4 is full batch (default: 4)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--every", type=positive_int, default=100, metavar="N", help="print the loss every N epochs"
    )
    parser.add_argument(
        "--plot",
        metavar="PATH.png",
        help="also draw the prediction surface over [0, 1]² to this PNG file, and the seed's "
        "figures 4 and 5 (loss with learning rate decay, with dropout; 10 seeds each) beside it "
        "as PATH_decay.png and PATH_dropout.png",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train and report; returns the exit code."""
    if args.plot:
        for path in (args.plot, *_setting_paths(Path(args.plot)).values()):
            check_output_file(path, "--plot", is_ours=is_figure_file)
    print(
        f"XOR: 2-3-1 tanh, MSE, SGD lr={args.lr} decay={args.decay} dropout={args.dropout} "
        f"batch={args.batch_size} seed={args.seed}"
    )

    def report(epoch: int, losses: np.ndarray) -> None:
        if epoch % args.every == 0 or epoch == 1 or epoch == args.epochs:
            print(f"epoch {epoch:>6}  loss {losses[0]:.6f}")

    result = train_xor(
        epochs=args.epochs,
        learning_rate=args.lr,
        decay=args.decay,
        dropout=args.dropout,
        batch_size=args.batch_size,
        seed=args.seed,
        callback=report,
    )
    print("predictions:")
    for (a, b), (target,), (pred,) in zip(XOR_X, XOR_Y, result.predictions[0], strict=True):
        print(f"  {int(a)} xor {int(b)} = {int(target)}   predicted {pred:+.4f}")
    print(f"final MSE {result.mse[0]:.6f}")
    if args.plot:
        print(f"surface plot: {_plot_surface(result.network, args.plot)}")
        for path in _plot_settings(args):
            print(f"loss curves: {path}")
    return 0


# The seed's figures 4 (decay rates) and 5 (dropout rates): settings compared on the same seeds.
_DECAYS = (0.0, 0.001, 0.01)
_DROPOUTS = (0.0, 0.1, 0.25)
_SEEDS = 10


def _plot_settings(args: argparse.Namespace) -> list[Path]:
    """Loss curves of XOR with several decay rates and dropout rates (mean of 10 seeds)."""
    from nnforge import plots

    base = Path(args.plot)
    common = {
        "epochs": args.epochs,
        "learning_rate": args.lr,
        "batch_size": args.batch_size,
        "replicas": _SEEDS,
        "seed": args.seed,
    }
    figures = {
        "decay": plots.loss_comparison(
            {
                f"decay {d:g}": train_xor(decay=d, dropout=args.dropout, **common).loss_history
                for d in sorted({*_DECAYS, args.decay})
            },
            title="XOR: learning rate decay (the seed's figure 4)",
            ylabel="training loss (MSE)",
        ),
        "dropout": plots.loss_comparison(
            {
                f"dropout {p:g}": train_xor(decay=args.decay, dropout=p, **common).loss_history
                for p in sorted({*_DROPOUTS, args.dropout})
            },
            title="XOR: dropout on the hidden layer (the seed's figure 5)",
            ylabel="training loss (MSE)",
        ),
    }
    paths = _setting_paths(base)
    return [plots.save_figure(fig, paths[name]) for name, fig in figures.items()]


def _setting_paths(base: Path) -> dict[str, Path]:
    """``xor_decay.png`` and ``xor_dropout.png`` beside ``xor.png``."""
    return {
        name: base.with_name(f"{base.stem}_{name}{base.suffix or '.png'}")
        for name in ("decay", "dropout")
    }


def _plot_surface(network: Network, path: str) -> Path:
    """Draw the network's prediction over [0, 1]² to ``path`` (PNG)."""
    from nnforge import plots

    a, b, z = xor_surface(network, resolution=101)
    fig = plots.xor_surface(a, b, z[0])
    return plots.save_figure(fig, path)
