"""What speech recognizers say where nobody speaks: digital silence and the noise bank's noises, no speech in any.

A recognizer should say nothing there; every word it gives is an insertion. Each checkpoint transcribes the same
clips through transformers' stock `pipeline("automatic-speech-recognition")` (greedy CTC, or beam search with the
folder's n-gram when it carries one), pocketsphinx too with `--peer pocketsphinx`:

- digital silence, 1, 3 and 6 s;
- every noise of `zoo.data.mixtures.noise_bank` (synthetic sox noises and General MIDI sounds), 4 s from its test
  part (never heard in training), at -50, -35 and -20 dBFS.

    python scripts/asr_no_speech.py checkpoints/ctc-conformer-zoo-16k-stage9 checkpoints/ctc-conformer-zoo-16k-lm --peer pocketsphinx

prints, per system, the share of clips with any word, the words per clip and what it says on digital silence, then a
few of its outputs; `--write-cards` puts the table into each checkpoint's card (section "asr-no-speech").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

RATE = 16000
SECTION = "asr-no-speech"
SILENCE_SECONDS = (1.0, 3.0, 6.0)
NOISE_SECONDS = 4.0
NOISE_DBFS = (-50.0, -35.0, -20.0)


def no_speech_clips(rate: int = RATE) -> list[tuple[str, np.ndarray]]:
    """`(name, (time,) float32)` clips with no speech in them: digital silence, and bank noises at set levels."""
    from zoo.data.mixtures import noise_bank, noise_segment
    from zoo.data.speech import normalize_level

    clips = [(f"silence {s:g} s", np.zeros(int(s * rate), dtype=np.float32)) for s in SILENCE_SECONDS]
    bank = noise_bank(rate)
    for name in sorted(bank):
        noise = noise_segment(bank, name, "test", int(NOISE_SECONDS * rate), 0.0)
        for level in NOISE_DBFS:
            clips.append((f"{name} {level:g} dBFS", normalize_level(noise, level, peak=float("inf"))))
    return clips


def transcribe(system: str, clips: list) -> list[str]:
    from zoo.asr.processing_asr import normalize_text

    if system == "pocketsphinx":
        from pocketsphinx import Decoder

        from zoo.evaluate import pocketsphinx_transcribe

        decoder = Decoder(samprate=RATE)
        return [normalize_text(pocketsphinx_transcribe(wave, RATE, decoder)) for _, wave in clips]
    from transformers import pipeline

    recognizer = pipeline("automatic-speech-recognition", model=system, device="cpu")
    return [normalize_text(out["text"]) for out in recognizer([{"raw": w, "sampling_rate": RATE} for _, w in clips], batch_size=8)]


def summarize(texts: list[str]) -> dict:
    words = [len(text.split()) for text in texts]
    return {"clips": len(texts), "clips_with_words": round(sum(w > 0 for w in words) / len(texts), 3), "words_per_clip": round(float(np.mean(words)), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="ASR checkpoint folders (or Hub ids)")
    parser.add_argument("--peer", choices=["pocketsphinx"], help="also transcribe the clips with this peer")
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--write-cards", action="store_true", help=f"put the table into each checkpoint's card (section '{SECTION}')")
    args = parser.parse_args(argv)

    import zoo  # noqa: F401  (registers the zoo's models with the Auto classes)

    clips = no_speech_clips()
    results = {}
    for system in args.checkpoints + ([args.peer] if args.peer else []):
        texts = transcribe(system, clips)
        name = Path(system).name if system != "pocketsphinx" else system
        results[name] = summarize(texts)
        said = [(clip, text) for (clip, _), text in zip(clips, texts) if text]
        results[name]["examples"] = [f"{clip}: {text!r}" for clip, text in said[:4]]
        silent = [text for (clip, _), text in zip(clips, texts) if clip.startswith("silence")]
        results[name]["on digital silence"] = silent
    noises = (len(clips) - len(SILENCE_SECONDS)) // len(NOISE_DBFS)
    command = "python scripts/asr_no_speech.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        "### Where nobody speaks",
        "",
        f"Every word is an insertion here: {len(clips)} clips with no speech, digital silence of "
        f"{', '.join(f'{s:g}' for s in SILENCE_SECONDS)} s and {noises} noises of the zoo's noise bank (sox noises, General "
        f"MIDI sounds; {NOISE_SECONDS:g} s from the part never used in training) at {', '.join(f'{d:g}' for d in NOISE_DBFS)} "
        f"dBFS, each through the stock `pipeline(\"automatic-speech-recognition\")`. Measured by `{command}`.",
        "",
        "| System | Clips with any word | Words per clip | On digital silence (1 / 3 / 6 s) |",
        "|---|---|---|---|",
    ]
    for name, result in results.items():
        said = " / ".join(f"\"{t}\"" for t in result["on digital silence"])
        lines.append(f"| {name} | {result['clips_with_words']:.3f} | {result['words_per_clip']:.2f} | {said} |")
    table = "\n".join(lines)
    print(table)
    for name, result in results.items():
        for example in result["examples"]:
            print(f"  {name}: {example}")
    if args.write_cards:
        from zoo.hub import update_card_section

        for checkpoint in args.checkpoints:
            update_card_section(checkpoint, SECTION, table)
            print(f"table written into {Path(checkpoint) / 'README.md'}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
