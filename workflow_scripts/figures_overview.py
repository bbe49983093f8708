"""Study-wide figures: accuracy by model, and against depth and parameters when swept."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from cifar_nets.plots import (plot_accuracy_by_model, plot_accuracy_vs_depth,  # noqa: E402
                              plot_accuracy_vs_params)

runs = pd.read_csv(snakemake.input.runs)
several = {axis: runs[axis].nunique() > 1 for axis in ("recipe", "n_blocks")}
by_model = runs
if several["recipe"] and several["n_blocks"]:  # one bar chart: the reference depth per recipe
    ref = 6 if (runs.n_blocks == 6).any() else runs.n_blocks.max()
    by_model = runs[runs.n_blocks == ref]
hue = "recipe" if several["recipe"] else ("n_blocks" if several["n_blocks"] else None)
for path in snakemake.output:
    name = Path(path).stem
    if name == "test_accuracy_by_model":
        plot_accuracy_by_model(by_model, path, group="model", hue=hue)
    elif name == "accuracy_vs_depth":
        plot_accuracy_vs_depth(runs, path)
    elif name == "accuracy_vs_parameters":
        plot_accuracy_vs_params(runs, path)
    log(f"wrote {path}")
