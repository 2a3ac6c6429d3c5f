"""scripts/asr_no_speech.py: what a recognizer says on clips with no speech, as a table in its card."""

import shutil

import numpy as np
import pytest

from zoo.cards import load_card_data

from ..scripts import load_script


@pytest.fixture(scope="module")
def no_speech():
    return load_script("asr_no_speech")


def test_clips_are_silence_and_noises_at_the_set_levels(no_speech):
    clips = no_speech.no_speech_clips()
    silences = [(name, wave) for name, wave in clips if name.startswith("silence")]
    assert [len(w) / no_speech.RATE for _, w in silences] == list(no_speech.SILENCE_SECONDS)
    assert all(not w.any() for _, w in silences)
    noises = [(name, wave) for name, wave in clips if not name.startswith("silence")]
    assert noises and len(noises) % len(no_speech.NOISE_DBFS) == 0
    for name, wave in noises:
        level = 20 * np.log10(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))
        assert level == pytest.approx(float(name.split()[-2]), abs=0.01), name
        assert len(wave) == no_speech.NOISE_SECONDS * no_speech.RATE


def test_summary_counts_words_as_insertions(no_speech):
    assert no_speech.summarize(["", "a b", "", "c"]) == {"clips": 4, "clips_with_words": 0.5, "words_per_clip": 0.75}


def test_table_goes_into_the_card(no_speech, tone_folder, tmp_path, capsys):
    folder = tmp_path / "ctc"
    shutil.copytree(tone_folder, folder)
    assert no_speech.main([str(folder), "--write-cards", "--json", str(tmp_path / "r.json")]) == 0
    printed = capsys.readouterr().out
    assert "| ctc |" in printed and "python scripts/asr_no_speech.py" in printed
    card = (folder / "README.md").read_text()
    assert "<!-- zoo:asr-no-speech -->" in load_card_data(folder)["results_table_extra"] and "Where nobody speaks" in card
    assert (tmp_path / "r.json").is_file()
