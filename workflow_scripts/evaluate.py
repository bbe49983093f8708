"""Evaluate one run's weights on the test set, with the engine options its training resolved.
Refuses weights whose train.json says they were trained on other data than the cache holds, and
weights that are not this run's (their run identity: block type, depth, seed, recipe, widths, a
custom block's source sha256, the data, and train.json's run fingerprint)."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
import json  # noqa: E402

import torch  # noqa: E402

from cifar_nets.engine.checkpoints import spec_identity  # noqa: E402
from cifar_nets.engine.custom_blocks import register_custom_blocks  # noqa: E402
from cifar_nets.data.arrays import content_sha256, load_cache  # noqa: E402
from cifar_nets.engine.evaluate import evaluate_run, evaluation_options  # noqa: E402
from cifar_nets.machine.hardware import capped_threads, environment_record  # noqa: E402
from cifar_nets.io import write_csv, write_json  # noqa: E402
from cifar_nets.engine.recipe import Recipe, RunSpec, job_engine  # noqa: E402
from cifar_nets.engine.run import check_trained_on  # noqa: E402

out, config, w = snakemake.output, snakemake.config, snakemake.wildcards
torch.set_num_threads(capped_threads(snakemake.threads))
register_custom_blocks(config["model"])  # blocks of your own (model.custom_blocks)
trained = json.loads(open(snakemake.input.train_summary).read())
# the result-changing engine keys from params, the rest from the config (job_engine)
device, opts, note = evaluation_options(job_engine(config["engine"], snakemake.params.engine),
                                       trained)
if note:
    log(note)
arrays = load_cache(snakemake.input.data)
check_trained_on(trained, arrays.x_train, arrays.y_train, snakemake.input.data,
                 snakemake.input.train_summary)
# this run, as the train rule built it (the same config): its weights must say they are its
spec = RunSpec(block_type=w.block_type, n_blocks=int(w.n_blocks), seed=int(w.seed),
               recipe=Recipe.from_dict(w.recipe, dict(snakemake.params.recipe)),
               n_hidden=config["model"]["n_hidden"], n_hidden_fc=config["model"]["n_hidden_fc"])
expect = dict(spec_identity(spec), data=content_sha256(arrays.x_train, arrays.y_train))
ev = evaluate_run(snakemake.input.weights, arrays.x_test, arrays.y_test, arrays.class_names,
                  device=device, batch_size=config["engine"]["eval_batch_size"], **opts,
                  expect=expect, run_fingerprint=trained.get("run_fingerprint"))
write_json(out.metrics, dict(ev.metrics, threads=torch.get_num_threads(),
                             **{f"eval_{k}": v for k, v in opts.items()},
                             test_data_sha256=content_sha256(arrays.x_test, arrays.y_test),
                             **environment_record(torch.device(device))))
write_csv(out.per_class, ev.per_class)
write_csv(out.confusion, ev.confusion.reset_index())
write_csv(out.pairs, ev.pairs)
write_csv(out.predictions, ev.predictions)
log(f"{ev.metrics['model']}: test accuracy {ev.metrics['test_acc']:.2f}% "
    f"({ev.metrics['evaluated_weights']}) on {device}, {opts}; "
    f"most confused {ev.metrics['most_confused_pair']}")
