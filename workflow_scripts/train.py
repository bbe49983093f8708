"""Train one run (recipe, block type, n_blocks, seed); resumes from its checkpoint if killed."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
import os  # noqa: E402

from cifar_nets.slots import claim_device  # noqa: E402

# Run-only settings (which GPU, how many threads) come from the config, not from params: they
# cannot change what a run learns, so changing them must not rerun it.
run_cfg = snakemake.config["engine"]
# First, before anything initialises CUDA: claim a device slot, which sets CUDA_VISIBLE_DEVICES.
# The slot's lock is held until this process ends, however it ends.
slot = claim_device(snakemake.params.engine["device"], run_cfg["gpus"], run_cfg["runs_per_gpu"],
                    snakemake.params.slot_dir, log=log)
log(slot.message)

import time  # noqa: E402

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from cifar_nets.data import load_cache, load_split  # noqa: E402
from cifar_nets.evaluate import save_weights  # noqa: E402
from cifar_nets.hardware import job_threads  # noqa: E402
from cifar_nets.io import write_csv, write_json  # noqa: E402
from cifar_nets.train import EngineOptions, Recipe, train_run  # noqa: E402

w, params = snakemake.wildcards, snakemake.params
torch.set_num_threads(job_threads(snakemake.threads))
engine = dict(params.engine, eval_batch_size=run_cfg["eval_batch_size"],
              checkpoint_every=run_cfg["checkpoint_every"])
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
summary = dict(result.summary, split_file=snakemake.input.split, job_wall_seconds=time.time() - t0,
               gpu_slot=slot.name, cuda_visible_devices=slot.cuda_visible_devices,
               slot_source=slot.source, slot_claimed_at=slot.claimed_at, job_end=time.time())
save_weights(snakemake.output.weights, result.weights, block_type=w.block_type,
             n_blocks=int(w.n_blocks), n_hidden=params.model["n_hidden"],
             n_hidden_fc=params.model["n_hidden_fc"], dropout=recipe.dropout, mean=recipe.mean,
             std=recipe.std, which=summary["evaluated_weights"])
write_csv(snakemake.output.history, pd.DataFrame(result.history))
write_json(snakemake.output.summary, summary)
if os.path.exists(params.checkpoint):
    os.unlink(params.checkpoint)  # outputs are safe; a forced rerun must train from scratch
log(f"wrote {snakemake.output.weights} ({summary['evaluated_weights']})")
