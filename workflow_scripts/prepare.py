"""Read the archive safely and write the one cached array file every training job loads."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from cifar_nets.data import DataError, prepare_cache  # noqa: E402

archive, cache = snakemake.input[0], snakemake.output[0]
arrays = prepare_cache(archive, cache, snakemake.params.md5)
expected = (snakemake.params.train_images, snakemake.params.test_images)
found = (len(arrays.y_train), len(arrays.y_test))
if found != expected:
    import os
    os.unlink(cache)
    raise DataError(f"{archive}: holds {found[0]} training / {found[1]} test images, expected "
                    f"{expected[0]} / {expected[1]} (config data.train_images / data.test_images)")
log(f"{archive}: {found[0]} training and {found[1]} test images -> {cache}")
