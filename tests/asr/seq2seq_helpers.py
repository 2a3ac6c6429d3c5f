"""Tiny seq2seq recognizers (LAS, Transformer ASR) and a tiny character LM, trained in seconds on tone "speech"
(see tones.py), so tests check real transcripts through the models, the beam search and the stock pipeline."""

import functools

import torch

import zoo
from zoo.asr.processing_asr import build_seq2seq_processor

from .tones import TINY, TRAIN_TEXTS, batch

ENCODER = {**TINY, "label_smoothing": 0.0}
TINY_CONFIGS = {
    "transformer_asr": dict(ENCODER, decoder_layers=1, decoder_heads=2, decoder_ffn_dim=64),
    "las": dict(ENCODER, decoder_embedding_size=16, decoder_hidden_size=32, attention_dim=32, location_channels=4, location_kernel_size=5),
}
CLASSES = {"transformer_asr": zoo.TransformerAsrForSpeechSeq2Seq, "las": zoo.LasForSpeechSeq2Seq}
CONFIGS = {"transformer_asr": zoo.TransformerAsrConfig, "las": zoo.LasConfig}
TINY_LM = dict(embedding_size=8, hidden_size=32, num_layers=1, dropout=0.0)
# the LSTM speller learns the tone sentences in ~140 steps at this rate, the Transformer in ~120 at 3e-3
LEARNING_RATES = {"transformer_asr": 3e-3, "las": 6e-3}


def make(kind: str, seed: int = 0, **overrides):
    """A tiny untrained recognizer of `kind` ("las" or "transformer_asr")."""
    torch.manual_seed(seed)
    return CLASSES[kind](CONFIGS[kind](**{**TINY_CONFIGS[kind], **overrides}))


def transcribe(model, processor, texts: list[str], **generate_kwargs) -> list[str]:
    inputs = batch(processor, texts)
    sequences = model.generate(inputs["input_features"], inputs["attention_mask"], **generate_kwargs)
    return processor.tokenizer.batch_decode(sequences, skip_special_tokens=True)


def train_tone_seq2seq(kind: str, steps: int = 300, texts: list[str] = TRAIN_TEXTS, **overrides):
    """`(model, processor, losses)`: a tiny recognizer trained on the tone renderings of `texts` until greedy
    attention decoding reads them all (or `steps`)."""
    processor = build_seq2seq_processor()
    model = make(kind, **overrides)
    inputs = batch(processor, texts)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATES[kind])
    losses = []
    for step in range(steps):
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if step % 20 == 19:
            if transcribe(model.eval(), processor, texts, num_beams=1, ctc_weight=0.0) == texts:
                break
            model.train()
    return model.eval(), processor, losses


@functools.lru_cache(maxsize=None)
def tone_seq2seq(kind: str):
    """`train_tone_seq2seq(kind)`, trained once per test session (a few CPU-seconds each); do not modify it."""
    return train_tone_seq2seq(kind)


def train_tone_lm(texts: list[str] = TRAIN_TEXTS, steps: int = 150):
    """A tiny `CharLmForCausalLM` trained on `texts` (what the tone recognizers read)."""
    from zoo.asr.processing_asr import build_seq2seq_tokenizer

    torch.manual_seed(0)
    tokenizer = build_seq2seq_tokenizer()
    model = zoo.CharLmForCausalLM(zoo.CharLmConfig(**TINY_LM))
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    input_ids = torch.cat([torch.full((len(texts), 1), tokenizer.bos_token_id), encoded["input_ids"]], dim=1)
    mask = torch.cat([torch.ones(len(texts), 1, dtype=torch.long), encoded["attention_mask"]], dim=1)
    labels = input_ids.masked_fill(mask == 0, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        loss = model(input_ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return model.eval(), tokenizer, losses
