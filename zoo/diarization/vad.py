"""Voice activity detection: where in a recording someone speaks.

Layouts: a waveform is `(time,)` float32 mono; frame energies are `(frames,)` in dB; a VAD returns speech
regions as a sorted list of `(start, end)` tuples in seconds, non-overlapping, inside `[0, duration]`.

Two detectors:

- `EnergyVad` (always available): frame log-energy compared with the recording's own noise floor (a low
  percentile of the frame energies) through two thresholds (hysteresis): a run of frames counts as speech
  when it stays above `floor + offset_db` and somewhere rises above `floor + onset_db`. Then regions are padded,
  gaps shorter than `min_silence_seconds` are bridged, and regions shorter than `min_speech_seconds` dropped.
  Good for clean or moderately noisy audio; it cannot tell speech from a loud non-speech noise.
- `SileroVad` (`vad="silero"`, needs `pip install silero-vad`): the Silero VAD network (JIT model shipped
  inside the wheel, so no download and no torchaudio), at 16 kHz.

`detect_speech(waveform, sampling_rate, vad="energy")` dispatches on a name, a detector, or any callable
`vad(waveform, sampling_rate) -> [(start, end), ...]`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

import numpy as np

from ..audio import AudioError, resample

Regions = list[tuple[float, float]]


def frame_energies_db(waveform: np.ndarray, sampling_rate: int, frame_seconds: float = 0.025, hop_seconds: float = 0.01) -> np.ndarray:
    """Log-energy (dB re full scale RMS) of each frame; a clip shorter than one frame gives one frame.

    >>> import numpy as np
    >>> tone = np.sin(2 * np.pi * 400 * np.arange(16000) / 16000).astype(np.float32)  # RMS 1/sqrt(2): -3 dB
    >>> frame_energies_db(tone, 16000).round(1)[:3]
    array([-3., -3., -3.])
    """
    frame = max(1, int(round(frame_seconds * sampling_rate)))
    hop = max(1, int(round(hop_seconds * sampling_rate)))
    wave = np.asarray(waveform, dtype=np.float64)
    if wave.shape[0] < frame:
        wave = np.pad(wave, (0, frame - wave.shape[0]))
    frames = 1 + (wave.shape[0] - frame) // hop
    windows = np.lib.stride_tricks.sliding_window_view(wave, frame)[::hop][:frames]  # (frames, frame)
    windows = windows - windows.mean(axis=1, keepdims=True)  # a DC offset is not speech
    return 10.0 * np.log10((windows**2).mean(axis=1) + 1e-12)


def clean_regions(
    regions: Regions, duration: float, pad_seconds: float = 0.0, min_silence_seconds: float = 0.0, min_speech_seconds: float = 0.0
) -> Regions:
    """Pad, merge and filter speech regions: the post-processing every detector shares.

    Args:
        regions: `(start, end)` seconds, in any order, possibly overlapping.
        duration: length of the recording in seconds; regions are clipped to `[0, duration]`.
        pad_seconds: widen each region by this much on both sides.
        min_silence_seconds: bridge gaps shorter than this.
        min_speech_seconds: drop regions shorter than this (after merging).

    >>> clean_regions([(1.0, 2.0), (2.1, 3.0), (5.0, 5.1)], duration=6.0, min_silence_seconds=0.2, min_speech_seconds=0.2)
    [(1.0, 3.0)]
    """
    spans = sorted((max(0.0, s - pad_seconds), min(duration, e + pad_seconds)) for s, e in regions)
    merged: list[list[float]] = []
    for start, end in spans:
        if end <= start:
            continue
        if merged and start - merged[-1][1] < min_silence_seconds:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(round(float(s), 3), round(float(e), 3)) for s, e in merged if e - s >= min_speech_seconds]


@dataclass
class EnergyVad:
    """Energy detector with hysteresis and minimum durations; thresholds follow the recording's noise floor.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> wave = 0.001 * rng.standard_normal(48000).astype(np.float32)  # 3 s of faint noise at 16 kHz
    >>> wave[16000:32000] += 0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)  # a tone from 1 s to 2 s
    >>> [(round(start, 2), round(end, 2)) for start, end in EnergyVad(pad_seconds=0.0)(wave, 16000)]
    [(0.99, 2.01)]
    """

    frame_seconds: float = 0.025  # analysis frame
    hop_seconds: float = 0.01  # frame step; the time resolution of the regions
    onset_db: float = 12.0  # a region must rise this far above the noise floor somewhere...
    offset_db: float = 6.0  # ...and ends where it falls back under this (hysteresis: offset_db <= onset_db)
    floor_percentile: float = 5.0  # the noise floor is this percentile of the frame energies (5: needs >= 5 % pauses)
    min_level_db: float = -60.0  # frames quieter than this (dB re full scale) are never speech, however quiet the floor
    min_speech_seconds: float = 0.25  # shorter regions are dropped (clicks, breaths)
    min_silence_seconds: float = 0.25  # shorter pauses are bridged (between words)
    pad_seconds: float = 0.05  # margin added on both sides of each region (soft word edges)

    def __post_init__(self):
        if self.offset_db > self.onset_db:
            raise ValueError(f"offset_db={self.offset_db} is above onset_db={self.onset_db}; hysteresis needs offset_db <= onset_db")
        if not 0 <= self.floor_percentile <= 100:
            raise ValueError(f"floor_percentile={self.floor_percentile} is outside 0..100")
        if self.frame_seconds <= 0 or self.hop_seconds <= 0:
            raise ValueError(f"frame_seconds={self.frame_seconds} and hop_seconds={self.hop_seconds} must be positive")

    def __call__(self, waveform: np.ndarray, sampling_rate: int) -> Regions:
        waveform = np.asarray(waveform, dtype=np.float32)
        duration = waveform.shape[0] / sampling_rate
        energies = frame_energies_db(waveform, sampling_rate, self.frame_seconds, self.hop_seconds)  # (frames,)
        floor = float(np.percentile(energies, self.floor_percentile))
        onset = max(floor + self.onset_db, self.min_level_db)
        offset = max(floor + self.offset_db, self.min_level_db)
        above = energies > offset
        # runs of frames above the offset threshold; keep those that reach the onset threshold
        edges = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # run i is frames [starts[i], ends[i])
        # frame i stands for the hop-long span at its centre
        lead = (self.frame_seconds - self.hop_seconds) / 2
        regions = [
            (first * self.hop_seconds + lead, last * self.hop_seconds + lead)
            for first, last in zip(starts, ends)
            if energies[first:last].max() > onset
        ]
        return clean_regions(regions, duration, self.pad_seconds, self.min_silence_seconds, self.min_speech_seconds)


@dataclass
class SileroVad:
    """Silero VAD (the network shipped in the `silero-vad` wheel), run at 16 kHz on CPU."""

    threshold: float = 0.5  # speech probability above which a 32 ms frame is speech
    min_speech_seconds: float = 0.25
    min_silence_seconds: float = 0.1
    pad_seconds: float = 0.03

    def __call__(self, waveform: np.ndarray, sampling_rate: int) -> Regions:
        import torch

        model, get_speech_timestamps = _silero()
        duration = np.asarray(waveform).shape[0] / sampling_rate
        wave = resample(np.asarray(waveform, dtype=np.float32), sampling_rate, 16000)
        with torch.inference_mode():
            stamps = get_speech_timestamps(
                torch.from_numpy(np.ascontiguousarray(wave)),
                model,
                threshold=self.threshold,
                sampling_rate=16000,
                min_speech_duration_ms=int(self.min_speech_seconds * 1000),
                min_silence_duration_ms=int(self.min_silence_seconds * 1000),
                speech_pad_ms=int(self.pad_seconds * 1000),
                return_seconds=False,
            )
        regions = [(s["start"] / 16000, s["end"] / 16000) for s in stamps]
        return clean_regions(regions, duration)


@functools.lru_cache(maxsize=1)
def _silero():
    """The Silero JIT model and its timestamp helper, loaded once per process."""
    try:
        from silero_vad import get_speech_timestamps, load_silero_vad
    except ImportError:
        raise ImportError("vad='silero' needs the silero-vad package: `pip install silero-vad`; or use vad='energy'") from None
    return load_silero_vad(onnx=False), get_speech_timestamps


def silero_available() -> bool:
    """Whether `vad="silero"` can run here."""
    try:
        import silero_vad  # noqa: F401
    except ImportError:
        return False
    return True


VadLike = Union[str, None, bool, Callable[[np.ndarray, int], Regions]]


def get_vad(vad: VadLike = "energy", **options) -> Callable[[np.ndarray, int], Regions]:
    """A detector from a name (`"energy"`, `"silero"`, `"none"` = everything is speech), a detector or a callable.

    Args:
        vad: what to detect speech with.
        **options: fields of `EnergyVad` / `SileroVad` for a named detector (e.g. `onset_db=15`).
    """
    if callable(vad):
        if options:
            raise ValueError(f"vad options {sorted(options)} only apply to a named vad ('energy' or 'silero'), not to {vad!r}")
        return vad
    name = "none" if vad in (None, False) else str(vad).lower()
    if name == "energy":
        return EnergyVad(**options)
    if name == "silero":
        return SileroVad(**options)
    if name == "none":
        return lambda waveform, sampling_rate: [(0.0, round(np.asarray(waveform).shape[0] / sampling_rate, 3))]
    raise ValueError(f"unknown vad={vad!r}; use 'energy', 'silero', 'none', or a callable vad(waveform, sampling_rate) -> [(start, end), ...]")


def detect_speech(waveform: np.ndarray, sampling_rate: int, vad: VadLike = "energy", **options) -> Regions:
    """Speech regions `[(start, end), ...]` in seconds of a mono waveform.

    Args:
        waveform: `(time,)` float array.
        sampling_rate: its rate in Hz.
        vad: `"energy"` (default), `"silero"`, `"none"`, or a callable `vad(waveform, sampling_rate)`.
        **options: detector settings, see `EnergyVad` and `SileroVad`.

    >>> import numpy as np
    >>> detect_speech(np.zeros(16000, dtype=np.float32), 16000)  # digital silence
    []
    """
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise AudioError(f"detect_speech takes a mono (time,) waveform, got shape {waveform.shape}; downmix it first (zoo.load_audio)")
    if sampling_rate <= 0:
        raise AudioError(f"sampling_rate must be positive, got {sampling_rate}")
    regions = get_vad(vad, **options)(waveform, sampling_rate)
    duration = waveform.shape[0] / sampling_rate
    return [(float(s), float(e)) for s, e in clean_regions(list(regions), duration)]
