"""The n-gram LM builder: modified Kneser-Ney estimates, ARPA files kenlm loads, the training text, `zoo lm ngram`."""

from __future__ import annotations

import json
import math

import pytest
from datasets import Dataset, DatasetDict

from zoo import cli
from zoo.asr.lm import perplexity, training_text
from zoo.asr.ngram import BOS, EOS, UNK, _discounts, build_ngram_lm

TEXT = [
    "the cat sat on the mat",
    "the cat ate the rat",
    "a dog sat on the log",
    "the dog ate a bone",
    "a cat and a dog sat",
    "the rat sat on a mat",
    "the cat sat",
    "on the mat the dog slept",
]


@pytest.fixture(scope="module")
def lm3():
    return build_ngram_lm(TEXT, order=3)


def test_every_conditional_distribution_sums_to_one(lm3):
    lm4 = build_ngram_lm(TEXT, order=4)
    for lm in (lm3, lm4):
        vocabulary = lm.vocabulary()
        assert BOS not in vocabulary and {EOS, UNK} <= set(vocabulary)
        for context in [(), (BOS,), ("the",), ("the", "cat"), (BOS, "the", "cat"), ("cat", "sat", "on"), ("zebra", "the"), ("mat",)]:
            total = sum(10 ** lm.log10_prob(w, context) for w in vocabulary)
            assert total == pytest.approx(1.0, abs=1e-9), (lm.order, context)


def test_seen_ngrams_beat_unseen_ones(lm3):
    seen = lm3.log10_prob("sat", ("the", "cat"))  # "the cat sat" twice
    assert seen > lm3.log10_prob("ate", ("the", "dog")) - 1  # sanity: both are real log-probabilities
    assert seen > lm3.log10_prob("bone", ("the", "cat"))  # "the cat bone" never
    assert seen > lm3.log10_prob("sat", ("the", "rat"))  # "the rat sat" once, "the cat sat" twice
    assert lm3.log10_prob("zebra", ("the",)) == lm3.log10_prob(UNK, ("the",))  # unknown words score as <unk>
    assert lm3.log10_prob(UNK, ("the",)) < lm3.log10_prob("bone", ("the",))  # <unk> gets only the back-off mass
    assert lm3.probs[0][(BOS,)] == -99.0


def test_kneser_ney_favours_words_seen_in_many_contexts():
    # "francisco" follows only "san" (many times); "glasses" follows many words (once each)
    text = ["san francisco"] * 8 + [f"{w} glasses" for w in ("my", "his", "her", "reading", "new", "old")]
    lm = build_ngram_lm(text, order=2)
    assert lm.log10_prob("glasses", ("the",)) > lm.log10_prob("francisco", ("the",))  # after an unseen context
    assert lm.log10_prob("francisco", ("san",)) > lm.log10_prob("glasses", ("san",))


def test_discounts_follow_the_count_of_counts():
    counts = {("w", str(i)): c for i, c in enumerate([1] * 10 + [2] * 5 + [3] * 3 + [4] * 2 + [7] * 4)}
    # Y = 10 / (10 + 2 * 5) = 0.5; D1 = 1 - 2Y 5/10, D2 = 2 - 3Y 3/5, D3+ = 3 - 4Y 2/3
    assert _discounts(counts) == pytest.approx((0.5, 1.1, 3 - 4 / 3))
    assert _discounts({("a",): 1, ("b",): 2}) == (0.5, 1.0, 1.5)  # no 3s or 4s: the fallback


def test_arpa_file_loads_in_kenlm_with_the_same_scores(lm3, tmp_path):
    kenlm = pytest.importorskip("kenlm")
    path = lm3.write_arpa(tmp_path / "lm.arpa")
    lines = path.read_text().splitlines()
    assert lines[0] == "\\data\\" and lines[-1] == "\\end\\"
    assert [int(line.split("=")[1]) for line in lines[1:4]] == lm3.counts()
    unigrams = {line.split("\t")[1] for line in lines[lines.index("\\1-grams:") + 1 : lines.index("\\2-grams:") - 1]}
    assert {BOS, EOS, UNK, "cat", "mat"} <= unigrams
    model = kenlm.Model(str(path))
    assert model.order == 3
    for sentence in ["the cat sat on the mat", "a dog ate the cat", "zebra cat", "the"]:
        assert model.score(sentence) == pytest.approx(lm3.sentence_log10_prob(sentence), abs=1e-4)
    assert model.score("the cat sat on the mat") > model.score("mat the on sat cat the")


