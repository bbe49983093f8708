"""The figures of one (recipe, n_blocks) group (cifar_nets/report/figures.py: scopes group and block)."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from cifar_nets.data.arrays import cache_is_synthetic  # noqa: E402
from cifar_nets.report.figures import draw, load_group  # noqa: E402

inp, w = snakemake.input, snakemake.wildcards
group = load_group(w.recipe, int(w.n_blocks), inp.histories, inp.metrics, inp.confusion)
synthetic = cache_is_synthetic(inp.data) or bool(snakemake.params.synthetic)
draw("group", group, snakemake.output, snakemake.params.options, log, synthetic)
