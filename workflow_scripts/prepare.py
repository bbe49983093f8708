"""Read the archive safely and write the one cached array file every later job loads: the
training and test images the study uses (data.use_train_images / data.use_test_images)."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from cifar_nets.data.archive import prepare_cache  # noqa: E402
from cifar_nets.data.arrays import content_sha256  # noqa: E402

archive, cache, params = snakemake.input[0], snakemake.output[0], snakemake.params
expected = (params.train_images, params.test_images)
# the dataset (data.dataset) says how to read the archive; it is not a param: it names the
# archive and the cache (rules/data.smk), so changing it reruns this already
arrays = prepare_cache(archive, cache, params.md5, expected_counts=expected,
                       use=(params.use_train_images, params.use_test_images),
                       dataset=snakemake.config["data"]["dataset"])  # noqa: F821
log(f"{archive}: {params.train_images} training and {params.test_images} test images; the study "
    f"uses {len(arrays.y_train)} and {len(arrays.y_test)} (data.use_train_images "
    f"{params.use_train_images}, data.use_test_images {params.use_test_images}) -> {cache} "
    f"(training data sha256 {content_sha256(arrays.x_train, arrays.y_train)}: the data_sha256 "
    f"its runs' train.json record)")
