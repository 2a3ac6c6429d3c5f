"""A CryCeleb-style two-session speech corpus: every TTS speaker recorded at period ``B`` and period ``D``.

CryCeleb2023 enrols an infant with its recordings at birth (``B``) and tests with those at discharge (``D``).
This corpus asks the same of speech: each speaker (the same `zoo.data.speech.plan_speakers` speakers as
`zoo data speech`: espeak-ng variants and flite voices) reads `utterances_per_period` sentences in each of two
sessions, and the sessions differ in everything but the voice:

- ``B``: the speaker's own speaking rate, clean (close-talking) audio;
- ``D``: other sentences, a speaking rate 10-15 % faster or slower (one draw per speaker), a background from
  `zoo.data.mixtures.noise_bank` at 5-20 dB SNR (one steady noise per speaker's session, see `steady_noises`;
  each split uses only its own part of every noise) and, with probability `reverb_probability`, a pyroomacoustics room (one per session,
  RT60 0.2-0.6 s, `zoo.data.mixtures.random_room`).

Splits are speaker-disjoint and the unseen voices (espeak-ng ``en-029``, flite ``rms``) are only in ``test``,
as in `zoo data speech`. Pass ``speakers_from=`` a `zoo data speech` folder to take that corpus's speakers *and
their splits* (e.g. ``data/speech-200``): then no speaker a model was trained on there reaches this corpus's
validation or test split. Without it, `plan_speakers` draws speakers from `seed`; the first espeak-ng speakers
of two plans with one seed coincide while their splits need not, so do not evaluate a model trained on a
speech corpus on a sessions corpus planned on its own.

Columns: ``audio`` (Audio, FLAC bytes embedded, mono), ``speaker_id``, ``period`` (``"B"``/``"D"``), ``split``,
``text`` (LibriSpeech-style), ``original_text``, ``engine``, ``voice``, ``variant``, ``gender``, ``unseen_voice``,
``duration`` (seconds), ``chronological_index`` (``"000"``... within a speaker and period), ``file_id``
(``<speaker>_<period>_<index>``, CryCeleb2023's naming), ``speed_factor`` (D's rate over B's; 1.0 at B),
``noise`` (noise name, ``""`` at B), ``snr_db`` and ``rt60`` (null when absent).
Audio: trimmed and level-normalised like `zoo data speech` (-25 dBFS RMS, peaks under -1 dBFS), 16-bit.
Waveforms are `(time,)` float32 while processed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import asdict, replace

import numpy as np

from zoo.audio import resample
from zoo.data.speech import (
    SPLITS,
    UNSEEN_VOICES,
    Speaker,
    encode_audio,
    normalize_level,
    plan_speakers,
    run_pool,
    save_dataset_dict,
    summarize,
    synthesize,
    to_dataset_dict,
    trim_silence,
)
from zoo.data.text import harvest_sentences

PERIODS = ("B", "D")
SPEED_CHANGE = (0.10, 0.15)  # relative change of the speaking rate at D, sign drawn per speaker
SNR_DB = (5.0, 20.0)


def steady_noises(bank: dict[str, np.ndarray], max_silent: float = 0.05) -> list[str]:
    """Names of `bank` noises that are rarely silent: at most `max_silent` of their 20 ms frames lie 60 dB
    under their loudest. A background has to be there all along; birdsong with long gaps is not one.

    >>> rng = np.random.default_rng(0)
    >>> steady_noises({"hiss": rng.standard_normal(16000), "click": np.r_[np.ones(320), np.zeros(15680)]})
    ['hiss']
    """
    names = []
    for name, wave in sorted(bank.items()):
        frames = np.asarray(wave[: len(wave) // 320 * 320], dtype=np.float64).reshape(-1, 320)  # (frames, 320)
        rms = np.sqrt((frames**2).mean(axis=1))
        if len(rms) and np.mean(rms < 1e-3 * rms.max()) <= max_silent:
            names.append(name)
    return names


def speakers_of(speech: str) -> list[Speaker]:
    """The speakers (with their splits) listed in a `zoo data speech` folder's ``zoo_corpus.json``."""
    path = os.path.join(os.fspath(speech), "zoo_corpus.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path!r} not found; pass a folder built by `zoo data speech` (it lists its speakers there)")
    with open(path) as handle:
        metadata = json.load(handle)
    if metadata.get("kind") != "speech" or "speakers" not in metadata:
        raise ValueError(f"{path!r} is a {metadata.get('kind')!r} corpus without a speaker list; pass a `zoo data speech` folder")
    return [Speaker(**entry) for entry in metadata["speakers"]]


