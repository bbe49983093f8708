"""One round of precision-targeted seeds: per group, the widest paired interval and what next."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from cifar_nets.study.seeds import MORE, SeedTarget, decide, write_round  # noqa: E402
from cifar_nets.study.summary import collect_runs  # noqa: E402

target = SeedTarget.from_config(snakemake.params.target)
groups = decide(collect_runs(snakemake.input.train, snakemake.input.metrics), target)
for g in groups:
    log(f"{g['recipe']} n{g['n_blocks']}: {len(g['seeds'])} seeds, widest 95% half-width "
        f"{g['widest_halfwidth']:.2f} (target {target.target_halfwidth}): {g['status']}"
        + (f", next round {len(g['next_seeds'])} seeds" if g["status"] == MORE else ""))
write_round(snakemake.output[0], int(snakemake.wildcards["round"]), snakemake.params.target, groups)
