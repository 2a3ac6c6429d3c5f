
import numpy as np
import pytest

from zoo.audio import load_audio
from zoo.data.cli import main
from zoo.data.conversations import build_conversations, overlap_ratio, speech_regions
from zoo.data.hub import load_corpus

COLUMNS = ["audio", "segments", "num_speakers", "speaker_ids", "num_turns", "overlap_ratio", "duration", "snr_db", "noise",
           "source_ids", "id"]


@pytest.fixture(scope="module")
def overlapping(tiny_speech_dir):
    """Clean conversations in which every turn that can overlap does."""
    return build_conversations(str(tiny_speech_dir), None, splits=("test", "validation"), num_conversations=3, seconds=15.0,
                               overlap=1.0, workers=1, progress=False)


def _voices(segments, t):
    return {s["speaker"] for s in segments if s["start"] <= t < s["end"]}


def test_columns_and_reference(overlapping, tiny_speech):
    assert list(overlapping) == ["test", "validation"]
    for name, split in overlapping.items():
        assert split.column_names == COLUMNS and split.num_rows == 3
        allowed = set(tiny_speech[name]["speaker_id"])
        for row in split:
            segments = row["segments"]
            assert segments == sorted(segments, key=lambda s: (s["start"], s["end"], s["speaker"]))
            assert {s["speaker"] for s in segments} == set(row["speaker_ids"]) <= allowed
            assert 2 <= row["num_speakers"] == len(row["speaker_ids"]) <= 4
            assert len(row["source_ids"]) == row["num_turns"] >= row["num_speakers"]
            assert all(0 <= s["start"] < s["end"] <= row["duration"] <= 15.0 for s in segments)
            wave = row["audio"]["array"] if isinstance(row["audio"], dict) else None
            if wave is None:
                wave = row["audio"].get_all_samples().data.numpy()[0]
            assert abs(len(wave) / 16000 - row["duration"]) < 0.01
            # clean audio: loud inside the reference segments, silent outside them
            inside = np.zeros(len(wave), dtype=bool)
            for s in segments:
                inside[int(s["start"] * 16000) : int(s["end"] * 16000)] = True
            assert np.sqrt(np.mean(wave[inside] ** 2)) > 0.02
            assert np.abs(wave[~inside]).max() < 0.05


def test_overlaps_never_hold_three_voices(overlapping):
    ratios = []
    for split in overlapping.values():
        for row in split:
            times = np.arange(0, row["duration"], 0.01)
            assert max(len(_voices(row["segments"], t)) for t in times) <= 2
            ratios.append(row["overlap_ratio"])
            assert row["overlap_ratio"] == pytest.approx(overlap_ratio(row["segments"], row["duration"]), abs=1e-4)
    assert max(ratios) > 0.02  # overlap=1.0: turns do overlap


def test_no_overlap_and_noise(tiny_speech_dir, tmp_path, folder_bytes):
    output = tmp_path / "noisy"
    dataset = build_conversations(str(tiny_speech_dir), str(output), num_conversations=2, seconds=25.0, overlap=0.0, snr=5.0,
                                  min_speakers=3, max_speakers=3, seed=4, workers=1, progress=False)
    for row in dataset["test"]:
        assert row["overlap_ratio"] == 0.0 and row["num_speakers"] == 3
        assert row["snr_db"] == 5.0 and row["noise"]
        times = np.arange(0, row["duration"], 0.01)
        assert max(len(_voices(row["segments"], t)) for t in times) == 1
    # the noise fills the gaps between turns
    import datasets

    raw = dataset["test"].cast_column("audio", datasets.Audio(decode=False))[0]
    wave = load_audio(raw["audio"], 16000)
    first = raw["segments"][0]["start"]
    assert np.sqrt(np.mean(wave[: int(first * 16000)] ** 2)) > 1e-3
    again = tmp_path / "again"
    build_conversations(str(tiny_speech_dir), str(again), num_conversations=2, seconds=25.0, overlap=0.0, snr=5.0,
                        min_speakers=3, max_speakers=3, seed=4, workers=2, progress=False)
    assert folder_bytes(again) == folder_bytes(output)  # same seed, same bytes
    assert load_corpus(str(output), split="test").num_rows == 2


def test_speech_regions_and_overlap_ratio():
    sr = 16000
    wave = np.concatenate([np.zeros(800), np.ones(3200), np.zeros(3200), np.ones(1600)]).astype(np.float32)
    assert speech_regions(wave, sr, min_pause=0.1) == [(0.05, 0.25), (0.45, 0.55)]
    assert speech_regions(wave, sr, min_pause=0.3) == [(0.05, 0.55)]
    assert speech_regions(np.zeros(1600), sr) == []
    segments = [{"speaker": "a", "start": 0.0, "end": 1.0}, {"speaker": "b", "start": 2.0, "end": 3.0}]
    assert overlap_ratio(segments, 3.0) == 0.0


def test_bad_settings_are_refused(tiny_speech_dir):
    with pytest.raises(ValueError, match="min_speakers"):
        build_conversations(str(tiny_speech_dir), None, min_speakers=3, max_speakers=2)
    with pytest.raises(ValueError, match="no split"):
        build_conversations(str(tiny_speech_dir), None, splits=("dev",))
    with pytest.raises(ValueError, match="speakers"):
        build_conversations(str(tiny_speech_dir), None, min_speakers=40, max_speakers=40)
    with pytest.raises(ValueError, match="overlap"):
        build_conversations(str(tiny_speech_dir), None, overlap=1.5)
    with pytest.raises(ValueError, match="seconds"):
        build_conversations(str(tiny_speech_dir), None, num_conversations=1, seconds=0.5, workers=1, progress=False)
    with pytest.raises(FileNotFoundError, match="zoo data speech"):
        build_conversations("/nonexistent/speech", None)


def test_cli(tmp_path, tiny_speech_dir, capsys):
    with pytest.raises(SystemExit):
        main(["conversations", "--help"])
    assert "--overlap" in capsys.readouterr().out
    assert main(["conversations", "--tiny", "--speech", str(tiny_speech_dir), "--output", str(tmp_path / "c"), "--workers", "1",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "2 rows" in out
