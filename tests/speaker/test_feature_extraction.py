"""SpeakerFeatureExtractor: shapes and masks, per-utterance independence, an independent numpy reference, errors."""

import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor
from transformers.audio_utils import spectrogram, window_function

import zoo
from zoo import SpeakerFeatureExtractor


@pytest.fixture(scope="module")
def fe():
    return SpeakerFeatureExtractor()


def _noise(n, seed=0):
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32) * 0.1


def test_shapes_and_attention_mask(fe):
    lengths = [16000, 4321, 100]
    batch = fe([_noise(n, i) for i, n in enumerate(lengths)], sampling_rate=16000, return_tensors="pt", padding=True)
    frames = [1 + n // 160 for n in lengths]  # centred 10 ms frames
    assert batch["input_features"].shape == (3, max(frames), 80)
    assert batch["input_features"].dtype == torch.float32
    assert batch["attention_mask"].sum(-1).tolist() == frames
    for i, n in enumerate(frames):
        assert batch["attention_mask"][i, :n].all() and not batch["attention_mask"][i, n:].any()
        assert batch["input_features"][i, n:].abs().max() == 0 if n < max(frames) else True


def test_each_utterance_is_featurized_on_its_own(fe):
    waves = [_noise(12000, 1), _noise(3000, 2)]
    batch = fe(waves, sampling_rate=16000, return_tensors="np")
    for i, wave in enumerate(waves):
        alone = fe(wave, sampling_rate=16000, return_tensors="np")["input_features"][0]
        np.testing.assert_array_equal(batch["input_features"][i, : len(alone)], alone)


def test_matches_a_numpy_log_mel_reference(fe):
    """transformers' numpy `spectrogram` with the same window, filters and padding gives the same features."""
    wave = _noise(8000, 3) + np.sin(2 * np.pi * 440 * np.arange(8000) / 16000).astype(np.float32) * 0.3
    ours = fe(wave, sampling_rate=16000, return_tensors="np")["input_features"][0]
    mel = spectrogram(
        wave.astype(np.float64), window_function(400, "hamming", periodic=False), frame_length=400, hop_length=160,
        power=2.0, center=True, pad_mode="constant", mel_filters=fe.mel_filters, mel_floor=1e-30,
    )  # (80, frames)
    reference = np.log(mel + 1e-6).T
    reference -= reference.mean(0, keepdims=True)
    np.testing.assert_allclose(ours, reference, atol=2e-4)


def test_gain_and_mean_normalisation(fe):
    wave = _noise(16000, 4)
    loud, quiet = (fe(g * wave, sampling_rate=16000, return_tensors="np")["input_features"][0] for g in (1.0, 0.25))
    assert np.abs(loud.mean(0)).max() < 1e-4  # mean-normalised per mel bin
    np.testing.assert_allclose(loud, quiet, atol=1e-2)  # a gain is a constant in the log domain; only the floor differs


def test_accepted_input_kinds(fe):
    wave = _noise(4000, 5)
    expected = fe(wave, sampling_rate=16000, return_tensors="np")["input_features"]
    for given in (torch.from_numpy(wave), wave.tolist(), [wave], np.stack([wave, wave])):
        got = fe(given, sampling_rate=16000, return_tensors="np")["input_features"]
        np.testing.assert_allclose(got[:1], expected, atol=1e-6)
    assert np.isfinite(fe(np.zeros(1600, np.float32), sampling_rate=16000, return_tensors="np")["input_features"]).all()


def test_bad_input_is_refused_with_the_fix(fe):
    with pytest.raises(ValueError, match=r"expects 16000 Hz audio, got 8000 Hz; resample"):
        fe(_noise(8000), sampling_rate=8000)
    with pytest.raises(ValueError, match=r"mono"):
        fe([np.zeros((2, 8000), np.float32)], sampling_rate=16000)
    with pytest.raises(ValueError, match=r"empty"):
        fe([np.zeros(0, np.float32)], sampling_rate=16000)
    with pytest.raises(ValueError, match=r"NaN"):
        fe(np.full(800, np.nan, np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match=r"\(batch, time\)"):
        fe(np.zeros((1, 2, 800), np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match="f_max"):
        SpeakerFeatureExtractor(f_max=9000)


def test_save_load_and_auto_resolution(fe, tmp_path):
    fe.save_pretrained(tmp_path)
    zoo.EcapaTdnnConfig().save_pretrained(tmp_path)
    loaded = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(loaded, SpeakerFeatureExtractor)
    assert "mel_filters" not in (tmp_path / "preprocessor_config.json").read_text()
    wave = _noise(5000, 6)
    np.testing.assert_array_equal(
        loaded(wave, sampling_rate=16000, return_tensors="np")["input_features"],
        fe(wave, sampling_rate=16000, return_tensors="np")["input_features"],
    )
