"""Curves, confusion matrices and confused pairs of one (recipe, n_blocks) group."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from cifar_nets.evaluate import confused_pairs  # noqa: E402
from cifar_nets.models import MODEL_NAMES  # noqa: E402
from cifar_nets.plots import (plot_accuracy_curves, plot_confused_pairs,  # noqa: E402
                              plot_confusion_matrix)

inp, w = snakemake.input, snakemake.wildcards
histories, tests, confusion = {}, {}, {}
for h, m, c in zip(inp.histories, inp.metrics, inp.confusion, strict=True):
    metrics = json.loads(Path(m).read_text())
    bt = metrics["block_type"]
    histories.setdefault(MODEL_NAMES[bt], []).append(pd.read_csv(h))
    tests.setdefault(MODEL_NAMES[bt], []).append(metrics["test_acc"])
    cm = pd.read_csv(c, index_col=0)
    confusion[bt] = cm if bt not in confusion else confusion[bt] + cm

out = {Path(p).stem: p for p in snakemake.output}
where = f"{w.recipe} recipe, {w.n_blocks} blocks"
plot_accuracy_curves(histories, {k: sum(v) / len(v) for k, v in tests.items()},
                     out["accuracy_curves"], title=f"Accuracy per epoch ({where})")
for bt, cm in confusion.items():
    plot_confusion_matrix(cm, out[f"confusion_{bt}"], f"{MODEL_NAMES[bt]} ({where})")
    pairs = confused_pairs(cm.to_numpy(), list(cm.columns))
    plot_confused_pairs(pairs, out[f"confused_pairs_{bt}"], f"{MODEL_NAMES[bt]} ({where})",
                        top=snakemake.params.top)
    log(f"{MODEL_NAMES[bt]}: most confused {pairs.iloc[0].class_a} / {pairs.iloc[0].class_b}")
