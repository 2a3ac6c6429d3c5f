"""`load_corpus` on tiny local copies written in the real datasets' formats (no network: HF_HUB_OFFLINE=1)."""

import csv
import io
import os

import numpy as np
import pytest
import soundfile as sf

from zoo.audio import load_audio
from zoo.data.hub import known_mapping, load_corpus


def _wav_bytes(seconds=0.25, rate=16000, freq=440.0):
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    sf.write(buffer, (0.1 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _write_wav(path, seconds=0.25, rate=16000, freq=440.0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(_wav_bytes(seconds, rate, freq))


def _parquet(folder, split, columns, audio_rate=16000):
    """A Hub-style parquet folder (data/<split>-00000-of-00001.parquet), audio embedded as the Hub stores it."""
    import datasets

    features = {name: datasets.Audio(sampling_rate=audio_rate) if name == "audio" else None for name in columns}
    table = datasets.Dataset.from_dict(columns)
    table = table.cast_column("audio", datasets.Audio(sampling_rate=audio_rate))
    os.makedirs(folder / "data", exist_ok=True)
    table.to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    del features


def test_librispeech_parquet_copy(tmp_path):
    _parquet(tmp_path, "test", {
        "file": ["1272-128104-0000.flac", "1272-128104-0001.flac"],
        "audio": [{"bytes": _wav_bytes(), "path": "1272-128104-0000.flac"}, {"bytes": _wav_bytes(0.5), "path": "1272-128104-0001.flac"}],
        "text": ["MISTER QUILTER IS THE APOSTLE", "NOR IS MISTER QUILTER'S MANNER"],
        "speaker_id": [1272, 1272],
        "chapter_id": [128104, 128104],
        "id": ["1272-128104-0000", "1272-128104-0001"],
    })
    test = load_corpus(str(tmp_path), split="test", sampling_rate=8000)
    assert set(test.column_names) == {"path", "audio", "text", "speaker_id", "chapter_id", "id"}
    assert test.features["audio"].sampling_rate == 8000
    assert load_audio(test[1]["audio"], 8000).shape == (4000,)


def test_esc50_parquet_copy(tmp_path):
    _parquet(tmp_path, "train", {
        "filename": ["1-100032-A-0.wav", "1-100038-A-14.wav"],
        "fold": [1, 1],
        "target": [0, 14],
        "category": ["dog", "chirping_birds"],
        "esc10": [True, False],
        "src_file": [100032, 100038],
        "take": ["A", "A"],
        "audio": [{"bytes": _wav_bytes(rate=44100), "path": "1-100032-A-0.wav"}, {"bytes": _wav_bytes(rate=44100), "path": "1-100038-A-14.wav"}],
    }, audio_rate=44100)
    corpus = load_corpus(str(tmp_path), sampling_rate=16000)
    train = corpus["train"]
    assert {"audio", "label", "category", "fold", "id", "esc10", "src_file", "take"} == set(train.column_names)
    assert train[0]["label"] == 0 and train[1]["id"] == "1-100038-A-14.wav"
    assert train[0]["audio"]["sampling_rate"] == 16000


def test_cryceleb_audiofolder_copy(tmp_path):
    rows = []
    for split, baby in (("train", "spk1"), ("train", "spk2"), ("dev", "spk3")):
        for period in ("B", "D"):
            name = f"audio/{split}/{baby}/{period}/{baby}_{period}_001.wav"
            _write_wav(str(tmp_path / name), freq=300 + 100 * len(rows))
            rows.append({"baby_id": baby, "period": period, "duration": 0.25, "split": split,
                         "chronological_index": "001", "file_name": name, "file_id": f"{baby}_{period}_001"})
    with open(tmp_path / "metadata.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    train = load_corpus(str(tmp_path), split="train")
    assert {"audio", "speaker_id", "period", "source_split", "chronological_index"} <= set(train.column_names)
    assert sorted(set(train["speaker_id"])) == ["spk1", "spk2"]
    assert sorted(set(train["period"])) == ["B", "D"]
    assert load_audio(train[0]["audio"], 16000).shape == (4000,)
    assert load_corpus(str(tmp_path), split="validation")["speaker_id"] == ["spk3", "spk3"]


def test_librimix_csv_copy(tmp_path):
    root = tmp_path / "Libri2Mix" / "wav8k" / "min"
    rows = []
    for k in range(2):
        mixture_id = f"61-70968-000{k}_8455-210777-001{k}"
        paths = {}
        for folder, column in (("mix_clean", "mixture_path"), ("s1", "source_1_path"), ("s2", "source_2_path")):
            local = root / "test" / folder / f"{mixture_id}.wav"
            _write_wav(str(local), rate=8000)
            # LibriMix writes absolute paths of the machine that generated it
            paths[column] = f"/home/someone/LibriMix/Libri2Mix/wav8k/min/test/{folder}/{mixture_id}.wav"
        rows.append({"mixture_ID": mixture_id, **paths, "length": 2000})
    os.makedirs(root / "metadata")
    with open(root / "metadata" / "mixture_test_mix_clean.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    test = load_corpus(str(tmp_path / "Libri2Mix"), split="test")
    assert set(test.column_names) == {"id", "mixture", "s1", "s2", "length"}
    assert load_audio(test[0]["s2"], 8000).shape == (2000,)


def test_voxceleb_folder_copy(tmp_path):
    for speaker, video, utt in (("id10001", "1zcIwhmdeo4", "00001"), ("id10001", "7gWzIy6yIIk", "00002"), ("id10002", "0_laIeN-Q44", "00001")):
        _write_wav(str(tmp_path / "wav" / speaker / video / f"{utt}.wav"))
    train = load_corpus(str(tmp_path), split="train", sampling_rate=8000)
    assert train.column_names == ["audio", "speaker_id", "video_id", "id"]
    assert train["speaker_id"] == ["id10001", "id10001", "id10002"]
    assert train[0]["audio"]["sampling_rate"] == 8000


def test_zoo_folder_and_split_alias(tiny_speech_dir):
    validation = load_corpus(str(tiny_speech_dir), split="dev")
    assert "speaker_id" in validation.column_names and validation.num_rows > 0
    renamed = load_corpus(str(tiny_speech_dir), split="test", column_mapping={"text": "transcript"})
    assert "transcript" in renamed.column_names and "text" not in renamed.column_names


def test_known_mappings():
    assert known_mapping("Ubenwa/CryCeleb2023")["baby_id"] == "speaker_id"
    assert known_mapping("somewhere/local", ["filename", "target", "category", "esc10", "audio"])["target"] == "label"
    assert known_mapping("unknown/dataset", ["audio", "text"]) == {}


def test_missing_split_is_explained(tiny_speech_dir):
    with pytest.raises(ValueError, match="split 'nonsense' not found"):
        load_corpus(str(tiny_speech_dir), split="nonsense")
