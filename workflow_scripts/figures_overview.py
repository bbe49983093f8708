"""The study-wide figures (cifar_nets/figures.py: scope study), from the runs table."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
import pandas as pd  # noqa: E402

from cifar_nets.figures import draw  # noqa: E402

draw("study", pd.read_csv(snakemake.input.runs), snakemake.output, snakemake.params.options, log)
