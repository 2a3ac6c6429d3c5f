"""A SYNTHETIC infant-cry corpus in the CryCeleb2023 layout, made by source-filter synthesis in numpy.

**These are not recordings of babies.** Every sound is computed from a handful of random numbers per
"infant"; nothing here comes from a real infant or from the CryCeleb2023 data. The corpus exists to test the
zoo's cry-verification code paths (B -> D trials, the Space) end to end and to give models a plausible,
controllable proxy task. A model that does well on it has learnt to tell these synthetic identities apart,
nothing more; scores on it say nothing about real infants.

Synthesis, per identity (`Infant`):

- **source**: a sum of harmonics of a time-varying f0 with a per-identity spectral tilt (dB/octave), cycle-to-cycle
  jitter and shimmer, plus pitch-synchronously modulated breath noise;
- **f0**: a register drawn in 340-520 Hz; each cry unit follows a contour (rise-fall arch, fall, rise, flat,
  fall-rise; each identity has its own preferences) of a per-identity swing (semitones), with vibrato and slow
  drift, and occasionally a *hyperphonation* episode, an abrupt jump of more than 1 kHz for 0.1-0.35 s;
- **vocal tract**: three cascaded resonators in infant ranges (F1 1-1.5 kHz, F2 3-4 kHz, F3 5-6 kHz) with
  per-identity centre frequencies and bandwidths, jiggled a little per unit (mouth opening);
- **rhythm**: a recording is 1-4 expiratory cry units (0.4-2 s, per-identity mean length) separated by short
  pauses and inspiratory gasps (band-passed noise, sometimes a brief high-pitched inspiratory squeak).

Periods, as in CryCeleb2023: ``B`` (birth) and ``D`` (discharge, a few days later). For ``D`` each infant
"grows": the f0 register drifts by up to +-5 %, formants fall 1-4 % (a longer vocal tract), bandwidths,
tilt and breathiness move a little; and each (infant, period) has its own recording channel: microphone
band limits, a synthetic room (more often at D), steady background noise from `zoo.data.mixtures.noise_bank`
(SNR 20-35 dB at B, 10-25 dB at D) and sometimes mains hum. So B and D recordings of one infant share an identity
but differ in the ways a verification system has to ignore.

Splits are identity-disjoint (``train`` / ``validation`` / ``test``, CryCeleb2023 calls the middle one ``dev``).
Columns: ``audio`` (Audio, FLAC bytes embedded, mono), ``baby_id`` and the same value as ``speaker_id`` (so
speaker-verification code needs no mapping), ``period`` (``"B"``/``"D"``), ``split``, ``duration`` (seconds),
``chronological_index`` (``"000"``, ``"001"``, ... within an infant and period), ``file_id``
(``<baby>_<period>_<index>``, as in CryCeleb2023), ``snr_db``, ``synthetic`` (always True).
Waveforms are `(time,)` float32 while processed.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, replace

import numpy as np

from zoo.data.speech import encode_audio, normalize_level, run_pool, save_dataset_dict, summarize, to_dataset_dict

SPLITS = ("train", "validation", "test")
PERIODS = ("B", "D")
CONTOURS = ("rise-fall", "fall", "rise", "flat", "fall-rise")
F0_REGISTER = (340.0, 520.0)  # Hz; contours swing around it, so most voiced frames stay within 300-600 Hz
FORMANT_RANGES = ((1000.0, 1500.0), (3000.0, 4000.0), (5000.0, 6000.0))  # Hz, infant vocal tract
BANDWIDTH_RANGES = ((120.0, 300.0), (200.0, 500.0), (300.0, 700.0))  # Hz
SNR_DB = {"B": (20.0, 35.0), "D": (10.0, 25.0)}
REVERB_PROBABILITY = {"B": 0.25, "D": 0.6}
SYNTHETIC_NOTE = (
    "SYNTHETIC infant cries: source-filter synthesis in numpy (harmonic source with jitter/shimmer, f0 contours "
    "with hyperphonation, formant resonators, inspiratory gasps). No real infant recordings are used or imitated "
    "sample by sample; identities are random parameter sets. Do not read results on it as results on real babies."
)


@dataclass(frozen=True)
class Infant:
    """One synthetic identity at one period: every number the synthesizer needs for its voice and channel."""

    baby_id: str
    split: str
    period: str  # "B" (birth) or "D" (discharge)
    f0: float  # Hz, register around which unit contours move
    swing: float  # semitones, height of a unit's contour from its lowest to its highest point
    contour_weights: tuple[float, ...]  # preference for each of CONTOURS
    vibrato_rate: float  # Hz
    vibrato_depth: float  # semitones
    jitter: float  # relative cycle-to-cycle f0 perturbation (standard deviation)
    shimmer: float  # relative cycle-to-cycle amplitude perturbation (standard deviation)
    tilt: float  # dB per octave of the harmonic source (negative)
    breathiness: float  # breath-noise RMS relative to the harmonic source
    hyperphonation: float  # probability that a cry unit holds a hyperphonation jump
    formants: tuple[float, ...]  # Hz, centre frequencies F1, F2, F3
    bandwidths: tuple[float, ...]  # Hz
    unit_seconds: float  # mean length of an expiratory cry unit
    pause_seconds: float  # mean pause around an inspiration
    # recording channel of this (infant, period)
    highpass: float  # Hz, microphone / preamp low cut
    lowpass: float  # Hz, band limit of the recorder
    rt60: float  # seconds of a synthetic room's reverberation; 0 = none
    drr_db: float  # direct-to-reverberant ratio of that room, dB
    noise: str  # noise_bank entry in the background
    snr_db: tuple[float, float]  # range of the background's SNR per recording
    hum: float  # mains-hum RMS relative to the cry (0 = none)
    hum_hz: float  # 50 or 60


def plan_infants(
    num_infants: int = 200,
    seed: int = 0,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    noise_names: list[str] | None = None,
) -> list[Infant]:
    """Draw `num_infants` identities, each at periods B and D, with identity-disjoint splits.

    Args:
        num_infants: identities to draw.
        seed: random seed; the same seed gives the same identities.
        validation_fraction: share of identities in ``validation`` (at least 2).
        test_fraction: share of identities in ``test`` (at least 2).
        noise_names: background noises to pick from (names of `zoo.data.mixtures.noise_bank`); None leaves
            the recordings without background noise.

    Returns:
        ``2 * num_infants`` `Infant` records, B then D for each identity.

    >>> infants = plan_infants(8, seed=1)
    >>> len(infants), [i.period for i in infants[:2]], infants[0].baby_id == infants[1].baby_id
    (16, ['B', 'D'], True)
    >>> all(340 * 0.95 <= i.f0 <= 520 * 1.05 for i in infants)
    True
    """
    if num_infants < 6:
        raise ValueError(f"num_infants={num_infants} is too few for train/validation/test; use 6 or more")
    if not 0 <= validation_fraction < 1 or not 0 <= test_fraction < 1 or validation_fraction + test_fraction >= 1:
        raise ValueError(f"validation_fraction={validation_fraction}, test_fraction={test_fraction}; each in [0, 1) and summing below 1")
    rng = random.Random(f"infants-{seed}")
    ids = [f"synth{k:04d}" for k in range(num_infants)]
    order = list(ids)
    rng.shuffle(order)
    num_val = max(2, round(num_infants * validation_fraction))
    num_test = max(2, round(num_infants * test_fraction))
    split_of = {baby: "validation" for baby in order[:num_val]}
    split_of.update({baby: "test" for baby in order[num_val : num_val + num_test]})
    infants = []
    for baby in ids:
        r = random.Random(f"infant-{seed}-{baby}")
        weights = [r.random() ** 2 for _ in CONTOURS]
        weights[0] += 1.0  # the arch is the typical cry melody for every baby
        total = sum(weights)
        birth = Infant(
            baby_id=baby, split=split_of.get(baby, "train"), period="B",
            f0=r.uniform(*F0_REGISTER), swing=r.uniform(2.0, 5.0), contour_weights=tuple(round(w / total, 4) for w in weights),
            vibrato_rate=r.uniform(4.0, 9.0), vibrato_depth=r.uniform(0.05, 0.4), jitter=r.uniform(0.004, 0.025),
            shimmer=r.uniform(0.03, 0.15), tilt=r.uniform(-12.0, -5.0), breathiness=r.uniform(0.03, 0.25),
            hyperphonation=r.uniform(0.0, 0.3),
            formants=tuple(r.uniform(low, high) for low, high in FORMANT_RANGES),
            bandwidths=tuple(r.uniform(low, high) for low, high in BANDWIDTH_RANGES),
            unit_seconds=r.uniform(0.6, 1.3), pause_seconds=r.uniform(0.08, 0.3),
            **_channel(r, "B", noise_names),
        )
        # a few days later: the register drifts, the vocal tract grows (formants fall), the channel is new
        grown = replace(
            birth, period="D",
            f0=birth.f0 * r.uniform(0.95, 1.05), swing=birth.swing * r.uniform(0.85, 1.15),
            jitter=birth.jitter * r.uniform(0.8, 1.2), shimmer=birth.shimmer * r.uniform(0.8, 1.2),
            tilt=birth.tilt + r.uniform(-1.0, 1.0), breathiness=birth.breathiness * r.uniform(0.8, 1.25),
            formants=tuple(f * r.uniform(0.96, 0.99) for f in birth.formants),
            bandwidths=tuple(b * r.uniform(0.85, 1.15) for b in birth.bandwidths),
            unit_seconds=birth.unit_seconds * r.uniform(0.9, 1.15),
            **_channel(r, "D", noise_names),
        )
        infants += [birth, grown]
    return infants


def _channel(r: random.Random, period: str, noise_names: list[str] | None) -> dict:
    reverb = r.random() < REVERB_PROBABILITY[period]
    return dict(
        highpass=r.uniform(60.0, 250.0), lowpass=r.uniform(4500.0, 7500.0),
        rt60=r.uniform(0.15, 0.5) if reverb else 0.0, drr_db=r.uniform(0.0, 10.0) if reverb else 0.0,
        noise=r.choice(sorted(noise_names)) if noise_names else "", snr_db=SNR_DB[period],
        hum=r.uniform(0.003, 0.02) if r.random() < 0.3 else 0.0, hum_hz=r.choice((50.0, 60.0)),
    )


# --------------------------------------------------------------------------- synthesis


def _smooth_step(n: int, start: int, end: int, ramp: int) -> np.ndarray:
    """0 outside [start, end), 1 inside, with raised-cosine ramps of `ramp` samples."""
    mask = np.zeros(n)
    mask[start:end] = 1.0
    if ramp > 1:
        kernel = np.hanning(2 * ramp + 1)
        mask = np.convolve(mask, kernel / kernel.sum(), mode="same")
    return mask


def _contour(style: str, u: np.ndarray, swing: float, rng: np.random.Generator) -> np.ndarray:
    """Semitones relative to the register over a unit (`u` runs 0 -> 1), spanning about `swing`."""
    peak = rng.uniform(0.25, 0.6)
    arch = np.sin(np.pi * u ** (np.log(0.5) / np.log(peak)))  # 0 at the ends, 1 at u = peak
    if style == "rise-fall":
        return swing * (arch - 0.5)
    if style == "fall-rise":
        return -swing * (arch - 0.5)
    if style == "fall":
        return swing * (0.5 - u**0.7)
    if style == "rise":
        return swing * (u**1.3 - 0.5)
    return 0.15 * swing * np.sin(2 * np.pi * u * rng.uniform(0.5, 1.5))  # flat, gently wavering


def _resonate(x: np.ndarray, centre: float, bandwidth: float, sampling_rate: int) -> np.ndarray:
    """Klatt's two-pole resonator (unity gain at 0 Hz)."""
    from scipy.signal import lfilter

    r = np.exp(-np.pi * bandwidth / sampling_rate)
    b, c = 2 * r * np.cos(2 * np.pi * centre / sampling_rate), -r * r
    return lfilter([1.0 - b - c], [1.0, -b, -c], x)


