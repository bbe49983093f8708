"""The training engine: the whole dataset as a uint8 tensor on the device, batches as slices.

Sections: recipes and options | device data | one epoch | checkpoints | the run.

No per-image Python work happens in the loop: the training images live once on the training
device as uint8 (4x smaller than floats), each batch is gathered with a seeded permutation,
normalised (and, for recipes that ask, cropped and flipped) with whole-batch tensor ops.
A checkpoint (torchvision references layout: model, optimizer, lr_scheduler, epoch, plus the
RNG states) is written atomically after every epoch, so a killed job resumes from its last
finished epoch and ends bit-identical to an uninterrupted one (CPU, fp32).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import faults
from .io import atomic_path
from .hardware import run_environment
from .models import build_model, count_parameters, flops_per_image, model_name

# --------------------------------------------------------------------------- recipes and options

NOTEBOOK_MEAN = (0.485, 0.456, 0.406)   # the notebook's (ImageNet) normalisation
NOTEBOOK_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Recipe:
    """How a network is trained. `notebook` is the original study's recipe."""
    name: str = "notebook"
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adam"          # adam | adamw | sgd
    lr: float = 1e-4
    momentum: float = 0.9            # sgd only
    weight_decay: float = 0.0
    schedule: str = "constant"       # constant | cosine (with linear warmup)
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    augment: bool = False            # random crop (pad 4) + horizontal flip, on tensors
    crop_padding: int = 4
    dropout: float = 0.5
    mean: tuple = NOTEBOOK_MEAN
    std: tuple = NOTEBOOK_STD

    @classmethod
    def from_dict(cls, name: str, d: dict) -> "Recipe":
        d = dict(d)
        for k in ("mean", "std"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(name=name, **d)


@dataclass(frozen=True)
class EngineOptions:
    """How fast a recipe runs. None of these may change what is learned beyond float rounding."""
    device: str = "auto"             # auto | cpu | cuda | mps
    channels_last: bool | str = "auto"
    bf16: bool | str = "auto"        # autocast to bfloat16 where the hardware has native bf16
    compile: bool | str = False
    tf32: bool = False               # TF32 matmuls/convolutions on CUDA (Ampere and newer)
    eval_batch_size: int = 256
    train_eval_subset: int | None = 5000   # eval-mode accuracy on this many training images (None: all)
    evaluate_weights: str = "best"   # best | last: which weights the run hands to evaluation
    checkpoint_every: int = 1

    @classmethod
    def from_dict(cls, d: dict) -> "EngineOptions":
        return cls(**d)


class TrainingDiverged(RuntimeError):
    pass


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """auto: CUDA when present, else Apple's GPU (MPS) when present, else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("engine.device: cuda was asked for but no CUDA device is available")
    if name == "mps" and not _mps_available():
        raise RuntimeError("engine.device: mps was asked for but PyTorch reports no MPS device")
    return torch.device(name)


@functools.cache   # /proc/cpuinfo does not change while the process runs
def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cuda_has_native_bf16(device: torch.device, capability=None) -> bool:
    """bf16 tensor cores: compute capability 8.0 (Ampere) or newer. `is_bf16_supported()` also
    says yes on V100/T4, where bf16 is emulated and slower than fp32."""
    major, _minor = capability if capability is not None else torch.cuda.get_device_capability(device)
    return major >= 8


def _bf16_available(device: torch.device) -> bool:
    if device.type == "cuda":
        return cuda_has_native_bf16(device)
    return device.type == "cpu" and cpu_has_bf16()


def resolve_options(opts: EngineOptions, device: torch.device) -> dict:
    """Turn 'auto' into the measured best choice for this device (see README, Speed)."""
    cuda = device.type == "cuda"
    return {
        # channels-last: 1.12-2.01x the notebook pipeline in fp32 on the 2-core CPU over three
        # benchmark runs (README, Speed); GPUs not measured
        "channels_last": True if opts.channels_last == "auto" else bool(opts.channels_last),
        # bf16 + channels-last: 2.21-2.80x the notebook pipeline on the 2-core avx512_bf16 CPU, same
        # accuracy over 3 seeds per block type (README, Speed); CPUs without bf16 units only
        # emulate it: off there
        "bf16": _bf16_available(device) if opts.bf16 == "auto" else bool(opts.bf16),
        # auto: on CUDA only, and a compile that fails falls back to eager (compiled_or_eager)
        "compile": cuda if opts.compile == "auto" else bool(opts.compile),
        "tf32": bool(opts.tf32) and cuda,
        "cudnn_benchmark": cuda,
    }


def configure_backends(speed: dict) -> None:
    """Process-wide numeric switches, set explicitly (PyTorch's own defaults differ between
    matmuls and convolutions): TF32 as `engine.tf32` says, cuDNN autotuning on CUDA."""
    torch.backends.cuda.matmul.allow_tf32 = speed["tf32"]
    torch.backends.cudnn.allow_tf32 = speed["tf32"]
    torch.backends.cudnn.benchmark = speed["cudnn_benchmark"]


# --------------------------------------------------------------------------- device data

class DeviceData:
    """uint8 images on the device; batches come out normalised float32."""

    def __init__(self, x_u8: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                 device: torch.device, mean, std, channels_last: bool = False):
        self.x = torch.as_tensor(x_u8).to(device)
        self.y = torch.as_tensor(y).long().to(device)
        std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.scale = 1.0 / (255.0 * std_t)        # (x/255 - mean)/std == x*scale + shift
        self.shift = -mean_t / std_t
        self.channels_last = channels_last
        self.device = device

    def __len__(self) -> int:
        return self.x.shape[0]

    def normalise(self, xb: torch.Tensor) -> torch.Tensor:
        xb = torch.addcmul(self.shift, xb.float(), self.scale)
        if self.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.normalise(self.x[idx]), self.y[idx]


def draw_augmentation(n: int, batch_size: int, gen: torch.Generator, padding: int,
                      device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """One epoch's augmentation random numbers (flip, dy, dx per image, in batch order), drawn
    from the run's CPU generator batch by batch in the order per-step drawing would use, then
    moved to the device in one copy: the same numbers as drawing per step, without a host-device
    copy (a synchronisation on CUDA) in every step."""
    flips, dys, dxs = [], [], []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        flips.append(torch.rand(b, generator=gen) < 0.5)
        if padding:
            dys.append(torch.randint(0, 2 * padding + 1, (b,), generator=gen))
            dxs.append(torch.randint(0, 2 * padding + 1, (b,), generator=gen))
    flip = torch.cat(flips).to(device) if flips else torch.zeros(0, dtype=torch.bool, device=device)
    if not padding:
        return flip, None, None
    return flip, torch.cat(dys).to(device), torch.cat(dxs).to(device)


def augment_batch(xb: torch.Tensor, gen: torch.Generator | None, padding: int,
                  draws: tuple | None = None) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip, per image, on whole batches.

    Works on uint8 or float batches. The random numbers are `draws` (this batch's slice of
    :func:`draw_augmentation`) or, without them, drawn here from the CPU generator `gen`; either
    way the result depends on the seed only.
    """
    b, c, h, w = xb.shape
    if draws is None:
        draws = draw_augmentation(b, b, gen, padding, xb.device)
    flip, dy, dx = draws
    xb = torch.where(flip.view(b, 1, 1, 1), xb.flip(3), xb)
    if padding:
        padded = F.pad(xb, (padding,) * 4)
        rows = (torch.arange(h, device=xb.device).view(1, h) + dy.view(b, 1))
        cols = (torch.arange(w, device=xb.device).view(1, w) + dx.view(b, 1))
        bi = torch.arange(b, device=xb.device).view(b, 1, 1, 1)
        ci = torch.arange(c, device=xb.device).view(1, c, 1, 1)
        xb = padded[bi, ci, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]
    return xb


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, data: DeviceData, idx: torch.Tensor | None = None,
                   batch_size: int = 1000, bf16: bool = False) -> torch.Tensor:
    """Logits (float32, on the CPU) for data[idx] (all of it when idx is None), in eval mode."""
    was_training = model.training
    model.eval()
    n = len(data) if idx is None else len(idx)
    out = []
    for start in range(0, n, batch_size):
        sl = slice(start, min(start + batch_size, n))
        xb = data.normalise(data.x[sl] if idx is None else data.x[idx[sl]])
        with autocast(data.device, bf16):
            out.append(model(xb).float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 10)


