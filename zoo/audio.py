"""Load, resample, downmix and validate audio: the one door every pipeline, Space and corpus builder uses.

Layout: a waveform is a float32 numpy array of shape ``(time,)`` (mono) once it leaves this module.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import warnings
from typing import Union

import numpy as np

AudioInput = Union[str, os.PathLike, bytes, np.ndarray, dict]

# soundfile (libsndfile) reads these natively; anything else goes through ffmpeg.
SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au"}


class AudioError(ValueError):
    """Raised for audio the zoo refuses; the message names the value and the fix."""


def resample(waveform: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with soxr (high quality). No-op when the rates match.

    Args:
        waveform: `(time,)` or `(channels, time)` float array.
        orig_sr: rate of `waveform` in Hz.
        target_sr: wanted rate in Hz.
    """
    if int(orig_sr) == int(target_sr):
        return waveform
    if orig_sr <= 0 or target_sr <= 0:
        raise AudioError(f"sampling rates must be positive, got {orig_sr} -> {target_sr}")
    import soxr

    if waveform.ndim == 1:
        return soxr.resample(waveform, orig_sr, target_sr).astype(np.float32)
    # soxr wants (time, channels)
    return soxr.resample(waveform.T, orig_sr, target_sr).T.astype(np.float32)


def change_speed(waveform: np.ndarray, sampling_rate: int, speed: float) -> np.ndarray:
    """`waveform` played `speed` times faster (tempo and pitch together, as SpeechBrain's SpeedPerturb).

    Resampling to `sampling_rate / speed` and playing the result back at `sampling_rate` does it.
    """
    if speed <= 0:
        raise AudioError(f"speed must be positive, got {speed}")
    return resample(waveform, sampling_rate, round(sampling_rate / speed))


FORMANT_RATIOS = (0.85, 1.18)  # the default draw of formant-shift augmentation: formants 15 % lower or 18 % higher


def shift_formants(waveform: np.ndarray, sampling_rate: int, ratio: float, seed: int | None = None) -> np.ndarray:
    """`waveform` with its formants moved by the frequency `ratio` and its pitch and tempo kept: a longer or shorter
    vocal tract, i.e. a new timbre from the same speaker (Praat's "Change gender": resampling, then PSOLA back to the
    original pitch and duration, through the `praat-parselmouth` package).

    Speed perturbation (`change_speed`) moves pitch and formants together; this moves the formants alone, so the two
    draw voices along independent axes. Silent input comes back as it is, unvoiced input with only its spectrum
    scaled. Praat's PSOLA draws random periods in unvoiced stretches: give `seed` for the same output on every call.
    """
    if ratio <= 0:
        raise AudioError(f"formant ratio must be positive, got {ratio}")
    if ratio == 1.0 or not np.any(waveform):
        return waveform
    try:
        import parselmouth
        from parselmouth.praat import call, run
    except ImportError as error:
        raise ImportError("shift_formants needs praat-parselmouth; install it with `pip install praat-parselmouth`") from error

    sound = parselmouth.Sound(waveform.astype(np.float64), sampling_frequency=sampling_rate)
    with warnings.catch_warnings():  # "no voiced segments" on unvoiced input: scaled all the same, as documented
        warnings.simplefilter("ignore", parselmouth.PraatWarning)
        if seed is not None:
            run(f"random_initializeWithSeedUnsafelyButPredictably ({int(seed)})")
        try:  # pitch search 60-600 Hz; 0: keep the pitch median; 1, 1: keep the pitch range and the duration
            shifted = call(sound, "Change gender", 60, 600, float(ratio), 0, 1, 1).values[0]
        finally:
            if seed is not None:  # later unseeded calls stay unpredictable
                run("random_initializeSafelyAndUnpredictably ()")
    out = np.zeros(len(waveform), dtype=np.float32)
    out[: min(len(out), len(shifted))] = shifted[: len(out)]
    return out


PITCH_SEMITONES = (-4.0, 4.0)  # the default draw of pitch-shift augmentation: a major third down or up


