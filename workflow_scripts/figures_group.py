"""The figures of one (recipe, n_blocks) group (cifar_nets/figures.py: scopes group and block)."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from cifar_nets.figures import draw, load_group  # noqa: E402

inp, w = snakemake.input, snakemake.wildcards
group = load_group(w.recipe, int(w.n_blocks), inp.histories, inp.metrics, inp.confusion)
draw("group", group, snakemake.output, snakemake.params.options, log)
