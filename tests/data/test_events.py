import numpy as np
import pytest

from zoo.audio import load_audio
from zoo.data.events import EVENT_CLASSES, TINY_LABELS, build_events, write_midi

TINY = dict(clips_per_class=2, seconds=1.0, folds=2, seed=5, tiny=True, workers=2, progress=False)


@pytest.fixture(scope="module")
def tiny_events():
    return build_events(None, **TINY)


def test_tiny_events(tiny_events):
    split = tiny_events["train"]
    assert split.column_names == ["audio", "label", "category", "caption", "fold", "source", "duration", "id"]
    assert split.features["label"].names == list(TINY_LABELS)
    assert split.num_rows == len(TINY_LABELS) * 2
    assert set(split["fold"]) == {1, 2}
    assert {"fluidsynth", "sox"} == set(split["source"])
    for row in split:
        wave = load_audio(row["audio"], 16000)
        assert wave.shape == (16000,)
        assert np.sqrt(np.mean(wave**2)) > 0.01, row["id"]  # something sounds
        assert len(row["caption"].split()) >= 2


def test_captions_vary(tiny_events):
    captions = tiny_events["train"]["caption"]
    assert len(set(captions)) > len(captions) // 2


def test_events_are_deterministic(tiny_events):
    again = build_events(None, **{**TINY, "workers": 1})
    assert again["train"].data.table.equals(tiny_events["train"].data.table)


def test_save_and_reload(tmp_path):
    import datasets

    build_events(str(tmp_path / "events"), labels=("sine_sweep",), clips_per_class=1, seconds=0.5, workers=1, progress=False)
    loaded = datasets.load_from_disk(str(tmp_path / "events"))
    assert loaded["train"][0]["audio"]["array"].shape == (8000,)


def test_classes_cover_the_brief():
    labels = {e.label for e in EVENT_CLASSES}
    assert {"piano", "acoustic_guitar", "string_ensemble", "brass_section", "organ", "drum_kit", "bird_tweet",
            "telephone_ring", "helicopter", "applause", "gunshot", "seashore", "breath_noise", "sine_sweep",
            "noise_burst"} <= labels
    assert len(labels) == len(EVENT_CLASSES)


def test_write_midi_header():
    data = write_midi([(0.0, bytes([0xC0, 5])), (0.5, bytes([0x90, 60, 90])), (1.0, bytes([0x80, 60, 0]))])
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk"


def test_unknown_label_is_refused():
    with pytest.raises(ValueError, match="unknown event labels"):
        build_events(None, labels=("kazoo",))