def cry_unit(infant: Infant, seconds: float, sampling_rate: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One expiratory cry unit: the `(time,)` float64 waveform and its `(time,)` f0 track in Hz.

    Args:
        infant: whose voice.
        seconds: unit length.
        sampling_rate: Hz (16000 or more, so F3 near 6 kHz fits).
        rng: numpy generator driving the contour, perturbations and noise.
    """
    n = max(1, int(seconds * sampling_rate))
    t = np.arange(n) / sampling_rate
    u = t / max(seconds, 1e-6)
    style = CONTOURS[rng.choice(len(CONTOURS), p=np.asarray(infant.contour_weights) / sum(infant.contour_weights))]
    semitones = _contour(style, u, infant.swing, rng)
    semitones += infant.vibrato_depth * np.sin(2 * np.pi * infant.vibrato_rate * t + rng.uniform(0, 2 * np.pi))
    drift = np.cumsum(rng.standard_normal(n // 160 + 2)) * 0.05  # slow wander, about 0.3 semitone over a unit
    semitones += np.interp(t, np.linspace(0, seconds, len(drift)), drift - drift.mean())
    f0 = infant.f0 * rng.uniform(0.96, 1.04) * 2.0 ** (semitones / 12)
    if rng.random() < infant.hyperphonation:
        # hyperphonation: f0 leaps by more than 1 kHz for a moment, with 15 ms transitions
        length = int(rng.uniform(0.1, 0.35) * sampling_rate)
        start = int(rng.uniform(0.2, 0.6) * n)
        mask = _smooth_step(n, start, min(n, start + length), int(0.015 * sampling_rate))
        f0 = f0 * (1 - mask) + (f0 + rng.uniform(1050.0, 1600.0)) * mask

    # jitter and shimmer: one random value per glottal cycle
    cycles = np.cumsum(f0) / sampling_rate  # (time,) running cycle count
    count = int(cycles[-1]) + 2
    f0 = f0 * (1 + np.clip(rng.normal(0, infant.jitter, count), -0.1, 0.1)[cycles.astype(int)])
    phase = 2 * np.pi * np.cumsum(f0) / sampling_rate
    cycles = phase / (2 * np.pi)
    amplitude = np.interp(cycles, np.arange(count + 1), np.clip(1 + rng.normal(0, infant.shimmer, count + 1), 0.3, None))

    nyquist_guard = 0.45 * sampling_rate
    source = np.zeros(n)
    for k in range(1, int(nyquist_guard // f0.min()) + 1):
        # fade each harmonic out as it approaches Nyquist instead of switching it off (no clicks)
        keep = np.clip((nyquist_guard - k * f0) / (0.05 * sampling_rate), 0.0, 1.0)
        source += keep * k ** (infant.tilt / 6.02) * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    source *= amplitude
    level = np.sqrt(np.mean(source**2)) + 1e-9
    breath = rng.standard_normal(n) * infant.breathiness * level * (0.6 + 0.4 * (0.5 + 0.5 * np.cos(phase)))
    excitation = source + breath

    tract = excitation
    for centre, bandwidth in zip(infant.formants, infant.bandwidths):
        tract = _resonate(tract, centre * rng.uniform(0.97, 1.03), bandwidth, sampling_rate)
    # the fundamental is strong in cries; keep some of the source unfiltered so it is not buried under F1
    wave = tract / (np.sqrt(np.mean(tract**2)) + 1e-9) + 0.5 * excitation / level

    envelope = (f0 / infant.f0) ** 0.5  # louder when higher
    attack = min(n // 2, int(rng.uniform(0.03, 0.08) * sampling_rate))
    release = min(n // 2, int(rng.uniform(0.05, 0.15) * sampling_rate))
    envelope[:attack] *= 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, attack))
    envelope[n - release :] *= 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, release))
    return wave * envelope, f0


def _inspiration(infant: Infant, sampling_rate: int, rng: np.random.Generator, level: float) -> np.ndarray:
    """A short inspiratory gasp: band-passed noise, sometimes with a brief high squeak."""
    from scipy.signal import butter, sosfilt

    n = int(rng.uniform(0.08, 0.25) * sampling_rate)
    sos = butter(2, [1000.0, min(5000.0, 0.45 * sampling_rate)], btype="bandpass", fs=sampling_rate, output="sos")
    gasp = sosfilt(sos, rng.standard_normal(n)) * np.hanning(n)
    gasp *= level * 10 ** (rng.uniform(-20.0, -10.0) / 20) / (np.sqrt(np.mean(gasp**2)) + 1e-9)
    if rng.random() < 0.35:
        m = int(rng.uniform(0.04, 0.1) * sampling_rate)
        pitch = rng.uniform(700.0, 1300.0) * np.linspace(1.0, rng.uniform(0.8, 1.2), m)
        squeak = np.sin(2 * np.pi * np.cumsum(pitch) / sampling_rate) * np.hanning(m) * level * 0.25
        start = rng.integers(0, n - m + 1) if n > m else 0
        gasp[start : start + m] += squeak[: n - start]
    return gasp


def _room(infant: Infant, sampling_rate: int, rng: np.random.Generator) -> np.ndarray | None:
    """An exponentially decaying noise tail after a unit direct path (cheap synthetic room), or None."""
    if infant.rt60 <= 0:
        return None
    n = int(min(infant.rt60, 0.6) * sampling_rate)
    tail = rng.standard_normal(n) * np.exp(-6.91 * np.arange(n) / (infant.rt60 * sampling_rate))
    tail[: int(0.002 * sampling_rate)] = 0.0  # the first reflections arrive a couple of milliseconds late
    tail *= 10 ** (-infant.drr_db / 20) / (np.sqrt(np.sum(tail**2)) + 1e-9)
    tail[0] = 1.0
    return tail


def synthesize_cry(
    infant: Infant,
    sampling_rate: int = 16000,
    seed: int | str = 0,
    units: tuple[int, int] = (1, 4),
    noise: np.ndarray | None = None,
) -> np.ndarray:
    """One recording of `infant`: cry units with inspirations, through its period's room and channel.

    Args:
        infant: identity and period (`plan_infants`).
        sampling_rate: Hz; 16000 or more.
        seed: drives this recording's units, pauses and noise; same seed, same samples.
        units: fewest and most expiratory units in the recording.
        noise: background of at least the recording's length (e.g. a `zoo.data.mixtures.noise_segment`),
            mixed at an SNR drawn from ``infant.snr_db``; None for none.

    Returns:
        `(time,)` float32, level-normalised to -25 dBFS RMS with peaks under -1 dBFS.

    >>> infant = plan_infants(6, seed=0)[0]
    >>> wave = synthesize_cry(infant, seed=1)
    >>> wave.dtype, 0.5 < len(wave) / 16000 < 12
    (dtype('float32'), True)
    """
    return _synthesize(infant, sampling_rate, seed, units, noise)[0]


def max_recording_seconds(infant: Infant, units: tuple[int, int] = (1, 4)) -> float:
    """An upper bound on the length of an `infant` recording with at most ``units[1]`` cry units."""
    return units[1] * 2.0 + (units[1] - 1) * (2.3 * infant.pause_seconds + 0.25) + 0.6


def _synthesize(infant: Infant, sampling_rate: int, seed: int | str, units: tuple[int, int], noise: np.ndarray | None):
    """`synthesize_cry`, also returning the SNR it drew (None without noise)."""
    if sampling_rate < 16000:
        raise ValueError(f"sampling_rate={sampling_rate}; cry synthesis needs 16000 Hz or more (the third resonance sits near 6 kHz)")
    from scipy.signal import butter, fftconvolve, sosfilt

    snr = None
    rng = np.random.default_rng(int(hashlib.sha256(f"{infant.baby_id}-{infant.period}-{seed}".encode()).hexdigest()[:16], 16))

    def silence(low: float, high: float) -> np.ndarray:
        return np.zeros(int(rng.uniform(low, high) * sampling_rate))

    pieces = [silence(0.05, 0.3)]
    count = int(rng.integers(units[0], units[1] + 1))
    for index in range(count):
        seconds = float(np.clip(infant.unit_seconds * rng.uniform(0.6, 1.4), 0.4, 2.0))
        unit, _ = cry_unit(infant, seconds, sampling_rate, rng)
        pieces.append(unit)
        if index < count - 1:
            pause = infant.pause_seconds
            pieces += [silence(0.3 * pause, 0.8 * pause), _inspiration(infant, sampling_rate, rng, np.sqrt(np.mean(unit**2))),
                       silence(0.5 * pause, 1.5 * pause)]
    pieces.append(silence(0.05, 0.3))
    wave = np.concatenate(pieces)

    room = _room(infant, sampling_rate, rng)
    if room is not None:
        wave = fftconvolve(wave, room)[: len(wave)]
    if noise is not None:
        if len(noise) < len(wave):
            raise ValueError(f"noise has {len(noise)} samples, the recording {len(wave)}; pass a longer noise segment")
        background = np.asarray(noise[: len(wave)], dtype=np.float64)
        snr = float(rng.uniform(*infant.snr_db))
        wave = wave + background * (np.sqrt(np.mean(wave**2)) / (np.sqrt(np.mean(background**2)) + 1e-12) * 10 ** (-snr / 20))
    sos = np.concatenate([
        butter(2, infant.highpass, btype="highpass", fs=sampling_rate, output="sos"),
        butter(4, min(infant.lowpass, 0.45 * sampling_rate), btype="lowpass", fs=sampling_rate, output="sos"),
    ])
    wave = sosfilt(sos, wave)
    if infant.hum > 0:
        t = np.arange(len(wave)) / sampling_rate
        hum = sum(np.sin(2 * np.pi * k * infant.hum_hz * t) / k for k in (1, 2, 3))
        wave = wave + hum * infant.hum * np.sqrt(np.mean(wave**2)) / np.sqrt(np.mean(hum**2))
    return normalize_level(wave.astype(np.float32)), snr


# --------------------------------------------------------------------------- analysis


def estimate_f0(wave: np.ndarray, sampling_rate: int, fmin: float = 200.0, fmax: float = 2500.0,
                frame_seconds: float = 0.04, hop_seconds: float = 0.01, voicing: float = 0.6) -> np.ndarray:
    """Frame-wise f0 in Hz by normalised autocorrelation; NaN for unvoiced or quiet frames.

    A frame is voiced when its best normalised autocorrelation in the lag range is at least `voicing` and its
    energy is within 30 dB of the loudest frame. Among lags scoring within 5 % of the best, the shortest wins
    (so a period's multiples, which score as high, do not halve f0).

    Args:
        wave: `(time,)` waveform.
        sampling_rate: Hz.
        fmin, fmax: search range in Hz.
        frame_seconds, hop_seconds: analysis frame and hop.
        voicing: autocorrelation threshold for a voiced frame.

    >>> sr = 16000
    >>> t = np.arange(sr) / sr
    >>> f0 = estimate_f0(np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 880 * t), sr)
    >>> bool(np.all(np.abs(f0[~np.isnan(f0)] - 440) < 10))
    True
    """
    wave = np.asarray(wave, dtype=np.float64)
    size, hop = int(frame_seconds * sampling_rate), int(hop_seconds * sampling_rate)
    if len(wave) < size:
        return np.full(0, np.nan)
    frames = np.lib.stride_tricks.sliding_window_view(wave, size)[::hop]  # (frames, size)
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = (frames**2).sum(axis=1)
    loud = energy > energy.max() * 1e-3
    spectrum = np.fft.rfft(frames, 2 * size, axis=1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :size]  # (frames, lags)
    # normalise by the energy of the overlapping parts so long lags are not penalised
    cumulative = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
    lags = np.arange(size)
    head = cumulative[:, size - lags]  # energy of x[0 : size - lag]
    tail = cumulative[:, -1:] - cumulative[:, lags]  # energy of x[lag : size]
    normalised = acf / np.sqrt(head * tail + 1e-12)
    low, high = max(1, int(sampling_rate / fmax)), min(size - 1, int(sampling_rate / fmin))
    window = normalised[:, low : high + 1]
    best = window.max(axis=1)
    result = np.full(len(frames), np.nan)
    for i in np.flatnonzero(loud & (best >= voicing)):
        # local maxima near the best score; the shortest lag is the period
        row = window[i]
        peaks = np.flatnonzero((row[1:-1] >= row[:-2]) & (row[1:-1] >= row[2:]) & (row[1:-1] >= 0.95 * best[i])) + 1
        lag = low + (peaks[0] if len(peaks) else int(np.argmax(row)))
        # parabolic interpolation for sub-sample precision
        if low < lag < high:
            a, b, c = normalised[i, lag - 1 : lag + 2]
            lag = lag + 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else lag
        result[i] = sampling_rate / lag
    return result


# --------------------------------------------------------------------------- corpus


def _render(task: dict) -> dict:
    infant = Infant(**task["infant"])
    sr = task["sampling_rate"]
    noise = None
    if infant.noise:
        from zoo.data.mixtures import noise_segment

        length = int(max_recording_seconds(infant, task["units"]) * sr) + 1
        noise = noise_segment(_BANK[sr], infant.noise, infant.split, length, task["noise_offset"])
    wave, snr = _synthesize(infant, sr, task["seed"], task["units"], noise)
    file_id = f"{infant.baby_id}_{infant.period}_{task['index']:03d}"
    return {
        "audio": {"bytes": encode_audio(wave, sr, "flac"), "path": f"{file_id}.flac"},
        "baby_id": infant.baby_id,
        "speaker_id": infant.baby_id,
        "period": infant.period,
        "split": infant.split,
        "duration": round(len(wave) / sr, 4),
        "chronological_index": f"{task['index']:03d}",
        "file_id": file_id,
        "snr_db": None if snr is None else round(snr, 2),
        "synthetic": True,
    }


# filled in the parent before the pool forks, so the workers share it
_BANK: dict[int, dict[str, np.ndarray]] = {}


def cry_features(sampling_rate: int):
    import datasets

    return datasets.Features({
        "audio": datasets.Audio(sampling_rate=sampling_rate),
        "baby_id": datasets.Value("string"),
        "speaker_id": datasets.Value("string"),
        "period": datasets.Value("string"),
        "split": datasets.Value("string"),
        "duration": datasets.Value("float32"),
        "chronological_index": datasets.Value("string"),
        "file_id": datasets.Value("string"),
        "snr_db": datasets.Value("float32"),
        "synthetic": datasets.Value("bool"),
    })


def build_cry(
    output: str | None = "data/cry",
    num_infants: int = 200,
    recordings_per_period: int = 4,
    sampling_rate: int = 16000,
    seed: int = 0,
    workers: int | None = None,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    units: tuple[int, int] = (1, 4),
    background: bool = True,
    progress: bool = True,
):
    """Synthesize the SYNTHETIC cry corpus and (when `output` is given) save it with `save_to_disk`.

    Args:
        output: folder to write, or None to only return the DatasetDict.
        num_infants: identities (6 or more), split identity-disjointly.
        recordings_per_period: recordings of each infant at B and at D.
        sampling_rate: Hz (16000 or more).
        seed: drives identities, splits and every recording; same seed, same bytes.
        workers: processes (default: all CPUs).
        validation_fraction, test_fraction: share of identities in ``validation`` and ``test``.
        units: fewest and most cry units per recording.
        background: mix noise from `zoo.data.mixtures.noise_bank` (each split uses its own part of every noise).
        progress: show a tqdm bar.

    Returns:
        The `datasets.DatasetDict` with ``train``, ``validation`` and ``test``.
    """
    if recordings_per_period < 1:
        raise ValueError(f"recordings_per_period={recordings_per_period}; use 1 or more (B -> D trials need both periods)")
    if units[0] < 1 or units[1] < units[0]:
        raise ValueError(f"units={units}; give (fewest, most) cry units per recording with 1 <= fewest <= most")
    if sampling_rate < 16000:
        raise ValueError(f"sampling_rate={sampling_rate}; cry synthesis needs 16000 Hz or more")
    noise_names = None
    if background:
        from zoo.data.mixtures import noise_bank
        from zoo.data.sessions import steady_noises

        _BANK[sampling_rate] = noise_bank(sampling_rate)
        noise_names = steady_noises(_BANK[sampling_rate])
    infants = plan_infants(num_infants, seed, validation_fraction, test_fraction, noise_names)
    tasks = []
    for infant in infants:
        r = random.Random(f"recordings-{seed}-{infant.baby_id}-{infant.period}")
        for index in range(recordings_per_period):
            tasks.append({"infant": asdict(infant), "sampling_rate": sampling_rate, "index": index, "units": tuple(units),
                          "seed": f"{seed}-{index}", "noise_offset": r.random()})
    rows = run_pool(_render, tasks, workers, "cry", progress)
    rows_by_split = {split: [row for row in rows if row["split"] == split] for split in SPLITS}
    settings = dict(num_infants=num_infants, recordings_per_period=recordings_per_period, sampling_rate=sampling_rate, seed=seed,
                    validation_fraction=validation_fraction, test_fraction=test_fraction, units=list(units), background=background)
    description = (f"zoo synthetic infant cries (CryCeleb2023-style B/D periods). {SYNTHETIC_NOTE} "
                   f"Settings: {json.dumps(settings, sort_keys=True)}")
    fingerprint = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    dataset = to_dataset_dict(rows_by_split, cry_features(sampling_rate), description, fingerprint)
    if output:
        metadata = {"kind": "cry", "synthetic": True, "note": SYNTHETIC_NOTE, "settings": settings,
                    "infants": [asdict(i) for i in infants], "summary": summarize(dataset)}
        save_dataset_dict(dataset, output, metadata)
    return dataset
