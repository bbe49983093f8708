"""The data layer: datasets, their archives and the arrays a run trains on.

`arrays` holds the decoded images, the cache file and the split indices; `archive` reads an
official archive safely, `archive_writer` writes one (tests, stand-ins), `fetch` downloads and
checks it, `synthetic` makes a random stand-in for smoke runs. Imports nothing above it but
cifar_nets.io and cifar_nets.cli.
"""
from cifar_nets._moved import forward as _forward

__getattr__ = _forward(__name__, "cifar_nets.data.arrays")   # cifar_nets.data.X: X of arrays, one release
