"""The training engine: the whole dataset as a uint8 tensor on the device, batches as slices.

Sections: recipes and options | device data | one epoch | checkpoints | the run.

No per-image Python work happens in the loop: the training images live once on the training
device as uint8 (4x smaller than floats), each batch is gathered with a seeded permutation,
normalised (and, for recipes that ask, cropped and flipped) with whole-batch tensor ops.
A checkpoint (torchvision references layout: model, optimizer, lr_scheduler, epoch, plus the
RNG states) is written atomically after every epoch, so a killed job resumes from its last
finished epoch and ends bit-identical to an uninterrupted one (CPU, fp32). A checkpoint carries
its run's identity (:func:`run_identity`: data content, split, model, seed, recipe, numeric
engine options) and resumes only that run; any other one is set aside with a line saying why.
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

from . import NUMERIC_ENGINE_KEYS, faults, project_version
from .data import arrays_sha256, content_sha256
from .io import atomic_path
from .hardware import run_environment
from .models import build_model, count_parameters, flops_per_image, model_name

# --------------------------------------------------------------------------- recipes and options

@dataclass(frozen=True)
class Recipe:
    """How a network is trained: one entry of the config's `recipes` (config.yaml holds the
    values, and the schema the defaults of fields a recipe leaves out; nothing is restated here)."""
    name: str
    epochs: int
    batch_size: int
    optimizer: str           # adam | adamw | sgd
    lr: float
    momentum: float          # sgd only
    weight_decay: float
    schedule: str            # constant | cosine (with linear warmup)
    warmup_epochs: float
    label_smoothing: float
    augment: bool            # random crop (zero padding) + horizontal flip, on tensors
    crop_padding: int
    dropout: float
    mean: tuple
    std: tuple

    @classmethod
    def from_dict(cls, name: str, d: dict) -> "Recipe":
        """From a validated config's `recipes[name]` (every field present)."""
        d = dict(d)
        for k in ("mean", "std"):
            d[k] = tuple(d[k])
        return cls(name=name, **d)

    @classmethod
    def from_config(cls, cfg: dict, name: str, **overrides) -> "Recipe":
        return cls.from_dict(name, {**cfg["recipes"][name], **overrides})


# engine keys that only say how a job runs, not what it computes (read by the job scripts); the
# keys that change what a run computes are cifar_nets.NUMERIC_ENGINE_KEYS, all of them fields of
# EngineOptions, beside eval_batch_size and checkpoint_every (how fast, how often)
RUN_ONLY_ENGINE_KEYS = ("gpus", "runs_per_gpu", "threads")


