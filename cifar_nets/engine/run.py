"""One training run from files to files, the one way to call a training run: a
:class:`~cifar_nets.engine.recipe.RunSpec` (which run) and :class:`OutputPaths` (where its files
go) to :func:`train_and_write`. The workflow's train job (workflow_scripts/train.py), `python -m
cifar_nets` and the tests all call it. It reads the cached arrays and the split, trains
(cifar_nets.engine.train.train_run, resuming from the checkpoint only when it was written by this
very run: cifar_nets.engine.checkpoints.run_identity), writes model.pt, history.csv and
train.json (with the data's checksum and the code's version) atomically, then removes the
checkpoint. :func:`check_trained_on` refuses a run's weights for data it was not trained on;
:func:`check_split_fits` and :func:`check_cache_fits` refuse a split or a cache of other data."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from cifar_nets.data.arrays import DataError, content_sha256, load_cache, load_split
from cifar_nets.engine.checkpoints import save_weights
from cifar_nets.engine.recipe import EngineOptions, RunSpec
from cifar_nets.engine.tblog import EpochCurves
from cifar_nets.engine.train import train_run
from cifar_nets.io import write_csv, write_json


@dataclass(frozen=True)
class OutputPaths:
    """Where one run's files go: the weights (model.pt), history.csv, train.json, the
    resumable checkpoint, and the TensorBoard folder (None: no live curves)."""
    weights: str | Path
    history: str | Path
    summary: str | Path
    checkpoint: str | Path
    tensorboard: str | Path | None = None


def train_and_write(spec: RunSpec, outputs: OutputPaths, *, data: str | Path, split: str | Path,
                    options: EngineOptions, log: Callable[[str], None],
                    progress: bool | None = None, extra: dict | None = None) -> dict:
    """Train the run `spec` on the cached arrays `data` and split `split` with engine `options`,
    write its `outputs`; returns the train.json contents.

    `extra` is added to train.json (the workflow's device slot). The checkpoint is removed only
    once every output is written, so a forced rerun trains from scratch and a kill before that
    resumes. `progress`: a progress bar on stderr (None: when stderr is a terminal).
    """
    t0 = time.time()
    arrays = load_cache(data)
    train_idx, val_idx = load_split(split)
    check_split_fits(train_idx, val_idx, len(arrays.y_train), split, data)
    curves = EpochCurves(outputs.tensorboard) if outputs.tensorboard else None
    try:
        result = train_run(arrays.x_train, arrays.y_train, train_idx, val_idx, spec, options,
                           checkpoint=outputs.checkpoint, log=log, progress=progress,
                           on_epoch=curves, n_classes=len(arrays.class_names))
    finally:
        if curves is not None:
            curves.close()
    facts = dict(result.summary, split_file=str(split), job_wall_seconds=time.time() - t0,
                 **(extra or {}), job_end=time.time())
    save_weights(outputs.weights, result.weights, spec, facts["evaluated_weights"],
                 identity=result.identity or None)
    write_csv(outputs.history, pd.DataFrame(result.history))
    write_json(outputs.summary, facts)
    Path(outputs.checkpoint).unlink(missing_ok=True)   # outputs are safe
    log(f"wrote {outputs.weights} ({facts['evaluated_weights']})")
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


def check_split_fits(train_idx, val_idx, n_train: int, split: str | Path, data: str | Path) -> None:
    """Raise DataError unless the split `split` (its train and validation indices) was made for a
    cache of `n_train` training images, as `data` holds: a split of a larger cache would index
    past its end, one of a smaller cache would leave images out."""
    total = len(train_idx) + len(val_idx)
    top = int(max(np.max(train_idx), np.max(val_idx)))
    if top >= n_train or total != n_train:
        raise DataError(
            f"{split}: a split of {total} training images (indices up to {top}), but {data} "
            f"holds {n_train}: it was made for another cache; make one for this cache "
            f"(snakemake --cores 1 {split} with the same config) or pass a split of it")


def check_cache_fits(data_config: dict, data: str | Path, n_train: int) -> None:
    """Raise DataError unless the cache `data`, holding `n_train` training images, is what the
    config's `data` section asks for: data.use_train_images of them, or with "all" every one of
    data.train_images. A cache built for other data settings would train on other images."""
    use = data_config["use_train_images"]
    want = data_config["train_images"] if use == "all" else int(use)
    if n_train == want:
        return
    asked = (f"data.use_train_images is all of data.train_images {want}" if use == "all"
             else f"data.use_train_images asks for {want}")
    raise DataError(
        f"{data} holds {n_train} training images, but {asked}: it was built for other data "
        f"settings; build one for these (snakemake --cores 1 {data} with the same --configfile "
        f"and --config; it replaces the workflow's) or pass --data a cache of {want} training "
        f"images")
