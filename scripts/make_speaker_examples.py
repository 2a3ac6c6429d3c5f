"""Regenerate the speaker-verification Space's examples from a zoo speech corpus's test split (unseen voices only).

Writes, into spaces/speaker-verification/examples/:

- `<voice>_1.flac`, `<voice>_2.flac`: two utterances (different sentences) of each of NUM_VOICES test speakers
  whose voice was never used in training (`unseen_voice` rows: espeak-ng en-029 and flite rms), half from
  each engine. They are the Enroll / Verify examples and, all together, the Space's bundled verification trials.
- `conversation.flac`: a CONVERSATION_SPEAKERS-speaker conversation made of other utterances of some of those
  voices, taking turns with short pauses and one short overlap, for the Diarization tab.
- `examples.json`: per clip its file, a short display name, the corpus `speaker_id`, row `id` and text; the
  conversation's ground-truth segments `[{speaker, start, end}]` in seconds.

Every choice is a fixed rule on sorted ids, so a given corpus always gives the same files. Total under 1.5 MB
(16 kHz FLAC, clips of MIN_SECONDS..MAX_SECONDS).

    python scripts/make_speaker_examples.py                      # from data/speech-200
    python scripts/make_speaker_examples.py --corpus data/speech --out /tmp/examples
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLING_RATE = 16000
NUM_VOICES = 10  # half espeak-ng en-029, half flite rms
MIN_SECONDS, MAX_SECONDS = 1.8, 2.6  # whole utterances in this range: no sentence cut mid-word
CONVERSATION_SPEAKERS = 3
CONVERSATION_TURNS = 6
PAUSE_SECONDS = 0.3
OVERLAP_SECONDS = 0.4  # the fourth turn starts this much before the third ends
MAX_TOTAL_BYTES = 1_500_000


def display_name(row: dict) -> str:
    """A short readable name from the speaker id: 'en-029 Alicia p25 f (espeak)', 'rms f111 (flite)'."""
    detail = row["speaker_id"].removeprefix(f"{row['engine']}_{row['voice']}_").replace("_", " ")
    if row["engine"] == "flite":
        return f"{row['voice']} {detail} (flite)"
    return f"{row['voice']} {detail} {row['gender'][0]} (espeak)"


def file_stem(row: dict) -> str:
    return row["speaker_id"].replace(".", "")


def pick_voices(rows: list[dict]) -> list[str]:
    """NUM_VOICES unseen-voice speakers, evenly spaced through each engine's sorted speaker ids: an equal share per
    engine, and what an engine with fewer speakers cannot give taken from the others."""
    by_engine = {engine: sorted({row["speaker_id"] for row in rows if row["engine"] == engine})
                 for engine in sorted({row["engine"] for row in rows})}
    quota = {engine: 0 for engine in by_engine}
    while sum(quota.values()) < min(NUM_VOICES, sum(map(len, by_engine.values()))):
        open_engines = [e for e in by_engine if quota[e] < len(by_engine[e])]
        quota[min(open_engines, key=lambda e: quota[e])] += 1  # the engine with the fewest so far, in sorted order
    chosen = []
    for engine, speakers in by_engine.items():
        positions = np.linspace(0, len(speakers) - 1, quota[engine]).round().astype(int)
        chosen += [speakers[i] for i in dict.fromkeys(positions.tolist())]
    return chosen


def utterances(rows: list[dict], speaker: str) -> list[dict]:
    """The speaker's utterances within MIN_SECONDS..MAX_SECONDS, by row id."""
    fitting = [r for r in rows if r["speaker_id"] == speaker and MIN_SECONDS <= r["duration"] <= MAX_SECONDS]
    return sorted(fitting, key=lambda r: r["id"])


def conversation(turns: list[tuple[str, np.ndarray]]) -> tuple[np.ndarray, list[dict]]:
    """Turns laid end to end with PAUSE_SECONDS between them, the fourth overlapping the third by OVERLAP_SECONDS."""
    pause, overlap = int(PAUSE_SECONDS * SAMPLING_RATE), int(OVERLAP_SECONDS * SAMPLING_RATE)
    starts, cursor = [], 0
    for index, (_, audio) in enumerate(turns):
        start = cursor - overlap if index == 3 else cursor + (pause if index else 0)
        starts.append(start)
        cursor = start + audio.shape[0]
    mixed = np.zeros(cursor + pause, dtype=np.float32)
    segments = []
    for (name, audio), start in zip(turns, starts, strict=True):
        mixed[start : start + audio.shape[0]] += audio
        end = start + audio.shape[0]
        segments.append({"speaker": name, "start": round(start / SAMPLING_RATE, 3), "end": round(end / SAMPLING_RATE, 3)})
    return mixed, segments