@dataclass(frozen=True)
class EngineOptions:
    """How fast a recipe runs (the config's `engine`, less where and with how many threads).
    None of these may change what is learned beyond float rounding."""
    device: str                      # auto | cpu | cuda | mps
    channels_last: bool | str        # auto | true | false
    bf16: bool | str                 # autocast to bfloat16 (auto: where native)
    compile: bool | str              # torch.compile (auto: on CUDA), falls back to eager
    tf32: bool                       # TF32 matmuls/convolutions on CUDA (Ampere and newer)
    eval_batch_size: int
    train_eval_subset: int | None    # eval-mode accuracy on this many training images (0/None: all)
    evaluate_weights: str            # best | last: which weights the run hands to evaluation
    checkpoint_every: int

    @classmethod
    def from_dict(cls, d: dict) -> "EngineOptions":
        d = {k: v for k, v in d.items() if k not in RUN_ONLY_ENGINE_KEYS}
        d["train_eval_subset"] = d["train_eval_subset"] or None
        return cls(**d)

    @classmethod
    def from_config(cls, cfg: dict, **overrides) -> "EngineOptions":
        return cls.from_dict({**cfg["engine"], **overrides})


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
    """Turn 'auto' into the measured best choice for this device (see docs/speed.md)."""
    cuda = device.type == "cuda"
    return {
        # channels-last: 1.12-2.01x the notebook pipeline in fp32 on the 2-core CPU over three
        # benchmark runs (docs/speed.md); GPUs not measured
        "channels_last": True if opts.channels_last == "auto" else bool(opts.channels_last),
        # bf16 + channels-last: 2.21-2.80x the notebook pipeline on the 2-core avx512_bf16 CPU, same
        # accuracy over 3 seeds per block type (docs/speed.md); CPUs without bf16 units only
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

def run_identity(*, data_sha256: str, train_idx, val_idx, block_type: str, n_blocks: int,
                 seed: int, recipe: Recipe, options: EngineOptions, n_hidden: int,
                 n_hidden_fc: int, device: torch.device) -> dict:
    """What a run's result depends on, and nothing else: the one definition.

    The training data's content (`data_sha256`, :func:`cifar_nets.data.content_sha256` of the
    images and labels it trains on), the split (a checksum of its train and validation indices),
    block type, depth, seed, the whole recipe, the model's widths, and the engine options that
    change numbers (:data:`cifar_nets.NUMERIC_ENGINE_KEYS`, as resolved for `device`: "auto"
    means whatever it turned into here). A JSON-shaped dict (lists, not tuples), so it compares
    equal to the copy a checkpoint stores. Its :func:`fingerprint` names the checkpoint's run.
    """
    speed = resolve_options(options, device)
    resolved = {"device": device.type, "channels_last": speed["channels_last"],
                "bf16": speed["bf16"], "compile": speed["compile"], "tf32": speed["tf32"]}
    engine = {k: resolved[k] if k in resolved else getattr(options, k) for k in NUMERIC_ENGINE_KEYS}
    identity = {
        "data": data_sha256,
        "split": arrays_sha256(np.asarray(train_idx, dtype=np.int64),
                               np.asarray(val_idx, dtype=np.int64)),
        "block_type": block_type, "n_blocks": int(n_blocks), "seed": int(seed),
        "recipe": asdict(recipe),
        "model": {"n_hidden": int(n_hidden), "n_hidden_fc": int(n_hidden_fc)},
        "engine": engine,
    }
    return json.loads(json.dumps(identity, default=str))


def fingerprint(identity: dict) -> str:
    """A short name for a run identity (16 hex digits of the sha256 of its canonical JSON)."""
    blob = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _show(value) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def identity_differences(old, new: dict) -> list[str]:
    """What differs between a checkpoint's identity (`old`) and this run's (`new`), one phrase
    per differing part, e.g. "written for other data (sha256 ab12.. in the checkpoint, cd34..
    now)" or "recipe lr (0.003 in the checkpoint, 0.001 now)"."""
    if not isinstance(old, dict):
        return ["written by an older cifar_nets (no run identity recorded)"]
    out = []
    for key in [*new, *(k for k in old if k not in new)]:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key in ("data", "split"):
            what = "other data" if key == "data" else "another train/validation split"
            out.append(f"written for {what} (sha256 {str(a)[:12]}.. in the checkpoint, "
                       f"{str(b)[:12]}.. now)")
        elif isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key} {k} ({_show(a.get(k))} in the checkpoint, {_show(b.get(k))} now)"
                    for k in [*b, *(k for k in a if k not in b)] if a.get(k) != b.get(k)]
        else:
            out.append(f"{key} ({_show(a)} in the checkpoint, {_show(b)} now)")
    return out


def save_checkpoint(state: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        if faults.fault("kill_in_checkpoint_write", state.get("epoch"), path):
            faults.kill(truncate=tmp)  # test-only (cifar_nets/faults.py): a write cut off midway
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())


