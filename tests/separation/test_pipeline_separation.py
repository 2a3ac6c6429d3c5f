"""The audio-source-separation / speech-enhancement pipelines with any zoo separation model."""

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import Wav2Vec2FeatureExtractor, pipeline

import zoo  # noqa: F401  (registers the pipelines)
from zoo import AudioError, ConvTasNetConfig, ConvTasNetForSourceSeparation, ConvTasNetForSpeechEnhancement

TINY = dict(num_filters=16, bottleneck_channels=8, hidden_channels=16, skip_channels=8, num_blocks=2, num_repeats=1)


def _save(model, path, rate):
    model.save_pretrained(path)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=rate, padding_value=0.0, do_normalize=False, return_attention_mask=True
    ).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def separator(tmp_path_factory):
    torch.manual_seed(0)
    path = _save(ConvTasNetForSourceSeparation(ConvTasNetConfig(**TINY)), tmp_path_factory.mktemp("sep"), 8000)
    return pipeline("audio-source-separation", model=path)


def test_file_at_another_rate_comes_back_at_its_rate(separator, tmp_path):
    path = tmp_path / "stereo44k.wav"
    sf.write(path, np.random.default_rng(0).standard_normal((44100, 2)).astype(np.float32) * 0.1, 44100)
    out = separator(str(path))
    assert [o["label"] for o in out] == ["source_1", "source_2"]
    assert all(o["sampling_rate"] == 44100 and o["audio"].shape == (44100,) for o in out)


def test_output_rate_can_be_chosen(separator):
    out = separator(np.random.randn(8000).astype(np.float32), sampling_rate=8000, output_sampling_rate=16000)
    assert out[0]["audio"].shape == (16000,) and out[0]["sampling_rate"] == 16000


def test_batch_of_inputs_matches_single_calls(separator):
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal(n).astype(np.float32) for n in (4000, 6100, 2500)]
    batched = separator(inputs, sampling_rate=8000, batch_size=3)
    for x, out in zip(inputs, batched):
        single = separator(x, sampling_rate=8000)
        for a, b in zip(out, single):
            np.testing.assert_allclose(a["audio"], b["audio"], atol=1e-4)


def test_long_audio_is_chunked_and_stitched(separator):
    """Chunked output must follow the unchunked one closely, whatever order each chunk put its sources in."""
    rng = np.random.default_rng(2)
    t = np.arange(8000 * 12) / 8000
    mixture = (np.sin(2 * np.pi * 200 * t) + 0.5 * rng.standard_normal(t.size)).astype(np.float32)
    whole = separator(mixture, sampling_rate=8000, chunk_length_s=20)
    chunked = separator(mixture, sampling_rate=8000, chunk_length_s=3, overlap_s=0.5)
    assert all(o["audio"].shape == mixture.shape for o in chunked)
    assert np.isfinite(np.stack([o["audio"] for o in chunked])).all()
    total = sum(np.abs(o["audio"]).sum() for o in whole)
    assert sum(np.abs(o["audio"]).sum() for o in chunked) == pytest.approx(total, rel=0.5)


def test_stitching_follows_a_source_across_a_swap():
    """Two chunks whose sources come in opposite orders are put back in one order."""
    from zoo.separation.pipeline_separation import AudioSourceSeparationPipeline

    previous = np.stack([np.ones(10), -np.ones(10)])
    current = previous[::-1].copy()
    assert AudioSourceSeparationPipeline._match(previous, current) == (1, 0)


def test_silence_gives_silent_sources(separator):
    out = separator(np.zeros(8000, dtype=np.float32), sampling_rate=8000)
    assert all(np.isfinite(o["audio"]).all() and np.abs(o["audio"]).max() == 0 for o in out)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.full(800, np.nan, dtype=np.float32), "NaN"),
        (np.zeros(4, dtype=np.float32), "fewer than one encoder frame"),
    ],
)
def test_bad_arrays_are_refused_clearly(separator, bad, message):
    with pytest.raises(AudioError, match=message):
        separator(bad, sampling_rate=8000)


def test_unreadable_file_is_refused_clearly(separator, tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"this is not audio")
    with pytest.raises(AudioError, match="broken.wav"):
        separator(str(path))


def test_array_without_rate_is_refused(separator):
    with pytest.raises(AudioError, match="sampling_rate"):
        separator(np.zeros(800, dtype=np.float32))


def test_speech_enhancement_pipeline(tmp_path):
    path = _save(ConvTasNetForSpeechEnhancement(ConvTasNetConfig(num_speakers=1, sampling_rate=16000, **TINY)), tmp_path, 16000)
    enhancer = pipeline("speech-enhancement", model=path)
    assert type(enhancer.model) is ConvTasNetForSpeechEnhancement
    out = enhancer(np.random.randn(8000).astype(np.float32), sampling_rate=8000)
    assert len(out) == 1 and out[0]["label"] == "speech" and out[0]["audio"].shape == (8000,)


def test_estimator_fills_estimated_si_snr(tmp_path):
    torch.manual_seed(0)
    path = _save(ConvTasNetForSourceSeparation(ConvTasNetConfig(**TINY)), tmp_path, 8000)
    calls = []

    def estimator(mixture, estimates):
        calls.append((tuple(mixture.shape), tuple(estimates.shape)))
        return torch.tensor([[7.0, 9.0]])

    separator = pipeline("audio-source-separation", model=path, estimator=estimator)
    out = separator(np.random.randn(1600).astype(np.float32), sampling_rate=8000)
    assert [o["estimated_si_snr"] for o in out] == [7.0, 9.0]
    assert calls == [((1, 1600), (1, 2, 1600))]
