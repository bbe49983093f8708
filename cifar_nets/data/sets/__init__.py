"""One module per dataset, each defining ``DATASET = cifar_nets.data.dataset.Dataset(...)``;
cifar_nets.data.dataset.datasets() finds them. Adding a dataset is adding a file here."""
