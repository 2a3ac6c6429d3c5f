"""Voice activity detection: the energy detector's hysteresis and durations, Silero, and the dispatcher."""

import shutil
import subprocess

import numpy as np
import pytest

from zoo import AudioError
from zoo.diarization.vad import (
    EnergyVad,
    SileroVad,
    clean_regions,
    detect_speech,
    get_vad,
    silero_available,
)

SR = 16000


def _signal(spans, seconds=6.0, level=0.3, noise=0.001, seed=0):
    """Faint noise with harmonic "speech" bursts in `spans` [(start, end, level)], seconds."""
    rng = np.random.default_rng(seed)
    wave = noise * rng.standard_normal(int(seconds * SR))
    for start, end, *amp in spans:
        t = np.arange(int(start * SR), int(end * SR)) / SR
        wave[int(start * SR) : int(start * SR) + t.size] += (amp[0] if amp else level) * np.sin(2 * np.pi * 180 * t)
    return wave.astype(np.float32)


def test_finds_bursts_within_a_frame():
    regions = EnergyVad(pad_seconds=0.0)(_signal([(1.0, 2.0), (3.5, 5.0)]), SR)
    assert len(regions) == 2
    for (start, end), (ref_start, ref_end) in zip(regions, [(1.0, 2.0), (3.5, 5.0)]):
        assert abs(start - ref_start) <= 0.02 and abs(end - ref_end) <= 0.02


def test_hysteresis_keeps_a_quiet_stretch_that_follows_a_loud_one():
    # loud (onset) then quieter but still well above the floor (between offset and onset of a louder threshold)
    wave = _signal([(1.0, 2.0, 0.3), (2.0, 3.0, 0.3 * 10 ** (-30 / 20))])
    vad = EnergyVad(onset_db=40.0, offset_db=10.0, pad_seconds=0.0, min_silence_seconds=0.0)
    (start, end), = vad(wave, SR)
    assert start == pytest.approx(1.0, abs=0.02) and end == pytest.approx(3.0, abs=0.02)
    # the quiet stretch alone never reaches the onset threshold: no speech
    assert vad(_signal([(2.0, 3.0, 0.3 * 10 ** (-30 / 20))]), SR) == []


def test_short_bursts_are_dropped_and_short_gaps_bridged():
    wave = _signal([(1.0, 1.1), (2.0, 3.0), (3.15, 4.0)])
    regions = EnergyVad(pad_seconds=0.0, min_speech_seconds=0.25, min_silence_seconds=0.25)(wave, SR)
    assert len(regions) == 1
    assert regions[0][0] == pytest.approx(2.0, abs=0.02) and regions[0][1] == pytest.approx(4.0, abs=0.02)


def test_padding_stays_inside_the_recording():
    regions = EnergyVad(pad_seconds=0.5)(_signal([(0.1, 1.0), (5.5, 6.0)]), SR)
    assert regions[0][0] == 0.0 and regions[-1][1] == pytest.approx(6.0)


def test_silence_and_constant_noise_are_not_speech():
    assert detect_speech(np.zeros(SR * 2, dtype=np.float32), SR) == []
    assert detect_speech(_signal([], noise=0.05), SR) == []


def test_none_and_callables():
    wave = _signal([(1.0, 2.0)], seconds=3.0)
    assert detect_speech(wave, SR, vad="none") == [(0.0, 3.0)]
    assert detect_speech(wave, SR, vad=lambda w, sr: [(2.5, 2.9), (0.5, 1.0)]) == [(0.5, 1.0), (2.5, 2.9)]
    regions = detect_speech(wave, SR, vad="energy", pad_seconds=0.0, onset_db=20)
    assert len(regions) == 1


def test_clean_regions_merges_overlaps_and_clips():
    assert clean_regions([(2.0, 3.0), (-1.0, 0.5), (2.5, 4.0), (4.0, 4.0)], duration=3.5) == [(0.0, 0.5), (2.0, 3.5)]


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: get_vad("webrtc"), ValueError, "unknown vad='webrtc'"),
        (lambda: get_vad(lambda w, sr: [], onset_db=3), ValueError, "only apply to a named vad"),
        (lambda: EnergyVad(onset_db=3, offset_db=6), ValueError, "offset_db=6 is above onset_db=3"),
        (lambda: detect_speech(np.zeros((2, 100)), SR), AudioError, "mono"),
        (lambda: get_vad("energy", onset=3), TypeError, "onset"),
    ],
)
def test_bad_settings_are_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.skipif(not silero_available(), reason="silero-vad is not installed")
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng for a real utterance")
def test_silero_finds_a_spoken_sentence(tmp_path):
    path = tmp_path / "sentence.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "The quick brown fox jumps over the lazy dog."], check=True)
    from zoo import load_audio

    speech = load_audio(str(path), SR)
    wave = np.concatenate([np.zeros(SR), speech, np.zeros(2 * SR)]).astype(np.float32)
    regions = detect_speech(wave, SR, vad="silero")
    assert regions, "silero found no speech in an espeak sentence"
    assert regions[0][0] >= 0.8 and regions[-1][1] <= 1.0 + speech.size / SR + 0.3
    assert sum(e - s for s, e in regions) > 0.5 * speech.size / SR
    # at another rate it is resampled to 16 kHz; pure silence has no speech
    assert detect_speech(np.zeros(8000 * 2, dtype=np.float32), 8000, vad=SileroVad()) == []
