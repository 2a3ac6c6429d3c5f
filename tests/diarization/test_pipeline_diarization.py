"""The speaker-diarization pipeline: tiny random zoo models for the plumbing, a transparent embedder for the logic."""

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import pipeline

import zoo  # noqa: F401  (registers the pipelines)
from zoo import (
    AudioError,
    EcapaTdnnConfig,
    EcapaTdnnForSpeakerEmbedding,
    SpeakerFeatureExtractor,
    XvectorConfig,
    XvectorForSpeakerEmbedding,
)
from zoo.diarization.rttm import diarization_error_rate
from zoo.speaker.ecapa_tdnn.modeling_ecapa_tdnn import SpeakerEmbeddingOutput

SR = 16000
TINY_ECAPA = dict(channels=[16, 16, 16, 16, 48], attention_channels=8, se_channels=8, embedding_size=16)


def _save(model, path, feature_extractor=None):
    model.eval().save_pretrained(path)
    (feature_extractor or SpeakerFeatureExtractor()).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def diarizer(tmp_path_factory):
    torch.manual_seed(0)
    return pipeline("speaker-diarization", model=_save(EcapaTdnnForSpeakerEmbedding(EcapaTdnnConfig(**TINY_ECAPA)), tmp_path_factory.mktemp("ecapa")))


class SpectralShape(torch.nn.Module):
    """A transparent stand-in for a speaker model: the embedding is the window's average log-mel spectral shape.

    With raw (not mean-normalised) log-mel features, a low harmonic "voice" and a high noise band give nearly
    orthogonal embeddings, so the clustering and segmentation can be checked against a known answer.
    """

    def __init__(self, config):
        super().__init__()
        self.config = config

    def forward(self, input_features, attention_mask=None):
        mask = attention_mask.unsqueeze(-1).float()  # (batch, frames, 1)
        power = (input_features.exp() * mask).sum(1) / mask.sum(1)  # (batch, mel bins)
        shape = power.log() - power.log().mean(-1, keepdim=True)
        return SpeakerEmbeddingOutput(embeddings=torch.nn.functional.normalize(shape, dim=-1))


@pytest.fixture(scope="module")
def transparent(tmp_path_factory):
    folder = _save(
        EcapaTdnnForSpeakerEmbedding(EcapaTdnnConfig(**TINY_ECAPA)), tmp_path_factory.mktemp("shape"), SpeakerFeatureExtractor(mean_normalize=False)
    )
    diarize = pipeline("speaker-diarization", model=folder)
    diarize.model = SpectralShape(diarize.model.config)
    return diarize


RNG = np.random.default_rng(0)


def _voice(seconds, f0=200.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * f0 * t) + 0.2 * np.sin(2 * np.pi * 2 * f0 * t)).astype(np.float32)


def _band(seconds, low=3000.0, high=5000.0):
    noise = RNG.standard_normal(int(seconds * SR))
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(noise.size, 1 / SR)
    spectrum[(freqs < low) | (freqs > high)] = 0
    band = np.fft.irfft(spectrum, noise.size)
    return (0.2 * band / band.std()).astype(np.float32)


def _quiet(seconds):
    return (0.001 * RNG.standard_normal(int(seconds * SR))).astype(np.float32)


def _conversation():
    """Voice 0.5-3.5 s, band 4-7 s, voice again 7-9 s (straight after the band), then 0.5 s of quiet."""
    wave = np.concatenate([_quiet(0.5), _voice(3), _quiet(0.5), _band(3), _voice(2), _quiet(0.5)])
    reference = [
        {"speaker": "voice", "start": 0.5, "end": 3.5},
        {"speaker": "band", "start": 4.0, "end": 7.0},
        {"speaker": "voice", "start": 7.0, "end": 9.0},
    ]
    return wave, reference


# --- the logic, with the transparent embedder ----------------------------------------------------------------------


