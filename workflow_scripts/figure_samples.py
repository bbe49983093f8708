"""The figures of the data (cifar_nets/report/figures.py: scope data): sample training images."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from cifar_nets.data.arrays import cache_is_synthetic, load_cache  # noqa: E402
from cifar_nets.report.figures import draw  # noqa: E402

cache = snakemake.input[0]
synthetic = cache_is_synthetic(cache) or bool(snakemake.params.synthetic)
draw("data", load_cache(cache), snakemake.output, snakemake.params.options, log, synthetic)
