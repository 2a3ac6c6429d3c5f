"""scripts/eval_diarization.py: DER pooling, the per-speaker-count table and RTTMs, on hand-built conversations."""


import numpy as np
import pytest
import torch

from zoo.diarization.rttm import read_rttm

from ..scripts import load_script

SR = 16000


@pytest.fixture(scope="module")
def script():
    return load_script("eval_diarization")


def _tone(seconds, f0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def _rows():
    """Two 2-speaker conversations and one 3-speaker conversation, with their reference segments."""
    silence = lambda s: np.zeros(int(s * SR), dtype=np.float32)
    two = np.concatenate([silence(0.5), _tone(2, 150), silence(0.5), _tone(2, 300), silence(0.5)])
    three = np.concatenate([_tone(1.5, 150), silence(0.5), _tone(1.5, 300), silence(0.5), _tone(1.5, 600)])
    segments_two = [{"speaker": "a", "start": 0.5, "end": 2.5}, {"speaker": "b", "start": 3.0, "end": 5.0}]
    segments_three = [
        {"speaker": "a", "start": 0.0, "end": 1.5}, {"speaker": "b", "start": 2.0, "end": 3.5}, {"speaker": "c", "start": 4.0, "end": 5.5},
    ]
    return [
        {"id": "test-0000", "audio": {"array": two, "sampling_rate": SR}, "segments": segments_two, "num_speakers": 2, "duration": 5.5},
        {"id": "test-0001", "audio": {"array": two, "sampling_rate": SR}, "segments": segments_two, "num_speakers": 2, "duration": 5.5},
        {"id": "test-0002", "audio": {"array": three, "sampling_rate": SR}, "segments": segments_three, "num_speakers": 3, "duration": 5.5},
    ]


def test_perfect_system_scores_zero_and_writes_rttms(script, tmp_path):
    rows = _rows()
    by_id = {r["id"]: r["segments"] for r in rows}
    calls = []

    def oracle(audio, **kwargs):
        calls.append(kwargs)
        return next(r["segments"] for r in rows if r["audio"] is audio)

    results = script.evaluate(oracle, rows, rttm_dir=tmp_path, oracle_speakers=True, progress=False)
    assert results["overall"]["der"] == 0.0 and results["overall"]["files"] == 3
    assert results["overall"]["speaker_count_accuracy"] == 1.0
    assert calls == [{"num_speakers": 2}, {"num_speakers": 2}, {"num_speakers": 3}]
    assert read_rttm(tmp_path / "reference.rttm") == by_id == read_rttm(tmp_path / "hypothesis.rttm")


def test_errors_pool_over_files_and_split_by_speaker_count(script):
    rows = _rows()
    # everything is one speaker, over the whole recording: confusion on all but the largest speaker, and false alarm
    one = lambda audio, **kwargs: [{"speaker": "x", "start": 0.0, "end": 5.5}]
    results = script.evaluate(one, rows, collar=0.0, progress=False)
    two, three = results["by_num_speakers"][2], results["by_num_speakers"][3]
    assert two["files"] == 2 and two["total"] == pytest.approx(8.0)
    assert two["confusion"] == pytest.approx(4.0) and two["false_alarm"] == pytest.approx(3.0)
    assert two["der"] == pytest.approx(7.0 / 8.0)
    assert three["der"] == pytest.approx((3.0 + 1.0) / 4.5)
    assert results["overall"]["der"] == pytest.approx((7.0 + 4.0) / 12.5)  # pooled seconds, not a mean of rates
    assert results["overall"]["speaker_count_accuracy"] == 0.0
    table = script.format_table(results)
    assert "| 2 | 2 | 87.5 |" in table and table.splitlines()[-1].startswith("| all | 3 | 88.0 |")


def test_without_duration_the_segments_extent_is_scored(script):
    row = {**_rows()[0], "duration": None}
    hypothesis = [{"speaker": "x", "start": 1.0, "end": 5.25}]
    results = script.evaluate(lambda audio, **kwargs: hypothesis, [row], collar=0.0, progress=False)
    # scored from 0.5 s (first reference start) to 5.25 s (last hypothesis end): the 2.5-3.0 s pause and
    # 5.0-5.25 s are false alarm, 0.5-1.0 s is missed
    assert results["overall"]["false_alarm"] == pytest.approx(0.75)
    assert results["overall"]["missed_detection"] == pytest.approx(0.5)


def test_main_on_a_saved_corpus_with_a_tiny_model(script, tmp_path, capsys):
    import datasets

    from zoo import (
        EcapaTdnnConfig,
        EcapaTdnnForSpeakerEmbedding,
        SpeakerFeatureExtractor,
    )

    rows = _rows()
    table = datasets.Dataset.from_dict(
        {
            "audio": [r["audio"] for r in rows], "segments": [r["segments"] for r in rows],
            "num_speakers": [r["num_speakers"] for r in rows], "duration": [r["duration"] for r in rows], "id": [r["id"] for r in rows],
        }
    ).cast_column("audio", datasets.Audio(sampling_rate=SR))
    corpus = tmp_path / "conversations"
    datasets.DatasetDict({"test": table}).save_to_disk(str(corpus))
    torch.manual_seed(0)
    model = tmp_path / "model"
    EcapaTdnnForSpeakerEmbedding(EcapaTdnnConfig(channels=[16, 16, 16, 16, 48], attention_channels=8, se_channels=8, embedding_size=16)).save_pretrained(model)
    SpeakerFeatureExtractor().save_pretrained(model)
    out = tmp_path / "out"
    assert script.main([str(model), "--conversations", str(corpus), "--out", str(out), "--oracle-speakers", "--limit", "2"]) == 0
    printed = capsys.readouterr().out
    assert "2 conversations" in printed and "| all | 2 |" in printed and "oracle speaker count" in printed
    hypothesis = read_rttm(out / "hypothesis.rttm")
    assert sorted(hypothesis) == ["test-0000", "test-0001"]
    assert all(len({s["speaker"] for s in segments}) == 2 for segments in hypothesis.values())
    assert (out / "results.json").exists()


def test_corpus_without_segments_is_refused(script, tmp_path):
    import datasets

    folder = tmp_path / "speech"
    datasets.DatasetDict({"test": datasets.Dataset.from_dict({"text": ["hi"]})}).save_to_disk(str(folder))
    with pytest.raises(SystemExit, match="no 'segments' column"):
        script.main(["unused-model", "--conversations", str(folder)])
