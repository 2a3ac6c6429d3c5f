"""Regenerate the separation Space's example mixtures: 8 kHz wav files under 100 KB each, two with two speakers
and one with three (`3spk_*`, for the 3-speaker tab).

Each mixture is espeak-ng voices saying different sentences, resampled to 8 kHz with soxr, every voice after the
first delayed a little and scaled to a fixed level against the first, then peak-normalised. Every step is
deterministic, so rerunning this gives byte-identical files for a given espeak-ng version.

    python scripts/make_space_examples.py            # writes spaces/separation/examples/*.wav
    python scripts/make_space_examples.py --out DIR

Needs `espeak-ng` (apt-get install espeak-ng).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from zoo.audio import load_audio_native, resample, save_audio

SAMPLING_RATE = 8000  # Hz: the rate of the separation checkpoint
SECONDS = 3.5  # every mixture is cut or zero-padded to this length

# name -> [(voice, words per minute, sentence, delay in s, level in dB against the first voice), ...]
MIXTURES = {
    "mix_male_female": [
        ("en+m3", 150, "The birch canoe slid on the smooth planks of the lake.", 0.0, 0.0),
        ("en+f3", 165, "Glue the sheet to the dark blue background before noon.", 0.25, 0.0),
    ],
    "mix_two_voices": [
        ("en-us+m1", 160, "Four hours of steady work faced us after the storm.", 0.0, 0.0),
        ("en+f4", 175, "A large size in stockings is hard to sell in winter.", 0.4, -2.0),
    ],
    "3spk_three_voices": [
        ("en+m3", 150, "The birch canoe slid on the smooth planks of the lake.", 0.0, 0.0),
        ("en+f4", 170, "A large size in stockings is hard to sell in winter.", 0.3, -1.0),
        ("en-us+m1", 160, "Four hours of steady work faced us after the storm.", 0.6, 0.0),
    ],
}


def speak(voice: str, wpm: int, text: str, workdir: Path) -> np.ndarray:
    """espeak-ng speech as a mono float32 waveform at SAMPLING_RATE."""
    path = workdir / f"{voice.replace('+', '_')}_{wpm}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(path), text], check=True, capture_output=True)
    waveform, sr = load_audio_native(path, name=f"espeak-ng {voice}")
    return resample(waveform, sr, SAMPLING_RATE)


def fit(waveform: np.ndarray, length: int, delay: int = 0) -> np.ndarray:
    out = np.zeros(length, dtype=np.float32)
    piece = waveform[: max(length - delay, 0)]
    out[delay : delay + piece.shape[0]] = piece
    return out


def make_mixture(spec, workdir: Path) -> np.ndarray:
    length = int(SECONDS * SAMPLING_RATE)
    sources = [fit(speak(voice, wpm, text, workdir), length, int(delay * SAMPLING_RATE)) for voice, wpm, text, delay, _ in spec]
    mixture = sources[0].copy()
    for source, (*_, level_db) in zip(sources[1:], spec[1:]):
        # each source's energy is set against the first's, so the balance does not depend on the voice
        gain = np.sqrt((sources[0] ** 2).sum() / max(float((source**2).sum()), 1e-10)) * 10 ** (level_db / 20)
        mixture += gain * source
    return (mixture / np.abs(mixture).max() * 0.9).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    default_out = Path(__file__).resolve().parent.parent / "spaces" / "separation" / "examples"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_out, help=f"output folder (default: {default_out})")
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("make_space_examples: espeak-ng is not installed; run `apt-get install espeak-ng`", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in MIXTURES.items():
            path = args.out / f"{name}.wav"
            save_audio(path, make_mixture(spec, Path(tmp)), SAMPLING_RATE)
            print(f"{path}  {path.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
