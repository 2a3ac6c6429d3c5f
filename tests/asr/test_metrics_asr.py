"""WER and CER (jiwer's alignment), as the ASR task and evaluations use them."""

import pytest

from zoo.metrics import cer, edit_counts, wer


def test_word_error_rate():
    assert wer("the cat sat", "the cat sat") == 0.0
    assert wer("the cat sat", "the bat sat") == pytest.approx(1 / 3)  # one substitution
    assert wer("the cat sat", "the sat") == pytest.approx(1 / 3)  # one deletion
    assert wer("the cat", "the cat sat down") == 1.0  # two insertions over two words
    assert wer("the cat", "") == 1.0  # nothing recognised: every word deleted
    assert wer("a b", "c d e f") == 2.0  # insertions push it past 1


def test_corpus_rates_pool_the_errors():
    # 1 error over 4 words, then 2 errors over 1 word: 3 / 5, not the mean of 0.25 and 2
    references, hypotheses = ["a b c d", "e"], ["a b x d", "f g"]
    assert edit_counts(references, hypotheses) == (3, 5)
    assert wer(references, hypotheses) == pytest.approx(0.6)


def test_character_error_rate_counts_spaces():
    assert cer("the cat", "the bat") == pytest.approx(1 / 7)
    assert cer("ab cd", "abcd") == pytest.approx(1 / 5)
    assert edit_counts("ab", "", unit="char") == (2, 2)


def test_bad_transcripts_are_refused():
    with pytest.raises(ValueError, match="one hypothesis per reference"):
        wer(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="reference 1 is empty"):
        wer(["a", " "], ["a", "b"])
    with pytest.raises(ValueError, match="no transcripts"):
        cer([], [])
    with pytest.raises(ValueError, match="'word' or 'char'"):
        edit_counts("a", "a", unit="phone")
