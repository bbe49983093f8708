"""Sample training images with their class names."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from cifar_nets.data import load_cache  # noqa: E402
from cifar_nets.plots import plot_sample_images  # noqa: E402

arrays = load_cache(snakemake.input[0])
plot_sample_images(arrays.x_train, arrays.y_train, arrays.class_names, snakemake.output[0],
                   n_per_class=snakemake.params.per_class)
log(f"wrote {snakemake.output[0]}")
