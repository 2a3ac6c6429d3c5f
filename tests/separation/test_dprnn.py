"""DPRNN: shapes, padding, loss, save/load, Auto classes, pipeline, published size."""

import itertools

import numpy as np
import pytest
import torch
from transformers import AutoModel, Wav2Vec2FeatureExtractor, pipeline

import zoo  # noqa: F401  (registers the Auto classes and pipelines)
from zoo import DprnnConfig, DprnnForSourceSeparation, DprnnForSpeechEnhancement
from zoo.separation.dprnn.modeling_dprnn import overlap_add, segment

TINY = dict(num_filters=16, hidden_size=16, rnn_hidden_size=16, chunk_size=10, num_layers=1)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # tiny models gain nothing from a second thread, and on a busy machine every hand-off between threads can cost
    # a scheduler time slice: a step-by-step LSTM then runs 30x slower on two threads than on one
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return DprnnForSourceSeparation(DprnnConfig(**TINY)).eval()


def test_output_shapes(model):
    out = model(torch.randn(3, 1000))
    assert out.waveforms.shape == (3, 2, 1000)
    assert out.loss is None


def test_three_speakers():
    model = DprnnForSourceSeparation(DprnnConfig(num_speakers=3, **TINY))
    out = model(torch.randn(2, 900), labels=torch.randn(2, 3, 900))
    assert out.waveforms.shape == (2, 3, 900) and out.permutation.shape == (2, 3)


def test_padded_batch_equals_one_by_one(model):
    # 1600 samples: 199 frames, 41 chunks; 23 samples: a single frame in a chunk of padding otherwise
    lengths = [1600, 1203, 777, 23]
    inputs = torch.zeros(len(lengths), max(lengths))
    mask = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    singles = []
    with torch.no_grad():
        for i, n in enumerate(lengths):
            x = torch.randn(n)
            inputs[i, :n], mask[i, :n] = x, 1
            singles.append(model(x[None]).waveforms[0])
        batched = model(inputs, attention_mask=mask).waveforms
    for i, n in enumerate(lengths):
        # each LSTM runs over the packed real frames only and norms skip padded positions: only rounding differs
        torch.testing.assert_close(batched[i, :, :n], singles[i], atol=1e-6, rtol=1e-5)
        assert n == max(lengths) or batched[i, :, n:].abs().max() == 0


def test_segment_then_overlap_add_counts_every_frame_twice():
    hidden = torch.randn(2, 37, 4)
    chunks, chunk_mask = segment(hidden, torch.ones(2, 37, dtype=torch.bool), chunk_size=10)
    assert chunks.shape == (2, 9, 10, 4) and int(chunk_mask[0].sum()) == 2 * 37
    torch.testing.assert_close(overlap_add(chunks, 37), 2 * hidden)


def test_loss_is_permutation_invariant(model):
    mixture = torch.randn(2, 800)
    sources = torch.randn(2, 2, 800)
    loss = model(mixture, labels=sources).loss
    swapped = model(mixture, labels=sources.flip(1)).loss
    torch.testing.assert_close(loss, swapped)
    out = model(mixture, labels=model(mixture).waveforms.detach().flip(1))
    assert out.permutation.tolist() == [[1, 0], [1, 0]] and out.loss.item() < -30 + 1e-3  # clamped at 30 dB


def test_silence_gives_silence_without_nan(model):
    out = model(torch.zeros(1, 1000), labels=torch.zeros(1, 2, 1000))
    assert torch.isfinite(out.waveforms).all() and out.waveforms.abs().max() == 0
    assert torch.isfinite(out.loss)


def test_too_short_input_is_refused(model):
    with pytest.raises(ValueError, match="fewer than one encoder frame"):
        model(torch.randn(1, 5))
    with pytest.raises(ValueError, match=r"\(batch, time\)"):
        model(torch.randn(1000))


def test_bad_config_values_are_refused():
    with pytest.raises(ValueError, match="kernel_size"):
        DprnnConfig(kernel_size=15)
    with pytest.raises(ValueError, match="chunk_size"):
        DprnnConfig(chunk_size=9)
    with pytest.raises(ValueError, match="num_layers"):
        DprnnConfig(num_layers=0)
    with pytest.raises(ValueError, match="num_speakers=1"):
        DprnnForSpeechEnhancement(DprnnConfig(num_speakers=2, **TINY))


def test_enhancement_takes_2d_labels():
    model = DprnnForSpeechEnhancement(DprnnConfig(num_speakers=1, **TINY))
    out = model(torch.randn(2, 800), labels=torch.randn(2, 800))
    assert out.waveforms.shape == (2, 1, 800) and out.loss.dim() == 0


def test_save_load_round_trip(model, tmp_path):
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, DprnnForSourceSeparation)
    x = torch.randn(1, 1200)
    torch.testing.assert_close(loaded(x).waveforms, model(x).waveforms)


def test_pipeline_separates_a_long_file_in_chunks(model, tmp_path):
    model.save_pretrained(tmp_path)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=8000, padding_value=0.0, do_normalize=False,
                             return_attention_mask=True).save_pretrained(tmp_path)
    separator = pipeline("audio-source-separation", model=str(tmp_path))
    out = separator(np.random.default_rng(0).standard_normal(12000).astype(np.float32), sampling_rate=8000,
                    chunk_length_s=0.5, overlap_s=0.1)
    assert [o["label"] for o in out] == ["source_1", "source_2"] and out[0]["audio"].shape == (12000,)


def test_published_config_has_about_2_6m_parameters():
    # the paper reports 2.6 M for its 2-sample-window model
    with torch.device("meta"):
        model = DprnnForSourceSeparation(DprnnConfig.published())
    count = sum(p.numel() for p in model.parameters())
    assert 2.5e6 <= count <= 2.7e6, count


def test_lstm_sees_only_real_frames():
    # a real frame's estimate must not change when the padding after it changes length or content
    from zoo.separation.dprnn.modeling_dprnn import masked_lstm

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    x = torch.randn(2, 7, 3)
    valid = torch.tensor([[0, 0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    with torch.no_grad():
        out = masked_lstm(lstm, x, valid)
        alone = lstm(x[:1, 2:5])[0]
    torch.testing.assert_close(out[0, 2:5], alone[0])
    torch.testing.assert_close(out[1], lstm(x[1:])[0][0])


def test_training_reduces_the_loss():
    torch.manual_seed(0)
    model = DprnnForSourceSeparation(DprnnConfig(**TINY))
    t = torch.arange(1600) / 8000
    sources = torch.stack([torch.sin(2 * torch.pi * 220 * t), torch.sign(torch.sin(2 * torch.pi * 31 * t))])[None]
    mixture = sources.sum(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in itertools.repeat(None, 15):
        loss = model(mixture, labels=sources).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 3  # at least 3 dB better than at the start


def test_modeling_file_imports_only_torch_and_transformers():
    # a Hub folder carries this file for `trust_remote_code=True` where zoo is not installed
    import ast
    from pathlib import Path

    import zoo.separation.dprnn.modeling_dprnn as modeling

    tree = ast.parse(Path(modeling.__file__).read_text())
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    relative = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level > 0}
    assert roots <= {"__future__", "dataclasses", "itertools", "math", "typing", "torch", "transformers"}, roots
    assert relative == {"configuration_dprnn"}, relative
