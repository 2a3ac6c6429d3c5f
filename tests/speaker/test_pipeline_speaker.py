"""The speaker-embedding and speaker-verification pipelines with tiny random zoo speaker models."""

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoModelForAudioXVector, pipeline

import zoo  # noqa: F401  (registers the pipelines)
from zoo import (
    AudioError,
    EcapaTdnnConfig,
    EcapaTdnnForSpeakerEmbedding,
    SpeakerFeatureExtractor,
    XvectorConfig,
    XvectorForSpeakerEmbedding,
    load_audio,
    resample,
)

TINY_ECAPA = dict(channels=[16, 16, 16, 16, 48], attention_channels=8, se_channels=8, embedding_size=16)
TINY_XVECTOR = dict(hidden_size=16, embedding_size=16)


def _save(model, path):
    model.eval().save_pretrained(path)
    SpeakerFeatureExtractor().save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def ecapa(tmp_path_factory):
    torch.manual_seed(0)
    return _save(EcapaTdnnForSpeakerEmbedding(EcapaTdnnConfig(threshold=0.5, **TINY_ECAPA)), tmp_path_factory.mktemp("ecapa"))


@pytest.fixture(scope="module")
def uncalibrated(tmp_path_factory):
    torch.manual_seed(1)
    return _save(XvectorForSpeakerEmbedding(XvectorConfig(**TINY_XVECTOR)), tmp_path_factory.mktemp("xvector"))


@pytest.fixture(scope="module")
def embedder(ecapa):
    return pipeline("speaker-embedding", model=ecapa)


@pytest.fixture(scope="module")
def verifier(ecapa):
    return pipeline("speaker-verification", model=ecapa)


def _clips(seed=0, lengths=(16000, 9000, 23000)):
    rng = np.random.default_rng(seed)
    t = [np.arange(n) / 16000 for n in lengths]
    # different "voices": harmonic tones at different pitches in a little noise
    return [
        (0.3 * np.sin(2 * np.pi * (120 + 60 * i) * x) + 0.1 * np.sin(2 * np.pi * (240 + 120 * i) * x) + 0.02 * rng.standard_normal(x.size)).astype(np.float32)
        for i, x in enumerate(t)
    ]


# --- speaker-embedding ------------------------------------------------------------------------------------------


def test_embedding_is_a_unit_vector(embedder):
    out = embedder(_clips()[0], sampling_rate=16000)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (16,)
    assert np.linalg.norm(out) == pytest.approx(1.0, abs=1e-5)


def test_batch_equals_one_by_one(embedder):
    clips = _clips()
    batched = embedder(clips, sampling_rate=16000, batch_size=3)
    assert len(batched) == 3
    for clip, embedding in zip(clips, batched):
        np.testing.assert_allclose(embedding, embedder(clip, sampling_rate=16000), atol=1e-5)


def test_stereo_file_is_downmixed(embedder, tmp_path):
    clip = _clips()[0]
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([clip, 0.5 * clip], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(embedder(str(path)), embedder(0.75 * clip, sampling_rate=16000), atol=1e-5)


def test_other_rates_are_resampled(embedder):
    clip = _clips()[0]
    at_44k = resample(clip, 16000, 44100)
    assert float(embedder(at_44k, sampling_rate=44100) @ embedder(clip, sampling_rate=16000)) > 0.99


def test_dict_and_bytes_inputs(embedder, tmp_path):
    clip = _clips()[0]
    path = tmp_path / "clip.flac"
    sf.write(path, clip, 16000, subtype="PCM_24")
    reference = embedder(str(path))
    np.testing.assert_allclose(embedder(path.read_bytes()), reference, atol=1e-5)
    np.testing.assert_allclose(embedder({"array": load_audio(str(path), 16000), "sampling_rate": 16000}), reference, atol=1e-5)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.full(8000, np.nan, dtype=np.float32), "NaN"),
        (np.zeros(100, dtype=np.float32), "shorter than one 25 ms analysis window"),
    ],
)
def test_bad_arrays_are_refused_clearly(embedder, bad, message):
    with pytest.raises(AudioError, match=message):
        embedder(bad, sampling_rate=16000)