def main(argv: list[str] | None = None) -> int:
    default_out = REPO_ROOT / "spaces" / "speaker-verification" / "examples"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(REPO_ROOT / "data" / "speech-200"), help="a `zoo data speech` folder")
    parser.add_argument("--out", type=Path, default=default_out, help=f"output folder (default: {default_out})")
    args = parser.parse_args(argv)

    from zoo.audio import load_audio, save_audio
    from zoo.data.hub import load_corpus

    try:
        test = load_corpus(args.corpus, split="test")
    except (FileNotFoundError, ValueError) as err:
        print(f"make_speaker_examples: cannot load {args.corpus!r} ({err}); build it with `zoo data speech`",
              file=sys.stderr)
        return 1
    if "unseen_voice" not in test.column_names:
        print(f"make_speaker_examples: {args.corpus!r} has no unseen_voice column; pass a `zoo data speech` corpus",
              file=sys.stderr)
        return 1
    columns = ["id", "speaker_id", "engine", "voice", "variant", "gender", "duration", "text", "unseen_voice"]
    rows = [dict(zip(columns, values, strict=True)) for values in zip(*(test[c] for c in columns), strict=True)]
    index_of = {row["id"]: i for i, row in enumerate(rows)}
    rows = [row for row in rows if row["unseen_voice"]]
    enough = {row["speaker_id"] for row in rows if len(utterances(rows, row["speaker_id"])) >= 3}
    voices = pick_voices([row for row in rows if row["speaker_id"] in enough])
    if len(voices) < CONVERSATION_SPEAKERS:
        print(f"make_speaker_examples: only {len(voices)} unseen voices with 3 utterances of "
              f"{MIN_SECONDS}-{MAX_SECONDS} s in {args.corpus!r}; need {CONVERSATION_SPEAKERS}", file=sys.stderr)
        return 1

    def audio_of(row: dict) -> np.ndarray:
        return load_audio(test[index_of[row["id"]]]["audio"], SAMPLING_RATE, name=row["id"])

    args.out.mkdir(parents=True, exist_ok=True)
    for old in list(args.out.glob("*.flac")) + list(args.out.glob("*.wav")):
        old.unlink()
    manifest = {"corpus": Path(args.corpus).name, "sampling_rate": SAMPLING_RATE, "clips": [], "conversation": None}
    for voice in voices:
        for take, row in enumerate(utterances(rows, voice)[:2], start=1):
            path = args.out / f"{file_stem(row)}_{take}.flac"
            save_audio(path, audio_of(row), SAMPLING_RATE)
            clip = {"file": path.name, "name": display_name(row), "speaker_id": voice, "id": row["id"], "text": row["text"]}
            manifest["clips"].append(clip)

    # the conversation: first espeak voice, first flite voice, second espeak voice, taking turns A B C B A C
    by_engine = {}
    for voice in voices:
        by_engine.setdefault(next(r["engine"] for r in rows if r["speaker_id"] == voice), []).append(voice)
    ordered = [v for group in zip(*by_engine.values()) for v in group][:CONVERSATION_SPEAKERS]
    names = {v: f"speaker {chr(ord('A') + i)}" for i, v in enumerate(ordered)}
    spare = {v: utterances(rows, v)[2:] for v in ordered}  # not the enrollment / verify clips
    pattern = [0, 1, 2, 1, 0, 2][:CONVERSATION_TURNS]
    used = {v: 0 for v in ordered}
    turns = []
    for index in pattern:
        voice = ordered[index]
        row = spare[voice][used[voice] % len(spare[voice])]
        used[voice] += 1
        turns.append((names[voice], audio_of(row)))
    mixed, segments = conversation(turns)
    save_audio(args.out / "conversation.flac", mixed, SAMPLING_RATE)
    first_row = {v: next(r for r in rows if r["speaker_id"] == v) for v in ordered}
    manifest["conversation"] = {
        "file": "conversation.flac",
        "speakers": {names[v]: {"speaker_id": v, "name": display_name(first_row[v])} for v in ordered},
        "segments": segments,
    }
    (args.out / "examples.json").write_text(json.dumps(manifest, indent=1) + "\n")

    total = sum(path.stat().st_size for path in args.out.iterdir())
    for path in sorted(args.out.iterdir()):
        print(f"{path}  {path.stat().st_size / 1024:.0f} KB")
    print(f"{len(manifest['clips'])} clips of {len(voices)} voices + a {len(ordered)}-speaker conversation "
          f"({mixed.shape[0] / SAMPLING_RATE:.1f} s); {total / 1e6:.2f} MB in all")
    if total > MAX_TOTAL_BYTES:
        print(f"make_speaker_examples: {total} bytes is over the {MAX_TOTAL_BYTES} budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