@pytest.mark.parametrize("options", [{}, {"num_speakers": 2}, {"clustering": "spectral"}, {"overlap": False}, {"batch_size": 1}])
def test_two_speakers_are_found_and_placed(transparent, options):
    wave, reference = _conversation()
    segments = transparent(wave, sampling_rate=SR, **options)
    assert {s["speaker"] for s in segments} == {"SPEAKER_00", "SPEAKER_01"}
    assert segments[0]["speaker"] == "SPEAKER_00"  # numbered by first appearance
    assert diarization_error_rate(reference, segments) < 0.1


def test_an_s_norm_model_clusters_at_its_cosine_threshold(transparent):
    """A model verifying in s-norm units keeps its raw-cosine EER point in `cosine_threshold`: clustering compares
    cosines, so that, not the s-norm `threshold`, is its merge threshold."""
    wave, _ = _conversation()
    config = transparent.model.config
    saved = (config.threshold, getattr(config, "score_norm", None), getattr(config, "cosine_threshold", None))
    try:
        config.threshold, config.score_norm, config.cosine_threshold = 4.4, "s-norm", 0.3
        by_default = transparent(wave, sampling_rate=SR, clustering="agglomerative")
        assert by_default == transparent(wave, sampling_rate=SR, clustering="agglomerative", threshold=0.3)
        assert {s["speaker"] for s in by_default} == {"SPEAKER_00", "SPEAKER_01"}  # a 4.4 cosine threshold splits every window
    finally:
        config.threshold, config.score_norm, config.cosine_threshold = saved


def test_a_long_overlap_gets_both_speakers(transparent):
    wave = np.concatenate([_quiet(0.5), _voice(8), _quiet(0.5), _band(3)])
    wave[int(3.0 * SR) : int(6.0 * SR)] += _band(3)
    reference = [
        {"speaker": "voice", "start": 0.5, "end": 8.5},
        {"speaker": "band", "start": 3.0, "end": 6.0},
        {"speaker": "band", "start": 9.0, "end": 12.0},
    ]
    # the transparent embedder hears the mix mostly as the band: relative similarity to the voice is about 0.35
    segments = transparent(wave, sampling_rate=SR, num_speakers=2, overlap_threshold=0.3)
    overlaps = [
        (max(a["start"], b["start"]), min(a["end"], b["end"]))
        for a in segments for b in segments
        if a["speaker"] < b["speaker"] and a["start"] < b["end"] and b["start"] < a["end"]
    ]
    assert overlaps and all(2.5 <= start and end <= 6.5 for start, end in overlaps)
    without = transparent(wave, sampling_rate=SR, num_speakers=2, overlap=False)
    assert diarization_error_rate(reference, segments) < diarization_error_rate(reference, without)


def test_speaker_bounds(transparent):
    wave, _ = _conversation()
    assert {s["speaker"] for s in transparent(wave, sampling_rate=SR, max_speakers=1)} == {"SPEAKER_00"}
    assert len({s["speaker"] for s in transparent(wave, sampling_rate=SR, min_speakers=3, overlap=False)}) == 3


# --- the plumbing, with a tiny random ECAPA-TDNN --------------------------------------------------------------------


def test_output_form_and_speech_only(diarizer):
    wave, _ = _conversation()
    segments = diarizer(wave, sampling_rate=SR)
    assert segments and all(set(s) == {"speaker", "start", "end"} for s in segments)
    assert all(isinstance(s["start"], float) and 0.0 <= s["start"] < s["end"] <= 9.5 + 1e-6 for s in segments)
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    assert not any(3.6 < s["start"] < 3.9 for s in segments)  # nobody speaks in the 3.5-4.0 s pause


def test_batches_give_the_same_segments(diarizer):
    wave, _ = _conversation()
    assert diarizer(wave, sampling_rate=SR, batch_size=1, num_speakers=2) == diarizer(wave, sampling_rate=SR, batch_size=7, num_speakers=2)


def test_long_audio_in_batches_with_a_progress_bar(diarizer, capsys):
    wave, _ = _conversation()
    long = np.tile(wave, 20)  # 190 s, about 300 windows
    segments = diarizer(long, sampling_rate=SR, num_speakers=2, progress=True)
    assert segments[-1]["end"] > 180
    assert "diarizing" in capsys.readouterr().err


