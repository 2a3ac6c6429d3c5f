"""The ASR log-mel front end: frames, per-utterance normalisation, batch independence, clear errors, save / load."""

import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor

import zoo  # noqa: F401  (registers the feature extractor with the Auto classes)
from zoo import AsrFeatureExtractor, CtcConformerConfig


@pytest.fixture
def fe():
    return AsrFeatureExtractor()


def waves(lengths=(16000, 9100, 400, 1)):
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in lengths]


def test_frames_and_mask(fe):
    out = fe(waves(), sampling_rate=16000, return_tensors="pt")
    assert out["input_features"].shape == (4, 101, 80) and out["input_features"].dtype == torch.float32
    assert out["attention_mask"].sum(-1).tolist() == [101, 57, 3, 1]  # 1 + n // 160


def test_each_utterance_is_normalised_per_bin(fe):
    features = fe(waves()[:1], sampling_rate=16000, return_tensors="np")["input_features"][0]
    np.testing.assert_allclose(features.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(features.std(0), 1.0, atol=1e-2)
    # the gain does not matter; digital silence and a single frame give finite zeros, not NaN
    loud = fe(10 * waves()[0], sampling_rate=16000, return_tensors="np")["input_features"][0]
    np.testing.assert_allclose(loud, features, atol=1e-3)
    for quiet in (np.zeros(3200, dtype=np.float32), np.ones(1, dtype=np.float32)):
        silent = fe(quiet, sampling_rate=16000, return_tensors="np")["input_features"]
        assert np.isfinite(silent).all() and np.abs(silent).max() == 0


def test_features_do_not_depend_on_the_batch(fe):
    batch = fe(waves(), sampling_rate=16000, return_tensors="pt")
    for i, wave in enumerate(waves()):
        single = fe(wave, sampling_rate=16000, return_tensors="pt")["input_features"][0]
        torch.testing.assert_close(batch["input_features"][i, : len(single)], single)


def test_accepts_tensors_lists_and_read_only_arrays(fe):
    wave = waves()[1]
    reference = fe(wave, sampling_rate=16000, return_tensors="np")["input_features"]
    read_only = np.frombuffer(wave.tobytes(), dtype=np.float32)  # what a decoded byte buffer gives
    for same in (torch.from_numpy(wave), wave.tolist(), read_only, wave[None]):
        np.testing.assert_allclose(fe(same, sampling_rate=16000, return_tensors="np")["input_features"], reference, atol=1e-5)


def test_bad_audio_is_refused_with_the_fix(fe):
    with pytest.raises(ValueError, match="expects 16000 Hz audio, got 8000 Hz; resample"):
        fe(waves()[0], sampling_rate=8000)
    with pytest.raises(ValueError, match="pass mono"):
        fe([np.zeros((2, 1600), dtype=np.float32)], sampling_rate=16000)
    with pytest.raises(ValueError, match="empty"):
        fe(np.zeros(0, dtype=np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match="NaN"):
        fe(np.full(1600, np.nan, dtype=np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match="f_min < f_max"):
        AsrFeatureExtractor(f_max=9000)


def test_save_load_through_the_auto_class(fe, tmp_path):
    CtcConformerConfig().save_pretrained(tmp_path)
    fe.save_pretrained(tmp_path)
    assert "mel_filters" not in (tmp_path / "preprocessor_config.json").read_text()
    loaded = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(loaded, AsrFeatureExtractor)
    np.testing.assert_array_equal(loaded(waves()[0], sampling_rate=16000)["input_features"], fe(waves()[0], sampling_rate=16000)["input_features"])
