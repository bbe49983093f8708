"""CIFAR-10: 60,000 32x32 colour images in 10 classes (the study's default dataset)."""
from cifar_nets.data.dataset import Dataset, PickleLayout

DATASET = Dataset(
    name="cifar10",
    label="CIFAR-10",
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    md5="c58f30108f718f92721af3b95e74349a",
    archive_file="cifar-10-python.tar.gz",
    cache_file="cifar10.npz",
    layout=PickleLayout(
        directory="cifar-10-batches-py",
        train_members=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_member="test_batch",
        meta_member="batches.meta",
        label_key="labels",
        names_key="label_names",
    ),
    class_names=("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"),
    train_images=50000,
    test_images=10000,
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
)
