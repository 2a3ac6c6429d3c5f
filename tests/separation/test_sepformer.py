"""SepFormer: the shared separation-model checks, plus chunking and the published size."""

import pytest
import torch

from zoo import SepformerConfig, SepformerForSourceSeparation, SepformerForSpeechEnhancement
from zoo.separation.sepformer.modeling_sepformer import overlap_add, segment

from .model_tests import SeparationModelTests


class TestSepformer(SeparationModelTests):
    config_class = SepformerConfig
    model_class = SepformerForSourceSeparation
    enhancement_class = SepformerForSpeechEnhancement
    tiny = dict(num_filters=16, hidden_size=16, num_heads=2, ffn_dim=32, chunk_size=10)


def test_segment_then_overlap_add_counts_every_frame_twice():
    hidden = torch.randn(2, 37, 4)
    chunks, chunk_mask = segment(hidden, torch.ones(2, 37, dtype=torch.bool), chunk_size=10)
    assert chunks.shape == (2, 9, 10, 4) and int(chunk_mask[0].sum()) == 2 * 37
    torch.testing.assert_close(overlap_add(chunks, 37), 2 * hidden)


def test_bad_config_values_are_refused():
    with pytest.raises(ValueError, match="kernel_size"):
        SepformerConfig(kernel_size=15)
    with pytest.raises(ValueError, match="chunk_size"):
        SepformerConfig(chunk_size=9)
    with pytest.raises(ValueError, match="num_heads"):
        SepformerConfig(hidden_size=16, num_heads=3)


def test_published_config_has_about_26m_parameters():
    # the paper reports 26 M; SpeechBrain's recipe of the same configuration has 25.68 M
    with torch.device("meta"):  # count without allocating or initialising 100 MB of weights
        model = SepformerForSourceSeparation(SepformerConfig.published())
    count = sum(p.numel() for p in model.parameters())
    assert 25.5e6 <= count <= 26.5e6, count