def load_checkpoint(path: Path, identity: dict, log: Callable[[str], None]) -> dict | None:
    """The checkpoint at `path` if it is complete and was written by the run `identity` names
    (:func:`run_identity`), else None.

    A checkpoint of any other run (other data, split, recipe, engine numerics...) is set aside:
    never loaded, overwritten by this run's first checkpoint; the log line says which part differs.

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
    differences = identity_differences(state.get("identity"), identity)
    if differences:
        log(f"checkpoint {path} set aside, it belongs to different settings: "
            f"{'; '.join(differences)}; starting from epoch 0")
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


def _state_copy(model: torch.nn.Module) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


@dataclass
class _Run:
    """Everything one training run carries from step to step (built by :func:`_set_up`)."""
    block_type: str
    n_blocks: int
    seed: int
    recipe: Recipe
    options: EngineOptions
    device: torch.device
    speed: dict
    data: DeviceData
    tr: torch.Tensor             # training indices, on the device
    va: torch.Tensor             # validation indices
    sub: torch.Tensor            # the training subset evaluated in eval mode each epoch
    gen: torch.Generator         # the run's CPU generator: shuffling and augmentation
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: object
    step: CompiledStep
    identity: dict               # run_identity: what the result depends on
    fingerprint: str
    ckpt_path: Path | None
    where: object                # names this run to faults.fault
    log: Callable[[str], None]
    on_epoch: Callable[[dict], None] | None = None   # e.g. TensorBoard curves (tblog.py)
    name: str = ""
    history: list = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"val_acc": -1.0, "epoch": 0, "state": None})
    start_epoch: int = 0


def _set_up(x_train, y_train, train_idx, val_idx, *, block_type, n_blocks, seed, recipe, options,
            n_hidden, n_hidden_fc, checkpoint, log) -> _Run:
    """Device, options, data on the device, seeded model, optimizer, schedule, identity."""
    device = resolve_device(options.device)
    speed = resolve_options(options, device)
    configure_backends(speed)
    train_idx = np.ascontiguousarray(train_idx, dtype=np.int64)   # any strides, e.g. a[::-1]
    val_idx = np.ascontiguousarray(val_idx, dtype=np.int64)
    if recipe.batch_size > len(train_idx):
        raise ValueError(f"batch_size {recipe.batch_size} is larger than the training set "
                         f"({len(train_idx)} images)")
    data = DeviceData(x_train, y_train, device, recipe.mean, recipe.std, speed["channels_last"])
    tr = torch.as_tensor(train_idx, device=device)
    sub = tr if not options.train_eval_subset else tr[: options.train_eval_subset]

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_model(block_type, n_blocks, n_hidden, n_hidden_fc, recipe.dropout).to(device)
    if speed["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, recipe)
    sched = make_scheduler(opt, recipe, math.ceil(len(train_idx) / recipe.batch_size))
    identity = run_identity(data_sha256=content_sha256(x_train, y_train), train_idx=train_idx,
                            val_idx=val_idx, block_type=block_type, n_blocks=n_blocks, seed=seed,
                            recipe=recipe, options=options, n_hidden=n_hidden,
                            n_hidden_fc=n_hidden_fc, device=device)
    ckpt_path = Path(checkpoint) if checkpoint else None
    return _Run(block_type=block_type, n_blocks=n_blocks, seed=seed, recipe=recipe,
                options=options, device=device, speed=speed, data=data, tr=tr,
                va=torch.as_tensor(val_idx, device=device), sub=sub, gen=gen, model=model,
                opt=opt, sched=sched, step=CompiledStep(model, speed["compile"], log),
                identity=identity, fingerprint=fingerprint(identity), ckpt_path=ckpt_path,
                log=log, name=model_name(block_type),
                where=ckpt_path or f"{block_type}/n{n_blocks}/seed{seed}")


def _resume(run: _Run) -> None:
    """Continue from the run's checkpoint when it exists and belongs to these settings."""
    if run.ckpt_path is None:
        return
    state = load_checkpoint(run.ckpt_path, run.identity, run.log)
    if state is None:
        return
    run.model.load_state_dict(state["model"])
    run.opt.load_state_dict(state["optimizer"])
    if run.sched is not None and state.get("lr_scheduler"):
        run.sched.load_state_dict(state["lr_scheduler"])
    run.history = list(state["history"])
    run.best = {"val_acc": state["best_val_acc"], "epoch": state["best_epoch"],
                "state": state["best_model"]}
    _set_rng_state(state["rng"], run.gen, run.device)
    run.start_epoch = state["epoch"]
    run.log(f"resumed from {run.ckpt_path} after epoch {run.start_epoch} "
            f"(best val {run.best['val_acc']:.2f}% at epoch {run.best['epoch']})")


