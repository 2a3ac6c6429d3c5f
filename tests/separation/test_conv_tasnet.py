"""Conv-TasNet: the shared separation-model checks, plus PIT, config checks and the Auto registry."""

import pytest
import torch
from transformers import AutoConfig

import zoo
from zoo import ConvTasNetConfig, ConvTasNetForSourceSeparation, ConvTasNetForSpeechEnhancement
from zoo.metrics import si_snr
from zoo.separation.conv_tasnet.modeling_conv_tasnet import pit_si_snr

from .model_tests import SeparationModelTests


class TestConvTasNet(SeparationModelTests):
    config_class = ConvTasNetConfig
    model_class = ConvTasNetForSourceSeparation
    enhancement_class = ConvTasNetForSpeechEnhancement
    tiny = dict(num_filters=16, bottleneck_channels=8, hidden_channels=16, skip_channels=8, num_blocks=2, num_repeats=1)
    training_steps = 40


def test_pit_picks_the_best_permutation():
    torch.manual_seed(0)
    estimates = torch.randn(1, 2, 800)
    labels = estimates[:, [1, 0]] + 0.01 * torch.randn_like(estimates)  # swapped order, nearly exact
    score, perm = pit_si_snr(estimates, labels, torch.ones(1, 800))
    assert perm.tolist() == [[1, 0]]
    direct = si_snr(estimates[0], labels[0, [1, 0]]).mean()
    torch.testing.assert_close(score[0], direct, atol=1e-3, rtol=1e-4)


def test_bad_config_values_are_refused():
    with pytest.raises(ValueError, match="kernel_size"):
        ConvTasNetConfig(kernel_size=15)
    with pytest.raises(ValueError, match="mask_activation"):
        ConvTasNetConfig(mask_activation="tanh")


def test_auto_config_knows_every_zoo_model():
    for entry in zoo.MODELS:
        config = AutoConfig.for_model(entry.model_type)
        assert config.model_type == entry.model_type
