"""The study-wide figures (cifar_nets/report/figures.py: scope study), from the runs table (marked
synthetic when its data are: cifar_nets.study.summary.read_summary)."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from cifar_nets.report.figures import draw  # noqa: E402
from cifar_nets.study.summary import read_summary  # noqa: E402

runs, synthetic = read_summary(snakemake.input.runs)
draw("study", runs, snakemake.output, snakemake.params.options, log, synthetic)
