import json

import numpy as np
import pytest

from zoo.audio import load_audio
from zoo.data.cli import main
from zoo.data.hub import load_corpus
from zoo.data.sessions import _changed_rate, build_sessions, speakers_of
from zoo.data.speech import UNSEEN_VOICES, Speaker

COLUMNS = ["audio", "speaker_id", "period", "split", "text", "original_text", "engine", "voice", "variant", "gender",
           "unseen_voice", "duration", "chronological_index", "file_id", "speed_factor", "noise", "snr_db", "rt60"]
TINY = dict(num_speakers=8, utterances_per_period=1, seed=2, reverb_probability=0.5, workers=1, progress=False)


@pytest.fixture(scope="module")
def tiny_sessions_dir(tmp_path_factory, sentences):
    output = tmp_path_factory.mktemp("sessions") / "tiny"
    build_sessions(str(output), sentences=sentences, **TINY)
    return output


@pytest.fixture(scope="module")
def tiny_sessions(tiny_sessions_dir):
    return load_corpus(str(tiny_sessions_dir))


def test_columns_splits_and_periods(tiny_sessions):
    assert list(tiny_sessions) == ["train", "validation", "test"]
    speakers = {}
    for name, split in tiny_sessions.items():
        assert split.column_names == COLUMNS
        assert set(split["split"]) == {name}
        speakers[name] = set(split["speaker_id"])
        for speaker in speakers[name]:
            periods = [p for s, p in zip(split["speaker_id"], split["period"]) if s == speaker]
            assert sorted(periods) == ["B", "D"]
    assert not speakers["train"] & speakers["test"] and not speakers["validation"] & speakers["test"]
    assert not speakers["train"] & speakers["validation"]
    test = tiny_sessions["test"]
    assert {f"{e}:{v}" for e, v, u in zip(test["engine"], test["voice"], test["unseen_voice"]) if u} == set(UNSEEN_VOICES)
    for name in ("train", "validation"):
        assert not any(tiny_sessions[name]["unseen_voice"])


def test_d_sessions_differ_from_b(tiny_sessions):
    import datasets

    for split in tiny_sessions.values():
        rows = split.cast_column("audio", datasets.Audio(decode=False)).to_list()
        by_speaker = {}
        for row in rows:
            by_speaker.setdefault(row["speaker_id"], {}).setdefault(row["period"], []).append(row)
        for speaker, periods in by_speaker.items():
            birth, discharge = periods["B"], periods["D"]
            assert not {r["text"] for r in birth} & {r["text"] for r in discharge}  # other sentences
            assert all(r["speed_factor"] == 1.0 and r["snr_db"] is None and r["noise"] == "" for r in birth)
            factors = {round(r["speed_factor"], 3) for r in discharge}
            assert len(factors) == 1 and 0.10 - 1e-3 <= abs(factors.pop() - 1) <= 0.15 + 1e-3  # one rate change per speaker
            assert all(5 <= r["snr_db"] <= 20 and r["noise"] for r in discharge)
            assert len({r["noise"] for r in discharge}) == 1  # one background per session
            # B is clean, so its quietest moments are near silence; D's background fills them
            assert _floor(discharge) > 2 * _floor(birth), speaker
            for row in birth + discharge:
                assert row["file_id"] == f"{speaker}_{row['period']}_{row['chronological_index']}"
    rooms = [r for split in tiny_sessions.values() for r in split["rt60"] if r is not None]
    assert rooms and all(0.2 <= r <= 0.6 for r in rooms)


def _floor(rows):
    """Mean over `rows` of the 2nd percentile of 20 ms frame RMS."""
    floors = []
    for row in rows:
        wave = load_audio(row["audio"], 16000)
        frames = wave[: len(wave) // 320 * 320].reshape(-1, 320)  # (frames, 320)
        floors.append(np.percentile(np.sqrt((frames**2).mean(axis=1)), 2))
    return float(np.mean(floors))


def test_rate_change_per_engine():
    espeak = Speaker("e", "espeak", "en-us", "f3", 150.0, 50.0, "female")
    flite = Speaker("f", "flite", "slt", "", 1.0, 180.0, "female")
    assert _changed_rate(espeak, 1.1).speed == 165.0  # words per minute up
    assert _changed_rate(flite, 1.25).speed == 0.8  # duration stretch down
    assert _changed_rate(espeak, 0.9).pitch == espeak.pitch  # the voice stays


def test_same_seed_same_bytes(tmp_path, tiny_sessions_dir, sentences, folder_bytes):
    build_sessions(str(tmp_path / "again"), sentences=sentences, **{**TINY, "workers": 2})
    assert folder_bytes(tmp_path / "again") == folder_bytes(tiny_sessions_dir)


def test_speakers_from_a_speech_corpus_keep_their_splits(tiny_speech_dir, tiny_speech, sentences):
    planned = speakers_of(str(tiny_speech_dir))
    assert {s.speaker_id for s in planned if s.split == "test"} == set(tiny_speech["test"]["speaker_id"])
    subset = build_sessions(None, num_speakers=9, speakers_from=str(tiny_speech_dir), utterances_per_period=1, snr_db=None,
                            reverb_probability=0.0, sentences=sentences, workers=1, progress=False)
    split_of = {s.speaker_id: s.split for s in planned}
    assert 9 <= len({s for split in subset.values() for s in split["speaker_id"]}) < len(planned)  # at least 3 per split
    for name, split in subset.items():
        assert all(split_of[s] == name for s in split["speaker_id"])  # the speech corpus's splits
        assert all(n == "" for n in split["noise"])  # snr_db=None: a clean D
    test = subset["test"]
    assert {f"{e}:{v}" for e, v, u in zip(test["engine"], test["voice"], test["unseen_voice"]) if u} == set(UNSEEN_VOICES)


def test_metadata_lists_speakers(tiny_sessions_dir):
    with open(tiny_sessions_dir / "zoo_corpus.json") as handle:
        metadata = json.load(handle)
    assert metadata["kind"] == "sessions" and len(metadata["speakers"]) == 8
    assert set(metadata["summary"]) == {"train", "validation", "test"}


def test_bad_settings_are_refused(tmp_path, tiny_sessions_dir, sentences):
    with pytest.raises(ValueError, match="utterances_per_period"):
        build_sessions(None, utterances_per_period=0, sentences=sentences)
    with pytest.raises(ValueError, match="splits"):
        build_sessions(None, splits=("dev",), sentences=sentences)
    with pytest.raises(ValueError, match="speed_change"):
        build_sessions(None, speed_change=(0.2, 0.1), sentences=sentences)
    with pytest.raises(ValueError, match="zoo data speech"):
        speakers_of(str(tiny_sessions_dir))  # a sessions folder is not a speech corpus
    with pytest.raises(FileNotFoundError, match="zoo data speech"):
        speakers_of(str(tmp_path))


def test_cli(tmp_path, tiny_speech_dir, sentences, capsys, monkeypatch):
    from zoo.data import sessions

    monkeypatch.setattr(sessions, "harvest_sentences", lambda: sentences)  # the full harvest takes a while
    with pytest.raises(SystemExit):
        main(["sessions", "--help"])
    assert "--speakers-from" in capsys.readouterr().out
    assert main(["sessions", "--tiny", "--speakers-from", str(tiny_speech_dir), "--splits", "test", "--snr", "none",
                 "--reverb-probability", "0", "--output", str(tmp_path / "s"), "--workers", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "test" in out and "speakers" in out
