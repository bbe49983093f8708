"""The notebook's networks: a small CNN (`DeepNet`) whose middle is a stack of blocks.

Architecture, layer by layer, as in the original study:

    conv1 3->h, BN, ReLU, maxpool /2
    conv2 h->h, BN, ReLU, maxpool /2
    conv3 h->h                       (raw output, no activation: the blocks see it as is)
    n_blocks x block(h)              (ConvBlock, ResBlock, SkipBlock or a block of your own, from
                                      model.custom_blocks; identity when n_blocks=0)
    ReLU, maxpool /2, flatten, dropout
    linear (h * s * s)->h_fc, ReLU, linear h_fc->n_classes

With h = h_fc = 32 and 6 blocks: ConvNet and ResNet have 92,042 parameters, SkipNet 78,122.

The block contract (built-in or your own): `Block(n_hidden)` builds an nn.Module whose forward
maps a float tensor (N, n_hidden, H, W) to one of the same shape (N, n_hidden, H, W), H = W =
pixel_size / 4 (8 for CIFAR-10), so that blocks stack. :data:`BLOCKS` is the one registry of the
built-in ones; blocks of `model.custom_blocks` join it per process (:func:`register_block`, called
by cifar_nets.engine.custom_blocks, which imports and checks them).
"""
from __future__ import annotations

import torch
from torch import nn

from cifar_nets import BLOCK_TYPES, MODEL_NAMES  # noqa: F401 - derived from BLOCKS below, re-exported
from cifar_nets.data.dataset import get_dataset

CIFAR10 = get_dataset("cifar10")   # the default dataset: its class count is a network's default

KERNEL, STRIDE, PADDING, POOL = 3, 1, 1, 2


def _conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=KERNEL, stride=STRIDE, padding=PADDING)


