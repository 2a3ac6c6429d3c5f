"""Synthetic conversations with ground-truth "who spoke when", for diarization tests and scoring.

Each conversation takes 2-4 speakers of one split of a `zoo data speech` corpus (the ``test`` split by default,
so the speakers are unseen by models trained on that corpus) and strings their utterances into turns:

- the first turns give every speaker the floor once, in random order; later each turn goes to a random
  speaker other than the one who just spoke, reading one of their utterances (none repeated within a
  conversation while that speaker has unused ones); a turn that would run past `seconds` is skipped for the
  next planned one that fits, so conversations fill up and every speaker gets a turn when one fits;
- between turns a pause of `pause` seconds (default 0.2-1.0 s); with probability `overlap` a turn instead
  starts *before* the previous speech ends, overlapping it by 0.2-1.5 s (at most half of either turn, so
  never more than two people talk at once);
- each speaker gets a level offset of -3..+3 dB for the whole conversation;
- optionally a steady background from `zoo.data.mixtures.noise_bank` at `snr` dB (speech power measured while
  someone speaks; each split uses only its own part of every noise).

A conversation is at most `seconds` long: turns are added while they fit. ``num_speakers`` counts the speakers who
actually speak (fewer than drawn only when `seconds` is too short for everyone's utterances).

Reference segments: each utterance's speech is found by energy (10 ms frames within 40 dB of its loudest
frame), pauses shorter than `min_pause` (0.5 s) inside it are bridged, and every stretch becomes one segment.
``segments`` is a list of ``{"speaker": str, "start": float, "end": float}`` in seconds from the start of
the audio, sorted by start, with the corpus's ``speaker_id`` as the label (labels only need to be consistent
within a conversation). This is the form the diarization pipeline outputs and `zoo.diarization.rttm` writes
as RTTM.

Columns: ``audio`` (Audio, FLAC bytes embedded, mono), ``segments``, ``num_speakers``, ``speaker_ids`` (in order
of first turn), ``num_turns``, ``overlap_ratio`` (share of speech time with two speakers), ``duration``,
``snr_db`` (null when clean), ``noise`` (noise name or ``""``), ``source_ids`` (utterance ids, in turn order),
``id``. Waveforms are `(time,)` float32 while processed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random

import numpy as np

from zoo.audio import load_audio
from zoo.data.speech import encode_audio, run_pool, save_dataset_dict, summarize, to_dataset_dict

PAUSE = (0.2, 1.0)  # seconds of silence between turns
OVERLAP_SECONDS = (0.2, 1.5)  # how far an overlapping turn reaches back into the previous one
LEVEL_DB = (-3.0, 3.0)  # per-speaker level offset within a conversation
FRAME = 0.01  # seconds; resolution of the speech detection and overlap ratio
CLIP_PEAK = 0.99


def speech_regions(wave: np.ndarray, sampling_rate: int, threshold_db: float = 40.0, min_pause: float = 0.5,
                   min_speech: float = 0.05) -> list[tuple[float, float]]:
    """Stretches of speech in a clean utterance, as ``(start, end)`` seconds.

    Args:
        wave: `(time,)` waveform of one speaker, without background noise.
        sampling_rate: Hz.
        threshold_db: a 10 ms frame is speech when within this many dB of the loudest frame.
        min_pause: silences shorter than this (seconds) are bridged.
        min_speech: stretches shorter than this (seconds) are dropped.

    >>> sr = 16000
    >>> wave = np.concatenate([np.zeros(1600), np.ones(8000), np.zeros(16000), np.ones(4800), np.zeros(1600)])
    >>> speech_regions(wave, sr)
    [(0.1, 0.6), (1.6, 1.9)]
    >>> speech_regions(wave, sr, min_pause=2.0)
    [(0.1, 1.9)]
    """
    hop = max(1, round(FRAME * sampling_rate))
    frames = len(wave) // hop
    if frames == 0:
        return []
    energy = np.sqrt((np.asarray(wave[: frames * hop], dtype=np.float64).reshape(frames, hop) ** 2).mean(axis=1))
    if energy.max() <= 0:
        return []
    active = energy > energy.max() * 10 ** (-threshold_db / 20)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    regions = [[int(s), int(e)] for s, e in zip(edges[::2], edges[1::2])]  # frame indices, end exclusive
    merged: list[list[int]] = []
    for start, end in regions:
        if merged and (start - merged[-1][1]) * FRAME < min_pause:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return [(round(s * hop / sampling_rate, 3), round(e * hop / sampling_rate, 3)) for s, e in merged
            if (e - s) * FRAME >= min_speech]


def overlap_ratio(segments: list[dict], duration: float) -> float:
    """Share of speech time (any speaker) during which two or more speakers talk, on a 10 ms grid.

    >>> overlap_ratio([{"speaker": "a", "start": 0.0, "end": 2.0}, {"speaker": "b", "start": 1.5, "end": 3.0}], 3.0)
    0.1667
    """
    frames = int(np.ceil(duration / FRAME)) + 1
    speakers = sorted({s["speaker"] for s in segments})
    grid = np.zeros((len(speakers), frames), dtype=bool)  # (speakers, frames)
    for segment in segments:
        grid[speakers.index(segment["speaker"]), round(segment["start"] / FRAME) : round(segment["end"] / FRAME)] = True
    count = grid.sum(axis=0)
    speech = int((count > 0).sum())
    return round(float((count > 1).sum() / speech), 4) if speech else 0.0


def _render_conversation(task: dict) -> dict:
    sr = task["sampling_rate"]
    rng = random.Random(task["rng"])
    gains = {speaker: 10 ** (rng.uniform(*LEVEL_DB) / 20) for speaker in task["speaker_ids"]}
    length = int(task["seconds"] * sr)
    speech = np.zeros(length)
    segments: list[dict] = []
    floor_end = last_start = None
    turns: list[tuple[str, str]] = []
    decoded: dict[int, tuple[np.ndarray, list]] = {}
    pending = list(range(len(task["turns"])))

    def utterance(k: int) -> tuple[np.ndarray, list]:
        if k not in decoded:
            wave = load_audio(task["turns"][k][2], sr).astype(np.float64)
            decoded[k] = (wave, speech_regions(wave, sr, min_pause=task["min_pause"]))
        return decoded[k]

    while pending:
        # one draw per turn whichever utterance takes it, so a skipped candidate does not shift later draws
        lead, gap, overlaps, depth = rng.uniform(0.2, 0.8), rng.uniform(*task["pause"]), rng.random() < task["overlap"], rng.random()
        spoken = {speaker for speaker, _ in turns}
        previous = turns[-1][0] if turns else None
        # the planned order, but speakers yet to speak first, and skipping turns that would run past `seconds`
        candidates = sorted((k for k in pending if task["turns"][k][0] != previous), key=lambda k: (task["turns"][k][0] in spoken, k))
        chosen = None
        for k in candidates:
            wave, regions = utterance(k)
            if not regions:
                pending.remove(k)  # a silent utterance has nothing to say
                continue
            first, last = regions[0][0], regions[-1][1]
            if floor_end is None:
                start = max(first, lead)
            else:
                start = floor_end + gap
                # reach back at most half of this turn and half of the previous one: never three voices at once
                reach = min(OVERLAP_SECONDS[1], 0.5 * (last - first), 0.5 * (floor_end - last_start))
                if overlaps and reach >= OVERLAP_SECONDS[0]:
                    start = floor_end - (OVERLAP_SECONDS[0] + depth * (reach - OVERLAP_SECONDS[0]))
            offset = start - first  # where the utterance file begins
            if offset + len(wave) / sr <= task["seconds"]:  # trailing margin included
                chosen = k
                break
        if chosen is None:
            break
        pending.remove(chosen)
        speaker, source_id, _ = task["turns"][chosen]
        begin = round(offset * sr)
        speech[begin : begin + len(wave)] += wave * gains[speaker]
        segments += [{"speaker": speaker, "start": round(offset + s, 3), "end": round(offset + e, 3)} for s, e in regions]
        floor_end = max(floor_end or 0.0, offset + last)
        last_start = start
        turns.append((speaker, source_id))
    if not turns:
        raise ValueError(f"seconds={task['seconds']} is shorter than the first utterance of conversation {task['id']}; "
                         "give --seconds longer than the corpus's utterances (e.g. 30)")
    end = min(length, round((floor_end + rng.uniform(0.3, 1.0)) * sr))
    speech = speech[:end]
    noise_name, snr = "", None
    if task["snr"] is not None:
        from zoo.data.mixtures import noise_segment
        from zoo.data.sessions import steady_noises

        noise_name = rng.choice(steady_noises(_BANK[sr]))
        noise = noise_segment(_BANK[sr], noise_name, task["split"], len(speech), rng.random()).astype(np.float64)
        active = np.zeros(len(speech), dtype=bool)
        for segment in segments:
            active[int(segment["start"] * sr) : int(segment["end"] * sr)] = True
        speech_rms = np.sqrt(np.mean(speech[active] ** 2))
        speech = speech + noise * speech_rms / (np.sqrt(np.mean(noise**2)) + 1e-12) * 10 ** (-task["snr"] / 20)
        snr = float(task["snr"])
    peak = float(np.abs(speech).max())
    if peak > CLIP_PEAK:
        speech *= CLIP_PEAK / peak
    segments.sort(key=lambda s: (s["start"], s["end"], s["speaker"]))
    present = list(dict.fromkeys(speaker for speaker, _ in turns))
    duration = round(len(speech) / sr, 4)
    return {
        "audio": {"bytes": encode_audio(speech.astype(np.float32), sr, "flac"), "path": f"{task['id']}.flac"},
        "segments": segments,
        "num_speakers": len(present),
        "speaker_ids": present,
        "num_turns": len(turns),
        "overlap_ratio": overlap_ratio(segments, duration),
        "duration": duration,
        "snr_db": snr,
        "noise": noise_name,
        "source_ids": [source_id for _, source_id in turns],
        "id": task["id"],
    }


# filled in the parent before the pool forks, so the workers share it
_BANK: dict[int, dict[str, np.ndarray]] = {}


def conversation_features(sampling_rate: int):
    import datasets

    return datasets.Features({
        "audio": datasets.Audio(sampling_rate=sampling_rate),
        "segments": [{"speaker": datasets.Value("string"), "start": datasets.Value("float64"), "end": datasets.Value("float64")}],
        "num_speakers": datasets.Value("int32"),
        "speaker_ids": datasets.Sequence(datasets.Value("string")),
        "num_turns": datasets.Value("int32"),
        "overlap_ratio": datasets.Value("float32"),
        "duration": datasets.Value("float32"),
        "snr_db": datasets.Value("float32"),
        "noise": datasets.Value("string"),
        "source_ids": datasets.Sequence(datasets.Value("string")),
        "id": datasets.Value("string"),
    })


def _plan_turns(rng: random.Random, speakers: list[str], rows_of: dict[str, list[int]], durations: list[float],
                seconds: float) -> list[tuple[str, int]]:
    """A turn order (speaker, row) whose utterances add up to more than `seconds`: every speaker once first,
    then random speakers other than the previous one, each cycling through its shuffled utterances."""
    queues = {s: [] for s in speakers}

    def take(speaker: str) -> int:
        if not queues[speaker]:
            queues[speaker] = list(rows_of[speaker])
            rng.shuffle(queues[speaker])
        return queues[speaker].pop()

    order = list(speakers)
    rng.shuffle(order)
    turns = [(s, take(s)) for s in order]
    total = sum(durations[row] for _, row in turns)
    while total < seconds + 10.0:  # a margin: overlaps shorten, and some turns are dropped at the end
        speaker = rng.choice([s for s in speakers if s != turns[-1][0]])
        turns.append((speaker, take(speaker)))
        total += durations[turns[-1][1]]
    return turns


def build_conversations(
    speech="data/speech",
    output: str | None = "data/conversations",
    splits: tuple[str, ...] = ("test",),
    num_conversations: int = 40,
    min_speakers: int = 2,
    max_speakers: int = 4,
    seconds: float = 60.0,
    overlap: float = 0.2,
    snr: float | None = None,
    pause: tuple[float, float] = PAUSE,
    min_pause: float = 0.5,
    sampling_rate: int = 16000,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
):
    """Build conversations from a speech corpus and (when `output` is given) save them with `save_to_disk`.

    Args:
        speech: folder written by `zoo data speech`, or its DatasetDict.
        output: folder to write, or None to only return the DatasetDict.
        splits: speech splits to draw speakers from; one output split each, of the same name.
        num_conversations: conversations per split.
        min_speakers, max_speakers: speakers per conversation, drawn uniformly in this range.
        seconds: longest conversation; turns are added while they fit.
        overlap: probability that a turn starts before the previous speech ends.
        snr: background noise at this SNR in dB (speech measured while someone speaks); None for clean.
        pause: range of silences between non-overlapping turns, in seconds.
        min_pause: silences inside an utterance shorter than this are part of one reference segment.
        sampling_rate: output rate in Hz.
        seed: drives everything; same seed, same bytes.
        workers: processes (default: all CPUs).
        progress: show a tqdm bar.

    Returns:
        The `datasets.DatasetDict` with one split per entry of `splits`.
    """
    import datasets

    from zoo.data.mixtures import _load_speech

    if not 1 <= min_speakers <= max_speakers:
        raise ValueError(f"min_speakers={min_speakers}, max_speakers={max_speakers}; need 1 <= min_speakers <= max_speakers")
    if not 0 <= overlap <= 1:
        raise ValueError(f"overlap={overlap}; give the probability (0-1) that a turn overlaps the previous one")
    if seconds <= 0 or num_conversations < 1:
        raise ValueError(f"seconds={seconds}, num_conversations={num_conversations}; both must be positive")
    if not 0 <= pause[0] <= pause[1]:
        raise ValueError(f"pause={pause}; give (shortest, longest) seconds with 0 <= shortest <= longest")
    corpus = _load_speech(speech)
    missing = [s for s in splits if s not in corpus]
    if missing or not splits:
        raise ValueError(f"speech corpus has no split(s) {missing or list(splits)}; it has {list(corpus)}")
    if snr is not None:
        from zoo.data.mixtures import noise_bank

        _BANK[sampling_rate] = noise_bank(sampling_rate)
    tasks = []
    for split in splits:
        table = corpus[split].cast_column("audio", datasets.Audio(decode=False))
        speaker_of, durations, ids = table["speaker_id"], table["duration"], table["id"]
        rows_of: dict[str, list[int]] = {}
        for row, speaker in enumerate(speaker_of):
            rows_of.setdefault(speaker, []).append(row)
        available = sorted(rows_of)
        if len(available) < min_speakers:
            raise ValueError(f"split {split!r} has {len(available)} speakers; conversations of {min_speakers}+ speakers need more "
                             "(lower --min-speakers or use a bigger split)")
        audio_column = table.select_columns(["audio"])
        for number in range(num_conversations):
            rng = random.Random(f"conversation-{seed}-{split}-{number}")
            count = rng.randint(min_speakers, min(max_speakers, len(available)))
            speakers = rng.sample(available, count)
            turns = _plan_turns(rng, speakers, rows_of, durations, seconds)
            conversation_id = f"{split}-{number:04d}"
            tasks.append({
                "id": conversation_id, "split": split, "sampling_rate": sampling_rate, "seconds": seconds,
                "speaker_ids": speakers, "overlap": overlap, "pause": tuple(pause), "min_pause": min_pause,
                "snr": snr, "rng": f"render-{seed}-{conversation_id}",
                "turns": [(speaker, ids[row], audio_column[row]["audio"]) for speaker, row in turns],
            })
    rows = run_pool(_render_conversation, tasks, workers, "conversations", progress)
    rows_by_split = {split: [r for r in rows if r["id"].rsplit("-", 1)[0] == split] for split in splits}
    settings = dict(splits=list(splits), num_conversations=num_conversations, min_speakers=min_speakers, max_speakers=max_speakers,
                    seconds=seconds, overlap=overlap, snr=snr, pause=list(pause), min_pause=min_pause, sampling_rate=sampling_rate,
                    seed=seed, speech_description=corpus[splits[0]].info.description)
    description = (
        f"zoo synthetic conversations of {min_speakers}-{max_speakers} speakers, at most {seconds:g} s, {sampling_rate} Hz, from the "
        f"{'/'.join(splits)} split(s) of a zoo speech corpus; turn overlap probability {overlap}, "
        f"{'clean' if snr is None else f'background noise at {snr:g} dB SNR'}; `segments` hold the reference "
        f"[{{speaker, start, end}}] in seconds. Settings: {json.dumps(settings, sort_keys=True)}"
    )
    fingerprint = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    dataset = to_dataset_dict(rows_by_split, conversation_features(sampling_rate), description, fingerprint)
    if output:
        metadata = {"kind": "conversations", "settings": {k: v for k, v in settings.items() if k != "speech_description"},
                    "speech": os.fspath(speech) if isinstance(speech, (str, os.PathLike)) else None,
                    "summary": summarize(dataset)}
        save_dataset_dict(dataset, output, metadata)
    return dataset