def shift_pitch(waveform: np.ndarray, sampling_rate: int, semitones: float) -> np.ndarray:
    """`waveform` with its pitch and formants moved by `semitones` and its tempo kept (sox's `pitch` effect: a
    time stretch by overlap-add, then resampling back to the original duration).

    The third voice axis next to `change_speed` (pitch, formants and tempo together) and `shift_formants` (formants
    alone): a higher or lower voice at the same speaking rate, with the overlap-add's own colouring. The output has
    the input's length; silent input comes back as it is.
    """
    if abs(semitones) < 0.01 or not np.any(waveform):
        return waveform
    if shutil.which("sox") is None:
        raise AudioError("shift_pitch needs sox; install it with `apt-get install sox`")
    # -D: no dither, so the same input gives the same output; raw float32 in and out through pipes, no files
    raw = ["-t", "f32", "-r", str(int(sampling_rate)), "-c", "1"]
    cmd = ["sox", "-D", *raw, "-", *raw, "-", "pitch", f"{100.0 * semitones:.1f}"]
    proc = subprocess.run(cmd, input=np.ascontiguousarray(waveform, dtype=np.float32).tobytes(), capture_output=True)
    if proc.returncode != 0:
        raise AudioError(f"sox pitch {semitones:+.2f} semitones failed: {proc.stderr.decode(errors='replace').strip()[:200]}")
    shifted = np.frombuffer(proc.stdout, dtype=np.float32)
    out = np.zeros(len(waveform), dtype=np.float32)
    out[: min(len(out), len(shifted))] = shifted[: len(out)]
    return out


def _decode_ffmpeg(path_or_bytes, sampling_rate: int | None) -> tuple[np.ndarray, int]:
    if shutil.which("ffmpeg") is None:
        raise AudioError("decoding this format needs ffmpeg; install it with `apt-get install ffmpeg` or pass a wav/flac file")
    sr = sampling_rate or 16000
    source = "pipe:0" if isinstance(path_or_bytes, bytes) else str(path_or_bytes)
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", source, "-ac", "1", "-ar", str(sr), "-f", "f32le", "pipe:1"]
    proc = subprocess.run(cmd, input=path_or_bytes if isinstance(path_or_bytes, bytes) else None, capture_output=True)
    if proc.returncode != 0:
        name = "<bytes>" if isinstance(path_or_bytes, bytes) else str(path_or_bytes)
        raise AudioError(f"could not decode {name!r}: {proc.stderr.decode(errors='replace').strip()[:300]}; pass a readable audio file")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy(), sr


