"""zoo.audio: every format in, one validated mono waveform out, and clear errors for bad input."""

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from zoo.audio import AudioError, load_audio, load_audio_native, resample, save_audio, shift_formants, shift_pitch

RATE = 16000


def _tone(seconds=0.5, rate=RATE, freq=440.0):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("suffix, subtype", [(".wav", "PCM_16"), (".flac", "PCM_16"), (".ogg", "VORBIS")])
def test_soundfile_formats(tmp_path, suffix, subtype):
    path = tmp_path / f"tone{suffix}"
    sf.write(path, _tone(), RATE, subtype=subtype)
    wave = load_audio(str(path), RATE)
    assert wave.dtype == np.float32 and wave.ndim == 1 and abs(len(wave) - RATE // 2) < 200


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")
def test_mp3_goes_through_ffmpeg(tmp_path):
    wav, mp3 = tmp_path / "tone.wav", tmp_path / "tone.mp3"
    sf.write(wav, _tone(1.0), RATE)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), str(mp3)], check=True)
    wave = load_audio(str(mp3), 8000)
    assert abs(len(wave) - 8000) < 2000  # mp3 encoders pad a few frames
    assert np.abs(wave).max() > 0.1


def test_stereo_is_averaged_and_rate_converted(tmp_path):
    left, right = _tone(freq=300), _tone(freq=500)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 44100)
    wave, rate = load_audio_native(str(path))
    assert rate == 44100 and wave.shape == left.shape
    np.testing.assert_allclose(wave, (left + right) / 2, atol=1e-4)
    assert load_audio(str(path), 8000).shape == (int(len(left) * 8000 / 44100),)


