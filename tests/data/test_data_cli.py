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
