"""Text normalisation, the character tokenizer (transformers' Wav2Vec2CTCTokenizer), the processor, greedy decoding."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoProcessor, AutoTokenizer, Wav2Vec2CTCTokenizer, Wav2Vec2Processor

import zoo  # noqa: F401  (registers the feature extractor with the Auto classes)
from zoo import AsrFeatureExtractor
from zoo.asr.processing_asr import CHARACTERS, build_char_tokenizer, build_processor, greedy_decode, normalize_text


def test_normalize_text():
    assert normalize_text("BUT WISE THROUGH TIME") == "but wise through time"  # the speech corpus' own text
    assert normalize_text("Don’t  stop—the café's 3 DJs!") == "don't stop the cafe's djs"
    assert normalize_text(" \t\n") == ""
    with pytest.raises(TypeError, match="transcript string"):
        normalize_text(b"bytes")


def test_vocabulary():
    tokenizer = build_char_tokenizer()
    assert isinstance(tokenizer, Wav2Vec2CTCTokenizer)
    vocab = tokenizer.get_vocab()
    assert [vocab[t] for t in ("<pad>", "<unk>", "|")] == [0, 1, 2] and tokenizer.pad_token_id == 0
    assert set(CHARACTERS) <= set(vocab) and len(tokenizer) == 30
    assert tokenizer.convert_tokens_to_ids("Q") == tokenizer.unk_token_id  # upper case is not in it: normalise first


@pytest.mark.parametrize("text", ["hello world", "it's a cat's toy", "zz top", "a"])
def test_tokenizer_round_trip(text):
    tokenizer = build_char_tokenizer()
    ids = tokenizer(text).input_ids
    assert len(ids) == len(text) and ids.count(tokenizer.convert_tokens_to_ids("|")) == text.count(" ")
    assert tokenizer.decode(ids, group_tokens=False) == text
    # CTC decoding merges repeats unless a blank separates them
    assert tokenizer.decode([0, 14, 14, 8, 8, 0, 8, 2, 2, 0, 23]) == "kee t"


def test_build_char_tokenizer_saves_a_loadable_tokenizer(tmp_path):
    tokenizer = build_char_tokenizer(tmp_path)
    assert json.loads((tmp_path / "vocab.json").read_text())["<pad>"] == 0
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, Wav2Vec2CTCTokenizer) and loaded.get_vocab() == tokenizer.get_vocab()
    assert loaded.decode(loaded("so it goes").input_ids, group_tokens=False) == "so it goes"
    with pytest.raises(ValueError, match="distinct"):
        build_char_tokenizer(characters="abca")


def test_processor_round_trip(tmp_path):
    processor = build_processor()
    assert isinstance(processor, Wav2Vec2Processor) and isinstance(processor.feature_extractor, AsrFeatureExtractor)
    wave = np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    out = processor(audio=wave, text="a cat", sampling_rate=16000, return_tensors="pt")
    assert out["input_features"].shape == (1, 51, 80) and out["labels"].tolist() == [[4, 2, 6, 4, 23]]
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, Wav2Vec2Processor) and isinstance(loaded.feature_extractor, AsrFeatureExtractor)
    assert loaded.tokenizer.get_vocab() == processor.tokenizer.get_vocab()


def test_greedy_decode():
    tokenizer = build_char_tokenizer()
    ids = torch.tensor([[0, 6, 6, 0, 4, 2, 4, 0], [23, 23, 0, 23, 0, 0, 0, 0]])  # "c_a|a_", "tt_t"
    logits = torch.nn.functional.one_hot(ids, 30).float()
    assert greedy_decode(logits, tokenizer) == ["ca a", "tt"]
    assert greedy_decode(logits, tokenizer, lengths=torch.tensor([5, 2])) == ["ca", "t"]
