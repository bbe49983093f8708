"""One training run from files to files: what the workflow's train job and `python -m cifar_nets`
both do. Reads the cached arrays and the split, trains (resuming from the checkpoint only when it
was written by this very run: cifar_nets.train.run_identity), writes model.pt, history.csv and
train.json (with the data's checksum and the code's version) atomically, then removes the
checkpoint."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pandas as pd

from .data import DataError, content_sha256, load_cache, load_split
from .evaluate import save_weights
from .io import write_csv, write_json
from .tblog import EpochCurves
from .train import EngineOptions, Recipe, train_run


def train_and_write(*, data: str | Path, split: str | Path, block_type: str, n_blocks: int,
                    seed: int, recipe: Recipe, options: EngineOptions, model: dict,
                    weights: str | Path, history: str | Path, summary: str | Path,
                    checkpoint: str | Path, log: Callable[[str], None],
                    progress: bool | None = None, extra: dict | None = None,
                    tensorboard: str | Path | None = None) -> dict:
    """Train one run and write its outputs; returns the train.json contents.

    `model` is the config's `model` section (widths); `extra` is added to train.json (the
    workflow's device slot); `tensorboard` is the folder for this run's live curves (None: off).
    The checkpoint is removed only once every output is written, so a forced rerun trains from
    scratch and a kill before that resumes.
    """
    t0 = time.time()
    arrays = load_cache(data)
    train_idx, val_idx = load_split(split)
    curves = EpochCurves(tensorboard) if tensorboard else None
    try:
        result = train_run(arrays.x_train, arrays.y_train, train_idx, val_idx,
                           block_type=block_type, n_blocks=n_blocks, seed=seed, recipe=recipe,
                           options=options, n_hidden=model["n_hidden"],
                           n_hidden_fc=model["n_hidden_fc"], checkpoint=checkpoint, log=log,
                           progress=progress, on_epoch=curves)
    finally:
        if curves is not None:
            curves.close()
    facts = dict(result.summary, split_file=str(split), job_wall_seconds=time.time() - t0,
                 **(extra or {}), job_end=time.time())
    save_weights(weights, result.weights, block_type=block_type, n_blocks=n_blocks,
                 n_hidden=model["n_hidden"], n_hidden_fc=model["n_hidden_fc"],
                 dropout=recipe.dropout, mean=recipe.mean, std=recipe.std,
                 which=facts["evaluated_weights"])
    write_csv(history, pd.DataFrame(result.history))
    write_json(summary, facts)
    Path(checkpoint).unlink(missing_ok=True)   # outputs are safe
    log(f"wrote {weights} ({facts['evaluated_weights']})")
    return facts


def check_trained_on(trained: dict, x_train, y_train, data: str | Path,
                     summary: str | Path) -> None:
    """Raise DataError when the run whose train.json (`summary`, read as `trained`) says
    `data_sha256` was trained on other data than the training arrays of `data` now hold: its
    weights would be evaluated and reported as a result of data they never saw. A train.json
    without the checksum (written before it was recorded) is not checked."""
    recorded = trained.get("data_sha256")
    if recorded is None:
        return
    now = content_sha256(x_train, y_train)
    if recorded != now:
        raise DataError(
            f"{summary}: its run was trained on other data (sha256 {recorded[:12]}..) than {data} "
            f"holds now ({now[:12]}..); retrain it (snakemake --forcerun train, or delete that "
            f"train.json)")