def test_pyctcdecode_reads_every_word_of_the_arpa(lm3, tmp_path):
    pytest.importorskip("pyctcdecode")
    from pyctcdecode.language_model import load_unigram_set_from_arpa

    path = lm3.write_arpa(tmp_path / "lm.arpa")
    assert set(lm3.words()) <= load_unigram_set_from_arpa(str(path))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="order must be 1 to 6"):
        build_ngram_lm(TEXT, order=0)
    with pytest.raises(ValueError, match="no words"):
        build_ngram_lm(["", "!!"], order=2)


def _corpus(folder, splits: dict[str, list[str]]):
    DatasetDict({split: Dataset.from_dict({"text": texts}) for split, texts in splits.items()}).save_to_disk(str(folder))
    return str(folder)


@pytest.fixture
def corpora(tmp_path):
    evaluation = _corpus(tmp_path / "eval", {"train": ["THE CAT SAT"], "validation": ["A DOG SAT ON THE LOG"], "test": ["THE RAT ATE"]})
    train = _corpus(tmp_path / "train", {"train": [t.upper() for t in TEXT] + ["THE RAT ATE", "the cat sat on the mat!"]})
    return train, evaluation


def test_training_text_leaves_out_every_evaluation_sentence(corpora):
    train, evaluation = corpora
    text, stats = training_text([train], exclude=[evaluation])
    assert "the rat ate" not in text and "a dog sat on the log" not in text  # test and validation sentences
    assert "the cat sat" in text  # the evaluation corpus' train split is not evaluation text
    assert text.count("the cat sat on the mat") == 1  # normalised duplicates kept once
    assert stats["sentences"] == len(text) == len(TEXT) - 1
    assert stats["left_out_as_evaluation_text"] == 2 and stats["duplicates"] == 1
    with pytest.raises(ValueError, match="no training text"):
        training_text([], exclude=[evaluation])


def test_perplexity_counts_end_of_sentence_and_oov(lm3):
    result = perplexity(lm3, ["the cat sat", "the zebra sat"])
    assert result["words"] == 6 and result["oov_rate"] == pytest.approx(1 / 6, abs=1e-4)
    log10 = lm3.sentence_log10_prob("the cat sat") + lm3.sentence_log10_prob("the zebra sat")
    assert result["perplexity"] == pytest.approx(10 ** (-log10 / 8), rel=1e-3)


def test_zoo_lm_ngram_writes_arpa_and_report(corpora, tmp_path, capsys):
    train, evaluation = corpora
    output = tmp_path / "lm" / "tiny-3gram.arpa"
    assert cli.main(["lm", "ngram", "--corpus", train, "--exclude", evaluation, "--order", "3", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert f"{len(TEXT) - 1} sentences" in out and "2 left out as evaluation text" in out and "perplexity" in out
    info = json.loads(output.with_suffix(".json").read_text())
    assert info["order"] == 3 and info["counts"] == build_ngram_lm(training_text([train], exclude=[evaluation])[0], 3).counts()
    assert info["validation"]["sentences"] == 1 and math.isfinite(info["validation"]["perplexity"])
    assert output.read_text().startswith("\\data\\\nngram 1=")


def test_zoo_lm_ngram_needs_an_exclusion_and_an_arpa_name(capsys, tmp_path):
    with pytest.raises(SystemExit):
        cli.main(["lm", "ngram", "--sentences", "--output", str(tmp_path / "x.arpa")])
    assert "--exclude" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["lm", "ngram", "--sentences", "--exclude", "x", "--output", str(tmp_path / "x.txt")])
    assert "must end in .arpa" in capsys.readouterr().err
