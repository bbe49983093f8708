"""An example block of your own, for `model.custom_blocks` (README, "Ablate your own block").

    model:
      custom_blocks: {gated: "examples.my_blocks:GatedBlock"}
    study:
      block_types: [conv, res, gated]

The contract (cifar_nets/engine/custom_blocks.py): `GatedBlock(n_hidden)` is a torch.nn.Module whose
forward maps (N, n_hidden, H, W) to the same shape, so that model.n_blocks copies stack. The
module is imported with the working directory on sys.path: run Snakemake in the project folder
for `examples.my_blocks`, or copy this file next to your config and name it `my_blocks:GatedBlock`.
Editing this file retrains the runs of the blocks it defines, and nothing else.
"""
import torch
from torch import nn


class GatedBlock(nn.Module):
    """A gated residual block: x + value * sigmoid(gate), where value and gate are the two halves
    of ResBlock's second convolution made twice as wide (ReLU, conv c->c/2, BN, ReLU, conv
    c/2->2c). With the gate closed it is the identity; open, it is a ResBlock."""

    def __init__(self, n_hidden: int) -> None:
        super().__init__()
        half = max(n_hidden // 2, 1)
        self.activation = nn.ReLU()
        self.conv1 = nn.Conv2d(n_hidden, half, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, 2 * n_hidden, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.activation(self.bn1(self.conv1(self.activation(x))))
        value, gate = self.conv2(h).chunk(2, dim=1)
        return x + value * torch.sigmoid(gate)
