"""What a run's result depends on, and the files that hold a run's state and weights.

- Run identity: :func:`run_identity` (the one definition of what a result depends on),
  :func:`fingerprint` (its short name), :func:`identity_differences` (what differs, in words).
- The checkpoint (torchvision references layout: model, optimizer, lr_scheduler, epoch, plus the
  run's identity, history, best weights and RNG states): :func:`save_checkpoint` (atomic),
  :func:`load_checkpoint` (only the same run's; any other is set aside with a line saying why),
  :func:`rng_state` and :func:`set_rng_state`.
- The weights file (model.pt) that training writes and evaluation reads: :func:`save_weights`
  (the evaluated weights, what rebuilds the network and the run's identity) and :func:`load_model`
  (given the run it is read for, :func:`spec_identity`, it refuses any other run's weights:
  :func:`check_weights`, :class:`WeightsError`).

The checkpoint is written after every epoch, so a killed job resumes from its last finished epoch
and ends bit-identical to an uninterrupted one (CPU, fp32).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from cifar_nets.engine import hooks
from cifar_nets.data.arrays import arrays_sha256
from cifar_nets.machine.hardware import resolve_options
from cifar_nets import io as fileio
from cifar_nets.io import atomic_path
from cifar_nets.engine.models import block_identity, build_model
from cifar_nets.engine.recipe import NUMERIC_ENGINE_KEYS, EngineOptions, RunSpec

# --------------------------------------------------------------------------- run identity

def run_identity(spec: RunSpec, options: EngineOptions, device: torch.device, *,
                 data_sha256: str, train_idx, val_idx) -> dict:
    """What a run's result depends on, and nothing else: the one definition.

    The training data's content (`data_sha256`, :func:`cifar_nets.data.arrays.content_sha256` of the
    images and labels it trains on), the split (a checksum of its train and validation indices),
    the run (`spec`: block type, depth, seed, the whole recipe, the model's widths; for a block
    of your own also its "module:Class" and source file's sha256, :mod:`cifar_nets.engine.custom_blocks`), and the
    engine options that change numbers (:data:`cifar_nets.NUMERIC_ENGINE_KEYS`, as resolved for
    `device`: "auto" means whatever it turned into here). A JSON-shaped dict (lists, not
    tuples), so it compares equal to the copy a checkpoint stores. Its :func:`fingerprint` names
    the checkpoint's run.
    """
    resolved = dict(resolve_options(options, device), device=device.type)
    engine = {k: resolved[k] if k in resolved else getattr(options, k) for k in NUMERIC_ENGINE_KEYS}
    identity = {
        "data": data_sha256,
        "split": arrays_sha256(np.asarray(train_idx, dtype=np.int64),
                               np.asarray(val_idx, dtype=np.int64)),
        **spec_identity(spec),
        "engine": engine,
    }
    return json.loads(json.dumps(identity, default=str))


def spec_identity(spec: RunSpec) -> dict:
    """The part of :func:`run_identity` that the run `spec` alone fixes: block type, depth, seed,
    recipe, widths and, for a block of your own, its "module:Class" and source file's sha256 as
    imported in this process. What evaluation expects of the weights it reads."""
    identity = {
        "block_type": spec.block_type, "n_blocks": int(spec.n_blocks), "seed": int(spec.seed),
        "recipe": asdict(spec.recipe),
        "model": {"n_hidden": int(spec.n_hidden), "n_hidden_fc": int(spec.n_hidden_fc)},
    }
    block = block_identity(spec.block_type)   # a block of your own: its class and source's sha256
    if block is not None:
        identity["block"] = block
    return json.loads(json.dumps(identity, default=str))


def fingerprint(identity: dict) -> str:
    """A short name for a run identity (16 hex digits of the sha256 of its canonical JSON)."""
    blob = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _show(value) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def identity_differences(old, new: dict, old_where: str = "in the checkpoint",
                         new_where: str = "now") -> list[str]:
    """What differs between a checkpoint's identity (`old`) and this run's (`new`), one phrase
    per differing part, e.g. "written for other data (sha256 ab12.. in the checkpoint, cd34..
    now)" or "recipe lr (0.003 in the checkpoint, 0.001 now)". `old_where` and `new_where` name
    the two sides (the weights file's words: "in the weights", "for this run")."""
    if not isinstance(old, dict):
        return ["written by an older cifar_nets (no run identity recorded)"]
    out = []
    for key in [*new, *(k for k in old if k not in new)]:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key in ("data", "split"):
            what = "other data" if key == "data" else "another train/validation split"
            out.append(f"written for {what} (sha256 {str(a)[:12]}.. {old_where}, "
                       f"{str(b)[:12]}.. {new_where})")
        elif isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key} {k} ({_show(a.get(k))} {old_where}, {_show(b.get(k))} {new_where})"
                    for k in [*b, *(k for k in a if k not in b)] if a.get(k) != b.get(k)]
        else:
            out.append(f"{key} ({_show(a)} {old_where}, {_show(b)} {new_where})")
    return out


