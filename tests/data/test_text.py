import os
import re

import pytest

from zoo.data.text import (
    build_sentences,
    harvest_sentences,
    is_speakable,
    normalize_text,
    split_sentences,
)


def test_normalize_text_is_librispeech_style():
    assert normalize_text("It's the dogs' dinner -- isn't it?") == "IT'S THE DOGS' DINNER ISN'T IT"
    assert normalize_text("'Quoted,' she said; well-known.") == "QUOTED SHE SAID WELL KNOWN"


@pytest.mark.parametrize(
    "sentence, ok",
    [
        ("The cat sat on the mat.", True),
        ('"Is it raining?" she asked.', True),
        ("Two words.", False),  # too short
        ("We met at 10 o'clock today.", False),  # digits
        ("Visit www.example.com for more.", False),  # URL
        ("The UNIX kernel is small.", False),  # acronym
        ("I met Mr.", False),  # cut at an abbreviation
        ("Use the @ sign here now.", False),  # odd symbol
        ("This is " + "very " * 30 + "long.", False),  # over 25 words
        ("no capital at the start.", False),
    ],
)
def test_is_speakable(sentence, ok):
    assert is_speakable(sentence) is ok


def test_split_sentences_keeps_closing_quotes():
    assert split_sentences('He said "Stop." Then he left.  Why?') == ['He said "Stop."', "Then he left.", "Why?"]


def test_harvest_is_clean_deduplicated_and_deterministic(sentences):
    assert len(sentences) > 5000  # the fortunes alone; all three sources give ~190k
    texts = [s["text"] for s in sentences]
    assert len(texts) == len(set(texts))
    for row in sentences[:2000]:
        assert re.fullmatch(r"[A-Z' ]+", row["text"]), row
        assert 3 <= len(row["text"].split()) <= 25
        assert not re.search(r"\d|https?:|www\.|@", row["original_text"])
    assert harvest_sentences(("fortunes",), cache=False)[:50] == sentences[:50]


def test_harvest_cache_round_trip(zoo_cache, sentences):
    first = harvest_sentences(("fortunes",))
    assert any(name.startswith("sentences-") for name in os.listdir(zoo_cache))
    assert harvest_sentences(("fortunes",)) == first == sentences


def test_unknown_source_is_refused():
    with pytest.raises(ValueError, match="unknown sentence source"):
        harvest_sentences(("poetry",))


def test_build_sentences_tiny(tmp_path):
    import datasets

    build_sentences(str(tmp_path / "sentences"), tiny=True)
    loaded = datasets.load_from_disk(str(tmp_path / "sentences"))
    assert loaded["train"].num_rows == 200
    assert loaded["train"].column_names == ["text", "original_text", "source", "kind"]
