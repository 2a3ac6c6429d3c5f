"""LibriMix / WHAM! / WHAMR!-style speech mixtures from a `zoo data speech` corpus.

Two ways to get mixtures:

- `build_mixtures` writes a fixed corpus (a DatasetDict saved with `save_to_disk`). Mixture splits follow the
  speech splits, so test mixtures only hold test speakers. Every utterance is used about once per split
  before any is reused; the speakers of one mixture are always distinct.
- `DynamicMixer` mixes on the fly for training: random speaker-distinct utterances, random crops and gains;
  a torch-Dataset-compatible object, deterministic per ``(seed, index)``.

Levels follow LibriMix: each source is scaled to an RMS level drawn from U(-33, -25) dBFS, the noise to
U(-38, -30) dBFS; if anything would clip, everything is scaled down together.

Conditions:

- ``clean``: ``mixture = s1 + s2 (+ s3)``.
- ``noisy``: ``mixture = s1 + s2 (+ s3) + noise``, the noise cut from a bank of sox-synthesized noises
  (white/pink/brown, filtered and modulated) and fluidsynth renderings (GM soundfont: seashore, rain pad,
  helicopter, applause, birds, strings, piano, organ, drums). Each noise clip is cut in three parts
  (60/20/20 %) for train/validation/test, so held-out mixtures never contain training noise samples.
- ``reverb``: each dry source is convolved with a pyroomacoustics shoebox RIR (one room per mixture,
  RT60 U(0.2, 0.6) s, sources 0.7-2 m from one microphone); ``mixture`` is the sum of the reverberant
  images, and the targets ``s1..`` are the *direct path* (the source convolved with the order-0 RIR of
  the same room: same delay and distance attenuation, no reflections), as in WHAMR!'s anechoic targets.
  The reverberant images are not stored. ``noisy-reverb`` adds noise as well.

Mode ``min`` truncates every source to the shortest one (LibriMix "min"); ``max`` pads with zeros to the longest.

Columns: ``mixture``, ``s1``, ``s2`` (``s3``), ``noise`` (noisy conditions), all Audio at the chosen rate;
``speaker_ids``, ``source_ids`` (utterance ids), ``texts``, ``gains_db`` (dB gain applied to each stored
utterance to make its source; for reverb, to the dry utterance before the RIR), ``snr_db`` (speech sum to
noise, dB; null when clean), ``rt60`` (seconds; null without reverb), ``duration``, ``id``.
Arrays: a waveform is `(time,)` float32; stacked sources are `(num_speakers, time)`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random

import numpy as np

from zoo.audio import FORMANT_RATIOS, change_speed, load_audio, shift_formants
from zoo.data.speech import (
    SPLITS,
    encode_audio,
    run_pool,
    save_dataset_dict,
    summarize,
    to_dataset_dict,
)
from zoo.data.text import cache_dir

CONDITIONS = ("clean", "noisy", "reverb", "noisy-reverb")
SOURCE_LEVEL_DB = (-33.0, -25.0)
NOISE_LEVEL_DB = (-38.0, -30.0)
RT60_RANGE = (0.2, 0.6)
NOISE_SECONDS = 40.0
NOISE_PARTS = {"train": (0.0, 0.6), "validation": (0.6, 0.8), "test": (0.8, 1.0)}
NOISE_BANK_VERSION = 1
CLIP_PEAK = 0.99


# --------------------------------------------------------------------------- noise bank

# sox effects after `synth <seconds>`: colour, then filters / modulation
_SOX_NOISES = {
    "white-lowpass": ["whitenoise", "lowpass", "3000"],
    "white-highpass": ["whitenoise", "highpass", "1500"],
    "pink": ["pinknoise"],
    "pink-band": ["pinknoise", "highpass", "300", "lowpass", "3500"],
    "brown": ["brownnoise"],
    "brown-wind": ["brownnoise", "lowpass", "600", "tremolo", "0.3", "70"],
    "pink-hum": ["pinknoise", "lowpass", "1000", "tremolo", "6", "40"],
}
# (name, kind, GM program) rendered with the event generators of zoo.data.events
_GM_NOISES = (
    ("seashore", "effect", 122), ("rain-pad", "effect", 96), ("helicopter", "effect", 125), ("applause", "effect", 126),
    ("birds", "effect", 123), ("strings", "melodic", 48), ("piano", "melodic", 0), ("organ", "melodic", 19),
    ("drums", "drums", 0), ("atmosphere-pad", "melodic", 99),
)


def noise_bank(sampling_rate: int, seconds: float | None = None, cache: bool = True) -> dict[str, np.ndarray]:
    """Named `(time,)` float32 noises, `seconds` long, RMS-normalised; cached under `zoo.data.text.cache_dir()`.

    Args:
        sampling_rate: rate in Hz.
        seconds: length of every noise (default `NOISE_SECONDS`).
        cache: read/write the ``.npz`` cache.
    """
    from zoo.data import events

    seconds = seconds or NOISE_SECONDS
    path = os.path.join(cache_dir(), f"noise-bank-v{NOISE_BANK_VERSION}-{sampling_rate}-{seconds:g}.npz")
    if cache and os.path.exists(path):
        with np.load(path) as data:
            return {name: data[name] for name in data.files}
    bank = {}
    for name, effects in _SOX_NOISES.items():
        bank[f"sox-{name}"] = events.sox_synth(["synth", f"{seconds:.3f}"] + effects, seconds, sampling_rate)
    # a GM noise is many back-to-back clips of one program, so it varies over its whole length
    for name, kind, program in _GM_NOISES:
        make = {"melodic": events._melodic_clip, "drums": events._drum_clip, "effect": events._effect_clip}[kind]
        rng = random.Random(f"noise-{name}")
        timeline, t = [], 0.0
        while t < seconds:
            clip_events, _ = make(rng, 5.0, program)
            timeline += [(t + time, message) for time, message in clip_events]
            t += 5.0
        timeline.append((seconds + 1.0, bytes([0xB0, 123, 0])))
        wave = events.render_midi(events.write_midi(timeline), sampling_rate)
        bank[f"gm-{name}"] = _fit(wave, int(seconds * sampling_rate))
    bank = {name: _rms_normalize(wave) for name, wave in bank.items()}
    if cache:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp.npz"
        np.savez(tmp, **bank)
        os.replace(tmp, path)
    return bank


def _fit(wave: np.ndarray, length: int) -> np.ndarray:
    """Cut or loop `wave` to exactly `length` samples."""
    if len(wave) == 0:
        return np.zeros(length, dtype=np.float32)
    reps = -(-length // len(wave))
    return np.tile(wave, reps)[:length].astype(np.float32)


def _rms(wave: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0


def _rms_normalize(wave: np.ndarray) -> np.ndarray:
    rms = _rms(wave)
    return (wave / rms * 0.1).astype(np.float32) if rms > 1e-8 else wave.astype(np.float32)


def noise_segment(bank: dict[str, np.ndarray], name: str, split: str, length: int, offset: float) -> np.ndarray:
    """`length` samples of noise `name` from `split`'s part of it, starting at fraction `offset` of that part."""
    wave = bank[name]
    low, high = NOISE_PARTS.get(split, NOISE_PARTS["train"])
    part = wave[int(low * len(wave)) : int(high * len(wave))]
    start = int(offset * max(0, len(part) - length))
    return _fit(part[start:], length) if len(part) - start < length else part[start : start + length].copy()


