"""What a run trains and with which settings: the option types and the optimizer and schedule.

- :class:`Recipe`: how a network is trained (one entry of the config's `recipes`);
  :func:`make_optimizer` and :func:`make_scheduler` turn it into torch objects.
- :class:`EngineOptions`: how fast a recipe runs (the config's `engine`), with
  :data:`NUMERIC_ENGINE_KEYS`, the engine keys that can change what a run computes (the one
  list: :func:`engine_params` and :func:`job_engine` give rules and job scripts their part), and
  :data:`RUN_ONLY_ENGINE_KEYS`, those that only say how a job runs.
- :class:`RunSpec`: which run: block type, depth, seed, recipe and the model's widths.

Nothing at module level imports torch: the package's `__init__` (hence the Snakefile) reads
:data:`NUMERIC_ENGINE_KEYS` from here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# The config's `engine` keys that can change what a run computes: the one statement of it. A run's
# identity holds them (cifar_nets.engine.checkpoints.run_identity, hence its checkpoint
# fingerprint); the train, tune_train and evaluate rules pass them as params (engine_params, via
# rules/common.smk numeric_engine), so changing one reruns the runs; the job scripts take them
# from their params and every other engine key from the config (job_engine); the "what changing it
# reruns" column of docs/configuration.md says "every run" for exactly these (tests/test_docs.py).
# Every one of them is a field of EngineOptions.
NUMERIC_ENGINE_KEYS = ("device", "channels_last", "bf16", "compile", "tf32", "train_eval_subset",
                       "evaluate_weights")
# engine keys that are no field of EngineOptions: they only say how a job runs (which GPUs, how
# many jobs per GPU, runs per SLURM job, threads). With eval_batch_size and checkpoint_every
# (fields of EngineOptions: how fast, how often) they are the rest of the config's `engine`,
# none of which reruns anything.
RUN_ONLY_ENGINE_KEYS = ("gpus", "runs_per_gpu", "runs_per_job", "threads")


def engine_params(engine: dict) -> dict:
    """The result-changing keys (NUMERIC_ENGINE_KEYS) of the config's `engine`: what a rule passes
    as its `engine` params, so that changing one of them, and only those, reruns its jobs."""
    return {k: engine[k] for k in NUMERIC_ENGINE_KEYS}


def job_engine(config_engine: dict, params_engine: dict) -> dict:
    """The engine settings a job runs with: the result-changing keys from its rule's params
    (engine_params), every other key from the config (changing those reruns nothing)."""
    missing = [k for k in NUMERIC_ENGINE_KEYS if k not in params_engine]
    if missing:
        raise KeyError(f"the rule's engine params lack {', '.join(missing)} (see engine_params)")
    return {**config_engine, **{k: params_engine[k] for k in NUMERIC_ENGINE_KEYS}}


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


@dataclass(frozen=True)
class RunSpec:
    """Which run to train: one point of the study grid (block type, depth, seed, recipe) and
    the widths of its network (the config's `model`)."""
    block_type: str
    n_blocks: int
    seed: int
    recipe: Recipe
    n_hidden: int
    n_hidden_fc: int

    @property
    def label(self) -> str:
        """The run in a path-like form, e.g. res/n6/seed0."""
        return f"{self.block_type}/n{self.n_blocks}/seed{self.seed}"


def make_optimizer(model, recipe: Recipe):
    """The recipe's optimizer over `model`'s parameters (a torch.optim.Optimizer)."""
    import torch  # noqa: PLC0415 - module level stays torch-free (see the docstring)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                               nesterov=True, weight_decay=recipe.weight_decay)
    raise ValueError(f"recipe {recipe.name}: unknown optimizer {recipe.optimizer!r}")


def make_scheduler(optimizer, recipe: Recipe, steps_per_epoch: int):
    """The recipe's learning-rate schedule, stepped once per training step (None: constant)."""
    import torch  # noqa: PLC0415
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
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    raise ValueError(f"recipe {recipe.name}: unknown schedule {recipe.schedule!r}")
