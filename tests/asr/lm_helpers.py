"""A tiny n-gram LM over the tone model's words, attached to the tone checkpoint (`zoo lm attach`)."""

from pathlib import Path

from zoo.asr.lm import attach_lm
from zoo.asr.ngram import build_ngram_lm

from .tones import TRAIN_TEXTS


def attach_tone_lm(tone_folder: str, folder: Path, texts=TRAIN_TEXTS, alpha: float = 0.5, beta: float = 1.0) -> str:
    """Build a 2-gram ARPA over `texts` and write `folder` / "tone-ctc-lm": the tone checkpoint with that LM."""
    folder.mkdir(parents=True, exist_ok=True)
    arpa = build_ngram_lm(texts, order=2).write_arpa(folder / "tone-2gram.arpa")
    return str(attach_lm(tone_folder, arpa, folder / "tone-ctc-lm", alpha=alpha, beta=beta, command="zoo lm attach (test)"))
