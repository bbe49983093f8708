"""Read the archive safely and write the one cached array file every training job loads."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from cifar_nets.data import content_sha256, prepare_cache  # noqa: E402

archive, cache = snakemake.input[0], snakemake.output[0]
expected = (snakemake.params.train_images, snakemake.params.test_images)
arrays = prepare_cache(archive, cache, snakemake.params.md5, expected_counts=expected)
log(f"{archive}: {len(arrays.y_train)} training and {len(arrays.y_test)} test images -> {cache} "
    f"(training data sha256 {content_sha256(arrays.x_train, arrays.y_train)}: the data_sha256 "
    f"its runs' train.json record)")