def test_arrays_tensors_dicts_and_bytes(tmp_path):
    tone = _tone()
    assert load_audio(tone, RATE).shape == tone.shape
    assert load_audio(torch.from_numpy(tone), 8000, input_sampling_rate=RATE).shape == (len(tone) // 2,)
    assert load_audio({"array": tone, "sampling_rate": 8000}, RATE).shape == (2 * len(tone),)
    assert load_audio(np.stack([tone, tone], axis=1), RATE).shape == tone.shape  # (time, channels)
    path = tmp_path / "t.wav"
    save_audio(path, tone, RATE)
    assert load_audio(path.read_bytes(), RATE).shape == tone.shape
    assert load_audio({"path": str(path)}, RATE).shape == tone.shape


def test_resample_keeps_a_tone():
    tone = _tone(1.0, 48000, 1000.0)
    down = resample(tone, 48000, 16000)
    spectrum = np.abs(np.fft.rfft(down))
    assert abs(np.argmax(spectrum) * 16000 / len(down) - 1000.0) < 2


def _vowel(rate=8000, f0=120.0, formants=(700.0, 1200.0, 2500.0), seconds=1.0):
    """A pulse train at `f0` through two-pole resonators at `formants`: a crude steady vowel."""
    from scipy.signal import lfilter

    wave = np.zeros(int(seconds * rate))
    wave[:: round(rate / f0)] = 1.0
    for formant in formants:
        pole = 0.97 * np.exp(2j * np.pi * formant / rate)
        wave = lfilter([1.0], [1.0, -2 * pole.real, abs(pole) ** 2], wave)
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


def _centroid(wave, rate):
    power = np.abs(np.fft.rfft(wave * np.hanning(len(wave)))) ** 2
    return float((power * np.fft.rfftfreq(len(wave), 1 / rate)).sum() / power.sum())


def _f0(wave, rate):
    middle = wave[len(wave) // 4 : 3 * len(wave) // 4].astype(np.float64)
    corr = np.correlate(middle, middle, "full")[len(middle) - 1 :]
    low, high = rate // 400, rate // 60
    return rate / (low + int(np.argmax(corr[low:high])))


def test_shift_formants_moves_the_envelope_and_keeps_pitch_and_length():
    vowel = _vowel()
    for ratio in (0.8, 1.25):
        shifted = shift_formants(vowel, 8000, ratio)
        assert shifted.shape == vowel.shape and shifted.dtype == np.float32
        assert _centroid(shifted, 8000) / _centroid(vowel, 8000) == pytest.approx(ratio, rel=0.12)
        assert _f0(shifted, 8000) == pytest.approx(120.0, rel=0.05)
    np.testing.assert_array_equal(shift_formants(vowel, 8000, 1.0), vowel)
    noisy = np.concatenate([vowel, 0.05 * np.random.default_rng(0).standard_normal(4000).astype(np.float32)])
    np.testing.assert_array_equal(shift_formants(noisy, 8000, 1.2, seed=7), shift_formants(noisy, 8000, 1.2, seed=7))
    np.testing.assert_array_equal(shift_formants(np.zeros(800, np.float32), 8000, 0.8), np.zeros(800))
    assert shift_formants(0.01 * np.random.default_rng(0).standard_normal(4000).astype(np.float32), 8000, 0.8).shape == (4000,)
    with pytest.raises(AudioError, match="formant ratio must be positive, got 0"):
        shift_formants(vowel, 8000, 0)


def test_shift_pitch_moves_pitch_and_formants_and_keeps_length():
    vowel = _vowel()
    for semitones in (-4.0, 4.0):
        shifted = shift_pitch(vowel, 8000, semitones)
        ratio = 2 ** (semitones / 12)
        assert shifted.shape == vowel.shape and shifted.dtype == np.float32  # tempo kept
        assert _f0(shifted, 8000) == pytest.approx(120.0 * ratio, rel=0.05)
        assert _centroid(shifted, 8000) / _centroid(vowel, 8000) == pytest.approx(ratio, rel=0.12)
    np.testing.assert_array_equal(shift_pitch(vowel, 8000, 3.0), shift_pitch(vowel, 8000, 3.0))  # no dither
    np.testing.assert_array_equal(shift_pitch(vowel, 8000, 0.0), vowel)
    np.testing.assert_array_equal(shift_pitch(np.zeros(800, np.float32), 8000, 2.0), np.zeros(800))


@pytest.mark.parametrize(
    "audio, kwargs, message",
    [
        (np.zeros(0, np.float32), {}, "empty"),
        (np.array([0.1, np.inf] * 100, np.float32), {}, "NaN/inf"),
        (np.zeros(100, np.float32), {"min_seconds": 0.5}, "shorter than the 0.500 s minimum"),
        (np.zeros(RATE * 3, np.float32), {"max_seconds": 2}, "over the 2.0 s limit"),
        (np.zeros((2, 3, 4), np.float32), {}, "shape"),
        ("/no/such/file.wav", {}, "does not exist"),
        (12, {}, "cannot read audio from int"),
        ({"foo": 1}, {}, "dict input"),
    ],
)
def test_bad_input_is_refused_with_the_value_and_the_fix(audio, kwargs, message):
    with pytest.raises(AudioError, match=message):
        load_audio(audio, RATE, **kwargs)


def test_array_without_rate_needs_one():
    with pytest.raises(AudioError, match="pass sampling_rate"):
        load_audio_native(np.zeros(10, np.float32))


def test_corrupt_file_names_the_file(tmp_path):
    path = tmp_path / "corrupt.flac"
    path.write_bytes(b"fLaC" + b"\x00" * 40)
    with pytest.raises(AudioError, match="corrupt.flac"):
        load_audio(str(path), RATE)


def test_save_audio_scales_instead_of_clipping(tmp_path):
    path = tmp_path / "loud.wav"
    save_audio(path, np.array([0.0, 2.0, -4.0], np.float32), RATE)
    data, _ = sf.read(path)
    assert np.abs(data).max() < 1.0 and data[2] < 0 and abs(data[1] / data[2] + 0.5) < 1e-3