def _subset(speakers: list[Speaker], count: int, seed: int) -> list[Speaker]:
    """`count` speakers keeping each split's share (at least 3 per split) and every unseen voice."""
    rng = random.Random(f"subset-{seed}")
    chosen = []
    for split in SPLITS:
        group = [s for s in speakers if s.split == split]
        want = min(len(group), max(3, round(count * len(group) / len(speakers))))
        rng.shuffle(group)
        # one speaker of every unseen voice first, so the subset still holds them
        first = {}
        for s in group:
            if s.unseen_voice:
                first.setdefault(s.voice_key, s)
        ordered = list(first.values()) + [s for s in group if s not in first.values()]
        chosen += ordered[:want]
    order = {s.speaker_id: k for k, s in enumerate(speakers)}
    return sorted(chosen, key=lambda s: order[s.speaker_id])


def _changed_rate(speaker: Speaker, factor: float) -> Speaker:
    """`speaker` talking `factor` times as fast (espeak-ng words/min up, flite duration stretch down)."""
    if speaker.engine == "espeak":
        return replace(speaker, speed=float(round(speaker.speed * factor)))
    return replace(speaker, speed=round(speaker.speed / factor, 3))


def _render_session(task: dict) -> list[dict]:
    """All utterances of one speaker in one period, sharing that session's rate, noise and room."""
    from scipy.signal import fftconvolve

    from zoo.data.mixtures import noise_segment, room_impulse_responses

    speaker = Speaker(**task["speaker"])
    sr, period = task["sampling_rate"], task["period"]
    voice = _changed_rate(speaker, task["speed_factor"]) if period == "D" else speaker
    rir = None
    if task["room"] is not None:
        full, _ = room_impulse_responses(task["room"], sr)
        rir = full[0]
    rows = []
    for index, (sentence, snr, offset) in enumerate(zip(task["sentences"], task["snr_db"], task["noise_offsets"])):
        raw, raw_sr = synthesize(voice, sentence["original_text"])
        wave = trim_silence(resample(raw, raw_sr, sr), sr).astype(np.float64)
        if rir is not None:
            # keep the length: the 100 ms trailing margin holds the start of the tail
            wave = fftconvolve(wave, rir)[: len(wave)]
        if task["noise"]:
            noise = noise_segment(_BANK[sr], task["noise"], speaker.split, len(wave), offset).astype(np.float64)
            speech_rms = np.sqrt(np.mean(wave**2))
            wave = wave + noise * speech_rms / (np.sqrt(np.mean(noise**2)) + 1e-12) * 10 ** (-snr / 20)
        wave = normalize_level(wave.astype(np.float32))
        file_id = f"{speaker.speaker_id}_{period}_{index:03d}"
        rows.append({
            "audio": {"bytes": encode_audio(wave, sr, "flac"), "path": f"{file_id}.flac"},
            "speaker_id": speaker.speaker_id,
            "period": period,
            "split": speaker.split,
            "text": sentence["text"],
            "original_text": sentence["original_text"],
            "engine": speaker.engine,
            "voice": speaker.voice,
            "variant": speaker.variant,
            "gender": speaker.gender,
            "unseen_voice": speaker.unseen_voice,
            "duration": round(len(wave) / sr, 4),
            "chronological_index": f"{index:03d}",
            "file_id": file_id,
            "speed_factor": task["speed_factor"] if period == "D" else 1.0,
            "noise": task["noise"],
            "snr_db": round(snr, 2) if task["noise"] else None,
            "rt60": None if task["room"] is None else round(task["room"]["rt60"], 3),
        })
    return rows


