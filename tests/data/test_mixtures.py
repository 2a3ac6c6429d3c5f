import numpy as np
import pytest

from zoo.audio import load_audio
from zoo.data.mixtures import (
    DynamicMixer,
    build_mixtures,
    mix,
    noise_bank,
    noise_segment,
)

PER_SPLIT = 3


def _arrays(row, names, rate):
    return {name: load_audio(row[name], rate) for name in names}


@pytest.fixture(scope="module")
def clean2(tiny_speech_dir):
    return build_mixtures(str(tiny_speech_dir), None, num_speakers=2, condition="clean", sampling_rate=8000,
                          mixtures_per_split=PER_SPLIT, workers=2, progress=False)


def test_clean_columns_and_sum(clean2):
    assert list(clean2) == ["train", "validation", "test"]
    split = clean2["test"]
    assert split.num_rows == PER_SPLIT
    assert split.column_names[:3] == ["mixture", "s1", "s2"]
    assert {"speaker_ids", "gains_db", "snr_db", "id"} <= set(split.column_names)
    for row in split:
        audio = _arrays(row, ["mixture", "s1", "s2"], 8000)
        assert len(audio["mixture"]) == len(audio["s1"]) == len(audio["s2"])
        np.testing.assert_allclose(audio["mixture"], audio["s1"] + audio["s2"], atol=1e-3)
        assert row["snr_db"] is None and len(row["gains_db"]) == 2


def test_mixture_splits_follow_speech_splits(clean2, tiny_speech):
    for name, split in clean2.items():
        allowed = set(tiny_speech[name]["speaker_id"])
        for speakers in split["speaker_ids"]:
            assert len(set(speakers)) == 2 and set(speakers) <= allowed


def test_min_mode_truncates_to_shortest(clean2, tiny_speech):
    durations = dict(zip(tiny_speech["test"]["id"], tiny_speech["test"]["duration"]))
    for row in clean2["test"]:
        assert abs(row["duration"] - min(durations[i] for i in row["source_ids"])) < 0.01


def test_noisy_three_speakers_16k(tiny_speech_dir):
    dataset = build_mixtures(str(tiny_speech_dir), None, num_speakers=3, condition="noisy", sampling_rate=16000,
                             splits=("validation", "test"), mixtures_per_split=2, workers=1, progress=False)
    split = dataset["test"]
    assert split.column_names[:5] == ["mixture", "s1", "s2", "s3", "noise"]
    for row in split:
        audio = _arrays(row, ["mixture", "s1", "s2", "s3", "noise"], 16000)
        np.testing.assert_allclose(audio["mixture"], audio["s1"] + audio["s2"] + audio["s3"] + audio["noise"], atol=1e-3)
        assert len(set(row["speaker_ids"])) == 3
        assert -20 < row["snr_db"] < 30
        assert np.abs(audio["noise"]).max() > 0


def test_fixed_mixtures_are_deterministic(tiny_speech_dir, clean2):
    again = build_mixtures(str(tiny_speech_dir), None, mixtures_per_split=PER_SPLIT, workers=1, progress=False)
    assert again["test"].data.table.equals(clean2["test"].data.table)


def test_noise_parts_do_not_overlap():
    bank = noise_bank(8000)
    name = min(bank)
    train = noise_segment(bank, name, "train", 800, 0.0)
    test = noise_segment(bank, name, "test", 800, 0.0)
    assert not np.allclose(train, test)


def test_mix_scales_down_together_when_clipping():
    loud = [np.full(100, 0.9, dtype=np.float32), np.full(100, 0.9, dtype=np.float32)]
    out = mix(loud, [0.0, 0.0], 8000)
    assert np.abs(out["mixture"]).max() <= 0.99 + 1e-6
    np.testing.assert_allclose(out["mixture"], out["sources"].sum(0), atol=1e-6)


def test_dynamic_mixer(tiny_speech):
    mixer = DynamicMixer(tiny_speech["train"], num_speakers=2, sampling_rate=8000, segment_seconds=1.0, seed=7)
    assert len(mixer) == tiny_speech["train"].num_rows
    item = mixer[3]
    assert item["mixture"].shape == (8000,) and item["sources"].shape == (2, 8000)
    assert item["mixture"].dtype == np.float32
    np.testing.assert_allclose(item["mixture"], item["sources"].sum(0), atol=1e-6)
    np.testing.assert_array_equal(mixer[3]["mixture"], item["mixture"])  # deterministic per index
    other = DynamicMixer(tiny_speech["train"], num_speakers=2, sampling_rate=8000, segment_seconds=1.0, seed=8)
    assert not np.array_equal(other[3]["mixture"], item["mixture"])
    with pytest.raises(IndexError):
        mixer[len(mixer)]



