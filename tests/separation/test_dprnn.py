"""DPRNN: the shared separation-model checks, plus chunking, masked LSTMs and the published size."""

import pytest
import torch

from zoo import DprnnConfig, DprnnForSourceSeparation, DprnnForSpeechEnhancement
from zoo.separation.dprnn.modeling_dprnn import masked_lstm, overlap_add, segment

from .model_tests import SeparationModelTests


class TestDprnn(SeparationModelTests):
    config_class = DprnnConfig
    model_class = DprnnForSourceSeparation
    enhancement_class = DprnnForSpeechEnhancement
    tiny = dict(num_filters=16, hidden_size=16, rnn_hidden_size=16, chunk_size=10, num_layers=1)


def test_segment_then_overlap_add_counts_every_frame_twice():
    hidden = torch.randn(2, 37, 4)
    chunks, chunk_mask = segment(hidden, torch.ones(2, 37, dtype=torch.bool), chunk_size=10)
    assert chunks.shape == (2, 9, 10, 4) and int(chunk_mask[0].sum()) == 2 * 37
    torch.testing.assert_close(overlap_add(chunks, 37), 2 * hidden)


def test_bad_config_values_are_refused():
    with pytest.raises(ValueError, match="kernel_size"):
        DprnnConfig(kernel_size=15)
    with pytest.raises(ValueError, match="chunk_size"):
        DprnnConfig(chunk_size=9)
    with pytest.raises(ValueError, match="num_layers"):
        DprnnConfig(num_layers=0)


def test_published_config_has_about_2_6m_parameters():
    # the paper reports 2.6 M for its 2-sample-window model
    with torch.device("meta"):
        model = DprnnForSourceSeparation(DprnnConfig.published())
    count = sum(p.numel() for p in model.parameters())
    assert 2.5e6 <= count <= 2.7e6, count


def test_lstm_sees_only_real_frames():
    # a real frame's estimate must not change when the padding after it changes length or content
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    x = torch.randn(2, 7, 3)
    valid = torch.tensor([[0, 0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    with torch.no_grad():
        out = masked_lstm(lstm, x, valid)
        alone = lstm(x[:1, 2:5])[0]
    torch.testing.assert_close(out[0, 2:5], alone[0])
    torch.testing.assert_close(out[1], lstm(x[1:])[0][0])
