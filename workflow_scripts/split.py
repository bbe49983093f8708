"""Seeded train/validation indices, written once and read by every training job."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
import numpy as np  # noqa: E402

from cifar_nets.data.arrays import make_split, write_split  # noqa: E402

with np.load(snakemake.input[0], allow_pickle=False) as npz:
    n = len(npz["y_train"])
seed, fraction = int(snakemake.wildcards.split_seed), snakemake.params.train_fraction
train_idx, val_idx = make_split(n, fraction, seed)
write_split(snakemake.output[0], train_idx, val_idx, seed, fraction)
log(f"split seed {seed}: {len(train_idx)} train / {len(val_idx)} validation of {n} images")
