"""Training: k-fold and split trainers, callbacks, evaluation and run directories."""

from nnforge.training.callbacks import (
    Callback,
    CallbackList,
    EpochLogger,
    LambdaCallback,
    ProgressBar,
    TrainInfo,
)
from nnforge.training.evaluation import EpochMetrics, Evaluation, FoldResult
from nnforge.training.run import Run, load_run, save_run
from nnforge.training.trainers import KFoldTrainer, RunResult, SplitTrainer, Trainer, train

__all__ = [
    "Callback",
    "CallbackList",
    "EpochLogger",
    "EpochMetrics",
    "Evaluation",
    "FoldResult",
    "KFoldTrainer",
    "LambdaCallback",
    "ProgressBar",
    "Run",
    "RunResult",
    "SplitTrainer",
    "TrainInfo",
    "Trainer",
    "load_run",
    "save_run",
    "train",
]
