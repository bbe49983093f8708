"""The study's tables: one row per run, seed statistics, paired comparisons, environments and why
each group has its seeds (CSV + Markdown)."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from cifar_nets.io import write_csv, write_text  # noqa: E402
from cifar_nets.report import dataframe_to_markdown, markdown_comment  # noqa: E402
from cifar_nets.seeds import read_round, stopping_table  # noqa: E402
from cifar_nets.study import (  # noqa: E402
    SYNTHETIC_WARNING,
    collect_environments,
    collect_runs,
    summary_tables,
)

inp = snakemake.input
runs = collect_runs(inp.train, inp.metrics)
tables = summary_tables(runs, collect_environments(inp.train, inp.metrics))
decision = read_round(inp.rounds[0]) if inp.rounds else None
tables["stopping"] = stopping_table(runs, decision)
for path in snakemake.output:
    name, ext = path.rsplit("/", 1)[1].rsplit(".", 1)
    df = tables[name]
    if ext == "csv":
        write_csv(path, df)
    else:
        # the label's comment stays the first line; a synthetic study's warning is the first
        # thing a Markdown viewer shows
        # (rules/summary.smk always passes it; a caller of this script without it gets none)
        warning = f"**{SYNTHETIC_WARNING}**\n\n" if getattr(snakemake.params, "synthetic", False) else ""
        write_text(path, markdown_comment(snakemake.params.data_label) + "\n" + warning
                   + dataframe_to_markdown(df))
log(f"{len(runs)} runs summarised")
