"""The training loop: one run from arrays to a history, weights and train.json's facts.

It reads top-down as torchvision's classification reference (references/classification/train.py):
:func:`train_one_epoch` is one pass over the training set, :func:`evaluate` the eval-mode
accuracy on the validation images (and on the training images), and :func:`train_run` the epoch
loop written out: set up (:func:`_set_up`: device, resolved options, data on the device, seeded
model, optimizer, schedule, run identity), resume from the checkpoint when this very run wrote it,
then per epoch train, evaluate, add the history row, keep the best weights and write the
checkpoint; at the end the weights handed to evaluation and train.json's facts (:func:`_summary`).

No per-image Python work happens in the loop: the training images live once on the training
device as uint8 (cifar_nets.engine.batches), each batch is gathered with a seeded permutation and
normalised (and, for recipes that ask, cropped and flipped) with whole-batch tensor ops. The
options and optimizer are cifar_nets.engine.recipe, the device and precision
cifar_nets.machine.hardware, the checkpoint and run identity cifar_nets.engine.checkpoints, the
compile fallback cifar_nets.engine.compiled. The loop tells the engine's one hook
(cifar_nets.engine.hooks) of `step_end` and `epoch_end`; in a normal run the hook does nothing.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from cifar_nets import project_version
from cifar_nets.data.arrays import content_sha256
from cifar_nets.engine import hooks
from cifar_nets.engine.batches import (DeviceData, augment_batch, autocast, draw_augmentation,
                                       predict_logits, top1_accuracy)
from cifar_nets.engine.checkpoints import (fingerprint, load_checkpoint, rng_state, run_identity,
                                           save_checkpoint, set_rng_state)
from cifar_nets.engine.compiled import CompiledStep
from cifar_nets.engine.custom_blocks import check_in_job
from cifar_nets.engine.models import build_model, count_parameters, flops_per_image, model_name
from cifar_nets.engine.recipe import EngineOptions, RunSpec, make_optimizer, make_scheduler
from cifar_nets.machine.hardware import (configure_backends, environment_record, resolve_device,
                                         resolve_options)


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the message names the run and the epoch."""


@dataclass
class TrainResult:
    history: list[dict]
    weights: dict            # the state dict handed to evaluation (best or last, per options)
    summary: dict = field(default_factory=dict)
    identity: dict = field(default_factory=dict)   # run_identity: written into the weights file


