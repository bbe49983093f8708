"""Train one run from a terminal, with a progress bar, from the same config as the workflow:

    python -m cifar_nets --block-type res --n-blocks 6 --seed 0 --out run_res
    python -m cifar_nets --configfile standin.yaml --recipe modern --set engine.bf16=false --out r

Settings come from config.yaml, then each --configfile merged over it (as `snakemake
--configfile`), then single keys: --set KEY=VALUE (a dotted key, a YAML value) and the shortcut
flags (--epochs, --batch-size, --lr for the chosen recipe; --bf16, --device for the engine;
--n-hidden for the model). The run is the first of each study axis unless --recipe,
--block-type, --n-blocks or --seed say otherwise. --data and --split default to the workflow's
files (results/data/cifar10.npz, results/data/split-seed<split.seed>.npz).

Writes OUT/model.pt, OUT/history.csv, OUT/train.json and resumes from OUT/checkpoint.pt if
present: the same library call (cifar_nets.run.train_and_write) as the workflow's train job.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    from . import BLOCK_TYPES
    ap = argparse.ArgumentParser(prog="python -m cifar_nets", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configfile", action="append", default=[], type=Path)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override one config key, e.g. engine.channels_last=false")
    ap.add_argument("--data", help="cached arrays (default: results/data/cifar10.npz)")
    ap.add_argument("--split", help="split file (default: results/data/split-seed<split.seed>.npz)")
    ap.add_argument("--recipe")
    ap.add_argument("--block-type", choices=BLOCK_TYPES)
    ap.add_argument("--n-blocks", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--epochs", type=int, help="recipes.<recipe>.epochs")
    ap.add_argument("--batch-size", type=int, help="recipes.<recipe>.batch_size")
    ap.add_argument("--lr", type=float, help="recipes.<recipe>.lr")
    ap.add_argument("--n-hidden", type=int, help="model.n_hidden")
    ap.add_argument("--device", help="engine.device")
    ap.add_argument("--bf16", choices=["auto", "true", "false"], help="engine.bf16")
    ap.add_argument("--threads", type=int, help="threads (default: engine.threads, auto = every usable core)")
    ap.add_argument("--out", required=True, type=Path)
    return ap


def settings(args) -> tuple[dict, dict]:
    """The validated config with every override applied, and the run (recipe, block type,
    n_blocks, seed) to train."""
    import yaml

    from .config import ConfigError, load_config, merge, set_key
    over: dict = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item}: expected KEY=VALUE")
        over = set_key(over, key, yaml.safe_load(value))
    try:
        cfg = load_config(*args.configfile, overrides=over)
        run = {"recipe": args.recipe or cfg["study"]["recipes"][0],
               "block_type": args.block_type or cfg["study"]["block_types"][0],
               "n_blocks": cfg["study"]["n_blocks"][0] if args.n_blocks is None else args.n_blocks,
               "seed": cfg["study"]["seeds"][0] if args.seed is None else args.seed}
        flags = {f"recipes.{run['recipe']}.epochs": args.epochs,
                 f"recipes.{run['recipe']}.batch_size": args.batch_size,
                 f"recipes.{run['recipe']}.lr": args.lr, "model.n_hidden": args.n_hidden,
                 "engine.device": args.device,
                 "engine.bf16": None if args.bf16 is None else yaml.safe_load(args.bf16)}
        for key, value in flags.items():
            if value is not None:
                over = set_key(over, key, value)
        cfg = load_config(*args.configfile, overrides=over)
        if run["recipe"] not in cfg["recipes"]:
            raise ConfigError(f"--recipe: unknown recipe {run['recipe']!r}")
    except ConfigError as exc:
        raise SystemExit(f"config error: {exc}") from None
    return merge(cfg, {}), run


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    cfg, run = settings(args)

    import torch

    from .hardware import usable_cpus
    from .run import train_and_write
    from .train import EngineOptions, Recipe

    threads = args.threads or cfg["engine"]["threads"]
    torch.set_num_threads(usable_cpus() if threads == "auto" else int(threads))
    args.out.mkdir(parents=True, exist_ok=True)
    train_and_write(
        data=args.data or "results/data/cifar10.npz",
        split=args.split or f"results/data/split-seed{cfg['split']['seed']}.npz",
        block_type=run["block_type"], n_blocks=run["n_blocks"], seed=run["seed"],
        recipe=Recipe.from_config(cfg, run["recipe"]), options=EngineOptions.from_config(cfg),
        model=cfg["model"], weights=args.out / "model.pt", history=args.out / "history.csv",
        summary=args.out / "train.json", checkpoint=args.out / "checkpoint.pt",
        log=lambda m: print(m, file=sys.stderr, flush=True), progress=None,
        tensorboard=args.out / "tensorboard" if cfg["logging"]["tensorboard"] else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