# --------------------------------------------------------------------------- rooms


def random_room(rng: random.Random, num_sources: int) -> dict:
    """A WHAMR!-like shoebox: room size, RT60, one microphone and `num_sources` source positions."""
    dims = [rng.uniform(5.0, 10.0), rng.uniform(5.0, 10.0), rng.uniform(2.5, 4.0)]
    mic = [rng.uniform(1.5, dims[0] - 1.5), rng.uniform(1.5, dims[1] - 1.5), rng.uniform(1.0, 1.8)]
    sources = []
    for _ in range(num_sources):
        distance, angle = rng.uniform(0.7, 2.0), rng.uniform(0.0, 2 * np.pi)
        x = min(max(mic[0] + distance * np.cos(angle), 0.3), dims[0] - 0.3)
        y = min(max(mic[1] + distance * np.sin(angle), 0.3), dims[1] - 0.3)
        sources.append([x, y, rng.uniform(1.2, 1.9)])
    return {"dims": dims, "rt60": rng.uniform(*RT60_RANGE), "mic": mic, "sources": sources}


def room_impulse_responses(room: dict, sampling_rate: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Full and direct-path (order 0) RIRs, one per source, from pyroomacoustics' image source model."""
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise ImportError("the reverb condition needs pyroomacoustics; install it with `pip install pyroomacoustics`") from None

    absorption, max_order = pra.inverse_sabine(room["rt60"], room["dims"])
    rirs = []
    # order 40 already spans ~0.8 s of reflections in these rooms; higher orders cost seconds per room
    for order in (min(max_order, 40), 0):
        shoebox = pra.ShoeBox(room["dims"], fs=sampling_rate, materials=pra.Material(absorption), max_order=order)
        for position in room["sources"]:
            shoebox.add_source(position)
        shoebox.add_microphone(room["mic"])
        shoebox.compute_rir()
        rirs.append([np.asarray(shoebox.rir[0][k], dtype=np.float64) for k in range(len(room["sources"]))])
    return rirs[0], rirs[1]


# --------------------------------------------------------------------------- mixing


def mix(
    sources: list[np.ndarray],
    levels_db: list[float],
    sampling_rate: int,
    noise: np.ndarray | None = None,
    noise_level_db: float | None = None,
    room: dict | None = None,
) -> dict:
    """Mix equal-length dry sources at the given RMS levels, optionally in a room and with noise.

    Args:
        sources: `num_speakers` arrays of shape `(time,)`, already cut to one length.
        levels_db: RMS level in dBFS for each source (for reverb: of its reverberant image).
        sampling_rate: rate in Hz (for the RIRs).
        noise: `(time,)` noise or None.
        noise_level_db: RMS level of the noise in dBFS.
        room: a `random_room` dict for reverberation, or None.

    Returns:
        ``{"mixture": (time,), "sources": (num_speakers, time), "noise": (time,) or None, "gains_db": list,
        "snr_db": float or None}``; ``mixture == sources.sum(0) + noise`` without a room.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> out = mix([rng.standard_normal(800).astype("float32") for _ in range(2)], [-30.0, -25.0], 8000)
    >>> bool(np.allclose(out["mixture"], out["sources"].sum(0))), out["sources"].shape
    (True, (2, 800))
    """
    length = len(sources[0])
    gains, images, targets = [], [], []
    if room is not None:
        from scipy.signal import fftconvolve

        full, direct = room_impulse_responses(room, sampling_rate)
    for k, (source, level) in enumerate(zip(sources, levels_db)):
        source = np.asarray(source, dtype=np.float64)
        image = target = source
        if room is not None:
            image = fftconvolve(source, full[k])[:length]
            target = fftconvolve(source, direct[k])[:length]
        rms = _rms(image)
        gain = 10 ** (level / 20) / rms if rms > 1e-8 else 1.0
        gains.append(gain)
        images.append(image * gain)
        targets.append(target * gain)
    speech = np.sum(images, axis=0)
    scaled_noise = None
    if noise is not None:
        rms = _rms(noise)
        scaled_noise = np.asarray(noise, dtype=np.float64) * (10 ** (noise_level_db / 20) / rms if rms > 1e-8 else 0.0)
    mixture = speech + (scaled_noise if scaled_noise is not None else 0.0)
    peak = max(float(np.abs(mixture).max()), max(float(np.abs(t).max()) for t in targets))
    if scaled_noise is not None:
        peak = max(peak, float(np.abs(scaled_noise).max()))
    scale = CLIP_PEAK / peak if peak > CLIP_PEAK else 1.0  # one factor for all, so the sum still holds
    snr = None
    if scaled_noise is not None and _rms(scaled_noise) > 0:
        snr = round(20 * np.log10(max(_rms(speech), 1e-12) / _rms(scaled_noise)), 3)
    return {
        "mixture": (mixture * scale).astype(np.float32),
        "sources": (np.stack(targets) * scale).astype(np.float32),  # (num_speakers, time)
        "noise": None if scaled_noise is None else (scaled_noise * scale).astype(np.float32),
        "gains_db": [round(float(20 * np.log10(g * scale)), 3) for g in gains],
        "snr_db": snr,
    }


def _decode(audio: dict, sampling_rate: int) -> np.ndarray:
    """An Audio cell read with ``decode=False`` (``{"bytes", "path"}``) as `(time,)` float32 at `sampling_rate`."""
    return load_audio(audio, sampling_rate)


def _align(waves: list[np.ndarray], mode: str) -> list[np.ndarray]:
    if mode == "min":
        length = min(len(w) for w in waves)
        return [w[:length] for w in waves]
    length = max(len(w) for w in waves)
    return [np.pad(w, (0, length - len(w))) for w in waves]


def _quantize(wave: np.ndarray) -> np.ndarray:
    # what the stored 16-bit FLAC will hold; mixing the quantized sources keeps `mixture = sum` exact
    return (np.round(np.clip(wave, -1.0, 1.0) * 32767) / 32767).astype(np.float32)


def _render_mixture(task: dict) -> dict:
    sr = task["sampling_rate"]
    waves = _align([_decode(audio, sr) for audio in task["audio"]], task["mode"])
    length = len(waves[0])
    noise = None
    if task["noise"] is not None:
        name, split, offset = task["noise"]
        noise = noise_segment(_BANK[sr], name, split, length, offset)
    out = mix(waves, task["levels_db"], sr, noise, task["noise_level_db"], task["room"])
    row = {"id": task["id"], "speaker_ids": task["speaker_ids"], "source_ids": task["source_ids"], "texts": task["texts"],
           "gains_db": out["gains_db"], "snr_db": out["snr_db"], "rt60": None if task["room"] is None else round(task["room"]["rt60"], 3),
           "duration": round(length / sr, 4)}
    sources = [_quantize(s) for s in out["sources"]]
    noise_q = None if out["noise"] is None else _quantize(out["noise"])
    if task["room"] is None:
        mixture = np.sum(sources, axis=0) + (noise_q if noise_q is not None else 0.0)
    else:
        mixture = out["mixture"]
    row["mixture"] = _audio_cell(mixture, sr, f"{task['id']}-mix")
    for k, source in enumerate(sources):
        row[f"s{k + 1}"] = _audio_cell(source, sr, f"{task['id']}-s{k + 1}")
    if noise_q is not None:
        row["noise"] = _audio_cell(noise_q, sr, f"{task['id']}-noise")
    return row


def _audio_cell(wave: np.ndarray, sampling_rate: int, name: str) -> dict:
    return {"bytes": encode_audio(wave, sampling_rate, "flac"), "path": f"{name}.flac"}


# filled in the parent before the pool forks, so the workers share it instead of receiving copies
_BANK: dict[int, dict[str, np.ndarray]] = {}


def _plan_split(rng: random.Random, speakers: list[str], count: int, num_speakers: int) -> list[list[int]]:
    """`count` groups of row indices with distinct speakers, using every row once before any reuse."""
    if len(set(speakers)) < num_speakers:
        raise ValueError(f"a split has only {len(set(speakers))} speakers; {num_speakers}-speaker mixtures need at least {num_speakers}")
    queue: list[int] = []
    groups = []
    for _ in range(count):
        group: list[int] = []
        while len(group) < num_speakers:
            if not queue:
                queue = list(range(len(speakers)))
                rng.shuffle(queue)
            taken = {speakers[i] for i in group}
            pick = next((j for j, i in enumerate(queue) if speakers[i] not in taken and i not in group), None)
            if pick is None:
                refill = list(range(len(speakers)))
                rng.shuffle(refill)
                queue += refill
                continue
            group.append(queue.pop(pick))
        groups.append(group)
    return groups


def mixture_features(num_speakers: int, sampling_rate: int, noisy: bool):
    import datasets

    audio = datasets.Audio(sampling_rate=sampling_rate)
    features = {"mixture": audio}
    features.update({f"s{k + 1}": audio for k in range(num_speakers)})
    if noisy:
        features["noise"] = audio
    features.update({
        "speaker_ids": datasets.Sequence(datasets.Value("string")),
        "source_ids": datasets.Sequence(datasets.Value("string")),
        "texts": datasets.Sequence(datasets.Value("string")),
        "gains_db": datasets.Sequence(datasets.Value("float32")),
        "snr_db": datasets.Value("float32"),
        "rt60": datasets.Value("float32"),
        "duration": datasets.Value("float32"),
        "id": datasets.Value("string"),
    })
    return datasets.Features(features)


def _load_speech(speech):
    import datasets

    if isinstance(speech, (str, os.PathLike)):
        if not os.path.isdir(speech):
            raise FileNotFoundError(f"speech corpus {os.fspath(speech)!r} not found; build it with `zoo data speech --output {os.fspath(speech)}`")
        speech = datasets.load_from_disk(os.fspath(speech))
    return speech


def build_mixtures(
    speech="data/speech",
    output: str | None = "data/mix2-8k",
    num_speakers: int = 2,
    condition: str = "clean",
    sampling_rate: int = 8000,
    mode: str = "min",
    splits: tuple[str, ...] = SPLITS,
    mixtures_per_split: int | dict | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
):
    """Build fixed LibriMix-style mixtures from a speech corpus and (when `output` is given) save them.

    Args:
        speech: folder written by `zoo data speech`, or its DatasetDict.
        output: folder to write, or None to only return the DatasetDict.
        num_speakers: 2 or 3 sources per mixture.
        condition: ``clean``, ``noisy``, ``reverb`` or ``noisy-reverb``.
        sampling_rate: 8000 or 16000 (any rate works; LibriMix ships these two).
        mode: ``min`` (truncate to the shortest source) or ``max`` (zero-pad to the longest).
        splits: which speech splits to mix.
        mixtures_per_split: an int, a ``{split: count}`` dict, or None for ``rows // num_speakers`` per split.
        seed: drives the pairing, gains, noises and rooms; same seed, same bytes.
        workers: processes (default: all CPUs).
        progress: show a tqdm bar.
    """
    import datasets

    if condition not in CONDITIONS:
        raise ValueError(f"condition={condition!r}; choose one of {', '.join(CONDITIONS)}")
    if mode not in {"min", "max"}:
        raise ValueError(f"mode={mode!r}; use 'min' (truncate to the shortest source) or 'max' (pad to the longest)")
    if num_speakers not in {2, 3}:
        raise ValueError(f"num_speakers={num_speakers}; LibriMix-style corpora have 2 or 3")
    corpus = _load_speech(speech)
    missing = [s for s in splits if s not in corpus]
    if missing:
        raise ValueError(f"speech corpus has no split(s) {missing}; it has {list(corpus)}")
    noisy, reverb = "noisy" in condition, "reverb" in condition
    if noisy:
        _BANK[sampling_rate] = noise_bank(sampling_rate)
        noise_names = sorted(_BANK[sampling_rate])
    tasks, split_of = [], {}
    for split in splits:
        table = corpus[split].cast_column("audio", datasets.Audio(decode=False))
        speakers, ids, texts = table["speaker_id"], table["id"], table["text"]
        if isinstance(mixtures_per_split, dict):
            count = mixtures_per_split.get(split, len(speakers) // num_speakers)
        else:
            count = mixtures_per_split or len(speakers) // num_speakers
        rng = random.Random(f"mixtures-{seed}-{split}-{num_speakers}-{condition}")
        audio_column = table.select_columns(["audio"])
        for m, group in enumerate(_plan_split(rng, speakers, count, num_speakers)):
            mixture_id = f"{split}-{m:05d}"
            tasks.append({
                "id": mixture_id,
                "audio": [audio_column[i]["audio"] for i in group],
                "speaker_ids": [speakers[i] for i in group],
                "source_ids": [ids[i] for i in group],
                "texts": [texts[i] for i in group],
                "levels_db": [rng.uniform(*SOURCE_LEVEL_DB) for _ in group],
                "noise": (rng.choice(noise_names), split, rng.random()) if noisy else None,
                "noise_level_db": rng.uniform(*NOISE_LEVEL_DB) if noisy else None,
                "room": random_room(rng, num_speakers) if reverb else None,
                "sampling_rate": sampling_rate,
                "mode": mode,
            })
            split_of[mixture_id] = split
    rows = run_pool(_render_mixture, tasks, workers, f"mixtures-{num_speakers}spk-{condition}", progress)
    rows_by_split = {split: [r for r in rows if split_of[r["id"]] == split] for split in splits}
    settings = dict(num_speakers=num_speakers, condition=condition, sampling_rate=sampling_rate, mode=mode, splits=list(splits),
                    mixtures_per_split=mixtures_per_split, seed=seed, speech_description=corpus[splits[0]].info.description)
    targets = "direct-path sources (order-0 RIR)" if reverb else "dry sources"
    description = (f"zoo {num_speakers}-speaker {condition} mixtures at {sampling_rate} Hz, mode {mode}; targets s1.. are {targets}; "
                   f"mixture splits follow the speech splits (speaker-disjoint). Settings: {json.dumps(settings, sort_keys=True)}")
    fingerprint = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    dataset = to_dataset_dict(rows_by_split, mixture_features(num_speakers, sampling_rate, noisy), description, fingerprint)
    if output:
        metadata = {"kind": "mixtures", "settings": settings, "targets": targets, "summary": summarize(dataset)}
        save_dataset_dict(dataset, output, metadata)
    return dataset


# --------------------------------------------------------------------------- dynamic mixing


class DynamicMixer:
    """On-the-fly mixtures: ``mixer[i] -> {"mixture": (T,), "sources": (num_speakers, T), "speakers": [ids]}``.

    Each item draws `num_speakers` distinct speakers, one random utterance of each, a random crop of
    `segment_seconds` (shorter utterances are zero-padded at a random offset), random LibriMix-style
    levels, and for noisy / reverb conditions a noise segment (key ``"noise"`` too) or a random room.
    The draw depends only on ``(seed, index)``, so items are reproducible and DataLoader workers agree;
    change `seed` per epoch for fresh mixtures. Works as a ``torch.utils.data.Dataset`` (it has
    ``__len__`` and ``__getitem__``).

    Args:
        speech_dataset: a `datasets.Dataset` with ``audio`` and ``speaker_id`` columns, a DatasetDict (then
            `split` is used) or a folder written by `zoo data speech`.
        num_speakers: sources per mixture.
        sampling_rate: output rate in Hz.
        segment_seconds: crop length; None keeps whole utterances truncated to the shortest ("min").
        condition: ``clean``, ``noisy``, ``reverb`` or ``noisy-reverb``.
        seed: base seed.
        length: items per epoch (default: rows of the dataset).
        split: which split of a DatasetDict / folder, and which part of the noise bank to use.
        speed_probability: chance that a source is sped up or slowed down (tempo and pitch together, by
            resampling) before the crop, as SpeechBrain's SepFormer recipes do: new voices from the same speakers.
        speeds: the factors drawn from when it is.
        formant_probability: chance that a source's formants are moved with its pitch and tempo kept (a longer or
            shorter vocal tract, see `zoo.audio.shift_formants`), before any speed change: timbres that neither the
            corpus nor speed perturbation holds.
        formant_ratios: the frequency ratios drawn from when it is.
        same_voice_probability: chance that all speakers of a mixture share one voice (the ``voice`` column):
            two speakers of one TTS voice differ in pitch and tempo only, the hardest pairs, rare in uniform draws.
    """

    def __init__(self, speech_dataset, num_speakers: int = 2, sampling_rate: int = 8000, segment_seconds: float | None = 3.0,
                 condition: str = "clean", seed: int = 0, length: int | None = None, split: str = "train",
                 speed_probability: float = 0.0, speeds: tuple = (0.9, 1.1), same_voice_probability: float = 0.0,
                 formant_probability: float = 0.0, formant_ratios: tuple = FORMANT_RATIOS):
        import datasets

        if condition not in CONDITIONS:
            raise ValueError(f"condition={condition!r}; choose one of {', '.join(CONDITIONS)}")
        dataset = _load_speech(speech_dataset)
        if isinstance(dataset, datasets.DatasetDict):
            dataset = dataset[split]
        self.audio = dataset.select_columns(["audio"]).cast_column("audio", datasets.Audio(decode=False))
        speakers = dataset["speaker_id"]
        self.by_speaker: dict[str, list[int]] = {}
        for index, speaker in enumerate(speakers):
            self.by_speaker.setdefault(speaker, []).append(index)
        self.speakers = sorted(self.by_speaker)
        if len(self.speakers) < num_speakers:
            raise ValueError(f"the dataset has {len(self.speakers)} speakers; {num_speakers}-speaker mixtures need at least {num_speakers}")
        self.num_speakers, self.sampling_rate, self.segment_seconds = num_speakers, sampling_rate, segment_seconds
        self.condition, self.seed, self.split = condition, seed, split
        if not 0.0 <= speed_probability <= 1.0:
            raise ValueError(f"speed_probability={speed_probability} must lie in [0, 1]")
        if speed_probability and not (speeds and all(speed > 0 for speed in speeds)):
            raise ValueError(f"speeds={list(speeds)} must be positive factors, e.g. [0.9, 1.1]")
        self.speed_probability, self.speeds = float(speed_probability), tuple(float(speed) for speed in speeds)
        if not 0.0 <= formant_probability <= 1.0:
            raise ValueError(f"formant_probability={formant_probability} must lie in [0, 1]")
        if formant_probability and not (formant_ratios and all(ratio > 0 for ratio in formant_ratios)):
            raise ValueError(f"formant_ratios={list(formant_ratios)} must be positive ratios, e.g. [0.85, 1.18]")
        self.formant_probability = float(formant_probability)
        self.formant_ratios = tuple(float(ratio) for ratio in formant_ratios)
        if not 0.0 <= same_voice_probability <= 1.0:
            raise ValueError(f"same_voice_probability={same_voice_probability} must lie in [0, 1]")
        self.same_voice_probability = float(same_voice_probability)
        self.voice_peers: dict[str, list[str]] = {}  # speaker -> the other speakers of its voice
        if same_voice_probability:
            if "voice" not in dataset.column_names:
                raise ValueError("same_voice_probability needs a `voice` column in the speech dataset (as `zoo data speech` writes)")
            by_voice: dict[str, set] = {}
            for speaker, voice in zip(speakers, dataset["voice"]):
                by_voice.setdefault(voice, set()).add(speaker)
            self.voice_peers = {speaker: sorted(peers - {speaker}) for peers in by_voice.values() for speaker in peers}
        self.length = length or len(speakers)
        self.bank = noise_bank(sampling_rate) if "noisy" in condition else None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} mixtures")
        rng = random.Random(f"dynamic-{self.seed}-{index}")
        chosen = None
        if self.same_voice_probability and rng.random() < self.same_voice_probability:  # no draw when off
            first = rng.choice(self.speakers)
            peers = self.voice_peers[first]
            if len(peers) >= self.num_speakers - 1:  # else: a voice with too few speakers mixes as usual
                chosen = [first, *rng.sample(peers, self.num_speakers - 1)]
        if chosen is None:
            chosen = rng.sample(self.speakers, self.num_speakers)
        waves = [_decode(self.audio[rng.choice(self.by_speaker[s])]["audio"], self.sampling_rate) for s in chosen]
        if self.formant_probability:  # no draws otherwise, as for speeds below
            waves = [
                shift_formants(wave, self.sampling_rate, rng.choice(self.formant_ratios), seed=rng.randrange(2**31))
                if rng.random() < self.formant_probability else wave
                for wave in waves
            ]
        if self.speed_probability:  # no draws otherwise: the mixtures of a recipe without it stay the same
            waves = [
                change_speed(wave, self.sampling_rate, rng.choice(self.speeds)) if rng.random() < self.speed_probability else wave
                for wave in waves
            ]
        if self.segment_seconds is None:
            waves = _align(waves, "min")
        else:
            length = round(self.segment_seconds * self.sampling_rate)
            cropped = []
            for wave in waves:
                if len(wave) >= length:
                    start = rng.randrange(len(wave) - length + 1)
                    cropped.append(wave[start : start + length])
                else:
                    start = rng.randrange(length - len(wave) + 1)
                    cropped.append(np.pad(wave, (start, length - len(wave) - start)))
            waves = cropped
        levels = [rng.uniform(*SOURCE_LEVEL_DB) for _ in waves]
        noise = noise_level = room = None
        if self.bank is not None:
            noise = noise_segment(self.bank, rng.choice(sorted(self.bank)), self.split, len(waves[0]), rng.random())
            noise_level = rng.uniform(*NOISE_LEVEL_DB)
        if "reverb" in self.condition:
            room = random_room(rng, self.num_speakers)
        out = mix(waves, levels, self.sampling_rate, noise, noise_level, room)
        item = {"mixture": out["mixture"], "sources": out["sources"], "speakers": chosen}
        if out["noise"] is not None:
            item["noise"] = out["noise"]
        return item
