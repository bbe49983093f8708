"""The tuning choice (study.tune): per block type and depth, the grid point with the best mean
validation accuracy over the tuning seeds, read from the tuning runs' train.json only."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from cifar_nets.study.tune import choose, collect_scores, write_choice  # noqa: E402

inp, params = snakemake.input, snakemake.params
scores = collect_scores(inp.train, params.runs, params.criterion)
order = {b: [p["label"] for p in points] for b, points in params.plan.items()}
table = choose(scores, order)
outputs = {k: getattr(snakemake.output, k) for k in ("choice", "grid", "grid_md")}
write_choice(outputs, table, params.plan, params.tune, params.criterion, params.data_label)
for r in table[table.chosen].itertuples():
    log(f"{r.block_type} n{r.n_blocks}: {r.point} (mean {params.criterion} {r.mean_val_acc:.2f}% "
        f"over {r.n_seeds} tuning seeds)")