@dataclass
class _Run:
    """One run's objects, as :func:`_set_up` builds them. What changes from epoch to epoch (the
    history, the best weights) lives in :func:`train_run`'s loop."""
    spec: RunSpec
    options: EngineOptions
    device: torch.device
    resolved: dict               # the options as resolved for the device (hardware.resolve_options)
    data: DeviceData
    train_idx: torch.Tensor      # training indices, on the device
    val_idx: torch.Tensor        # validation indices, on the device
    train_eval_idx: torch.Tensor  # the training images evaluated in eval mode each epoch
    rng: torch.Generator         # the run's CPU generator: shuffling and augmentation
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object            # None: constant learning rate
    train_step: CompiledStep
    identity: dict               # run_identity: what the result depends on
    fingerprint: str
    checkpoint: Path | None
    where: object                # names the run to the hook: its checkpoint path, else its label
    log: Callable[[str], None]
    model_name: str


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _state_copy(model: torch.nn.Module) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def train_one_epoch(run: _Run, epoch: int, bar=None) -> dict:
    """One pass over the training set in the run's seeded order: the mean training loss, the
    running accuracy (in training mode) and the seconds it took."""
    recipe, device, n = run.spec.recipe, run.device, len(run.train_idx)
    run.model.train()
    _sync(device)
    t0 = time.perf_counter()
    perm = torch.randperm(n, generator=run.rng).to(device)
    # the epoch's augmentation numbers in one draw and one copy: no per-step host-device sync
    aug = (draw_augmentation(n, recipe.batch_size, run.rng, recipe.crop_padding, device)
           if recipe.augment else None)
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    try:
        for step, start in enumerate(range(0, n, recipe.batch_size)):
            sl = slice(start, start + recipe.batch_size)
            idx = run.train_idx[perm[sl]]
            xb = run.data.x[idx]
            if aug is not None:
                xb = augment_batch(xb, None, recipe.crop_padding,
                                   tuple(None if a is None else a[sl] for a in aug))
            xb, yb = run.data.normalise(xb), run.data.y[idx]

            def forward_backward(net):
                with autocast(device, run.resolved["bf16"]):
                    out = net(xb)
                    loss = F.cross_entropy(out.float(), yb, label_smoothing=recipe.label_smoothing)
                run.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                return out, loss

            out, loss = run.train_step(forward_backward)
            run.optimizer.step()
            if run.scheduler is not None:
                run.scheduler.step()
            loss = hooks.emit("step_end", loss, epoch=epoch, step=step, where=run.where)
            loss_sum += loss.detach().double() * len(yb)
            correct += (out.detach().argmax(1) == yb).sum()
            if bar is not None:
                bar.update(1)
    except torch.OutOfMemoryError as exc:
        raise RuntimeError(
            f"out of memory on {device} in epoch {epoch} with batch_size "
            f"{recipe.batch_size}: lower batch_size or eval_batch_size ({exc})") from None
    _sync(device)
    seconds = time.perf_counter() - t0
    loss = loss_sum.item() / n
    if not math.isfinite(loss):
        raise TrainingDiverged(
            f"{run.model_name} n_blocks={run.spec.n_blocks} seed={run.spec.seed}: training loss "
            f"became {loss} in epoch {epoch} (lr {recipe.lr}); stopping this run")
    return {"train_loss": loss, "train_acc_running": 100.0 * correct.item() / n,
            "seconds": seconds}


def evaluate(run: _Run, epoch: int) -> dict:
    """Eval-mode top-1 accuracy (percent) on the validation images and on the training images of
    engine.train_eval_subset, and the seconds it took."""
    batch_size, bf16 = run.options.eval_batch_size, run.resolved["bf16"]
    t0 = time.perf_counter()
    try:
        val_acc, train_acc = (
            top1_accuracy(predict_logits(run.model, run.data, idx, batch_size, bf16),
                          run.data.y[idx]) for idx in (run.val_idx, run.train_eval_idx))
    except torch.OutOfMemoryError as exc:
        raise RuntimeError(
            f"out of memory on {run.device} evaluating epoch {epoch} with eval_batch_size "
            f"{batch_size}: lower eval_batch_size ({exc})") from None
    return {"val_acc": val_acc, "train_acc": train_acc, "eval_seconds": time.perf_counter() - t0}


