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
builds it, runs a dummy batch (2, n_hidden, 8, 8) through it in training mode and counts its
parameters; any failure is one line naming the key (`model.custom_blocks.gated: ...`). The sha256
of the source file that defines the class is part of the identity of every run of that block
(:func:`block_params`: the train rule's params and cifar_nets.checkpoints.run_identity), so
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

from . import BLOCK_TYPES, MODEL_NAMES

FEATURE_SIDE = 8            # H = W of the feature map the blocks see, for 32x32 images
DUMMY_BATCH = 2             # > 1: a BatchNorm in training mode needs two samples
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
        part of cifar_nets.checkpoints.run_identity."""
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
    except Exception as exc:  # noqa: BLE001 - any error in the user's module is reported the same
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


def check_block(block: CustomBlock, n_hidden: int) -> int:
    """Build the block for `n_hidden` channels and run a dummy batch through it (training mode,
    then a backward pass). Its number of trainable parameters, or CustomBlockError."""
    import torch  # noqa: PLC0415 - only a config with blocks of its own needs torch here

    key = _key(block.name)
    try:
        module = block.cls(n_hidden)
    except Exception as exc:  # noqa: BLE001
        raise CustomBlockError(f"{key}: {block.target}({n_hidden}) raised {_short(exc)} "
                               f"(the contract: Class(n_hidden) with model.n_hidden = {n_hidden})") from None
    if not isinstance(module, torch.nn.Module):
        raise CustomBlockError(f"{key}: {block.target}({n_hidden}) is a {type(module).__name__}, "
                               "not a torch.nn.Module")
    shape = (DUMMY_BATCH, n_hidden, FEATURE_SIDE, FEATURE_SIDE)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0), requires_grad=True)
    try:
        out = module.train()(x)
    except Exception as exc:  # noqa: BLE001
        raise CustomBlockError(f"{key}: {block.target} raised {_short(exc)} on a dummy batch of "
                               f"shape {tuple(shape)}") from None
    if not isinstance(out, torch.Tensor):
        raise CustomBlockError(f"{key}: {block.target} returned a {type(out).__name__}, not a tensor")
    if tuple(out.shape) != shape or not out.is_floating_point():
        raise CustomBlockError(f"{key}: {block.target} maps {tuple(shape)} to "
                               f"{tuple(out.shape)} {str(out.dtype).removeprefix('torch.')}; a block "
                               f"must keep the shape (N, n_hidden, H, W) = {tuple(shape)} so blocks stack")
    if not torch.isfinite(out).all():
        raise CustomBlockError(f"{key}: {block.target} gives NaN or inf on a dummy batch of "
                               f"shape {tuple(shape)}")
    if out.requires_grad:
        try:
            out.sum().backward()
        except Exception as exc:  # noqa: BLE001
            raise CustomBlockError(f"{key}: {block.target}: the backward pass raised "
                                   f"{_short(exc)}") from None
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def check_custom_blocks(model: dict) -> dict[str, int]:
    """Every block of `model.custom_blocks` (the config's model section) imports, builds for
    model.n_hidden and keeps the shape on a dummy batch: its parameter count per name, or
    CustomBlockError naming the first that does not."""
    return {name: check_block(load_block(name, target), model["n_hidden"])
            for name, target in model.get("custom_blocks", {}).items()}


def register_custom_blocks(model: dict) -> list[str]:
    """Import the config's blocks of your own and make them buildable by name in this process
    (cifar_nets.models.build_model): what a job does before it builds a network."""
    custom = model.get("custom_blocks") or {}
    if not custom:
        return []
    from .models import register_block  # noqa: PLC0415 - torch only when there are blocks

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
