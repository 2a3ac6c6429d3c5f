from dataclasses import replace

import numpy as np
import pytest

from zoo.audio import load_audio
from zoo.data.cli import main
from zoo.data.cry import SYNTHETIC_NOTE, build_cry, estimate_f0, plan_infants, synthesize_cry
from zoo.data.hub import load_corpus

COLUMNS = ["audio", "baby_id", "speaker_id", "period", "split", "duration", "chronological_index", "file_id", "snr_db", "synthetic"]


@pytest.fixture(scope="module")
def infants():
    return plan_infants(8, seed=4)


@pytest.fixture(scope="module")
def clean_cries(infants):
    """Two noise-free recordings of each of the first five identities at each period."""
    return {(i.baby_id, i.period): [synthesize_cry(i, seed=k) for k in range(2)] for i in infants[:10]}


@pytest.fixture(scope="module")
def tiny_cry_dir(tmp_path_factory):
    output = tmp_path_factory.mktemp("cry") / "tiny"
    build_cry(str(output), num_infants=6, recordings_per_period=2, seed=2, workers=1, progress=False)
    return output


def _voiced_f0(waves):
    f0 = np.concatenate([estimate_f0(w, 16000) for w in waves])
    return f0[~np.isnan(f0)]


def test_plan_is_deterministic_with_disjoint_splits(infants):
    assert plan_infants(8, seed=4) == infants
    assert plan_infants(8, seed=5) != infants
    split_of = {}
    for infant in infants:
        assert split_of.setdefault(infant.baby_id, infant.split) == infant.split  # B and D share the split
    assert sorted(split_of.values()).count("validation") >= 2 and sorted(split_of.values()).count("test") >= 2
    with pytest.raises(ValueError, match="num_infants"):
        plan_infants(3)


def test_d_differs_from_b_but_stays_close(infants):
    for birth, discharge in zip(infants[::2], infants[1::2]):
        assert (birth.period, discharge.period) == ("B", "D") and birth.baby_id == discharge.baby_id
        assert 0.95 <= discharge.f0 / birth.f0 <= 1.05 and discharge.f0 != birth.f0
        assert all(0.96 <= d / b <= 0.99 for b, d in zip(birth.formants, discharge.formants))  # the tract grew
        assert (birth.highpass, birth.lowpass) != (discharge.highpass, discharge.lowpass)  # another channel
        assert np.mean(discharge.snr_db) < np.mean(birth.snr_db)  # a noisier recording at D


def test_f0_mostly_in_the_infant_range(infants, clean_cries):
    for infant in infants[:10]:
        f0 = _voiced_f0(clean_cries[(infant.baby_id, infant.period)])
        assert len(f0) > 50
        assert np.mean((f0 >= 300) & (f0 <= 600)) > 0.7, infant.baby_id
        assert abs(np.median(f0) / infant.f0 - 1) < 0.1  # the register is what the recording sounds at


def test_identities_differ(infants, clean_cries):
    # median f0 and the long-term spectrum in 0.5-4.5 kHz (where the resonances are and the channels' band
    # limits are not): an identity's D recordings are closer to its own B ones than to other identities'
    def features(wave):
        frames = np.lib.stride_tricks.sliding_window_view(wave, 512)[::256] * np.hanning(512)
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (frames, 257), 31.25 Hz bins
        power = power[power.sum(1) > power.sum(1).max() * 1e-2].mean(0)
        bands = np.log10([band.mean() + 1e-12 for band in np.array_split(power[16:144], 8)])
        return np.concatenate([[4 * np.log2(np.median(_voiced_f0([wave])))], bands - bands.mean()])

    ids = sorted({i.baby_id for i in infants[:10]})
    birth = {b: np.mean([features(w) for w in clean_cries[(b, "B")]], axis=0) for b in ids}
    discharge = {b: np.mean([features(w) for w in clean_cries[(b, "D")]], axis=0) for b in ids}
    same = [np.linalg.norm(birth[b] - discharge[b]) for b in ids]
    other = [np.linalg.norm(birth[a] - discharge[b]) for a in ids for b in ids if a != b]
    assert np.mean(same) < 0.8 * np.mean(other)
    same_f0 = [abs(birth[b][0] - discharge[b][0]) for b in ids]
    other_f0 = [abs(birth[a][0] - discharge[b][0]) for a in ids for b in ids if a != b]
    assert np.mean(same_f0) < 0.5 * np.mean(other_f0)
    medians = [np.median(_voiced_f0(clean_cries[(b, "B")])) for b in ids]
    assert max(medians) - min(medians) > 40  # registers spread over the infant range