def train_run(x_train: np.ndarray, y_train: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
              spec: RunSpec, options: EngineOptions, *, checkpoint: str | Path | None = None,
              log: Callable[[str], None] = print, progress: bool | None = None,
              max_epochs: int | None = None,
              on_epoch: Callable[[dict], None] | None = None,
              n_classes: int | None = None) -> TrainResult:
    """Train the run `spec` with engine `options` and return its history and weights.

    `checkpoint`: path of the resumable checkpoint (written after every `checkpoint_every`
    epochs and the last, removed by the caller once outputs are safe). `max_epochs` stops early
    after that many finished epochs in this call (used by tests to simulate a kill); the
    checkpoint then holds the state. `on_epoch(row)` is called with each finished epoch's history
    row, after its checkpoint. `n_classes`: the network's outputs (the dataset's classes; None:
    CIFAR-10's 10). The files around a run are cifar_nets.engine.run.train_and_write.
    """
    run = _set_up(x_train, y_train, train_idx, val_idx, spec, options, checkpoint, log, n_classes)
    recipe = spec.recipe
    history, best, start_epoch = [], {"val_acc": -1.0, "epoch": 0, "state": None}, 0
    # resume only from a checkpoint this very run wrote (any other is set aside: checkpoints.py)
    state = load_checkpoint(run.checkpoint, run.identity, log) if run.checkpoint else None
    if state is not None:
        run.model.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        if run.scheduler is not None and state.get("lr_scheduler"):
            run.scheduler.load_state_dict(state["lr_scheduler"])
        history = list(state["history"])
        best = {"val_acc": state["best_val_acc"], "epoch": state["best_epoch"],
                "state": state["best_model"]}
        set_rng_state(state["rng"], run.rng, run.device)
        start_epoch = state["epoch"]
        log(f"resumed from {run.checkpoint} after epoch {start_epoch} "
            f"(best val {best['val_acc']:.2f}% at epoch {best['epoch']})")
    r = run.resolved
    log(f"{run.model_name} n_blocks={spec.n_blocks} seed={spec.seed} recipe={recipe.name}: "
        f"{count_parameters(run.model):,} parameters, {len(run.train_idx)} train / "
        f"{len(run.val_idx)} val images, device={run.device}, threads={torch.get_num_threads()}, "
        f"bf16={r['bf16']}, channels_last={r['channels_last']}, compile={r['compile']}, "
        f"tf32={r['tf32']}")
    bar = _progress_bar(run, progress, start_epoch)
    try:
        for epoch in range(start_epoch + 1, recipe.epochs + 1):
            trained = train_one_epoch(run, epoch, bar)
            evaluated = evaluate(run, epoch)
            row = {"epoch": epoch, "train_loss": trained["train_loss"],
                   "train_acc_running": trained["train_acc_running"],
                   "train_acc": evaluated["train_acc"], "val_acc": evaluated["val_acc"],
                   "lr": run.optimizer.param_groups[0]["lr"], "seconds": trained["seconds"],
                   "eval_seconds": evaluated["eval_seconds"],
                   "images_per_s": len(run.train_idx) / trained["seconds"]}
            history.append(row)
            if row["val_acc"] > best["val_acc"]:
                best = {"val_acc": row["val_acc"], "epoch": epoch, "state": _state_copy(run.model)}
            if bar is not None:
                bar.clear()  # keep the epoch line above the progress bar
            log(f"epoch {epoch:3d}/{recipe.epochs} loss {row['train_loss']:.4f} train "
                f"{row['train_acc']:6.2f}% (running {row['train_acc_running']:6.2f}%) val "
                f"{row['val_acc']:6.2f}% {row['seconds']:6.1f}s {row['images_per_s']:7.0f} img/s "
                f"(+{row['eval_seconds']:.1f}s eval)")
            if run.checkpoint is not None and (epoch % options.checkpoint_every == 0
                                               or epoch == recipe.epochs):
                save_checkpoint({
                    "fingerprint": run.fingerprint, "identity": run.identity, "epoch": epoch,
                    "model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
                    "lr_scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
                    "history": history, "best_val_acc": best["val_acc"],
                    "best_epoch": best["epoch"], "best_model": best["state"],
                    "rng": rng_state(run.rng, run.device),
                }, run.checkpoint)
            if on_epoch is not None:
                on_epoch(row)
            hooks.emit("epoch_end", epoch=epoch, where=run.where)
            if max_epochs is not None and epoch - start_epoch >= max_epochs and epoch < recipe.epochs:
                return TrainResult(history=history, weights={},
                                   summary={"stopped_after_epoch": epoch})
    finally:
        if bar is not None:
            bar.close()
    return _summary(run, history, best, start_epoch)


