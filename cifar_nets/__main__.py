"""Train one run from a terminal, with a progress bar, from the same config as the workflow:

    python -m cifar_nets --block-type res --n-blocks 6 --seed 0 --out run_res
    python -m cifar_nets --configfile standin.yaml --recipe modern --set engine.bf16=false --out r

Settings come from config.yaml, then each --configfile merged over it (as `snakemake
--configfile`), then single keys: --set KEY=VALUE (a dotted key, a YAML value) and the shortcut
flags (--epochs, --batch-size, --lr for the chosen recipe; --bf16, --device for the engine;
--n-hidden for the model). The run is the first of each study axis unless --recipe,
--block-type, --n-blocks or --seed say otherwise. --data and --split default to the workflow's
files (results/data/cifar10.npz for CIFAR-10, the data.dataset's cache otherwise;
results/data/split-seed<split.seed>.npz).

Writes OUT/model.pt, OUT/history.csv, OUT/train.json and resumes from OUT/checkpoint.pt if
present: the same library call (cifar_nets.engine.run.train_and_write, with a RunSpec and its
OutputPaths) as the workflow's train job.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cifar_nets.cli import OneLineParser, int_in


def _parser() -> argparse.ArgumentParser:
    from cifar_nets import BLOCK_TYPES
    ap = OneLineParser(prog="python -m cifar_nets", description=__doc__,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configfile", action="append", default=[], type=Path)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override one config key, e.g. engine.channels_last=false")
    ap.add_argument("--data", help="cached arrays (default: the dataset's, results/data/cifar10.npz for cifar10)")
    ap.add_argument("--split", help="split file (default: results/data/split-seed<split.seed>.npz)")
    ap.add_argument("--recipe")
    ap.add_argument("--block-type", help=f"{', '.join(BLOCK_TYPES)} or a block of your own "
                    "named under model.custom_blocks")
    ap.add_argument("--n-blocks", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--epochs", type=int, help="recipes.<recipe>.epochs")
    ap.add_argument("--batch-size", type=int, help="recipes.<recipe>.batch_size")
    ap.add_argument("--lr", type=float, help="recipes.<recipe>.lr")
    ap.add_argument("--n-hidden", type=int, help="model.n_hidden")
    ap.add_argument("--device", help="engine.device")
    ap.add_argument("--bf16", choices=["auto", "true", "false"], help="engine.bf16")
    ap.add_argument("--threads", type=int_in(1, what="a positive number of threads"),
                    help="threads (default: engine.threads, auto = every usable core)")
    ap.add_argument("--out", required=True, type=Path)
    return ap


def _first_seed(seeds) -> int:
    """The first seed of study.seeds: a list's first, or 0 for a precision target (its rounds
    start with seeds 0 .. min-1)."""
    return seeds[0] if isinstance(seeds, list) else 0


def settings(args) -> tuple[dict, dict]:
    """The validated config with every override applied, and the run (recipe, block type,
    n_blocks, seed) to train. The run is validated as a study of one run, so a recipe, depth or
    seed given here meets the same checks as one in study.*. Raises ConfigError."""
    import yaml

    from cifar_nets import BLOCK_TYPES
    from cifar_nets.config import ConfigError, load_config, set_key
    over: dict = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item}: expected KEY=VALUE, e.g. engine.bf16=false")
        try:
            over = set_key(over, key.strip(), yaml.safe_load(value))
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: {value!r} is not a YAML value") from None
    cfg = load_config(*args.configfile, overrides=over)
    run = {"recipe": args.recipe or cfg["study"]["recipes"][0],
           "block_type": args.block_type or cfg["study"]["block_types"][0],
           "n_blocks": cfg["study"]["n_blocks"][0] if args.n_blocks is None else args.n_blocks,
           "seed": _first_seed(cfg["study"]["seeds"]) if args.seed is None else args.seed}
    custom = list(cfg["model"].get("custom_blocks") or {})
    if run["block_type"] not in [*BLOCK_TYPES, *custom]:
        yours = f": {', '.join(custom)}" if custom else ": none configured"
        raise ConfigError(f"--block-type: {run['block_type']!r} is not a block type (built-in: "
                          f"{', '.join(BLOCK_TYPES)}; yours, under model.custom_blocks{yours})")
    if run["recipe"] not in cfg["recipes"]:
        raise ConfigError(f"--recipe: unknown recipe {run['recipe']!r} "
                          f"(defined under recipes: {', '.join(cfg['recipes'])})")
    flags = {f"recipes.{run['recipe']}.epochs": args.epochs,
             f"recipes.{run['recipe']}.batch_size": args.batch_size,
             f"recipes.{run['recipe']}.lr": args.lr, "model.n_hidden": args.n_hidden,
             "engine.device": args.device,
             "engine.bf16": None if args.bf16 is None else yaml.safe_load(args.bf16)}
    for key, value in flags.items():
        if value is not None:
            over = set_key(over, key, value)
    # the one run is the study: study.* checks (and the recipe's batch against the training
    # set) apply to it
    over = set_key(over, "study", {"recipes": [run["recipe"]], "block_types": [run["block_type"]],
                                   "n_blocks": [run["n_blocks"]], "seeds": [run["seed"]]})
    return load_config(*args.configfile, overrides=over), run


def _existing(path: str, flag: str, hint: str) -> str:
    from cifar_nets.config import ConfigError
    if not Path(path).is_file():
        raise ConfigError(f"{flag} {path}: no such file ({hint})")
    return path


def _check_data(cfg: dict, data: str, split: str) -> None:
    """The cache holds the training images the config's data keys ask for, and the split was
    made for that cache (cifar_nets.engine.run.check_cache_fits, check_split_fits): DataError if not."""
    import numpy as np

    from cifar_nets.data.arrays import DataError, load_split
    from cifar_nets.engine.run import check_cache_fits, check_split_fits
    try:
        with np.load(data, allow_pickle=False) as z:
            n_train = len(z["y_train"])
    except Exception as exc:  # noqa: BLE001 - whatever makes the cache unreadable
        raise DataError(f"--data {data}: unreadable cache ({type(exc).__name__}: {exc})") from None
    check_cache_fits(cfg["data"], data, n_train)
    train_idx, val_idx = load_split(split)
    check_split_fits(train_idx, val_idx, n_train, split, data)


def main(argv=None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    from cifar_nets.config import ConfigError
    try:
        cfg, run = settings(args)
        from cifar_nets.machine.hardware import device_error
        device_err = device_error(cfg["engine"]["device"])
        if device_err:
            raise ConfigError(device_err)
        from cifar_nets.data.dataset import dataset_of
        cache = dataset_of(cfg["data"]).cache_path      # CIFAR-10's: results/data/cifar10.npz
        data = _existing(args.data or cache, "--data",
                         f"run `snakemake --cores 1 {cache}` first, or pass --data")
        split = _existing(args.split or f"results/data/split-seed{cfg['split']['seed']}.npz",
                          "--split", f"run `snakemake --cores 1 results/data/split-seed"
                                     f"{cfg['split']['seed']}.npz` first, or pass --split")
        _check_data(cfg, data, split)
        args.out.mkdir(parents=True, exist_ok=True)
    except ConfigError as exc:
        ap.exit(2, f"{ap.prog}: config error: {exc}\n")
    except ValueError as exc:       # DataError: a cache or split that does not fit
        ap.exit(2, f"{ap.prog}: error: {str(exc).splitlines()[0]}\n")
    except OSError as exc:
        ap.exit(2, f"{ap.prog}: error: --out {args.out}: {exc.strerror or exc}\n")

    import torch

    from cifar_nets.data.arrays import DataError
    from cifar_nets.machine.hardware import usable_cpus
    from cifar_nets.engine.custom_blocks import CustomBlockError, register_custom_blocks
    from cifar_nets.io import DiskFullError
    from cifar_nets.engine.recipe import EngineOptions, Recipe, RunSpec
    from cifar_nets.engine.run import OutputPaths, train_and_write
    from cifar_nets.engine.train import TrainingDiverged

    register_custom_blocks(cfg["model"])
    threads = args.threads or cfg["engine"]["threads"]
    torch.set_num_threads(usable_cpus() if threads == "auto" else int(threads))
    spec = RunSpec(block_type=run["block_type"], n_blocks=run["n_blocks"], seed=run["seed"],
                   recipe=Recipe.from_config(cfg, run["recipe"]),
                   n_hidden=cfg["model"]["n_hidden"], n_hidden_fc=cfg["model"]["n_hidden_fc"])
    outputs = OutputPaths(weights=args.out / "model.pt", history=args.out / "history.csv",
                          summary=args.out / "train.json", checkpoint=args.out / "checkpoint.pt",
                          tensorboard=args.out / "tensorboard" if cfg["logging"]["tensorboard"] else None)
    try:
        train_and_write(spec, outputs, data=data, split=split,
                        options=EngineOptions.from_config(cfg), progress=None,
                        log=lambda m: print(m, file=sys.stderr, flush=True))
    except (DataError, TrainingDiverged, DiskFullError, CustomBlockError) as exc:
        ap.exit(1, f"{ap.prog}: error: {str(exc).splitlines()[0]}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
