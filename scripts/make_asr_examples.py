"""Regenerate the ASR Space's examples from a zoo speech corpus's test split (unseen voices only).

Writes, into spaces/asr/examples/:

- `<speaker_id>.flac`: one utterance of each of NUM_EXAMPLES test speakers whose voice no model heard in training
  (`unseen_voice` rows: espeak-ng en-029 and flite rms), half from each engine, 16 kHz mono FLAC.
- `examples.json`: per clip its file, a short display name, the corpus `speaker_id`, row `id`, the corpus text
  (`original_text`, as written) and the reference `text` the Space scores against: the corpus transcript passed
  through `zoo.asr.processing_asr.normalize_text`, the normalisation the recognizers are trained and evaluated on.

Every choice is a fixed rule on sorted ids (never on how well a model does), so a given corpus always gives the
same files. Total under MAX_TOTAL_BYTES.

    python scripts/make_asr_examples.py                      # from data/speech-200
    python scripts/make_asr_examples.py --corpus data/speech --out /tmp/asr-examples
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLING_RATE = 16000
NUM_EXAMPLES = 4  # half espeak-ng en-029, half flite rms
MIN_SECONDS, MAX_SECONDS = 2.5, 5.0  # a sentence or two: long enough to read, short enough to try quickly
MIN_WORDS = 5  # a WER over fewer words jumps in steps too big to say anything
MAX_TOTAL_BYTES = 600_000


def display_name(row: dict) -> str:
    """A short readable label from the speaker id: 'espeak-ng en-029 f4 p55 (female)', 'flite rms f111 (male)'."""
    detail = row["speaker_id"].removeprefix(f"{row['engine']}_{row['voice']}_").replace("_", " ")
    return f"{'espeak-ng' if row['engine'] == 'espeak' else row['engine']} {row['voice']} {detail} ({row['gender']})"


def pick_speakers(rows: list[dict]) -> list[str]:
    """NUM_EXAMPLES speakers, evenly spaced through each engine's sorted speaker ids (engines in sorted order)."""
    chosen = []
    engines = sorted({row["engine"] for row in rows})
    per_engine = max(NUM_EXAMPLES // max(len(engines), 1), 1)
    for engine in engines:
        speakers = sorted({row["speaker_id"] for row in rows if row["engine"] == engine})
        positions = np.linspace(0, len(speakers) - 1, min(per_engine, len(speakers))).round().astype(int)
        chosen += [speakers[i] for i in dict.fromkeys(positions.tolist())]
    return chosen


def first_fitting(rows: list[dict], speaker: str, normalize) -> dict | None:
    """The speaker's first utterance by row id of MIN_SECONDS..MAX_SECONDS with MIN_WORDS or more words."""
    fitting = [
        r for r in rows
        if r["speaker_id"] == speaker and MIN_SECONDS <= r["duration"] <= MAX_SECONDS and len(normalize(r["text"]).split()) >= MIN_WORDS
    ]
    return min(fitting, key=lambda r: r["id"]) if fitting else None


def main(argv: list[str] | None = None) -> int:
    default_out = REPO_ROOT / "spaces" / "asr" / "examples"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(REPO_ROOT / "data" / "speech-200"), help="a `zoo data speech` folder")
    parser.add_argument("--out", type=Path, default=default_out, help=f"output folder (default: {default_out})")
    args = parser.parse_args(argv)

    from zoo.asr.processing_asr import normalize_text
    from zoo.audio import load_audio, save_audio
    from zoo.data.hub import load_corpus

    try:
        test = load_corpus(args.corpus, split="test")
    except (FileNotFoundError, ValueError) as err:
        print(f"make_asr_examples: cannot load {args.corpus!r} ({err}); build it with `zoo data speech`", file=sys.stderr)
        return 1
    columns = ["id", "speaker_id", "engine", "voice", "variant", "gender", "duration", "text", "original_text", "unseen_voice"]
    missing = [c for c in columns if c not in test.column_names]
    if missing:
        print(f"make_asr_examples: {args.corpus!r} has no {', '.join(missing)} column(s); pass a `zoo data speech` corpus",
              file=sys.stderr)
        return 1
    rows = [dict(zip(columns, values, strict=True)) for values in zip(*(test[c] for c in columns), strict=True)]
    index_of = {row["id"]: i for i, row in enumerate(rows)}
    unseen = [row for row in rows if row["unseen_voice"]]
    picked = [row for row in (first_fitting(unseen, s, normalize_text) for s in pick_speakers(unseen)) if row is not None]
    if not picked:
        print(f"make_asr_examples: no unseen-voice utterance of {MIN_SECONDS}-{MAX_SECONDS} s in {args.corpus!r}",
              file=sys.stderr)
        return 1

    args.out.mkdir(parents=True, exist_ok=True)
    for old in list(args.out.glob("*.flac")) + list(args.out.glob("*.wav")):
        old.unlink()
    manifest = {"corpus": Path(args.corpus).name, "split": "test", "sampling_rate": SAMPLING_RATE, "clips": []}
    for row in picked:
        path = args.out / f"{row['speaker_id'].replace('.', '')}.flac"
        save_audio(path, load_audio(test[index_of[row["id"]]]["audio"], SAMPLING_RATE, name=row["id"]), SAMPLING_RATE)
        manifest["clips"].append({
            "file": path.name,
            "name": display_name(row),
            "speaker_id": row["speaker_id"],
            "id": row["id"],
            "original_text": row["original_text"],
            "text": normalize_text(row["text"]),
        })
    (args.out / "examples.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")

    total = sum(path.stat().st_size for path in args.out.iterdir())
    for path in sorted(args.out.iterdir()):
        print(f"{path}  {path.stat().st_size / 1024:.0f} KB")
    print(f"{len(picked)} clips of unseen voices; {total / 1e6:.2f} MB in all")
    if total > MAX_TOTAL_BYTES:
        print(f"make_asr_examples: {total} bytes is over the {MAX_TOTAL_BYTES} budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
