"""The study's tables: one row per run, seed statistics, paired comparisons, environments and why
each group has its seeds (CSV, Markdown and, for seeds and paired, LaTeX)."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from cifar_nets.data.arrays import cache_is_synthetic  # noqa: E402
from cifar_nets.params import unescape_params  # noqa: E402
from cifar_nets.study.seeds import read_round  # noqa: E402
from cifar_nets.study.summary import (collect_correct, collect_environments, collect_runs,  # noqa: E402
                              summary_tables, write_summary)
from cifar_nets.study.verdicts import StatsSettings  # noqa: E402

inp, params = snakemake.input, snakemake.params
runs = collect_runs(inp.train, inp.metrics)
tables = summary_tables(runs, collect_environments(inp.train, inp.metrics),
                        read_round(inp.rounds[0]) if inp.rounds else None,
                        StatsSettings.from_config(params.stats),
                        collect_correct(inp.train, inp.predictions) if len(inp.predictions) else None)
# synthetic images (the cache says so) or data.synthetic: every table's first line says so
synthetic = cache_is_synthetic(inp.data) or bool(params.synthetic)
write_summary(snakemake.output, tables, unescape_params(params.data_label), synthetic)
log(f"{len(runs)} runs summarised" + (" (synthetic data: marked)" if synthetic else ""))