def accuracy(model, data: DeviceData, idx=None, batch_size=1000, bf16=False) -> float:
    logits = predict_logits(model, data, idx, batch_size, bf16)
    y = (data.y if idx is None else data.y[idx]).cpu()
    return 100.0 * (logits.argmax(1) == y).double().mean().item()


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on `device` when `bf16`, else a no-op context."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


# --------------------------------------------------------------------------- optimizer, schedule

def make_optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                               nesterov=True, weight_decay=recipe.weight_decay)
    raise ValueError(f"recipe {recipe.name}: unknown optimizer {recipe.optimizer!r}")


def make_scheduler(opt, recipe: Recipe, steps_per_epoch: int):
    total = recipe.epochs * steps_per_epoch
    warm = int(recipe.warmup_epochs * steps_per_epoch)
    if recipe.schedule == "constant":
        return None
    if recipe.schedule == "cosine":
        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            t = (step - warm) / max(1, total - warm)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
        return torch.optim.lr_scheduler.LambdaLR(opt, factor)
    raise ValueError(f"recipe {recipe.name}: unknown schedule {recipe.schedule!r}")


# --------------------------------------------------------------------------- checkpoints

def fingerprint(**parts) -> str:
    """What a checkpoint must match to be resumed: recipe, model, seed, split, engine numerics."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_checkpoint(state: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        if faults.fault("kill_in_checkpoint_write", state.get("epoch"), path):
            faults.kill(truncate=tmp)  # test-only (cifar_nets/faults.py): a write cut off midway
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())


def load_checkpoint(path: Path, expected_fingerprint: str, log: Callable[[str], None]) -> dict | None:
    """The checkpoint at `path` if it is complete and belongs to this run, else None.

    A file cut off mid-write (impossible with atomic writes, but a disk can fill up or a user
    can copy half a file) fails to unpickle and is set aside as `<name>.corrupt`. The temp file
    of a write cut off by a kill (`.<name>.tmp-*` beside it) is never read, only removed.
    """
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.tmp-*"):  # a write cut off by a kill
        stale.unlink(missing_ok=True)
        log(f"removed {stale.name}: a checkpoint write cut off by a kill, never loaded")
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or "epoch" not in state:
            raise ValueError("not a training checkpoint")
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is treated the same
        bad = path.with_name(path.name + ".corrupt")
        os.replace(path, bad)
        log(f"checkpoint {path} is unreadable ({type(exc).__name__}: {str(exc)[:120]}); "
            f"moved to {bad.name}, starting from epoch 0")
        return None
    if state.get("fingerprint") != expected_fingerprint:
        log(f"checkpoint {path} belongs to different settings; starting from epoch 0")
        return None
    return state


def _rng_state(gen: torch.Generator, device: torch.device) -> dict:
    st = {"shuffle": gen.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(device)
    return st


def _set_rng_state(st: dict, gen: torch.Generator, device: torch.device) -> None:
    gen.set_state(st["shuffle"])
    torch.set_rng_state(st["torch"])
    if device.type == "cuda" and "cuda" in st:
        torch.cuda.set_rng_state(st["cuda"], device)


# --------------------------------------------------------------------------- compile with fallback

class CompiledStep:
    """A training step through torch.compile that falls back to eager if compiling fails.

    torch.compile compiles lazily, at the first forward and backward, so a missing compiler or a
    Triton problem surfaces there. The first compiled step snapshots the RNG states and the
    model's state; if it raises, they are restored, the reason is logged once, and the step and
    every later one run eagerly: a node without a working compiler trains, it does not fail.
    """

    def __init__(self, model: torch.nn.Module, enabled: bool, log: Callable[[str], None]):
        self.model, self.log = model, log
        self.enabled = enabled
        self.fallback: str | None = None
        self.compiled = torch.compile(model) if enabled else None
        self._tried = False

    def __call__(self, forward_backward):
        if self.compiled is None:
            return forward_backward(self.model)
        if self._tried:
            return forward_backward(self.compiled)
        saved = {"cpu_rng": torch.get_rng_state(),
                 "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
                 "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()}}
        try:
            if faults.fault("compile_fail"):  # test-only: what a node without a compiler does
                raise RuntimeError("forced compile failure (CIFAR_ABLATION_FAULT=compile_fail)")
            result = forward_backward(self.compiled)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any compile failure: train eagerly instead
            self.fallback = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            self.log(f"torch.compile failed ({self.fallback}); training eagerly instead")
            torch.set_rng_state(saved["cpu_rng"])
            if saved["cuda_rng"] is not None:
                torch.cuda.set_rng_state_all(saved["cuda_rng"])
            self.model.load_state_dict(saved["model"])
            self.compiled = None
            result = forward_backward(self.model)
        self._tried = True
        return result

    def record(self):
        """What train.json says: true, false, or 'false (fallback: <reason>)'."""
        if self.fallback is not None:
            return f"false (fallback: {self.fallback})"
        return self.enabled


# --------------------------------------------------------------------------- the run

@dataclass
class TrainResult:
    history: list[dict]
    weights: dict            # the state dict handed to evaluation (best or last, per options)
    summary: dict = field(default_factory=dict)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_run(x_train: np.ndarray, y_train: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
              *, block_type: str, n_blocks: int, seed: int, recipe: Recipe = Recipe(),
              options: EngineOptions = EngineOptions(), n_hidden: int = 32, n_hidden_fc: int = 32,
              checkpoint: str | Path | None = None, log: Callable[[str], None] = print,
              progress: bool | None = None, max_epochs: int | None = None) -> TrainResult:
    """Train one (block type, n_blocks, seed) run and return its history and weights.

    `checkpoint`: path of the resumable checkpoint (written after every epoch, removed by the
    caller once outputs are safe). `max_epochs` stops early after that many finished epochs in
    this call (used by tests to simulate a kill); the checkpoint then holds the state.
    """
    device = resolve_device(options.device)
    speed = resolve_options(options, device)
    configure_backends(speed)
    if progress is None:
        progress = sys.stderr.isatty()

    train_idx = np.asarray(train_idx, dtype=np.int64)
    val_idx = np.asarray(val_idx, dtype=np.int64)
    if recipe.batch_size > len(train_idx):
        raise ValueError(f"batch_size {recipe.batch_size} is larger than the training set "
                         f"({len(train_idx)} images)")
    data = DeviceData(x_train, y_train, device, recipe.mean, recipe.std, speed["channels_last"])
    tr = torch.as_tensor(train_idx, device=device)
    va = torch.as_tensor(val_idx, device=device)
    sub = tr if not options.train_eval_subset else tr[: options.train_eval_subset]

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_model(block_type, n_blocks, n_hidden, n_hidden_fc, recipe.dropout).to(device)
    if speed["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    n_params = count_parameters(model)
    flops = flops_per_image(model)
    opt = make_optimizer(model, recipe)
    steps_per_epoch = math.ceil(len(train_idx) / recipe.batch_size)
    sched = make_scheduler(opt, recipe, steps_per_epoch)
    step = CompiledStep(model, speed["compile"], log)

    fp = fingerprint(recipe=asdict(recipe), block_type=block_type, n_blocks=n_blocks, seed=seed,
                     n_hidden=n_hidden, n_hidden_fc=n_hidden_fc, device=device.type,
                     bf16=speed["bf16"], channels_last=speed["channels_last"],
                     compile=speed["compile"], tf32=speed["tf32"],
                     split=hashlib.sha256(train_idx.tobytes() + val_idx.tobytes()).hexdigest(),
                     n_train_eval=options.train_eval_subset)
    history: list[dict] = []
    best = {"val_acc": -1.0, "epoch": 0, "state": None}
    start_epoch = 0
    ckpt_path = Path(checkpoint) if checkpoint else None
    where = ckpt_path or f"{block_type}/n{n_blocks}/seed{seed}"  # names this run to faults.fault
    if ckpt_path is not None:
        state = load_checkpoint(ckpt_path, fp, log)
        if state is not None:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            if sched is not None and state.get("lr_scheduler"):
                sched.load_state_dict(state["lr_scheduler"])
            history = list(state["history"])
            best = {"val_acc": state["best_val_acc"], "epoch": state["best_epoch"],
                    "state": state["best_model"]}
            _set_rng_state(state["rng"], gen, device)
            start_epoch = state["epoch"]
            log(f"resumed from {ckpt_path} after epoch {start_epoch} "
                f"(best val {best['val_acc']:.2f}% at epoch {best['epoch']})")

    name = model_name(block_type)
    log(f"{name} n_blocks={n_blocks} seed={seed} recipe={recipe.name}: {n_params:,} parameters, "
        f"{len(train_idx)} train / {len(val_idx)} val images, device={device}, "
        f"threads={torch.get_num_threads()}, bf16={speed['bf16']}, "
        f"channels_last={speed['channels_last']}, compile={speed['compile']}, tf32={speed['tf32']}")

    bar = None
    if progress:
        try:
            from tqdm import tqdm
            bar = tqdm(total=recipe.epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch,
                       desc=f"{name} n{n_blocks} s{seed}", unit="step", file=sys.stderr)
        except ImportError:
            bar = None

    epochs_this_call = 0
    for epoch in range(start_epoch + 1, recipe.epochs + 1):
        model.train()
        _sync(device)
        t0 = time.perf_counter()
        perm = torch.randperm(len(tr), generator=gen).to(device)
        # the epoch's augmentation numbers in one draw and one copy: no per-step host-device sync
        aug = (draw_augmentation(len(tr), recipe.batch_size, gen, recipe.crop_padding, device)
               if recipe.augment else None)
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        # test-only hooks (cifar_nets/faults.py), False unless CIFAR_ABLATION_FAULT is set
        kill_mid_epoch = faults.fault("kill_in_epoch", epoch, where)
        poison = (float("nan") if faults.fault("nan_loss", epoch, where) else
                  float("inf") if faults.fault("inf_loss", epoch, where) else None)
        try:
            for start in range(0, len(tr), recipe.batch_size):
                if kill_mid_epoch and start > 0:
                    faults.kill()
                sl = slice(start, start + recipe.batch_size)
                idx = tr[perm[sl]]
                xb = data.x[idx]
                if aug is not None:
                    xb = augment_batch(xb, None, recipe.crop_padding,
                                       tuple(None if a is None else a[sl] for a in aug))
                xb, yb = data.normalise(xb), data.y[idx]

                def forward_backward(net):
                    with autocast(device, speed["bf16"]):
                        out = net(xb)
                        loss = F.cross_entropy(out.float(), yb,
                                               label_smoothing=recipe.label_smoothing)
                        if poison is not None:
                            loss = loss + poison
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    return out, loss

                out, loss = step(forward_backward)
                opt.step()
                if sched is not None:
                    sched.step()
                loss_sum += loss.detach().double() * len(yb)
                correct += (out.detach().argmax(1) == yb).sum()
                if bar is not None:
                    bar.update(1)
        except torch.OutOfMemoryError as exc:
            raise RuntimeError(
                f"out of memory on {device} in epoch {epoch} with batch_size "
                f"{recipe.batch_size}: lower batch_size or eval_batch_size ({exc})") from None
        _sync(device)
        train_seconds = time.perf_counter() - t0
        train_loss = loss_sum.item() / len(tr)
        if not math.isfinite(train_loss):
            raise TrainingDiverged(
                f"{name} n_blocks={n_blocks} seed={seed}: training loss became {train_loss} in "
                f"epoch {epoch} (lr {recipe.lr}); stopping this run")
        t1 = time.perf_counter()
        try:
            val_acc = accuracy(model, data, va, options.eval_batch_size, speed["bf16"])
            train_eval_acc = accuracy(model, data, sub, options.eval_batch_size, speed["bf16"])
        except torch.OutOfMemoryError as exc:
            raise RuntimeError(
                f"out of memory on {device} evaluating epoch {epoch} with eval_batch_size "
                f"{options.eval_batch_size}: lower eval_batch_size ({exc})") from None
        eval_seconds = time.perf_counter() - t1
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_acc_running": 100.0 * correct.item() / len(tr),
            "train_acc": train_eval_acc,
            "val_acc": val_acc,
            "lr": opt.param_groups[0]["lr"],
            "seconds": train_seconds,
            "eval_seconds": eval_seconds,
            "images_per_s": len(tr) / train_seconds,
        }
        history.append(row)
        if val_acc > best["val_acc"]:
            best = {"val_acc": val_acc, "epoch": epoch,
                    "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
        if bar is not None:
            bar.clear()  # keep the epoch line above the progress bar
        log(f"epoch {epoch:3d}/{recipe.epochs} loss {train_loss:.4f} train {train_eval_acc:6.2f}% "
            f"(running {row['train_acc_running']:6.2f}%) val {val_acc:6.2f}% "
            f"{train_seconds:6.1f}s {row['images_per_s']:7.0f} img/s (+{eval_seconds:.1f}s eval)")
        if ckpt_path is not None and (epoch % options.checkpoint_every == 0 or epoch == recipe.epochs):
            save_checkpoint({
                "fingerprint": fp, "epoch": epoch,
                "model": model.state_dict(), "optimizer": opt.state_dict(),
                "lr_scheduler": sched.state_dict() if sched is not None else None,
                "history": history, "best_val_acc": best["val_acc"],
                "best_epoch": best["epoch"], "best_model": best["state"],
                "rng": _rng_state(gen, device),
            }, ckpt_path)
        if faults.fault("kill_after_epoch", epoch, where):
            faults.kill()
        if faults.fault("stop_after_epoch", epoch, where):
            faults.kill(stop=True)
        epochs_this_call += 1
        if max_epochs is not None and epochs_this_call >= max_epochs and epoch < recipe.epochs:
            if bar is not None:
                bar.close()
            return TrainResult(history=history, weights={}, summary={"stopped_after_epoch": epoch})
    if bar is not None:
        bar.close()

    last_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if options.evaluate_weights == "best":
        weights, which = best["state"], f"best validation accuracy (epoch {best['epoch']})"
    else:
        weights, which = last_state, f"last epoch ({recipe.epochs})"
    train_seconds = sum(h["seconds"] for h in history)
    summary = {
        "model": name, "block_type": block_type, "n_blocks": n_blocks, "seed": seed,
        "recipe": recipe.name, "parameters": n_params, "flops_per_image": flops,
        "epochs": recipe.epochs, "best_epoch": best["epoch"], "best_val_acc": best["val_acc"],
        "final_train_acc": history[-1]["train_acc"], "final_val_acc": history[-1]["val_acc"],
        "train_val_gap": history[-1]["train_acc"] - history[-1]["val_acc"],
        "train_seconds": train_seconds,
        "train_images_per_s": len(tr) * len(history) / train_seconds,
        "evaluated_weights": which, "device": str(device),
        "threads": torch.get_num_threads(), **{k: v for k, v in speed.items()},
        "compile": step.record(),
        **run_environment(device),
    }
    log(f"done: best val {best['val_acc']:.2f}% at epoch {best['epoch']}; evaluating {which}")
    return TrainResult(history=history, weights=weights, summary=summary)