def read_audio(source, sampling_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Decode a file path or encoded bytes to `(channels, time)` float32 and its rate, without validation."""
    import soundfile as sf

    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise AudioError(f"audio file {path!r} does not exist; check the path")
        if os.path.splitext(path)[1].lower() not in SOUNDFILE_SUFFIXES:
            data, sr = _decode_ffmpeg(path, sampling_rate)
            return data[None], sr
        try:
            data, sr = sf.read(path, dtype="float32", always_2d=True)
        except Exception as err:  # libsndfile's messages are terse; say what to do
            raise AudioError(f"could not read {path!r} ({err}); pass a valid wav/flac/ogg/mp3 file") from None
        return data.T, sr
    if isinstance(source, (bytes, bytearray)):
        try:
            data, sr = sf.read(io.BytesIO(source), dtype="float32", always_2d=True)
            return data.T, sr
        except Exception:
            data, sr = _decode_ffmpeg(bytes(source), sampling_rate)
            return data[None], sr
    raise AudioError(f"cannot read audio from {type(source).__name__}; pass a path, bytes, an array or a dict")


def load_audio_native(audio: AudioInput, input_sampling_rate: int | None = None, name: str = "audio") -> tuple[np.ndarray, int]:
    """Decode and validate any accepted input to a mono float32 `(time,)` waveform at its own rate.

    Accepts a path (wav/flac/ogg via soundfile, mp3/m4a/... via ffmpeg), encoded bytes, a numpy array or
    torch tensor (`(time,)`, `(channels, time)` or `(time, channels)`), or a dict as `datasets`' Audio
    feature gives (`{"array", "sampling_rate"}`, also `{"raw", ...}`, `{"bytes"}` and `{"path"}`).
    Stereo is averaged. Empty and NaN/inf audio is refused with an `AudioError`.

    Returns:
        `(waveform, sampling_rate)`; an array without a rate is taken to be at `input_sampling_rate`.
    """
    if hasattr(audio, "get_all_samples"):  # torchcodec AudioDecoder, as `datasets` >= 4 returns
        samples = audio.get_all_samples()
        audio, input_sampling_rate = samples.data, samples.sample_rate
    if isinstance(audio, dict):
        if "array" in audio or "raw" in audio:
            array = audio.get("array", audio.get("raw"))
            input_sampling_rate = audio.get("sampling_rate", input_sampling_rate)
            audio = np.asarray(array)
        elif audio.get("bytes") is not None:
            audio = audio["bytes"]
        elif audio.get("path"):
            audio = audio["path"]
        else:
            raise AudioError(f"{name}: dict input needs 'array' and 'sampling_rate', 'bytes' or 'path'; got keys {sorted(audio)}")
    if hasattr(audio, "detach"):  # torch tensor
        audio = audio.detach().cpu().float().numpy()
    if isinstance(audio, (list, tuple)):
        audio = np.asarray(audio, dtype=np.float32)
    if isinstance(audio, np.ndarray):
        if input_sampling_rate is None:
            raise AudioError(f"{name}: an array carries no sampling rate; pass sampling_rate=<Hz> with it")
        data = np.asarray(audio, dtype=np.float32)
        if data.ndim == 2 and data.shape[0] > data.shape[1]:
            data = data.T  # (time, channels) -> (channels, time)
        if data.ndim == 1:
            data = data[None]
        if data.ndim != 2:
            raise AudioError(f"{name}: expected a (time,) or (channels, time) array, got shape {tuple(audio.shape)}")
        sr = int(input_sampling_rate)
    else:
        data, sr = read_audio(audio, input_sampling_rate)
    if data.size == 0:
        raise AudioError(f"{name} is empty (0 samples); pass audio with sound in it")
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise AudioError(f"{name} contains {bad} NaN/inf samples; clean the signal (e.g. np.nan_to_num) before passing it")
    mono = data.mean(axis=0) if data.shape[0] > 1 else data[0]
    return np.ascontiguousarray(mono, dtype=np.float32), sr


def load_audio(
    audio: AudioInput,
    sampling_rate: int,
    input_sampling_rate: int | None = None,
    min_seconds: float = 0.0,
    max_seconds: float | None = None,
    name: str = "audio",
) -> np.ndarray:
    """Return a validated mono float32 waveform `(time,)` at `sampling_rate`.

    Takes every input `load_audio_native` takes (an array without a rate is assumed to be at
    `sampling_rate`), resamples it, and refuses too short and too long audio with an `AudioError`.

    Args:
        audio: the input.
        sampling_rate: the rate the caller wants, in Hz.
        input_sampling_rate: the rate of an array input, when it differs from `sampling_rate`.
        min_seconds: shortest accepted duration.
        max_seconds: longest accepted duration, or None for no limit.
        name: how to call the input in error messages.

    >>> import numpy as np
    >>> load_audio(np.zeros((2, 16000), dtype=np.float32), 8000, input_sampling_rate=16000).shape
    (8000,)
    """
    mono, sr = load_audio_native(audio, input_sampling_rate or sampling_rate, name=name)
    mono = resample(mono, sr, sampling_rate)
    seconds = mono.shape[-1] / sampling_rate
    if seconds < min_seconds:
        raise AudioError(f"{name} is {seconds:.3f} s long, shorter than the {min_seconds:.3f} s minimum; pass a longer clip")
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(f"{name} is {seconds:.1f} s long, over the {max_seconds:.1f} s limit; trim it or raise the limit")
    return np.ascontiguousarray(mono, dtype=np.float32)


def save_audio(path: Union[str, os.PathLike], waveform: np.ndarray, sampling_rate: int, subtype: str = "PCM_16") -> None:
    """Write `(time,)` or `(channels, time)` audio; peaks over 1 are scaled down rather than clipped."""
    import soundfile as sf

    data = np.asarray(waveform, dtype=np.float32)
    peak = float(np.abs(data).max()) if data.size else 0.0
    if peak > 1.0:
        data = data / peak * 0.99
    sf.write(os.fspath(path), data.T if data.ndim == 2 else data, sampling_rate, subtype=subtype)
