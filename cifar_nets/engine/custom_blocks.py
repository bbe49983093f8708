"""Blocks of your own: `model.custom_blocks: {name: "module:Class"}`, imported, checked, registered.

The contract a class must meet (the built-in ConvBlock, ResBlock and SkipBlock meet it):

- `Class(n_hidden)` builds a torch.nn.Module; `n_hidden` is the config's model.n_hidden, the
  channels of the convolutions around the blocks.
- Its forward maps a float tensor (N, n_hidden, H, W) to one of the same shape: it keeps the
  channels at n_hidden (inside it may use any width) and the spatial size (H = W = 8 for 32x32
  images), so that model.n_blocks copies of it stack between conv3 and the classifier.
- Its module is imported as Python imports it, with the working directory (where Snakemake or
  `python -m cifar_nets` runs) first on sys.path and this project's folder last:
  `my_blocks:GatedBlock` is ./my_blocks.py (or an installed module), and
  `examples.my_blocks:GatedBlock` the project's examples/my_blocks.py. Every job imports it the
  same way (:func:`register_custom_blocks`).

Before any job, :func:`check_custom_blocks` (called by the config's validation) imports each class,
builds it, runs it as training and evaluation will (:func:`check_block`: batches of 1 and 2 of
shape (N, n_hidden, 8, 8), a non-leaf input, training mode with a backward pass and eval mode,
float32 and, where the engine may use them, bf16 autocast and channels-last) and counts its
parameters; any failure, SystemExit included, is one line naming the key
(`model.custom_blocks.gated: ...`). The sha256
of the source file that defines the class is part of the identity of every run of that block
(:func:`block_params`: the train rule's params and cifar_nets.engine.checkpoints.run_identity), so
editing that file retrains that block's runs and nothing else. Helpers imported from other files
are not hashed: keep a block in one file.

Torch is imported only when a config names a block of its own.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cifar_nets import BLOCK_TYPES, MODEL_NAMES

FEATURE_SIDE = 8            # H = W of the feature map the blocks see, for 32x32 images
DUMMY_BATCH = 2             # besides a batch of one (a last batch): both must work
PROJECT = str(Path(__file__).resolve().parent.parent)   # holds examples/


class CustomBlockError(ValueError):
    """One line naming the key (model.custom_blocks.<name>) and what is wrong."""


@dataclass(frozen=True)
class CustomBlock:
    name: str               # the block type: study.block_types, paths, tables
    target: str             # "module:Class" as the config gives it
    cls: type
    source_file: str
    source_sha256: str

    @property
    def identity(self) -> dict:
        """What a run of this block depends on beyond the package: the train rule's params and
        part of cifar_nets.engine.checkpoints.run_identity."""
        return {"class": self.target, "source_sha256": self.source_sha256}


_LOADED: dict[tuple[str, str], CustomBlock] = {}


def _key(name: str) -> str:
    return f"model.custom_blocks.{name}"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text[:200]}"


def name_clash(name: str) -> str | None:
    """Why `name` cannot name a block of your own, or None."""
    if name in BLOCK_TYPES:
        return f"{name!r} is a built-in block type ({', '.join(BLOCK_TYPES)}); give yours another name"
    taken = {v: k for k, v in MODEL_NAMES.items()}
    if f"Custom_{name}" in taken:
        return (f"its network would be named Custom_{name}, the name of the built-in "
                f"{taken[f'Custom_{name}']!r}; give yours another name")
    return None


def load_block(name: str, target: str) -> CustomBlock:
    """Import the class `target` ("module:Class") names, with the working directory on sys.path,
    and hash the file that defines it. CustomBlockError (one line naming the key) if it cannot."""
    clash = name_clash(name)
    if clash:
        raise CustomBlockError(f"{_key(name)}: {clash}")
    cached = _LOADED.get((name, target))
    if cached is not None:
        return cached
    module_name, _, class_name = target.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    if PROJECT not in sys.path:
        sys.path.append(PROJECT)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            raise CustomBlockError(
                f"{_key(name)}: no module {exc.name!r} to import (looked in the working directory "
                f"{cwd}, on sys.path and in {PROJECT}); put {module_name.replace('.', '/')}.py in "
                "the working directory or install it") from None
        raise CustomBlockError(f"{_key(name)}: importing {module_name} failed: {_short(exc)}") from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - any error in the user's module, SystemExit too
        raise CustomBlockError(f"{_key(name)}: importing {module_name} failed: {_short(exc)}") from None
    cls = getattr(module, class_name, None)
    if not inspect.isclass(cls):
        raise CustomBlockError(f"{_key(name)}: module {module_name} ({getattr(module, '__file__', '?')}) "
                               f"has no class {class_name!r}")
    try:
        source_file = inspect.getsourcefile(cls)
        with open(source_file, "rb") as f:
            source = f.read()
    except (OSError, TypeError) as exc:
        raise CustomBlockError(f"{_key(name)}: cannot read the source of {target} ({_short(exc)}): "
                               "its hash is part of each run's identity") from None
    block = CustomBlock(name, target, cls, source_file, hashlib.sha256(source).hexdigest())
    _LOADED[(name, target)] = block
    return block


def _guarded(key: str, what: str, call):
    """`call()`, with any failure (SystemExit and other BaseExceptions too: a block must not end
    the workflow) as one CustomBlockError line naming the key; only Ctrl-C passes through."""
    try:
        return call()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure of user code is one line
        raise CustomBlockError(f"{key}: {what} raised {_short(exc)}") from None


def _cases(engine: dict | None) -> list[tuple[bool, bool]]:
    """(bf16 autocast, channels-last input) combinations training and evaluation may use with
    the config's `engine` (auto may turn either on): fp32 contiguous, and the faster one."""
    engine = engine or {}
    bf16, channels_last = engine.get("bf16", "auto") is not False, \
        engine.get("channels_last", "auto") is not False
    return [(False, False)] + ([(bf16, channels_last)] if bf16 or channels_last else [])


