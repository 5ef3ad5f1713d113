"""Training: k-fold and split training, callbacks, evaluation and run directories."""

from nnforge.training.callbacks import (
    Callback,
    CallbackList,
    EpochLogger,
    LambdaCallback,
    ProgressBar,
    TrainInfo,
)
from nnforge.training.evaluation import EpochMetrics, Evaluation, FoldResult
from nnforge.training.run import Run, save_run
from nnforge.training.splits import split_rows
from nnforge.training.trainers import Trainer, check_data, train

__all__ = [
    "Callback",
    "CallbackList",
    "EpochLogger",
    "EpochMetrics",
    "Evaluation",
    "FoldResult",
    "LambdaCallback",
    "ProgressBar",
    "Run",
    "TrainInfo",
    "Trainer",
    "check_data",
    "save_run",
    "split_rows",
    "train",
]