def _train_epoch(run: _Run, epoch: int, bar) -> dict:
    """One pass over the training set; returns loss, running accuracy and seconds."""
    recipe, device = run.recipe, run.device
    run.model.train()
    _sync(device)
    t0 = time.perf_counter()
    perm = torch.randperm(len(run.tr), generator=run.gen).to(device)
    # the epoch's augmentation numbers in one draw and one copy: no per-step host-device sync
    aug = (draw_augmentation(len(run.tr), recipe.batch_size, run.gen, recipe.crop_padding, device)
           if recipe.augment else None)
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    # test-only hooks (cifar_nets/faults.py), False unless CIFAR_ABLATION_FAULT is set
    kill_mid_epoch = faults.fault("kill_in_epoch", epoch, run.where)
    poison = (float("nan") if faults.fault("nan_loss", epoch, run.where) else
              float("inf") if faults.fault("inf_loss", epoch, run.where) else None)
    try:
        for start in range(0, len(run.tr), recipe.batch_size):
            if kill_mid_epoch and start > 0:
                faults.kill()
            sl = slice(start, start + recipe.batch_size)
            idx = run.tr[perm[sl]]
            xb = run.data.x[idx]
            if aug is not None:
                xb = augment_batch(xb, None, recipe.crop_padding,
                                   tuple(None if a is None else a[sl] for a in aug))
            xb, yb = run.data.normalise(xb), run.data.y[idx]

            def forward_backward(net):
                with autocast(device, run.speed["bf16"]):
                    out = net(xb)
                    loss = F.cross_entropy(out.float(), yb, label_smoothing=recipe.label_smoothing)
                    if poison is not None:
                        loss = loss + poison
                run.opt.zero_grad(set_to_none=True)
                loss.backward()
                return out, loss

            out, loss = run.step(forward_backward)
            run.opt.step()
            if run.sched is not None:
                run.sched.step()
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
    loss = loss_sum.item() / len(run.tr)
    if not math.isfinite(loss):
        raise TrainingDiverged(
            f"{run.name} n_blocks={run.n_blocks} seed={run.seed}: training loss became {loss} in "
            f"epoch {epoch} (lr {recipe.lr}); stopping this run")
    return {"train_loss": loss, "train_acc_running": 100.0 * correct.item() / len(run.tr),
            "seconds": seconds}


def _end_of_epoch(run: _Run, epoch: int, trained: dict, bar) -> None:
    """Validation and eval-mode train accuracy, history, best weights, log line, checkpoint."""
    opts, bf16 = run.options, run.speed["bf16"]
    t1 = time.perf_counter()
    try:
        val_acc = accuracy(run.model, run.data, run.va, opts.eval_batch_size, bf16)
        train_acc = accuracy(run.model, run.data, run.sub, opts.eval_batch_size, bf16)
    except torch.OutOfMemoryError as exc:
        raise RuntimeError(
            f"out of memory on {run.device} evaluating epoch {epoch} with eval_batch_size "
            f"{opts.eval_batch_size}: lower eval_batch_size ({exc})") from None
    row = {"epoch": epoch, "train_loss": trained["train_loss"],
           "train_acc_running": trained["train_acc_running"], "train_acc": train_acc,
           "val_acc": val_acc, "lr": run.opt.param_groups[0]["lr"], "seconds": trained["seconds"],
           "eval_seconds": time.perf_counter() - t1,
           "images_per_s": len(run.tr) / trained["seconds"]}
    run.history.append(row)
    if val_acc > run.best["val_acc"]:
        run.best = {"val_acc": val_acc, "epoch": epoch, "state": _state_copy(run.model)}
    if bar is not None:
        bar.clear()  # keep the epoch line above the progress bar
    run.log(f"epoch {epoch:3d}/{run.recipe.epochs} loss {row['train_loss']:.4f} train "
            f"{train_acc:6.2f}% (running {row['train_acc_running']:6.2f}%) val {val_acc:6.2f}% "
            f"{row['seconds']:6.1f}s {row['images_per_s']:7.0f} img/s "
            f"(+{row['eval_seconds']:.1f}s eval)")
    if run.ckpt_path is not None and (epoch % opts.checkpoint_every == 0
                                      or epoch == run.recipe.epochs):
        save_checkpoint({
            "fingerprint": run.fingerprint, "identity": run.identity, "epoch": epoch,
            "model": run.model.state_dict(), "optimizer": run.opt.state_dict(),
            "lr_scheduler": run.sched.state_dict() if run.sched is not None else None,
            "history": run.history, "best_val_acc": run.best["val_acc"],
            "best_epoch": run.best["epoch"], "best_model": run.best["state"],
            "rng": _rng_state(run.gen, run.device),
        }, run.ckpt_path)
    if run.on_epoch is not None:
        run.on_epoch(row)
    if faults.fault("kill_after_epoch", epoch, run.where):
        faults.kill()
    if faults.fault("stop_after_epoch", epoch, run.where):
        faults.kill(stop=True)


