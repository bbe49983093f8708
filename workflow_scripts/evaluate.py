"""Evaluate one run's weights on the test set."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
import os  # noqa: E402

import torch  # noqa: E402

from cifar_nets.data import load_cache  # noqa: E402
from cifar_nets.evaluate import evaluate_run  # noqa: E402
from cifar_nets.io import write_csv, write_json  # noqa: E402
from cifar_nets.train import resolve_device, resolve_options, EngineOptions  # noqa: E402

out, engine = snakemake.output, snakemake.params.engine
torch.set_num_threads(max(1, min(snakemake.threads, len(os.sched_getaffinity(0)))))
opts = EngineOptions.from_dict({k: v for k, v in engine.items() if k != "threads"})
speed = resolve_options(opts, resolve_device(opts.device))
arrays = load_cache(snakemake.input.data)
ev = evaluate_run(snakemake.input.weights, arrays.x_test, arrays.y_test, arrays.class_names,
                  device=opts.device, batch_size=opts.eval_batch_size, bf16=speed["bf16"],
                  channels_last=speed["channels_last"])
write_json(out.metrics, ev.metrics)
write_csv(out.per_class, ev.per_class)
with_index = ev.confusion.reset_index()
write_csv(out.confusion, with_index)
write_csv(out.pairs, ev.pairs)
write_csv(out.predictions, ev.predictions)
log(f"{ev.metrics['model']}: test accuracy {ev.metrics['test_acc']:.2f}% "
    f"({ev.metrics['evaluated_weights']}); most confused {ev.metrics['most_confused_pair']}")