def _set_up(x_train, y_train, train_idx, val_idx, spec: RunSpec, options: EngineOptions,
            checkpoint, log, n_classes: int | None = None) -> _Run:
    """Device, options, data on the device, seeded model, optimizer, schedule, identity."""
    recipe = spec.recipe
    device = resolve_device(options.device)
    resolved = resolve_options(options, device)
    configure_backends(resolved)
    train_idx = np.ascontiguousarray(train_idx, dtype=np.int64)   # any strides, e.g. a[::-1]
    val_idx = np.ascontiguousarray(val_idx, dtype=np.int64)
    if recipe.batch_size > len(train_idx):
        raise ValueError(f"batch_size {recipe.batch_size} is larger than the training set "
                         f"({len(train_idx)} images)")
    data = DeviceData(x_train, y_train, device, recipe.mean, recipe.std, resolved["channels_last"])
    train_on_device = torch.as_tensor(train_idx, device=device)

    check_in_job(spec.block_type, spec.n_hidden, resolved, device)   # a block of your own, here
    torch.manual_seed(spec.seed)
    rng = torch.Generator().manual_seed(spec.seed)
    model = build_model(spec.block_type, spec.n_blocks, spec.n_hidden, spec.n_hidden_fc,
                        recipe.dropout, **({"n_classes": n_classes} if n_classes else {})).to(device)
    if resolved["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, recipe)
    identity = run_identity(spec, options, device, data_sha256=content_sha256(x_train, y_train),
                            train_idx=train_idx, val_idx=val_idx)
    checkpoint = Path(checkpoint) if checkpoint else None
    return _Run(
        spec=spec, options=options, device=device, resolved=resolved, data=data,
        train_idx=train_on_device, val_idx=torch.as_tensor(val_idx, device=device),
        train_eval_idx=(train_on_device if not options.train_eval_subset
                        else train_on_device[: options.train_eval_subset]),
        rng=rng, model=model, optimizer=optimizer,
        scheduler=make_scheduler(optimizer, recipe, math.ceil(len(train_idx) / recipe.batch_size)),
        train_step=CompiledStep(model, resolved["compile"], log), identity=identity,
        fingerprint=fingerprint(identity), checkpoint=checkpoint,
        where=checkpoint or spec.label, log=log, model_name=model_name(spec.block_type))


def _summary(run: _Run, history: list[dict], best: dict, start_epoch: int) -> TrainResult:
    """The weights handed to evaluation and train.json's facts about the run."""
    recipe = run.spec.recipe
    if run.options.evaluate_weights == "best":
        weights, which = best["state"], f"best validation accuracy (epoch {best['epoch']})"
    else:
        weights, which = _state_copy(run.model), f"last epoch ({recipe.epochs})"
    train_seconds = sum(h["seconds"] for h in history)
    summary = {
        "model": run.model_name, "block_type": run.spec.block_type,
        "n_blocks": run.spec.n_blocks, "seed": run.spec.seed, "recipe": recipe.name,
        "parameters": count_parameters(run.model), "flops_per_image": flops_per_image(run.model),
        "epochs": recipe.epochs, "best_epoch": best["epoch"], "best_val_acc": best["val_acc"],
        "final_train_acc": history[-1]["train_acc"], "final_val_acc": history[-1]["val_acc"],
        "train_val_gap": history[-1]["train_acc"] - history[-1]["val_acc"],
        "train_seconds": train_seconds,
        "train_images_per_s": len(run.train_idx) * len(history) / train_seconds,
        "evaluated_weights": which, "threads": torch.get_num_threads(),
        **run.resolved, "compile": run.train_step.record(),
        **environment_record(run.device),   # the machine and software (device included)
        # what the result depends on (run_identity) and the code it came from
        "data_sha256": run.identity["data"], "split_sha256": run.identity["split"],
        "run_fingerprint": run.fingerprint, "resumed_after_epoch": start_epoch,
        **project_version(),
    }
    run.log(f"done: best val {best['val_acc']:.2f}% at epoch {best['epoch']}; evaluating {which}")
    return TrainResult(history=history, weights=weights, summary=summary, identity=run.identity)


def _progress_bar(run: _Run, progress: bool | None, start_epoch: int):
    if not (sys.stderr.isatty() if progress is None else progress):
        return None
    try:
        from tqdm import tqdm  # noqa: PLC0415
    except ImportError:
        return None
    steps = math.ceil(len(run.train_idx) / run.spec.recipe.batch_size)
    return tqdm(total=run.spec.recipe.epochs * steps, initial=start_epoch * steps, unit="step",
                desc=f"{run.model_name} n{run.spec.n_blocks} s{run.spec.seed}", file=sys.stderr)