def test_silence_gives_no_segments(diarizer):
    assert diarizer(np.zeros(3 * SR, dtype=np.float32), sampling_rate=SR) == []
    assert diarizer(np.zeros(3 * SR, dtype=np.float32), sampling_rate=SR, num_speakers=2) == []


def test_files_at_other_rates_and_stereo(diarizer, tmp_path):
    wave, _ = _conversation()
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([wave, wave], axis=1), SR)
    at_16k = diarizer(str(path), num_speakers=1)
    assert at_16k[0]["start"] == pytest.approx(0.45, abs=0.05)
    from zoo import resample

    at_44k = diarizer(resample(wave, SR, 44100), sampling_rate=44100, num_speakers=1)
    assert [t for s in at_44k for t in (s["start"], s["end"])] == pytest.approx([t for s in at_16k for t in (s["start"], s["end"])], abs=0.03)


def test_whole_recording_and_custom_vad(diarizer):
    wave, _ = _conversation()
    assert diarizer(wave, sampling_rate=SR, vad="none", num_speakers=1) == [{"speaker": "SPEAKER_00", "start": 0.0, "end": 9.5}]
    custom = diarizer(wave, sampling_rate=SR, vad=lambda w, sr: [(1.0, 2.0)], num_speakers=1)
    assert custom == [{"speaker": "SPEAKER_00", "start": 1.0, "end": 2.0}]
    tuned = diarizer(wave, sampling_rate=SR, vad="energy", vad_options={"pad_seconds": 0.0}, num_speakers=1)
    assert tuned[0]["start"] == pytest.approx(0.5, abs=0.02)


def test_options_given_when_built_hold_for_every_call(diarizer):
    built = pipeline("speaker-diarization", model=diarizer.model.name_or_path, vad="none", num_speakers=1)
    wave, _ = _conversation()
    assert built(wave, sampling_rate=SR) == [{"speaker": "SPEAKER_00", "start": 0.0, "end": 9.5}]


def test_xvector_model_works_too(tmp_path):
    torch.manual_seed(0)
    diarize = pipeline("speaker-diarization", model=_save(XvectorForSpeakerEmbedding(XvectorConfig(hidden_size=16, embedding_size=16)), tmp_path))
    segments = diarize(_conversation()[0], sampling_rate=SR, num_speakers=2)
    assert {s["speaker"] for s in segments} <= {"SPEAKER_00", "SPEAKER_01"} and segments


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(0, dtype=np.float32), "recording is empty"),
        (np.full(SR, np.nan, dtype=np.float32), "NaN"),
    ],
)
def test_bad_audio_is_refused(diarizer, bad, message):
    with pytest.raises(AudioError, match=message):
        diarizer(bad, sampling_rate=SR)


def test_unreadable_file_and_missing_rate(diarizer, tmp_path):
    path = tmp_path / "broken.flac"
    path.write_bytes(b"garbage")
    with pytest.raises(AudioError, match="broken.flac"):
        diarizer(str(path))
    with pytest.raises(AudioError, match="sampling_rate"):
        diarizer(np.zeros(SR, dtype=np.float32))


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"num_speakers": 0}, ValueError, "num_speakers=0 must be a positive integer"),
        ({"min_speakers": 3, "max_speakers": 2}, ValueError, "min_speakers=3 is above max_speakers=2"),
        ({"clustering": "kmeans"}, ValueError, "unknown clustering='kmeans'"),
        ({"hop_seconds": 3.0}, ValueError, "hop_seconds <= window_seconds"),
        ({"vad": "webrtc"}, ValueError, "unknown vad='webrtc'"),
        ({"speakers": 2}, TypeError, "speakers"),
        ({"num_speakers": 50}, ValueError, "num_speakers=50 but the speech holds only"),
    ],
)
def test_bad_options_are_refused(diarizer, options, error, message):
    with pytest.raises(error, match=message):
        diarizer(_conversation()[0], sampling_rate=SR, **options)
