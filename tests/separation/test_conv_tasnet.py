"""Conv-TasNet: shapes, padding, loss, save/load, Auto classes."""

import itertools

import pytest
import torch
from transformers import AutoConfig, AutoModel

import zoo
from zoo import ConvTasNetConfig, ConvTasNetForSourceSeparation, ConvTasNetForSpeechEnhancement
from zoo.metrics import si_snr

TINY = dict(num_filters=16, bottleneck_channels=8, hidden_channels=16, skip_channels=8, num_blocks=2, num_repeats=1)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return ConvTasNetForSourceSeparation(ConvTasNetConfig(**TINY)).eval()


def test_output_shapes(model):
    out = model(torch.randn(3, 1000))
    assert out.waveforms.shape == (3, 2, 1000)
    assert out.loss is None


def test_three_speakers():
    model = ConvTasNetForSourceSeparation(ConvTasNetConfig(num_speakers=3, **TINY))
    out = model(torch.randn(2, 900), labels=torch.randn(2, 3, 900))
    assert out.waveforms.shape == (2, 3, 900) and out.permutation.shape == (2, 3)


def test_padded_batch_equals_one_by_one(model):
    lengths = [1600, 1203, 777]
    inputs = torch.zeros(3, max(lengths))
    mask = torch.zeros(3, max(lengths), dtype=torch.long)
    singles = []
    for i, n in enumerate(lengths):
        x = torch.randn(n)
        inputs[i, :n], mask[i, :n] = x, 1
        singles.append(model(x[None]).waveforms[0])
    batched = model(inputs, attention_mask=mask).waveforms
    for i, n in enumerate(lengths):
        torch.testing.assert_close(batched[i, :, :n], singles[i], atol=1e-5, rtol=1e-4)
        assert batched[i, :, n:].abs().max() == 0 if n < max(lengths) else True


def test_loss_is_permutation_invariant(model):
    mixture = torch.randn(2, 800)
    sources = torch.randn(2, 2, 800)
    loss = model(mixture, labels=sources).loss
    swapped = model(mixture, labels=sources.flip(1)).loss
    torch.testing.assert_close(loss, swapped)


def test_pit_picks_the_best_permutation(model):
    estimates = model(torch.randn(1, 800)).waveforms.detach()
    labels = estimates[:, [1, 0]] + 0.01 * torch.randn_like(estimates)  # swapped order, nearly exact
    from zoo.separation.conv_tasnet.modeling_conv_tasnet import pit_si_snr

    score, perm = pit_si_snr(estimates, labels, torch.ones(1, 800))
    assert perm.tolist() == [[1, 0]]
    direct = si_snr(estimates[0], labels[0, [1, 0]]).mean()
    torch.testing.assert_close(score[0], direct, atol=1e-3, rtol=1e-4)


def test_silence_gives_silence_without_nan(model):
    out = model(torch.zeros(1, 1000), labels=torch.zeros(1, 2, 1000))
    assert torch.isfinite(out.waveforms).all() and out.waveforms.abs().max() == 0
    assert torch.isfinite(out.loss)


def test_too_short_input_is_refused(model):
    with pytest.raises(ValueError, match="fewer than one encoder frame"):
        model(torch.randn(1, 5))


def test_bad_config_values_are_refused():
    with pytest.raises(ValueError, match="kernel_size"):
        ConvTasNetConfig(kernel_size=15)
    with pytest.raises(ValueError, match="num_speakers=1"):
        ConvTasNetForSpeechEnhancement(ConvTasNetConfig(num_speakers=2, **TINY))


def test_enhancement_takes_2d_labels():
    model = ConvTasNetForSpeechEnhancement(ConvTasNetConfig(num_speakers=1, **TINY))
    out = model(torch.randn(2, 800), labels=torch.randn(2, 800))
    assert out.waveforms.shape == (2, 1, 800) and out.loss.dim() == 0


def test_save_load_round_trip(model, tmp_path):
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, ConvTasNetForSourceSeparation)
    x = torch.randn(1, 1200)
    torch.testing.assert_close(loaded(x).waveforms, model(x).waveforms)


def test_auto_config_knows_every_zoo_model():
    for entry in zoo.MODELS:
        config = AutoConfig.for_model(entry.model_type)
        assert config.model_type == entry.model_type


def test_training_reduces_the_loss():
    torch.manual_seed(0)
    model = ConvTasNetForSourceSeparation(ConvTasNetConfig(**TINY))
    t = torch.arange(1600) / 8000
    sources = torch.stack([torch.sin(2 * torch.pi * 220 * t), torch.sign(torch.sin(2 * torch.pi * 31 * t))])[None]
    mixture = sources.sum(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in itertools.repeat(None, 40):
        loss = model(mixture, labels=sources).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 3  # at least 3 dB better than at the start