def check_block(block: CustomBlock, n_hidden: int, engine: dict | None = None,
                device=None) -> int:
    """Build the block for `n_hidden` channels and run it as training and evaluation will: a
    non-leaf input (a convolution's output there), a batch of one (a last batch) and of
    DUMMY_BATCH, in training mode with a backward pass and in eval mode without gradients, in
    float32 and, when `engine` (the config's) may use them, under bf16 autocast and with a
    channels-last input. The output must be a finite floating tensor of the input's shape, on
    its device, float32 (or bfloat16 under autocast). On `device` (default the CPU: the process
    that checks a config never initialises a GPU; a training job checks its block again on its
    own device, :func:`check_in_job`). Its number of trainable parameters, or CustomBlockError
    (any failure, SystemExit included, is one line naming the key)."""
    import torch  # noqa: PLC0415 - only a config with blocks of its own needs torch here

    key = _key(block.name)
    module = _guarded(key, f"{block.target}({n_hidden})", lambda: block.cls(n_hidden))
    if not isinstance(module, torch.nn.Module):
        raise CustomBlockError(f"{key}: {block.target}({n_hidden}) is a {type(module).__name__}, "
                               "not a torch.nn.Module")
    device = torch.device("cpu" if device is None else device)
    _guarded(key, f"{block.target}.to({device})", lambda: module.to(device))
    gen = torch.Generator().manual_seed(0)
    for bf16, channels_last in _cases(engine):
        for training in (True, False):
            for n in (DUMMY_BATCH, 1):
                _run_once(block, module, key, n, n_hidden, training, bf16, channels_last, gen,
                          device)
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _run_once(block, module, key, n, n_hidden, training, bf16, channels_last, gen,
              device) -> None:
    import torch  # noqa: PLC0415

    shape = (n, n_hidden, FEATURE_SIDE, FEATURE_SIDE)
    mode = (f"in {'training' if training else 'eval'} mode"
            f"{', bf16 autocast' if bf16 else ', float32'}{', channels-last' if channels_last else ''}")
    how = f"{mode} on a batch of shape {shape}"
    leaf = torch.randn(*shape, generator=gen).to(device).requires_grad_(training)

    def forward():
        module.train(training)
        with torch.set_grad_enabled(training), \
                torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            x = leaf * 1.0            # non-leaf, as a convolution's output is in the network
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return module(x)

    out = _guarded(key, f"{block.target} {how}", forward)
    if not isinstance(out, torch.Tensor):
        raise CustomBlockError(f"{key}: {block.target} returned a {type(out).__name__}, not a "
                               f"tensor, {how}")
    if out.device != leaf.device:
        raise CustomBlockError(f"{key}: {block.target} returned a tensor on {out.device}, not on "
                               f"its input's device {leaf.device}, {how}")
    if tuple(out.shape) != shape or not out.is_floating_point():
        raise CustomBlockError(f"{key}: {block.target} maps {shape} to {tuple(out.shape)} "
                               f"{str(out.dtype).removeprefix('torch.')} ({mode}); a block must keep "
                               f"the shape (N, n_hidden, H, W) = {shape} so blocks stack")
    allowed = (torch.float32, torch.bfloat16) if bf16 else (torch.float32,)
    if out.dtype not in allowed:
        raise CustomBlockError(
            f"{key}: {block.target} returns {str(out.dtype).removeprefix('torch.')} {how}; the "
            f"network computes in {' or '.join(str(d).removeprefix('torch.') for d in allowed)}: "
            f"return the input's dtype (e.g. out.to(x.dtype))")
    if not torch.isfinite(out.detach().float()).all():
        raise CustomBlockError(f"{key}: {block.target} gives NaN or inf {how}")
    if training and out.requires_grad:
        _guarded(key, f"{block.target}: the backward pass {how}",
                 lambda: out.float().sum().backward())


