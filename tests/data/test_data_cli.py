import pytest

from zoo.data.cli import main


def test_bare_command_prints_help(capsys):
    assert main([]) == 0
    assert "speech" in capsys.readouterr().out


@pytest.mark.parametrize("corpus", ["speech", "mixtures", "events", "sentences"])
def test_help(corpus, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([corpus, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--output", "--seed", "--tiny", "--workers"):
        assert option in text


def test_sentences_tiny_prints_summary(tmp_path, capsys):
    assert main(["sentences", "--tiny", "--output", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "200 rows" in out


def test_mixtures_tiny_from_speech(tmp_path, tiny_speech_dir, capsys):
    assert main(["mixtures", "--tiny", "--speech", str(tiny_speech_dir), "--output", str(tmp_path / "m"), "--workers", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "test" in out and "4 rows" in out


@pytest.mark.slow
def test_speech_and_events_tiny(tmp_path, capsys):
    assert main(["speech", "--tiny", "--output", str(tmp_path / "speech"), "--no-progress"]) == 0
    assert main(["events", "--tiny", "--output", str(tmp_path / "events"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "speakers" in out and "events" in out


def test_speech_options_reach_the_builder(monkeypatch, tmp_path):
    from zoo.data import speech

    seen = {}

    def fake_build(output, **kwargs):
        seen.update(kwargs, output=output)
        import datasets

        return datasets.DatasetDict(validation=datasets.Dataset.from_dict({"speaker_id": ["a"], "duration": [1.0]}))

    monkeypatch.setattr(speech, "build_speech", fake_build)
    assert main(["speech", "--output", str(tmp_path / "d"), "--num-speakers", "0", "--festival-speakers", "14",
                 "--unseen-dev-of", "data/speech-200", "--no-progress"]) == 0
    assert seen["festival_speakers"] == 14 and seen["unseen_dev_of"] == "data/speech-200" and seen["num_speakers"] == 0