def test_dynamic_mixer_speed_perturbation(tiny_speech):
    """Each source is played `speed` times as fast before the crop: half speed doubles the whole utterances."""
    plain = DynamicMixer(tiny_speech["train"], segment_seconds=None, seed=3)
    slow = DynamicMixer(tiny_speech["train"], segment_seconds=None, seed=3, speed_probability=1.0, speeds=(0.5,))
    assert len(slow[2]["mixture"]) == pytest.approx(2 * len(plain[2]["mixture"]), abs=2)  # the same utterances
    cropped = DynamicMixer(tiny_speech["train"], segment_seconds=1.0, seed=3, speed_probability=1.0, speeds=(0.5,))
    assert cropped[2]["sources"].shape == (2, 8000)
    np.testing.assert_array_equal(  # off by default, and no random draw spent on it: old recipes mix as before
        DynamicMixer(tiny_speech["train"], segment_seconds=None, seed=3, speed_probability=0.0)[2]["mixture"], plain[2]["mixture"]
    )
    with pytest.raises(ValueError, match="speed_probability=1.5"):
        DynamicMixer(tiny_speech["train"], speed_probability=1.5)
    with pytest.raises(ValueError, match="speeds=.*positive"):
        DynamicMixer(tiny_speech["train"], speed_probability=0.5, speeds=(0.0,))


def test_dynamic_mixer_formant_shifts(tiny_speech):
    """New formants keep each source's tempo: the same utterances, the same lengths, other samples."""
    plain = DynamicMixer(tiny_speech["train"], segment_seconds=None, seed=3)
    shifted = DynamicMixer(tiny_speech["train"], segment_seconds=None, seed=3, formant_probability=1.0, formant_ratios=(1.2,))
    assert shifted[2]["speakers"] == plain[2]["speakers"] and shifted[2]["sources"].shape == plain[2]["sources"].shape
    assert not np.allclose(shifted[2]["sources"], plain[2]["sources"], atol=1e-3)
    np.testing.assert_array_equal(shifted[2]["mixture"], shifted[2]["mixture"])  # a draw depends on (seed, index)
    np.testing.assert_array_equal(  # off by default, with no draw spent on it
        DynamicMixer(tiny_speech["train"], segment_seconds=None, seed=3, formant_probability=0.0)[2]["mixture"], plain[2]["mixture"]
    )
    with pytest.raises(ValueError, match="formant_probability=2"):
        DynamicMixer(tiny_speech["train"], formant_probability=2)
    with pytest.raises(ValueError, match="formant_ratios=.*positive"):
        DynamicMixer(tiny_speech["train"], formant_probability=0.5, formant_ratios=(-1.0,))


def test_dynamic_mixer_same_voice_mixtures(tiny_speech):
    """With same_voice_probability=1 every mixture is of speakers of one voice; voices of one speaker mix as usual."""
    train = tiny_speech["train"]
    speakers = sorted(set(train["speaker_id"]))
    voices = {speaker: f"voice{i % 2}" for i, speaker in enumerate(speakers)}
    train = train.remove_columns("voice").add_column("voice", [voices[s] for s in train["speaker_id"]])
    mixer = DynamicMixer(train, segment_seconds=0.5, seed=5, length=40, same_voice_probability=1.0)
    pairs = [mixer[index]["speakers"] for index in range(40)]
    assert all(len(set(pair)) == 2 and voices[pair[0]] == voices[pair[1]] for pair in pairs)
    uniform = DynamicMixer(train, segment_seconds=0.5, seed=5, length=40)
    assert any(voices[a] != voices[b] for a, b in (uniform[index]["speakers"] for index in range(40)))
    solo = train.remove_columns("voice").add_column("voice", train["speaker_id"])  # every voice has one speaker
    lonely = DynamicMixer(solo, segment_seconds=0.5, seed=5, length=5, same_voice_probability=1.0)
    assert all(len(set(lonely[index]["speakers"])) == 2 for index in range(5))
    with pytest.raises(ValueError, match="voice"):
        DynamicMixer(train.remove_columns("voice"), same_voice_probability=0.5)
    with pytest.raises(ValueError, match="same_voice_probability=2"):
        DynamicMixer(train, same_voice_probability=2)

def test_dynamic_mixer_with_torch_dataloader(tiny_speech_dir):
    import torch

    mixer = DynamicMixer(str(tiny_speech_dir), num_speakers=3, sampling_rate=8000, segment_seconds=0.5,
                         condition="noisy", split="train", length=4)
    batch = next(iter(torch.utils.data.DataLoader(mixer, batch_size=2)))
    assert batch["mixture"].shape == (2, 4000) and batch["sources"].shape == (2, 3, 4000)
    torch.testing.assert_close(batch["mixture"], batch["sources"].sum(1) + batch["noise"], atol=1e-5, rtol=0)


def test_dynamic_mixer_reverb_targets_are_direct_path(tiny_speech):
    mixer = DynamicMixer(tiny_speech["test"], sampling_rate=8000, segment_seconds=1.0, condition="reverb", seed=1)
    item = mixer[0]
    assert item["sources"].shape == (2, 8000)
    # the reverberant mixture carries energy the direct-path targets do not
    assert not np.allclose(item["mixture"], item["sources"].sum(0), atol=1e-3)
    assert np.isfinite(item["mixture"]).all()


@pytest.mark.slow
def test_reverb_build(tiny_speech_dir):
    dataset = build_mixtures(str(tiny_speech_dir), None, condition="reverb", splits=("test",), mixtures_per_split=2,
                             workers=1, progress=False)
    row = dataset["test"][0]
    assert 0.2 <= row["rt60"] <= 0.6
    assert "direct-path" in dataset["test"].info.description


def test_bad_condition_is_refused(tiny_speech_dir):
    with pytest.raises(ValueError, match="condition"):
        build_mixtures(str(tiny_speech_dir), None, condition="underwater")