class ConvBlock(nn.Module):
    """Plain block: ReLU, conv c->c/2, BN, ReLU, conv c/2->c. No shortcut."""

    def __init__(self, n_channels: int) -> None:
        super().__init__()
        self.activation = nn.ReLU()
        self.conv1 = _conv3x3(n_channels, n_channels // 2)
        self.bn1 = nn.BatchNorm2d(n_channels // 2)
        self.conv2 = _conv3x3(n_channels // 2, n_channels)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activation(x)
        x = self.activation(self.bn1(self.conv1(x)))
        return self.conv2(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x)


class ResBlock(ConvBlock):
    """The same layers as ConvBlock, plus the identity shortcut taken before the first ReLU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + x


class SkipBlock(nn.Module):
    """Skip block: conv c->c/2 (x1), then BN, ReLU, conv c/2->c/2 (x3); output cat(x1, x3).

    As in the notebook, x1 is activated before the batch norm and the block has no input ReLU.
    """

    def __init__(self, n_channels: int) -> None:
        super().__init__()
        if n_channels % 2:
            raise ValueError(
                f"SkipBlock needs an even n_channels (got {n_channels}): its output concatenates "
                "two halves, so an odd width would change the feature size")
        self.activation = nn.ReLU()
        self.conv1 = _conv3x3(n_channels, n_channels // 2)
        self.bn1 = nn.BatchNorm2d(n_channels // 2)
        self.conv2 = _conv3x3(n_channels // 2, n_channels // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.activation(self.conv1(x))
        x3 = self.conv2(self.activation(self.bn1(x1)))
        return torch.cat((x1, x3), dim=1)


# The built-in block types, in report order: the one registry. Key: the block type (config,
# paths, wildcards, tables); value: (the network's name in tables, figures and the report, the
# block class). A new built-in block is its class above and one line here, nothing else:
# cifar_nets.BLOCK_TYPES and MODEL_NAMES are read from this dict without importing torch, so keep
# it a literal of strings and class names (tests/test_models.py checks both).
BLOCKS = {
    "conv": ("Custom_ConvNet", ConvBlock),
    "res": ("Custom_ResNet", ResBlock),
    "skip": ("Custom_SkipNet", SkipBlock),
}

# Blocks of model.custom_blocks in this process: block type -> (class, identity). Filled by
# cifar_nets.engine.custom_blocks after it imported and checked them; empty until then.
_REGISTERED: dict[str, tuple[type, dict]] = {}


def register_block(block_type: str, cls: type, identity: dict) -> None:
    """Make `cls` buildable as `block_type` in this process. `identity` (the class's "module:Class"
    and its source file's sha256) becomes part of the identity of every run that uses it."""
    if block_type in BLOCKS:
        raise ValueError(f"{block_type!r} is a built-in block type ({', '.join(BLOCK_TYPES)})")
    _REGISTERED[block_type] = (cls, dict(identity))


def block_class(block_type: str) -> type:
    """The class of a built-in block type or of a registered block of your own."""
    if block_type in BLOCKS:
        return BLOCKS[block_type][1]
    if block_type in _REGISTERED:
        return _REGISTERED[block_type][0]
    known = [*BLOCK_TYPES, *_REGISTERED]
    raise ValueError(f"block_type must be one of {', '.join(known)} (got {block_type!r}); a block "
                     "of your own is named under model.custom_blocks")


def block_identity(block_type: str) -> dict | None:
    """What a run's result depends on beyond its block type's name: for a block of your own its
    "module:Class" and source sha256; None for a built-in one (its code is the package's)."""
    return dict(_REGISTERED[block_type][1]) if block_type in _REGISTERED else None


def _out_size(n: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def feature_size(pixel_size: int) -> int:
    """Side of the feature map after the three conv + pool stages."""
    n = pixel_size
    for _ in range(3):
        n = _out_size(n, KERNEL, STRIDE, PADDING)
        n = _out_size(n, POOL, POOL, 0)
    return n


class DeepNet(nn.Module):
    def __init__(self, n_channels: int = 3, pixel_size: int = 32, n_hidden: int = 32,
                 n_hidden_fc: int = 32, n_classes: int = CIFAR10.n_classes, n_blocks: int = 6,
                 block_type: str = "res", dropout: float = 0.5) -> None:
        super().__init__()
        block = block_class(block_type)
        if n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0 (got {n_blocks})")
        side = feature_size(pixel_size)
        if side <= 0:
            raise ValueError(
                f"pixel_size {pixel_size} is too small: three 2x poolings leave a {side}x{side} "
                "feature map; use pixel_size >= 8")
        self.block_type = block_type
        self.n_blocks = n_blocks
        self.activation = nn.ReLU()
        self.pool = nn.MaxPool2d(POOL)
        self.conv1 = _conv3x3(n_channels, n_hidden)
        self.bn1 = nn.BatchNorm2d(n_hidden)
        self.conv2 = _conv3x3(n_hidden, n_hidden)
        self.bn2 = nn.BatchNorm2d(n_hidden)
        self.conv3 = _conv3x3(n_hidden, n_hidden)
        self.layers = (nn.Sequential(*(block(n_hidden) for _ in range(n_blocks)))
                       if n_blocks > 0 else nn.Identity())
        self.dropout = nn.Dropout(p=dropout)
        self.linear1 = nn.Linear(n_hidden * side * side, n_hidden_fc)
        self.linear2 = nn.Linear(n_hidden_fc, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.activation(self.bn1(self.conv1(x))))
        x = self.pool(self.activation(self.bn2(self.conv2(x))))
        x = self.conv3(x)
        x = self.pool(self.activation(self.layers(x)))
        x = self.dropout(torch.flatten(x, 1))
        x = self.activation(self.linear1(x))
        return self.linear2(x)


def build_model(block_type: str, n_blocks: int = 6, n_hidden: int = 32, n_hidden_fc: int = 32,
                dropout: float = 0.5, n_classes: int = CIFAR10.n_classes, pixel_size: int = 32) -> DeepNet:
    return DeepNet(n_channels=3, pixel_size=pixel_size, n_hidden=n_hidden, n_hidden_fc=n_hidden_fc,
                   n_classes=n_classes, n_blocks=n_blocks, block_type=block_type, dropout=dropout)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def model_name(block_type: str) -> str:
    """The network's name in tables, figures and the report: the notebook's for a built-in block
    type (Custom_ResNet), Custom_<name> for a block of your own (Custom_gated)."""
    return MODEL_NAMES[block_type]


def flops_per_image(model: DeepNet, pixel_size: int = 32) -> int:
    """Multiply-adds x 2 of one forward pass (convs and linears), counted from the layer shapes."""
    total = 0
    hooks = []

    def conv_hook(mod, inp, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        total += 2 * k * out.numel() // out.shape[0]

    def linear_hook(mod, inp, out):
        nonlocal total
        total += 2 * mod.in_features * mod.out_features

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, pixel_size, pixel_size,
                          device=next(model.parameters()).device))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return total
