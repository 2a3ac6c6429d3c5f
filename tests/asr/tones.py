"""Tone "speech" for ASR tests: every character is a 120 ms tone of its own pitch, then 40 ms of silence.

A tiny CTC Conformer learns to read it in about a hundred steps (a second of CPU), which lets the tests check real
transcripts, not only shapes, through the model, the stock pipeline and the training loop.
"""

import numpy as np
import torch

import zoo
from zoo.asr.processing_asr import build_processor

RATE = 16000
SYMBOLS = " 'abcdefghijklmnopqrstuvwxyz"
# a model that runs in milliseconds; no dropout, so a few steps overfit
TINY = dict(hidden_size=32, num_layers=1, num_heads=2, ffn_dim=64, subsampling_channels=8, conv_kernel_size=5, dropout=0.0, attention_dropout=0.0)
# the words the trained tone model has seen
TRAIN_TEXTS = ["acdd dcb", "cb c ca", "c acdc dd", "aaa adcb abb", "da", "dac", "acb dad bcb", "ac"]


def tones(text: str, rate: int = RATE) -> np.ndarray:
    """`(time,)` float32: 160 ms per character of `text`."""
    t = np.arange(int(0.12 * rate)) / rate
    parts = []
    for character in text:
        parts += [0.3 * np.sin(2 * np.pi * (200 + 60 * SYMBOLS.index(character)) * t), np.zeros(int(0.04 * rate))]
    return np.concatenate(parts).astype(np.float32)


def batch(processor, texts: list[str]) -> dict:
    """Features and -100-padded labels of the tone renderings of `texts`."""
    features = processor.feature_extractor([tones(t) for t in texts], sampling_rate=RATE, return_tensors="pt")
    encoded = processor.tokenizer(texts, padding=True, return_tensors="pt")
    return {**features, "labels": encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, -100)}


def train_tone_model(steps: int = 200, texts: list[str] = TRAIN_TEXTS):
    """`(model, processor, losses)`: a tiny CTC Conformer trained on `texts` until it reads them all (or `steps`)."""
    from zoo.asr.processing_asr import greedy_decode

    torch.manual_seed(0)
    processor = build_processor()
    model = zoo.CtcConformerForCTC(zoo.CtcConformerConfig(**TINY))
    inputs = batch(processor, texts)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(steps):
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if step % 10 == 9:
            with torch.no_grad():
                logits = model.eval()(inputs["input_features"], inputs["attention_mask"]).logits
            model.train()
            if greedy_decode(logits, processor.tokenizer) == texts:
                break
    return model.eval(), processor, losses
