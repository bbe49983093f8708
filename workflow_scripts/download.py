"""Fetch the dataset's python archive from config data.source and check its md5."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821 - `snakemake` is injected by the script directive
from cifar_nets.data.fetch import fetch_archive  # noqa: E402

log(f"fetching {snakemake.params.source} -> {snakemake.output[0]}")
fetch_archive(snakemake.params.source, snakemake.output[0], snakemake.params.md5)
log(f"md5 {snakemake.params.md5} verified")
