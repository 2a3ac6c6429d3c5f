"""scripts/asr_table.py: one comparison table of recognizers from the results their cards hold."""

import shutil

import pytest

from zoo.cards import load_card_data
from zoo.evaluate import record_peer_results
from zoo.hub import update_card_results

from ..scripts import load_script


@pytest.fixture(scope="module")
def asr_table():
    return load_script("asr_table")


def _results(decoding: str, wer: float, examples: int = 300) -> list[dict]:
    suffix = f"; {decoding}" if decoding else ""
    return [
        {"dataset": f"data/speech-200 (test speakers, all{suffix})", "split": "test", "metrics": {"wer": wer, "cer": wer / 3, "rtf": 0.01}, "examples": examples},
        {"dataset": f"data/speech-200 (unseen voices{suffix})", "split": "test", "metrics": {"wer": wer + 0.1, "cer": wer / 2}, "examples": 190},
        {"dataset": f"data/speech-200 (espeak voices{suffix})", "split": "test", "metrics": {"wer": 0.9, "cer": 0.5}, "examples": 200},
        {"dataset": "data/speech-200", "split": "validation", "metrics": {"wer": 0.1, "cer": 0.05}},
    ]


def test_one_row_per_decoding_a_peer_row_and_derived_folders_not_repeated(asr_table, tone_folder, tmp_path, capsys):
    base, derived, other = tmp_path / "ctc", tmp_path / "ctc-lm", tmp_path / "ctc-small"
    shutil.copytree(tone_folder, base)
    update_card_results(str(base), _results("", 0.6))
    record_peer_results(base, "pocketsphinx", {"test speakers, all": {"wer": 0.7, "cer": 0.5, "rtf": 0.3, "examples": 300},
                                               "unseen voices": {"wer": 0.69, "cer": 0.48, "examples": 190}}, "test", "zoo eval ...")
    shutil.copytree(base, derived)  # an LM attached: the base's results come along, and its own are added
    (derived / "language_model").mkdir()
    update_card_results(str(derived), _results("", 0.4))
    shutil.copytree(tone_folder, other)
    update_card_results(str(other), _results("", 0.5, examples=50))

    assert asr_table.main([str(base), str(derived), str(other), "--write-cards"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| Model")]
    assert len(rows) == 3, rows  # greedy, LM beam search, pocketsphinx; the 50-utterance run is left out, and said
    assert rows[0].startswith("| ctc | CTC") and "greedy CTC | 0.600 / 0.200 | 0.700 / 0.300 | 0.0100 |" in rows[0]
    assert rows[1].startswith("| ctc-lm |") and "word n-gram LM" in rows[1] and "0.400 / 0.133" in rows[1]
    assert rows[2].startswith("| pocketsphinx | peer |") and "0.700 / 0.500 | 0.690 / 0.480 | 0.3000 |" in rows[2]
    assert "same 300 test utterances" in out and "Left out (measured on another number of utterances): ctc-small." in out
    for folder in (base, derived, other):
        text = load_card_data(folder)["results_table_extra"]
        assert text.count("<!-- zoo:asr-models -->") == 1 and "### Speech recognizers compared" in text
        assert "<!-- zoo:asr-models -->" in (folder / "README.md").read_text()


def test_a_checkpoint_without_test_results_is_named(asr_table, tone_folder, tmp_path):
    folder = tmp_path / "unmeasured"
    shutil.copytree(tone_folder, folder)
    with pytest.raises(ValueError, match=r"unmeasured has no measured test results; run `zoo eval"):
        asr_table.main([str(folder)])
