"""Train one run (recipe, block type, n_blocks, seed); resumes from its checkpoint if killed."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
import os  # noqa: E402
import time  # noqa: E402

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from cifar_nets.data import load_cache, load_split  # noqa: E402
from cifar_nets.evaluate import save_weights  # noqa: E402
from cifar_nets.io import write_csv, write_json  # noqa: E402
from cifar_nets.train import EngineOptions, Recipe, train_run  # noqa: E402

w, params = snakemake.wildcards, snakemake.params
threads = max(1, min(snakemake.threads, len(os.sched_getaffinity(0))))
torch.set_num_threads(threads)
engine = {k: v for k, v in params.engine.items() if k != "threads"}
engine["train_eval_subset"] = engine["train_eval_subset"] or None
recipe = Recipe.from_dict(w.recipe, params.recipe)

t0 = time.time()
arrays = load_cache(snakemake.input.data)
train_idx, val_idx = load_split(snakemake.input.split)
result = train_run(
    arrays.x_train, arrays.y_train, train_idx, val_idx,
    block_type=w.block_type, n_blocks=int(w.n_blocks), seed=int(w.seed), recipe=recipe,
    options=EngineOptions.from_dict(engine), n_hidden=params.model["n_hidden"],
    n_hidden_fc=params.model["n_hidden_fc"], checkpoint=params.checkpoint, log=log,
)
summary = dict(result.summary, split_file=snakemake.input.split, job_wall_seconds=time.time() - t0)
save_weights(snakemake.output.weights, result.weights, block_type=w.block_type,
             n_blocks=int(w.n_blocks), n_hidden=params.model["n_hidden"],
             n_hidden_fc=params.model["n_hidden_fc"], dropout=recipe.dropout, mean=recipe.mean,
             std=recipe.std, which=summary["evaluated_weights"])
write_csv(snakemake.output.history, pd.DataFrame(result.history))
write_json(snakemake.output.summary, summary)
if os.path.exists(params.checkpoint):
    os.unlink(params.checkpoint)  # outputs are safe; a forced rerun must train from scratch
log(f"wrote {snakemake.output.weights} ({summary['evaluated_weights']})")