def check_in_job(block_type: str, n_hidden: int, resolved: dict, device) -> None:
    """In a training job: check the run's block of your own (if it is one) once more, on the
    job's `device` with the options training `resolved` there (bf16, channels_last), before any
    epoch, so that what only fails there is one line too. Nothing for a built-in block."""
    from cifar_nets.engine.models import block_identity  # noqa: PLC0415

    identity = block_identity(block_type)
    block = _LOADED.get((block_type, identity["class"])) if identity else None
    if block is not None:
        check_block(block, n_hidden, {"bf16": bool(resolved["bf16"]),
                                      "channels_last": bool(resolved["channels_last"])}, device)


def check_custom_blocks(model: dict, engine: dict | None = None) -> dict[str, int]:
    """Every block of `model.custom_blocks` (the config's model section) imports, builds for
    model.n_hidden and runs as training will with the config's `engine` (:func:`check_block`):
    its parameter count per name, or CustomBlockError naming the first that does not."""
    return {name: check_block(load_block(name, target), model["n_hidden"], engine)
            for name, target in model.get("custom_blocks", {}).items()}


def register_custom_blocks(model: dict) -> list[str]:
    """Import the config's blocks of your own and make them buildable by name in this process
    (cifar_nets.engine.models.build_model): what a job does before it builds a network."""
    custom = model.get("custom_blocks") or {}
    if not custom:
        return []
    from cifar_nets.engine.models import register_block  # noqa: PLC0415 - torch only when there are blocks

    for name, target in custom.items():
        block = load_block(name, target)
        register_block(name, block.cls, block.identity)
    return list(custom)


def block_params(model: dict, block_type: str) -> dict:
    """The train rule's `model` params for one block type: the widths, and for a block of your own
    its class and source sha256, so that Snakemake retrains its runs when the file changes (and a
    built-in block type's params do not change when model.custom_blocks does)."""
    params = {k: v for k, v in model.items() if k != "custom_blocks"}
    target = (model.get("custom_blocks") or {}).get(block_type)
    if target is not None:
        params["block"] = load_block(block_type, target).identity
    return params


def study_block_types(schema: dict, config) -> dict:
    """`schema` with study.block_types also accepting the names under model.custom_blocks of
    `config` (not yet validated: anything that is not a mapping of names adds nothing)."""
    model = config.get("model") if isinstance(config, dict) else None
    custom = model.get("custom_blocks") if isinstance(model, dict) else None
    names = [n for n in custom if isinstance(n, str) and n not in BLOCK_TYPES] if isinstance(custom, dict) else []
    if not names:
        return schema
    import copy  # noqa: PLC0415

    out = copy.deepcopy(schema)
    items = out["properties"]["study"]["properties"]["block_types"]["items"]
    items["enum"] = [*items["enum"], *names]
    return out
