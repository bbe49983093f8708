"""Train one run (recipe, block type, n_blocks, seed); resumes from its checkpoint if killed."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
import sys  # noqa: E402

from cifar_nets.engine.recipe import job_engine  # noqa: E402
from cifar_nets.machine.hardware import device_error  # noqa: E402
from cifar_nets.machine.packs import slots_per_gpu  # noqa: E402
from cifar_nets.machine.slots import claim_device  # noqa: E402

# The result-changing engine keys come from params, the rest from the config (job_engine), so
# changing a setting that only says how a job runs does not rerun it.
config, params, w = snakemake.config, snakemake.params, snakemake.wildcards
engine = job_engine(config["engine"], params.engine)
# On a cluster the DAG was built on a login node without a GPU: this node answers for itself,
# in one line naming the key (locally the same check stopped the DAG build, rules/setup.smk).
_device_err = device_error(engine["device"], where="this node")
if _device_err:
    log(f"error: {_device_err}")
    sys.exit(1)
# First, before anything initialises CUDA: claim a device slot, which sets CUDA_VISIBLE_DEVICES.
# The slot's lock is held until this process ends, however it ends.
# (in a pack of engine.runs_per_job runs on a cluster, the runs share the pack's GPU)
slot = claim_device(engine["device"], engine["gpus"],
                    slots_per_gpu(engine["runs_per_gpu"], engine["runs_per_job"]), params.slot_dir,
                    log=log)
log(slot.message)

from dataclasses import asdict  # noqa: E402

import torch  # noqa: E402

from cifar_nets.machine.hardware import capped_threads  # noqa: E402
from cifar_nets.engine.recipe import EngineOptions, Recipe, RunSpec  # noqa: E402
from cifar_nets.engine.custom_blocks import register_custom_blocks  # noqa: E402
from cifar_nets.engine.run import OutputPaths, train_and_write  # noqa: E402

torch.set_num_threads(capped_threads(snakemake.threads))
register_custom_blocks(config["model"])  # blocks of your own, imported as the config check did
out = snakemake.output
spec = RunSpec(block_type=w.block_type, n_blocks=int(w.n_blocks), seed=int(w.seed),
               recipe=Recipe.from_dict(getattr(params, "recipe_name", None) or w.recipe,
                                      params.recipe),
               n_hidden=params.model["n_hidden"], n_hidden_fc=params.model["n_hidden_fc"])
outputs = OutputPaths(weights=out.weights, history=out.history, summary=out.summary,
                      checkpoint=params.checkpoint,
                      tensorboard=params.tensorboard if config["logging"]["tensorboard"] else None)
train_and_write(
    data=snakemake.input.data, split=snakemake.input.split, spec=spec,
    options=EngineOptions.from_dict(engine), outputs=outputs, log=log,
    extra={"gpu_slot": slot.name, "cuda_visible_devices": slot.cuda_visible_devices,
           "slot_source": slot.source, "slot_claimed_at": slot.claimed_at,
           "recipe_settings": asdict(spec.recipe)},   # what it trained (a tuned run: its choice)
)
