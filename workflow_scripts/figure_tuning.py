"""The tuning figure (cifar_nets/report/figures.py: scope tuning), from the grid table."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
import pandas as pd  # noqa: E402

from cifar_nets.report.figures import draw  # noqa: E402

draw("tuning", pd.read_csv(snakemake.input.grid), snakemake.output, snakemake.params.options, log)
