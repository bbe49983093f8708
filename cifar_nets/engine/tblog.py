"""Live training curves for TensorBoard (config `logging.tensorboard`, off by default).

One event-file folder per run, e.g. logs/tensorboard/notebook/res/n6/seed0, so
`tensorboard --logdir logs/tensorboard` shows every run of the study as it trains. A resumed run
continues its curves: the writer is opened with `purge_step` at the first epoch this process
trains, so the events of an epoch that was logged but not checkpointed before a kill are
dropped and each epoch appears once.
"""
from __future__ import annotations

from pathlib import Path

# history column -> TensorBoard tag
TAGS = {"train_loss": "loss/train", "train_acc": "accuracy/train", "val_acc": "accuracy/val",
        "train_acc_running": "accuracy/train_running", "lr": "lr",
        "images_per_s": "speed/images_per_s"}


def tensorboard_available() -> bool:
    """Whether the tensorboard package can be imported (torch.utils.tensorboard needs it)."""
    try:
        import tensorboard  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


class EpochCurves:
    """Callable for train_run's `on_epoch`: writes one point per curve per finished epoch."""

    def __init__(self, logdir: str | Path):
        self.logdir = Path(logdir)
        self.writer = None

    def __call__(self, row: dict) -> None:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415
            self.logdir.mkdir(parents=True, exist_ok=True)
            self.writer = SummaryWriter(str(self.logdir), purge_step=int(row["epoch"]))
        for column, tag in TAGS.items():
            self.writer.add_scalar(tag, float(row[column]), int(row["epoch"]))
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def read_curves(logdir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every curve of a run folder as (epoch, value) pairs, the way TensorBoard loads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: PLC0415
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