def test_unreadable_file_and_missing_rate_are_refused(embedder, tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="broken.wav"):
        embedder(str(path))
    with pytest.raises(AudioError, match="sampling_rate"):
        embedder(np.zeros(16000, dtype=np.float32))


def test_unknown_argument_is_refused(embedder):
    with pytest.raises(TypeError, match="threshold"):
        embedder(_clips()[0], sampling_rate=16000, threshold=0.3)


def test_xvector_model_and_auto_class(uncalibrated):
    assert type(AutoModelForAudioXVector.from_pretrained(uncalibrated)) is XvectorForSpeakerEmbedding
    embed = pipeline("speaker-embedding", model=uncalibrated)
    assert type(embed.model) is XvectorForSpeakerEmbedding
    out = embed(_clips()[1], sampling_rate=16000)
    assert out.shape == (16,) and np.linalg.norm(out) == pytest.approx(1.0, abs=1e-5)


# --- speaker-verification ---------------------------------------------------------------------------------------


def test_same_clip_is_the_same_speaker(verifier):
    clip = _clips()[0]
    out = verifier((clip, clip), sampling_rate=16000)
    assert set(out) == {"score", "cosine", "threshold", "same_speaker", "meaning"}
    assert out["score"] == out["cosine"] == pytest.approx(1.0, abs=1e-5) and out["threshold"] == 0.5 and out["same_speaker"] is True
    assert "above the threshold 0.50" in out["meaning"] and "same speaker" in out["meaning"]


def test_score_is_the_cosine_of_the_embeddings(verifier, embedder):
    a, b, c = _clips()
    out = verifier(a, c, sampling_rate=16000)  # the two-argument form
    assert out == verifier((a, c), sampling_rate=16000)
    expected = float(embedder(a, sampling_rate=16000) @ embedder(c, sampling_rate=16000))
    assert out["score"] == pytest.approx(expected, abs=1e-5)
    assert out["same_speaker"] == (expected >= 0.5)


def test_enrollment_is_the_renormalised_mean(verifier, embedder):
    a, b, c = _clips()
    out = verifier({"enrollment": [a, b], "test": c}, sampling_rate=16000)
    mean = embedder(a, sampling_rate=16000) + embedder(b, sampling_rate=16000)
    expected = float(mean / np.linalg.norm(mean) @ embedder(c, sampling_rate=16000))
    assert out["score"] == pytest.approx(expected, abs=1e-5)
    single = verifier({"enrollment": a, "test": c}, sampling_rate=16000)  # one enrollment clip, not in a list
    assert single["score"] == pytest.approx(verifier((a, c), sampling_rate=16000)["score"], abs=1e-6)


def test_threshold_override_decides(verifier):
    a, _, c = _clips()
    score = verifier((a, c), sampling_rate=16000)["score"]
    high = verifier((a, c), sampling_rate=16000, threshold=min(score + 0.2, 1.0))
    low = verifier((a, c), sampling_rate=16000, threshold=max(score - 0.2, -1.0))
    assert high["same_speaker"] is False and "below" in high["meaning"] and "threshold=" in high["meaning"]
    assert low["same_speaker"] is True and "above" in low["meaning"]
    with pytest.raises(ValueError, match=r"threshold=2 must be a cosine score"):
        verifier((a, c), sampling_rate=16000, threshold=2)


def test_list_of_trials_batched_equals_single(verifier):
    a, b, c = _clips()
    trials = [(a, b), {"enrollment": [a, c], "test": b}, (c, c)]
    batched = verifier(trials, sampling_rate=16000, batch_size=4)
    assert [o["score"] for o in batched] == pytest.approx([verifier(t, sampling_rate=16000)["score"] for t in trials], abs=1e-5)


def test_model_without_threshold_needs_one(uncalibrated):
    verify = pipeline("speaker-verification", model=uncalibrated)
    a, b, _ = _clips()
    with pytest.raises(ValueError, match=r"no calibrated decision threshold.*pass threshold="):
        verify((a, b), sampling_rate=16000)
    out = verify((a, b), sampling_rate=16000, threshold=0.3)
    assert out["threshold"] == 0.3 and out["same_speaker"] == (out["score"] >= 0.3)