def _summary(run: _Run) -> TrainResult:
    """The weights handed to evaluation and train.json's facts about the run."""
    recipe, best, history = run.recipe, run.best, run.history
    if run.options.evaluate_weights == "best":
        weights, which = best["state"], f"best validation accuracy (epoch {best['epoch']})"
    else:
        weights, which = _state_copy(run.model), f"last epoch ({recipe.epochs})"
    train_seconds = sum(h["seconds"] for h in history)
    summary = {
        "model": run.name, "block_type": run.block_type, "n_blocks": run.n_blocks,
        "seed": run.seed, "recipe": recipe.name, "parameters": count_parameters(run.model),
        "flops_per_image": flops_per_image(run.model),
        "epochs": recipe.epochs, "best_epoch": best["epoch"], "best_val_acc": best["val_acc"],
        "final_train_acc": history[-1]["train_acc"], "final_val_acc": history[-1]["val_acc"],
        "train_val_gap": history[-1]["train_acc"] - history[-1]["val_acc"],
        "train_seconds": train_seconds,
        "train_images_per_s": len(run.tr) * len(history) / train_seconds,
        "evaluated_weights": which, "device": str(run.device),
        "threads": torch.get_num_threads(), **run.speed, "compile": run.step.record(),
        **run_environment(run.device),
        # what the result depends on (run_identity) and the code it came from
        "data_sha256": run.identity["data"], "split_sha256": run.identity["split"],
        "run_fingerprint": run.fingerprint, "resumed_after_epoch": run.start_epoch,
        **project_version(),
    }
    run.log(f"done: best val {best['val_acc']:.2f}% at epoch {best['epoch']}; evaluating {which}")
    return TrainResult(history=history, weights=weights, summary=summary)


def _progress_bar(run: _Run, progress: bool | None):
    if not (sys.stderr.isatty() if progress is None else progress):
        return None
    try:
        from tqdm import tqdm  # noqa: PLC0415
    except ImportError:
        return None
    steps = math.ceil(len(run.tr) / run.recipe.batch_size)
    return tqdm(total=run.recipe.epochs * steps, initial=run.start_epoch * steps, unit="step",
                desc=f"{run.name} n{run.n_blocks} s{run.seed}", file=sys.stderr)


def train_run(x_train: np.ndarray, y_train: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
              *, block_type: str, n_blocks: int, seed: int, recipe: Recipe,
              options: EngineOptions, n_hidden: int, n_hidden_fc: int,
              checkpoint: str | Path | None = None, log: Callable[[str], None] = print,
              progress: bool | None = None, max_epochs: int | None = None,
              on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train one (block type, n_blocks, seed) run and return its history and weights.

    `checkpoint`: path of the resumable checkpoint (written after every epoch, removed by the
    caller once outputs are safe). `max_epochs` stops early after that many finished epochs in
    this call (used by tests to simulate a kill); the checkpoint then holds the state.
    `on_epoch(row)` is called with each finished epoch's history row, after its checkpoint.
    """
    run = _set_up(x_train, y_train, train_idx, val_idx, block_type=block_type, n_blocks=n_blocks,
                  seed=seed, recipe=recipe, options=options, n_hidden=n_hidden,
                  n_hidden_fc=n_hidden_fc, checkpoint=checkpoint, log=log)
    run.on_epoch = on_epoch
    _resume(run)
    s = run.speed
    log(f"{run.name} n_blocks={n_blocks} seed={seed} recipe={recipe.name}: "
        f"{count_parameters(run.model):,} parameters, {len(run.tr)} train / {len(run.va)} val "
        f"images, device={run.device}, threads={torch.get_num_threads()}, bf16={s['bf16']}, "
        f"channels_last={s['channels_last']}, compile={s['compile']}, tf32={s['tf32']}")
    bar = _progress_bar(run, progress)
    try:
        for n, epoch in enumerate(range(run.start_epoch + 1, recipe.epochs + 1), start=1):
            _end_of_epoch(run, epoch, _train_epoch(run, epoch, bar), bar)
            if max_epochs is not None and n >= max_epochs and epoch < recipe.epochs:
                return TrainResult(history=run.history, weights={},
                                   summary={"stopped_after_epoch": epoch})
    finally:
        if bar is not None:
            bar.close()
    return _summary(run)