# filled in the parent before the pool forks, so the workers share it
_BANK: dict[int, dict[str, np.ndarray]] = {}


def sessions_features(sampling_rate: int):
    import datasets

    string = datasets.Value("string")
    return datasets.Features({
        "audio": datasets.Audio(sampling_rate=sampling_rate),
        "speaker_id": string, "period": string, "split": string, "text": string, "original_text": string,
        "engine": string, "voice": string, "variant": string, "gender": string,
        "unseen_voice": datasets.Value("bool"),
        "duration": datasets.Value("float32"),
        "chronological_index": string, "file_id": string,
        "speed_factor": datasets.Value("float32"),
        "noise": string,
        "snr_db": datasets.Value("float32"),
        "rt60": datasets.Value("float32"),
    })


def build_sessions(
    output: str | None = "data/sessions",
    num_speakers: int | None = None,
    utterances_per_period: int = 4,
    sampling_rate: int = 16000,
    seed: int = 0,
    workers: int | None = None,
    speakers_from: str | None = None,
    splits: tuple[str, ...] = SPLITS,
    unseen_voices: tuple[str, ...] = UNSEEN_VOICES,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    snr_db: tuple[float, float] = SNR_DB,
    reverb_probability: float = 0.5,
    speed_change: tuple[float, float] = SPEED_CHANGE,
    min_words: int = 5,
    max_words: int = 20,
    kinds: tuple[str, ...] = ("fortune", "quotation", "example"),
    progress: bool = True,
    sentences: list[dict] | None = None,
):
    """Synthesize the two-session corpus and (when `output` is given) save it with `save_to_disk`.

    Args:
        output: folder to write, or None to only return the DatasetDict.
        num_speakers: speakers to record; default 100 when planned here, all of them with `speakers_from`
            (a smaller number then takes about that many, keeping each split's share, at least 3 per split,
            and a speaker of every unseen voice).
        utterances_per_period: sentences each speaker reads at B, and again (other sentences) at D.
        sampling_rate: output rate in Hz.
        seed: drives the speakers (without `speakers_from`), sentences, rates, noises and rooms; same seed, same bytes.
        workers: processes (default: all CPUs).
        speakers_from: a `zoo data speech` folder whose speakers and splits to reuse.
        splits: which splits to build.
        unseen_voices: ``"engine:voice"`` keys kept in ``test`` (when planning here).
        validation_fraction, test_fraction: shares of seen-voice speakers held out (when planning here).
        snr_db: range of D's background SNR in dB; None for a clean D (the rate and room still change).
        reverb_probability: chance that a speaker's D session is in a reverberant room.
        speed_change: range of D's relative change of speaking rate (faster or slower, drawn per speaker).
        min_words, max_words, kinds: which sentences of `zoo.data.text` to read.
        progress: show a tqdm bar.
        sentences: the sentence pool (``{"text", "original_text", "source", "kind"}`` dicts); default
            `zoo.data.text.harvest_sentences()`.

    Returns:
        The `datasets.DatasetDict` with the requested splits.
    """
    if utterances_per_period < 1:
        raise ValueError(f"utterances_per_period={utterances_per_period}; use 1 or more (B -> D trials need both periods)")
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise ValueError(f"splits={list(splits)}; choose among {', '.join(SPLITS)}")
    if not 0 <= reverb_probability <= 1:
        raise ValueError(f"reverb_probability={reverb_probability}; give a probability in [0, 1]")
    if not 0 <= speed_change[0] <= speed_change[1] < 1:
        raise ValueError(f"speed_change={speed_change}; give (low, high) relative changes with 0 <= low <= high < 1, e.g. (0.10, 0.15)")
    if speakers_from:
        speakers = speakers_of(speakers_from)
        if num_speakers is not None and num_speakers < len(speakers):
            speakers = _subset(speakers, num_speakers, seed)
    else:
        speakers = plan_speakers(num_speakers or 100, seed=seed, unseen_voices=unseen_voices,
                                 validation_fraction=validation_fraction, test_fraction=test_fraction)
    speakers = [s for s in speakers if s.split in splits]

    pool = [s for s in (harvest_sentences() if sentences is None else sentences)
            if s["kind"] in kinds and min_words <= len(s["text"].split()) <= max_words]
    needed = len(speakers) * 2 * utterances_per_period
    if len(pool) < needed:
        raise ValueError(f"{needed} utterances need as many sentences but only {len(pool)} pass the filter; "
                         "widen min_words/max_words or kinds")
    random.Random(f"session-sentences-{seed}").shuffle(pool)

    _BANK[sampling_rate] = {}
    if snr_db is not None:
        from zoo.data.mixtures import noise_bank

        _BANK[sampling_rate] = noise_bank(sampling_rate)
    noise_names = steady_noises(_BANK[sampling_rate])
    tasks = []
    for number, speaker in enumerate(speakers):
        rng = random.Random(f"sessions-{seed}-{speaker.speaker_id}")
        factor = round(1 + rng.choice((-1, 1)) * rng.uniform(*speed_change), 3)
        for p, period in enumerate(PERIODS):
            first = (2 * number + p) * utterances_per_period
            noisy = period == "D" and bool(noise_names)
            room = None
            if period == "D" and rng.random() < reverb_probability:
                from zoo.data.mixtures import random_room

                room = random_room(rng, 1)
            tasks.append({
                "speaker": asdict(speaker), "period": period, "sampling_rate": sampling_rate, "speed_factor": factor,
                "sentences": pool[first : first + utterances_per_period],
                "noise": rng.choice(noise_names) if noisy else "",
                "snr_db": [rng.uniform(*snr_db) if noisy else 0.0 for _ in range(utterances_per_period)],
                "noise_offsets": [rng.random() for _ in range(utterances_per_period)],
                "room": room,
            })
    rows = [row for session in run_pool(_render_session, tasks, workers, "sessions", progress) for row in session]
    rows_by_split = {split: [r for r in rows if r["split"] == split] for split in splits}
    settings = dict(num_speakers=len(speakers), utterances_per_period=utterances_per_period, sampling_rate=sampling_rate, seed=seed,
                    speakers_from=os.path.basename(os.path.normpath(speakers_from)) if speakers_from else None, splits=list(splits),
                    unseen_voices=list(unseen_voices), validation_fraction=validation_fraction, test_fraction=test_fraction,
                    snr_db=None if snr_db is None else list(snr_db), reverb_probability=reverb_probability,
                    speed_change=list(speed_change), min_words=min_words, max_words=max_words, kinds=list(kinds))
    description = (
        f"zoo two-session synthetic speech (CryCeleb-style periods B and D): {len(speakers)} espeak-ng/flite speakers, "
        f"{sampling_rate} Hz; B clean at the speaker's rate, D other sentences at a rate changed by "
        f"{speed_change[0]:.0%}-{speed_change[1]:.0%} with background noise and sometimes reverb; speaker-disjoint splits. "
        f"Settings: {json.dumps(settings, sort_keys=True)}"
    )
    fingerprint = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    dataset = to_dataset_dict(rows_by_split, sessions_features(sampling_rate), description, fingerprint)
    if output:
        metadata = {"kind": "sessions", "settings": settings, "speakers": [asdict(s) for s in speakers],
                    "summary": summarize(dataset)}
        save_dataset_dict(dataset, output, metadata)
    return dataset
