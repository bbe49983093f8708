"""engine.runs_per_job: training runs packed into one cluster job (cifar_nets/machine/packs.py,
docs/cluster.md). The sbatch call of a pack: tests/test_cluster_profile.py; a packed study on
the live cluster: tests/test_slurm.py."""
from cifar_nets.machine import packs


def test_packing_only_with_more_than_one_run_per_job_on_a_cluster():
    assert packs.pack_group(3, local=False) == packs.PACK_GROUP
    assert packs.pack_group(1, local=False) is None          # the shipped default: no group
    assert packs.pack_group(3, local=True) is None           # locally it changes nothing


def test_a_pack_asks_for_one_gpu_as_a_string_so_snakemake_does_not_sum_it():
    # each packed run: no gpu of its own, the same "gpu:1" gres (a group sums ints, not strings)
    assert (packs.run_gpu(True, 3, False), packs.pack_gres(True, 3, False)) == (0, "gpu:1")
    assert (packs.run_gpu(True, 1, False), packs.pack_gres(True, 1, False)) == (1, None)
    assert (packs.run_gpu(True, 3, True), packs.pack_gres(True, 3, True)) == (1, None)
    assert (packs.run_gpu(False, 3, False), packs.pack_gres(False, 3, False)) == (0, None)


def test_runs_sharing_a_gpu_get_k_times_the_time_limit_cpu_runs_do_not():
    assert packs.pack_minutes(14, True, 3, False) == 42
    assert packs.pack_minutes(14, False, 3, False) == 14
    assert packs.pack_minutes(14, True, 1, False) == 14


def test_inside_a_scheduler_job_a_pack_has_a_slot_per_run():
    slurm = {"SLURM_JOB_ID": "7"}
    assert packs.slots_per_gpu(1, 3, slurm) == 3
    assert packs.slots_per_gpu(4, 3, slurm) == 4
    assert packs.slots_per_gpu(1, 3, {}) == 1                # not in a scheduler job
