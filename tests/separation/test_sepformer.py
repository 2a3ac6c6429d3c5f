"""SepFormer: the shared separation-model checks, plus chunking and the published size."""

import pytest
import torch

from zoo import SepformerConfig, SepformerForSourceSeparation, SepformerForSpeechEnhancement
from zoo.separation.sepformer.modeling_sepformer import _sequence_groups, overlap_add, segment

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


def test_cpu_inference_in_groups_on_threads_equals_the_autograd_path(monkeypatch):
    """No-grad CPU inference runs each transformer over a few sequences at a time, each cut to its real frames,
    on worker threads; the estimates are those of the general path (grad enabled, masked attention)."""
    from zoo.separation.sepformer import modeling_sepformer as modeling

    torch.manual_seed(0)
    model = SepformerForSourceSeparation(SepformerConfig(**TestSepformer.tiny, num_layers=2)).eval()
    calls = []
    original = modeling.SepformerTransformer._forward_in_groups
    monkeypatch.setattr(modeling, "INFERENCE_GROUP_POSITIONS", 25)  # several groups, even at this size
    monkeypatch.setattr(modeling.SepformerTransformer, "_forward_in_groups", lambda *args: calls.append(1) or original(*args))
    inputs = torch.randn(3, 1600)
    for mask in (torch.ones(3, 1600), torch.ones(3, 1600).index_fill_(1, torch.arange(900, 1600), 0)):
        mask[2, 300:] = 0
        holes = mask.clone()
        holes[0, 500:560] = 0  # padding inside a sequence: its chunks run whole, with masked attention
        for attention_mask in (mask, holes):
            expected = model(inputs, attention_mask=attention_mask).waveforms.detach()  # grad enabled: general path
            assert not calls
            threads = torch.get_num_threads()
            torch.set_num_threads(2)
            try:
                with torch.inference_mode():
                    fast = model(inputs, attention_mask=attention_mask).waveforms
                threads_after = torch.get_num_threads()
            finally:
                torch.set_num_threads(threads)
            assert threads_after == 2  # the workers' single-threaded setting does not leak out
            assert len(calls) == 4  # 2 blocks x (intra + inter)
            calls.clear()
            torch.testing.assert_close(fast, expected, atol=1e-6, rtol=1e-5)



def test_packed_weights_follow_every_weight_update(monkeypatch):
    """CPU inference packs the projection weights for oneDNN once; an in-place update of any weight (an
    optimizer step, load_state_dict) packs them again, and the plain `addmm` path gives the same estimates."""
    from zoo.separation.sepformer import modeling_sepformer as modeling

    torch.manual_seed(0)
    model = SepformerForSourceSeparation(SepformerConfig(**TestSepformer.tiny, num_layers=1)).eval()
    inputs = torch.randn(2, 800)
    with torch.no_grad():
        before = model(inputs).waveforms
        intra = model.sepformer.masker.blocks[0].intra
        if torch.backends.mkldnn.is_available():
            assert all(weights is not None for weights in intra._packed_weights())  # the oneDNN path ran
        intra.layers[0].ffn_in.weight.mul_(2.0)  # in place, as an optimizer step
        after = model(inputs).waveforms
        with torch.enable_grad():  # the general path reads the weights as they are now
            expected = model(inputs).waveforms
        torch.testing.assert_close(after, expected, atol=1e-6, rtol=1e-5)
        assert not torch.allclose(after, before)
        monkeypatch.setattr(modeling, "_pack_linear_weight", lambda weight: None)  # a torch without oneDNN
        intra.layers[0].ffn_in.weight.mul_(1.0)
        torch.testing.assert_close(model(inputs).waveforms, expected, atol=1e-6, rtol=1e-5)
        assert all(weights is None for weights in intra._packed_weights())

def test_sequence_groups_cover_every_real_position_once():
    hidden = torch.zeros(2, 37, 4)
    frame_mask = torch.ones(2, 37, dtype=torch.bool)
    frame_mask[1, 20:] = False
    _, chunk_mask = segment(hidden, frame_mask, chunk_size=10)  # (2, 9, 10)
    for real in (chunk_mask, chunk_mask.transpose(1, 2)):  # within chunks, across chunks
        covered = torch.zeros_like(real, dtype=torch.long)
        for example, first, stop, keys in _sequence_groups(real, rows=25):
            assert (stop - first) * (keys.stop - keys.start) <= max(25, keys.stop - keys.start)
            covered[example, first:stop, keys] += 1
        assert torch.equal(covered, real.long())
