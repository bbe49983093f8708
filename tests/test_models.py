from pathlib import Path

import pytest
import torch

from cifar_nets.engine.models import (BLOCK_TYPES, ConvBlock, DeepNet, ResBlock, SkipBlock, build_model,
                               count_parameters, flops_per_image, model_name)


@pytest.mark.parametrize("block_type,expected", [("conv", 92_042), ("res", 92_042), ("skip", 78_122)])
def test_parameter_counts_match_the_notebook(block_type, expected):
    model = build_model(block_type, n_blocks=6, n_hidden=32, n_hidden_fc=32)
    assert count_parameters(model) == expected


def test_parameter_count_by_hand_for_zero_blocks():
    # conv1 3*32*9+32, bn1 64, conv2 32*32*9+32, bn2 64, conv3 32*32*9+32, fc 512*32+32, 32*10+10
    expected = (3 * 32 * 9 + 32) + 64 + 2 * (32 * 32 * 9 + 32) + 64 + (32 * 4 * 4 * 32 + 32) + (32 * 10 + 10)
    assert count_parameters(build_model("res", n_blocks=0)) == expected
    # each Conv/ResBlock adds conv 32->16, bn 16, conv 16->32
    per_block = (32 * 16 * 9 + 16) + 32 + (16 * 32 * 9 + 32)
    assert count_parameters(build_model("conv", n_blocks=1)) == expected + per_block


@pytest.mark.parametrize("block_type", BLOCK_TYPES)
@pytest.mark.parametrize("n_blocks", [0, 1, 3])
def test_output_shape(block_type, n_blocks):
    model = build_model(block_type, n_blocks=n_blocks).eval()
    assert model(torch.randn(5, 3, 32, 32)).shape == (5, 10)


def test_blocks_keep_the_feature_shape():
    x = torch.randn(2, 32, 8, 8)
    for block in (ConvBlock(32), ResBlock(32), SkipBlock(32)):
        assert block.eval()(x).shape == x.shape


def test_resblock_adds_the_identity_and_convblock_does_not():
    torch.manual_seed(0)
    conv, res = ConvBlock(8).eval(), ResBlock(8).eval()
    res.load_state_dict(conv.state_dict())
    x = torch.randn(2, 8, 4, 4)
    torch.testing.assert_close(res(x), conv(x) + x)


def test_skipblock_concatenates_first_conv_output():
    torch.manual_seed(0)
    block = SkipBlock(8).eval()
    x = torch.randn(2, 8, 4, 4)
    out = block(x)
    torch.testing.assert_close(out[:, :4], torch.relu(block.conv1(x)))


def test_skipblock_rejects_odd_channels():
    with pytest.raises(ValueError, match="even"):
        SkipBlock(33)
    with pytest.raises(ValueError, match="even"):
        build_model("skip", n_hidden=31)


def test_too_small_input_is_a_clear_error():
    with pytest.raises(ValueError, match="too small"):
        DeepNet(pixel_size=4)


def test_unknown_block_type():
    with pytest.raises(ValueError, match="block_type"):
        build_model("dense")


def test_model_names_appear_as_in_the_notebook():
    assert [model_name(b) for b in BLOCK_TYPES] == ["Custom_ConvNet", "Custom_ResNet", "Custom_SkipNet"]


def test_flops_counted_from_layer_shapes():
    # forward MACs x2 of the 0-block net, by hand: conv1 at 32x32, conv2 at 16x16, conv3 at 8x8
    model = build_model("res", n_blocks=0)
    by_hand = 2 * (32 * 32 * 32 * 27 + 16 * 16 * 32 * 288 + 8 * 8 * 32 * 288 + 512 * 32 + 32 * 10)
    assert flops_per_image(model) == by_hand


def test_the_built_in_blocks_are_one_registry():
    """models.BLOCKS is the only list of built-in blocks: the package's BLOCK_TYPES and
    MODEL_NAMES (read without torch) are derived from it, so a new block is one file edit."""
    import cifar_nets
    from cifar_nets.engine.models import BLOCKS, MODEL_NAMES
    assert cifar_nets.BLOCK_TYPES == BLOCK_TYPES == tuple(BLOCKS) == ("conv", "res", "skip")
    assert dict(MODEL_NAMES) == {b: name for b, (name, _) in BLOCKS.items()}
    assert [cls for _, cls in BLOCKS.values()] == [ConvBlock, ResBlock, SkipBlock]
    init = (Path(cifar_nets.__file__)).read_text()
    assert '"conv"' not in init and "Custom_ConvNet" not in init, "a second registry in __init__.py"
