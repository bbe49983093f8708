"""The study's tables: one row per run, seed statistics, paired comparisons, environments and why
each group has its seeds (CSV, Markdown and, for seeds and paired, LaTeX)."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from cifar_nets.params import unescape_params  # noqa: E402
from cifar_nets.seeds import read_round  # noqa: E402
from cifar_nets.study import collect_environments, collect_runs, summary_tables, write_summary  # noqa: E402

inp, params = snakemake.input, snakemake.params
runs = collect_runs(inp.train, inp.metrics)
tables = summary_tables(runs, collect_environments(inp.train, inp.metrics),
                        read_round(inp.rounds[0]) if inp.rounds else None)
# rules/summary.smk always passes `synthetic`; a caller of this script without it gets no warning
write_summary(snakemake.output, tables, unescape_params(params.data_label),
              getattr(params, "synthetic", False))
log(f"{len(runs)} runs summarised")
