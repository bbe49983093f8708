"""The self-contained HTML report: every table and figure, the config, versions and hardware."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from cifar_nets.params import unescape_params  # noqa: E402
from cifar_nets.machine.hardware import environment_record  # noqa: E402
from cifar_nets.report.study_report import pair_counts, write_report  # noqa: E402

inp, params = snakemake.input, snakemake.params
write_report(snakemake.output[0], summary=inp.summary, figures=params.figures,
             pairs=pair_counts(inp.pairs, params.runs), study=params.study,
             config=unescape_params(dict(params.config)),
             data_label=unescape_params(params.data_label),
             environment=environment_record(),
             tuning=list(getattr(inp, "tuning", [])))   # rules/report.smk: study.tune's files
log(f"wrote {snakemake.output[0]}")