def test_options_given_when_built_hold_for_every_call(uncalibrated):
    verify = pipeline("speaker-verification", model=uncalibrated, threshold=0.25)
    a, b, _ = _clips()
    assert verify((a, b), sampling_rate=16000)["threshold"] == 0.25
    assert verify((a, b), sampling_rate=16000, threshold=0.75)["threshold"] == 0.75


@pytest.mark.parametrize(
    "trial, message",
    [
        (["a.wav", "b.wav"], "a list is a batch"),  # a list is a batch of trials, each of which must be a pair
        ({"enrollment": "a.wav"}, r"\['test'\] missing"),
        ({"enrollment": [], "test": "b.wav"}, "empty list"),
        (("a.wav", "b.wav", "c.wav"), "tuple of 3"),
    ],
)
def test_malformed_trials_are_refused(verifier, trial, message):
    with pytest.raises(ValueError, match=message):
        verifier(trial)


def test_bad_test_clip_is_named(verifier):
    a = _clips()[0]
    with pytest.raises(AudioError, match="test clip is empty"):
        verifier((a, np.zeros(0, dtype=np.float32)), sampling_rate=16000)
    with pytest.raises(AudioError, match="enrollment clip 1 contains"):
        verifier({"enrollment": [a, np.full(4000, np.inf, dtype=np.float32)], "test": a}, sampling_rate=16000)


# --- s-norm scoring ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def snorm_model(tmp_path_factory):
    torch.manual_seed(2)
    config = EcapaTdnnConfig(threshold=2.5, score_norm="s-norm", score_norm_top_k=4, num_labels=6, **TINY_ECAPA)
    return _save(EcapaTdnnForSpeakerEmbedding(config), tmp_path_factory.mktemp("ecapa-snorm"))


def test_s_norm_verifier_scores_against_the_classifier_cohort(snorm_model):
    from zoo.speaker.score_norm import cohort_statistics, s_norm

    verifier = pipeline("speaker-verification", model=snorm_model)
    embedder = pipeline("speaker-embedding", model=snorm_model)
    a, b, _ = _clips()
    out = verifier(a, b, sampling_rate=16000)
    ea, eb = (np.asarray(embedder(x, sampling_rate=16000), dtype=np.float64)[None] for x in (a, b))
    assert out["cosine"] == pytest.approx(float(ea[0] @ eb[0]), abs=1e-5)
    weight = verifier.model.classifier.weight.detach().double().numpy()
    cohort = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    expected = s_norm(np.array([out["cosine"]]), cohort_statistics(ea, cohort, 4), cohort_statistics(eb, cohort, 4))[0]
    assert out["score"] == pytest.approx(expected, rel=1e-4) and out["score"] != pytest.approx(out["cosine"])
    assert out["threshold"] == 2.5 and out["same_speaker"] is (out["score"] >= 2.5)
    assert verifier(a, b, sampling_rate=16000, threshold=-50.0)["same_speaker"] is True  # s-norm units, not [-1, 1]


def test_s_norm_config_is_checked():
    with pytest.raises(ValueError, match="score_norm='z-norm'"):
        EcapaTdnnConfig(score_norm="z-norm", **TINY_ECAPA)
    with pytest.raises(ValueError, match="cosine score in \\[-1, 1\\]"):
        EcapaTdnnConfig(threshold=3.0, **TINY_ECAPA)
    assert EcapaTdnnConfig(threshold=3.0, score_norm="s-norm", **TINY_ECAPA).threshold == 3.0


def test_s_norm_without_a_classifier_is_refused(tmp_path):
    from zoo.speaker.score_norm import cohort_of

    model = EcapaTdnnForSpeakerEmbedding(EcapaTdnnConfig(score_norm="s-norm", **TINY_ECAPA))
    with pytest.raises(ValueError, match="classifier.*num_labels=0"):
        cohort_of(model)