def test_hyperphonation_jumps_above_1khz(infants):
    jumpy = replace(infants[0], hyperphonation=1.0, breathiness=0.03)
    f0 = _voiced_f0([synthesize_cry(jumpy, seed=k, units=(3, 3)) for k in range(2)])
    assert np.mean(f0 > 1000) > 0.02
    calm = replace(infants[0], hyperphonation=0.0)
    assert np.mean(_voiced_f0([synthesize_cry(calm, seed=0, units=(3, 3))]) > 1000) < 0.02


def test_recordings_are_reproducible_and_varied(infants):
    a, b = synthesize_cry(infants[0], seed=1), synthesize_cry(infants[0], seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[:8000], synthesize_cry(infants[0], seed=2)[:8000])
    rms = float(np.sqrt(np.mean(a**2)))
    assert 0.02 < rms < 0.2 and np.abs(a).max() < 0.9


def test_tiny_build(tiny_cry_dir):
    dataset = load_corpus(str(tiny_cry_dir))  # baby_id and speaker_id both stay: no CryCeleb renaming of zoo folders
    assert list(dataset) == ["train", "validation", "test"]
    babies = {}
    for name, split in dataset.items():
        assert split.column_names == COLUMNS
        assert split["baby_id"] == split["speaker_id"] and set(split["split"]) == {name}
        assert all(split["synthetic"])
        babies[name] = set(split["baby_id"])
        for baby in babies[name]:
            periods = [p for b, p in zip(split["baby_id"], split["period"]) if b == baby]
            assert sorted(periods) == ["B", "B", "D", "D"]
    assert not babies["train"] & babies["test"] and not babies["validation"] & babies["test"]
    row = dataset["test"].with_format(None)[0]
    assert row["file_id"] == f"{row['baby_id']}_{row['period']}_{row['chronological_index']}"
    assert row["snr_db"] is not None
    assert "SYNTHETIC" in dataset["test"].info.description
    import datasets

    raw = dataset["test"].cast_column("audio", datasets.Audio(decode=False))[0]["audio"]
    wave = load_audio(raw, 16000)
    assert abs(len(wave) / 16000 - row["duration"]) < 0.01


def test_same_seed_same_bytes(tmp_path, tiny_cry_dir, folder_bytes):
    import json

    build_cry(str(tmp_path / "again"), num_infants=6, recordings_per_period=2, seed=2, workers=2, progress=False)
    assert folder_bytes(tmp_path / "again") == folder_bytes(tiny_cry_dir)
    with open(tmp_path / "again" / "zoo_corpus.json") as handle:
        metadata = json.load(handle)
    assert metadata["synthetic"] is True and metadata["note"] == SYNTHETIC_NOTE and len(metadata["infants"]) == 12


def test_bad_settings_are_refused(infants):
    with pytest.raises(ValueError, match="sampling_rate"):
        synthesize_cry(infants[0], sampling_rate=8000)
    with pytest.raises(ValueError, match="recordings_per_period"):
        build_cry(None, num_infants=6, recordings_per_period=0)
    with pytest.raises(ValueError, match="noise"):
        synthesize_cry(infants[0], noise=np.zeros(100))


def test_cli(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["cry", "--help"])
    assert "--num-infants" in capsys.readouterr().out
    assert main(["cry", "--tiny", "--no-background", "--output", str(tmp_path / "c"), "--workers", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "SYNTHETIC" in out and "test" in out