# --------------------------------------------------------------------------- the checkpoint

def save_checkpoint(state: dict, path: Path) -> None:
    """`state` to `path` with torch.save, atomically and flushed to disk. Serialised in memory
    first, so a full disk is an OSError of the write (torch's own writer would say only
    "unexpected pos"): a one-line cifar_nets.io.DiskFullError naming `path` and its size, the
    last complete file there kept."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    with atomic_path(path, size=len(data)) as tmp:
        fileio.write_file(tmp, data)
        hooks.emit("checkpoint_temp_written", epoch=state.get("epoch"), where=path, temp=tmp)
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


def rng_state(gen: torch.Generator, device: torch.device) -> dict:
    """The run's RNG states: its CPU generator (shuffling, augmentation), torch's, CUDA's."""
    st = {"shuffle": gen.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(device)
    return st


def set_rng_state(st: dict, gen: torch.Generator, device: torch.device) -> None:
    """Restore what :func:`rng_state` recorded."""
    gen.set_state(st["shuffle"])
    torch.set_rng_state(st["torch"])
    if device.type == "cuda" and "cuda" in st:
        torch.cuda.set_rng_state(st["cuda"], device)


# --------------------------------------------------------------------------- the weights file

class WeightsError(ValueError):
    """A weights file that is not the run's it is read for (one line naming both), or one
    written without a run identity."""


def save_weights(path, weights: dict, spec: RunSpec, which: str,
                 identity: dict | None = None) -> None:
    """The evaluated weights plus what is needed to rebuild the network (loads weights_only) and
    the run's identity (:func:`run_identity`, with its :func:`fingerprint`), so evaluation can
    tell them from another run's (:func:`check_weights`). `identity` None: the spec's part only."""
    recipe = spec.recipe
    identity = spec_identity(spec) if identity is None else identity
    save_checkpoint({"model": weights, "block_type": spec.block_type,
                     "n_blocks": int(spec.n_blocks), "n_hidden": int(spec.n_hidden),
                     "n_hidden_fc": int(spec.n_hidden_fc), "dropout": float(recipe.dropout),
                     "mean": list(recipe.mean), "std": list(recipe.std), "which": which,
                     "identity": identity, "fingerprint": fingerprint(identity)},
                    Path(path))


def check_weights(blob: dict, path, expect: dict, run_fingerprint: str | None = None) -> None:
    """Raise WeightsError unless the weights file `blob` (read from `path`) was written by the run
    `expect` describes: every part of `expect` (:func:`spec_identity`, perhaps with the `data`
    checksum) equals the weights' identity, and, when `run_fingerprint` (train.json's) is given,
    the weights' identity is the one that train.json's run had. One line naming both sides."""
    identity = blob.get("identity") if isinstance(blob, dict) else None
    if not isinstance(identity, dict):
        raise WeightsError(
            f"{path}: written without a run identity (by an older cifar_nets), so nothing says "
            f"which run's weights these are; retrain that run (delete {path} and its train.json, "
            f"or snakemake --forcerun train)")
    differences = identity_differences({k: identity.get(k) for k in expect}, expect,
                                       "in the weights", "for this run")
    if not differences and run_fingerprint is not None and fingerprint(identity) != run_fingerprint:
        differences = [f"run fingerprint ({fingerprint(identity)} in the weights, "
                       f"{run_fingerprint} in its train.json: another run's weights)"]
    if differences:
        raise WeightsError(f"{path}: these weights are not this run's: {'; '.join(differences)}; "
                           f"retrain this run (delete {path}, or snakemake --forcerun train)")


def load_model(path, device="cpu", *, expect: dict | None = None,
               run_fingerprint: str | None = None) -> tuple[torch.nn.Module, dict]:
    """The network a weights file holds (in eval mode, on `device`) and the file's contents.
    Given the run it is read for (`expect`, `run_fingerprint`: :func:`check_weights`), another
    run's weights, or weights without an identity, are refused before anything is built."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if expect is not None:
        check_weights(blob, path, expect, run_fingerprint)
    n_classes = blob["model"]["linear2.weight"].shape[0]   # the dataset's classes, as trained
    model = build_model(blob["block_type"], blob["n_blocks"], blob["n_hidden"],
                        blob["n_hidden_fc"], blob["dropout"], n_classes=n_classes)
    model.load_state_dict(blob["model"])
    return model.to(device).eval(), blob
