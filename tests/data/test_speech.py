import collections
import os
import re
import shutil

import datasets
import numpy as np
import pytest

from zoo.audio import load_audio
from zoo.data.speech import (
    ESPEAK_PITCH_STEP,
    FESTIVAL_VOICES,
    FLITE_F0_STEP_SEMITONES,
    FLITE_VOICES,
    UNSEEN_VOICES,
    Speaker,
    build_speech,
    flite_f0_slots,
    plan_festival_speakers,
    plan_speakers,
    synthesize,
    trim_silence,
    vary_pronunciation,
)

COLUMNS = ["audio", "text", "original_text", "phonemes", "speaker_id", "engine", "voice", "variant", "gender",
           "unseen_voice", "duration", "source", "id"]


def test_default_plan_has_both_engines_and_30_plus_speakers():
    speakers = plan_speakers()  # the default build's speakers
    assert len({s.speaker_id for s in speakers}) == len(speakers) >= 30
    assert {s.engine for s in speakers} == {"espeak", "flite"}
    assert len({(s.engine, s.voice, s.variant, s.speed, s.pitch) for s in speakers}) == len(speakers)
    for split in ("validation", "test"):  # held-out splits hear both engines
        assert {s.engine for s in speakers if s.split == split and not s.unseen_voice} == {"espeak", "flite"}


def test_speakers_of_one_voice_are_distinct_voices():
    import itertools

    speakers = plan_speakers(600, seed=3)
    for a, b in itertools.combinations(speakers, 2):
        if (a.engine, a.voice, a.variant) != (b.engine, b.voice, b.variant):
            continue
        if a.engine == "espeak":
            assert abs(a.pitch - b.pitch) >= ESPEAK_PITCH_STEP, (a, b)
        else:
            assert abs(12 * np.log2(a.pitch / b.pitch)) >= FLITE_F0_STEP_SEMITONES - 0.1, (a, b)
    assert not any(f"{s.speed:g}" in s.speaker_id for s in speakers if s.engine == "espeak")  # the rate is no identity
    flite = [s for s in speakers if s.engine == "flite"]
    assert len(flite) == sum(len(flite_f0_slots(v)) for v in FLITE_VOICES)  # every flite slot, the rest espeak-ng
    for voice, (_, (low, high)) in FLITE_VOICES.items():
        assert all(low <= s.pitch <= high for s in flite if s.voice == voice)


def test_a_plan_bigger_than_the_engines_is_refused():
    with pytest.raises(ValueError, match=r"num_speakers=5000 is more than the \d+ distinct speakers.*use \d+ or fewer"):
        plan_speakers(5000)


def test_plan_is_deterministic_and_seed_dependent():
    assert plan_speakers(20, seed=1) == plan_speakers(20, seed=1)
    assert plan_speakers(20, seed=1) != plan_speakers(20, seed=2)


def test_tiny_build_columns_and_content(tiny_speech):
    assert list(tiny_speech) == ["train", "validation", "test"]
    for split in tiny_speech.values():
        assert split.column_names == COLUMNS
        assert split.features["audio"].sampling_rate == 16000
    row = tiny_speech["train"][0]
    assert re.fullmatch(r"[A-Z' ]+", row["text"])
    assert row["phonemes"] and row["original_text"]
    assert row["engine"] in {"espeak", "flite"}


def test_splits_are_speaker_disjoint(tiny_speech):
    speakers = {name: set(split["speaker_id"]) for name, split in tiny_speech.items()}
    assert not speakers["train"] & speakers["validation"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["validation"] & speakers["test"]
    assert all(len(s) >= 3 for s in speakers.values())


def test_unseen_voices_only_in_test(tiny_speech):
    for name in ("train", "validation"):
        split = tiny_speech[name]
        assert not any(split["unseen_voice"])
        assert not {f"{e}:{v}" for e, v in zip(split["engine"], split["voice"])} & set(UNSEEN_VOICES)
    test = tiny_speech["test"]
    in_test = {f"{e}:{v}" for e, v, u in zip(test["engine"], test["voice"], test["unseen_voice"]) if u}
    assert in_test == set(UNSEEN_VOICES)


def test_audio_is_embedded_and_decodes_both_ways(tiny_speech):
    import datasets

    raw = tiny_speech["test"].cast_column("audio", datasets.Audio(decode=False))[0]["audio"]
    assert raw["bytes"] and not os.path.isabs(raw["path"])  # self-contained: no temp-file paths
    via_zoo = load_audio(raw, 16000)  # zoo.audio on the row's dict
    decoded = tiny_speech["test"][0]["audio"]  # datasets' own decoder (torchcodec)
    via_datasets = decoded["array"]
    assert decoded["sampling_rate"] == 16000
    np.testing.assert_allclose(via_datasets, via_zoo, atol=1e-4)
    assert 0.5 < len(via_zoo) / 16000 < 15
    rms = float(np.sqrt(np.mean(via_zoo**2)))
    assert 0.02 < rms < 0.2  # level-normalised (-25 dBFS is 0.056)
    assert np.abs(via_zoo).max() <= 0.9  # peaks held under -1 dBFS


def test_same_seed_same_bytes(tmp_path, tiny_speech_dir, tiny_speech_kwargs, sentences, folder_bytes):
    again = tmp_path / "again"
    build_speech(str(again), sentences=sentences, **tiny_speech_kwargs)
    assert folder_bytes(again) == folder_bytes(tiny_speech_dir)


def test_other_rate_and_wav_format(tmp_path, sentences):
    dataset = build_speech(None, num_speakers=8, utterances_per_speaker=1, sampling_rate=8000, audio_format="wav",
                           sentences=sentences, workers=1, progress=False)
    row = dataset["train"][0]
    assert row["audio"]["sampling_rate"] == 8000
    assert abs(len(row["audio"]["array"]) / 8000 - row["duration"]) < 0.01


def test_opus_format_is_a_fifth_of_flac_and_decodes_both_ways(tmp_path, sentences):
    """`--format opus`: small corpora for recognition; zoo.audio (soundfile) and datasets (torchcodec) both read it."""
    import datasets

    kwargs = dict(num_speakers=8, utterances_per_speaker=1, sentences=sentences, workers=1, progress=False)
    opus = build_speech(None, audio_format="opus", **kwargs)["train"]
    flac = build_speech(None, **kwargs)["train"]
    raw = opus.cast_column("audio", datasets.Audio(decode=False))
    raw_flac = flac.cast_column("audio", datasets.Audio(decode=False))
    assert raw[0]["audio"]["path"].endswith(".opus")
    opus_bytes = sum(len(row["audio"]["bytes"]) for row in raw)
    flac_bytes = sum(len(row["audio"]["bytes"]) for row in raw_flac)
    assert opus_bytes < flac_bytes / 3
    via_zoo = load_audio(raw[0]["audio"], 16000)
    reference = load_audio(raw_flac[0]["audio"], 16000)
    assert len(via_zoo) == len(reference)  # Opus's pre-skip is undone: no shift, no padding
    snr = 10 * np.log10(np.sum(reference**2) / np.sum((reference - via_zoo) ** 2))
    assert snr > 15, f"Opus round trip at {snr:.1f} dB waveform SNR"
    decoded = opus[0]["audio"]  # datasets' own decoder
    assert decoded["sampling_rate"] == 16000 and abs(len(decoded["array"]) - len(via_zoo)) <= 960


def test_opus_at_a_rate_it_cannot_take_is_refused_before_any_synthesis(sentences):
    with pytest.raises(ValueError, match="Opus takes .* not 22050"):
        build_speech(None, num_speakers=8, utterances_per_speaker=1, sampling_rate=22050, audio_format="opus",
                     sentences=sentences, workers=1, progress=False)
    with pytest.raises(ValueError, match="audio_format='mp3'; use one of flac, wav, opus"):
        build_speech(None, num_speakers=8, audio_format="mp3", sentences=sentences, progress=False)


def test_too_few_speakers_is_refused():
    with pytest.raises(ValueError, match="num_speakers"):
        plan_speakers(3)


def _median_f0(wave: np.ndarray, sr: int) -> float:
    """Median autocorrelation pitch (60..300 Hz) over the voiced 40 ms frames."""
    hop, win, f0s = sr // 100, sr // 25, []
    for start in range(0, len(wave) - win, hop):
        frame = wave[start : start + win] - wave[start : start + win].mean()
        if np.sqrt((frame**2).mean()) < 0.02 * np.abs(wave).max():
            continue
        corr = np.correlate(frame, frame, "full")[win - 1 :]
        lag = sr // 300 + int(np.argmax(corr[sr // 300 : sr // 60]))
        if corr[lag] > 0.5 * corr[0]:
            f0s.append(sr / lag)
    return float(np.median(f0s))


@pytest.mark.parametrize("voice", sorted(FLITE_VOICES))
def test_every_flite_voice_follows_the_speakers_pitch(voice):
    # flite's rms ignores int_f0_target_mean; its pitch is shifted with sox instead, so its speakers differ in voice
    low, high = FLITE_VOICES[voice][1]
    text = "The quick brown fox jumps over the lazy dog, and then it runs away."
    waves = [synthesize(Speaker("s", "flite", voice, "", 1.0, float(f0), "male"), text) for f0 in (low, high)]
    assert waves[0][1] == waves[1][1] == 16000
    assert abs(len(waves[0][0]) - len(waves[1][0])) < 0.02 * len(waves[0][0])  # same speed
    f0_low, f0_high = (_median_f0(w, sr) for w, sr in waves)
    assert f0_high / f0_low > 1.15  # well apart ...
    assert abs(np.log(f0_high / f0_low) - np.log(high / low)) < 0.15  # ... by about the ratio asked for


def test_trim_silence_keeps_margin():
    wave = np.concatenate([np.zeros(16000), np.full(800, 0.5), np.zeros(16000)]).astype(np.float32)
    assert len(trim_silence(wave, 16000, margin_seconds=0.05)) == 800 + 2 * 800


def test_training_build_keeps_the_plan_and_never_reads_an_evaluation_sentence(tmp_path, tiny_speech_dir, tiny_speech, tiny_speech_kwargs, sentences):
    bigger = build_speech(None, sentences=sentences, splits=("train",), exclude_sentences_of=str(tiny_speech_dir),
                          **{**tiny_speech_kwargs, "utterances_per_speaker": 3})
    assert list(bigger) == ["train"]
    assert set(bigger["train"]["speaker_id"]) == set(tiny_speech["train"]["speaker_id"])
    assert len(bigger["train"]) == 3 * len(set(tiny_speech["train"]["speaker_id"]))
    read_before = {text for split in tiny_speech.values() for text in split["original_text"]}
    assert read_before and not read_before & set(bigger["train"]["original_text"])


def test_speaker_exclusion_leaves_out_the_held_out_speakers_of_the_folder(tiny_speech_dir, tiny_speech, tiny_speech_kwargs, sentences):
    with pytest.raises(ValueError, match=r"every speaker .*\(--seed\)"):  # its own test speakers, all excluded
        build_speech(None, sentences=sentences, splits=("test",), exclude_speakers_of=str(tiny_speech_dir), **tiny_speech_kwargs)
    kwargs = {**tiny_speech_kwargs, "num_speakers": 2 * tiny_speech_kwargs["num_speakers"], "utterances_per_speaker": 1}
    planned = {s.speaker_id for s in plan_speakers(kwargs["num_speakers"], seed=kwargs["seed"]) if s.split == "train"}
    held_out = {speaker for name in ("validation", "test") for speaker in tiny_speech[name]["speaker_id"]}
    assert planned & held_out, "the bigger plan should share speakers with the tiny one's held-out splits, or this test checks nothing"
    other = build_speech(None, sentences=sentences, splits=("train",), exclude_speakers_of=str(tiny_speech_dir), **kwargs)
    assert set(other["train"]["speaker_id"]) == planned - held_out


def test_unknown_split_and_missing_exclusion_folder_are_refused(tmp_path, sentences, tiny_speech_kwargs):
    with pytest.raises(ValueError, match="splits=.*choose among"):
        build_speech(None, sentences=sentences, splits=("dev",), **tiny_speech_kwargs)
    with pytest.raises(FileNotFoundError, match="zoo data speech --output"):
        build_speech(None, sentences=sentences, exclude_sentences_of=str(tmp_path / "absent"), **tiny_speech_kwargs)


def test_flite_speakers_read_their_own_count_and_no_sentence_twice(tiny_speech_kwargs, sentences):
    built = build_speech(None, sentences=sentences, splits=("train",), flite_utterances_per_speaker=3,
                         **{**tiny_speech_kwargs, "utterances_per_speaker": 1})
    per_speaker = collections.Counter(built["train"]["speaker_id"])
    flite = {s: n for s, n in per_speaker.items() if s.startswith("flite_")}
    espeak = {s: n for s, n in per_speaker.items() if s.startswith("espeak_")}
    assert flite and espeak, "the tiny plan should train both engines, or this test checks nothing"
    assert set(flite.values()) == {3} and set(espeak.values()) == {1}
    assert len(set(built["train"]["original_text"])) == len(built["train"])
    with pytest.raises(ValueError, match="flite_utterances_per_speaker must be >= 1"):
        build_speech(None, sentences=sentences, flite_utterances_per_speaker=0, **tiny_speech_kwargs)


def test_pronunciation_rules_rewrite_espeak_phonemes():
    assert vary_pronunciation("D@ T'IN wID D,Em", ["th-stopping"]) == "d@ t'IN wId d,Em"
    assert vary_pronunciation("br'VD3 T'IN", ["th-fronting"]) == "br'Vv3 f'IN"  # initial D ("the") kept
    assert vary_pronunciation("d,u:IN T'IN_:", ["g-dropping"]) == "d,u:In T'IN_:"  # unstressed -ing only
    assert vary_pronunciation("h'aUs hi:z", ["h-dropping"]) == "'aUs i:z"
    assert vary_pronunciation("f'3:st and 'oUld", ["cluster-reduction"]) == "f'3:s an 'oUl"
    assert vary_pronunciation("hi:z b'Ed dZ'VdZ", ["final-devoicing"]) == "hi:s b'Et dZ'VtS"
    with pytest.raises(ValueError, match="unknown pronunciation rule 'lisp'; choose among"):
        vary_pronunciation("s'i:", ["lisp"])


def test_pronunciation_variants_change_espeak_training_speech_only(tiny_speech_kwargs, sentences):
    plain = build_speech(None, sentences=sentences, **tiny_speech_kwargs)
    varied = build_speech(None, sentences=sentences, pronunciation_variants=1.0, **tiny_speech_kwargs)
    train = varied["train"]
    assert "pronunciation" not in plain["train"].column_names and "pronunciation" in train.column_names
    said = dict(zip(train["id"], train["pronunciation"]))
    espeak = [i for i, engine in zip(train["id"], train["engine"]) if engine == "espeak"]
    flite = [i for i, engine in zip(train["id"], train["engine"]) if engine == "flite"]
    assert espeak and flite, "the tiny plan should train both engines, or this test checks nothing"
    assert all(said[i] for i in espeak) and not any(said[i] for i in flite)
    assert all(1 <= len(said[i].split(",")) <= 2 for i in espeak)
    # the same sentences, read differently where a rule applies; flite and the held-out splits unchanged
    assert train["original_text"] == plain["train"]["original_text"]
    bytes_of = lambda split: [a["bytes"] for a in split.cast_column("audio", datasets.Audio(decode=False))["audio"]]
    old, new = dict(zip(plain["train"]["id"], bytes_of(plain["train"]))), dict(zip(train["id"], bytes_of(train)))
    assert all(old[i] == new[i] for i in flite) and sum(old[i] != new[i] for i in espeak) >= len(espeak) // 2
    for split in ("validation", "test"):
        assert set(varied[split]["pronunciation"]) == {""} and bytes_of(varied[split]) == bytes_of(plain[split])
    with pytest.raises(ValueError, match="pronunciation_variants is a share of utterances in \\[0, 1\\], got 2"):
        build_speech(None, sentences=sentences, pronunciation_variants=2, **tiny_speech_kwargs)


def test_unseen_dev_set_holds_the_unseen_voices_reading_validation_sentences_only(tiny_speech_dir, tiny_speech, tiny_speech_kwargs, sentences):
    dev = build_speech(None, sentences=sentences, unseen_dev_of=str(tiny_speech_dir), **{**tiny_speech_kwargs, "utterances_per_speaker": 1})
    assert list(dev) == ["validation"]
    rows = dev["validation"]
    assert len(rows) and all(rows["unseen_voice"])
    assert {f"{e}:{v}" for e, v in zip(rows["engine"], rows["voice"])} == set(UNSEEN_VOICES)
    assert set(rows["original_text"]) <= set(tiny_speech["validation"]["original_text"])
    assert not set(rows["original_text"]) & set(tiny_speech["test"]["original_text"])
    # the test split's unseen-voice speakers, now reading validation sentences
    unseen_test = {s for s, u in zip(tiny_speech["test"]["speaker_id"], tiny_speech["test"]["unseen_voice"]) if u}
    assert set(rows["speaker_id"]) == unseen_test


def _rms_level(wave):
    return float(np.sqrt(np.mean(np.square(wave))))


@pytest.mark.skipif(shutil.which("text2wave") is None, reason="festival is not installed")
def test_festival_speakers_are_distinct_training_voices_and_follow_their_pitch():
    speakers = plan_festival_speakers(14, seed=0)
    assert len({s.speaker_id for s in speakers}) == 14 and {s.split for s in speakers} == {"train"}
    assert {s.voice for s in speakers} == set(FESTIVAL_VOICES)  # every installed voice takes a turn
    assert plan_festival_speakers(14, seed=0) == speakers and plan_festival_speakers(14, seed=1) != speakers
    with pytest.raises(ValueError, match="festival_speakers=15 is more than the 14"):
        plan_festival_speakers(15)
    text = "The quick brown fox jumps over the lazy dog, and then it runs away."
    low, high = FESTIVAL_VOICES["ked"][2]
    waves = [synthesize(Speaker("s", "festival", "ked", "", 1.0, float(f0), "male"), text) for f0 in (low, high)]
    f0_low, f0_high = (_median_f0(w, sr) for w, sr in waves)
    assert abs(np.log(f0_high / f0_low) - np.log(high / low)) < 0.15
    slow, sr = synthesize(Speaker("s", "festival", "slt", "", 1.2, 174.0, "female"), text)
    fast, _ = synthesize(Speaker("s", "festival", "slt", "", 0.85, 174.0, "female"), text)
    assert 1.25 < len(slow) / len(fast) < 1.6 and sr == 32000 and _rms_level(slow) > 0.01


def test_builds_without_festival_speakers_need_no_festival(monkeypatch, tiny_speech_kwargs, sentences):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda binary: None if binary == "text2wave" else real_which(binary))
    assert plan_festival_speakers(0) == []
    built = build_speech(None, sentences=sentences, splits=("test",), **{**tiny_speech_kwargs, "utterances_per_speaker": 1})
    assert len(built["test"]) and not any(e == "festival" for e in built["test"]["engine"])
    with pytest.raises(RuntimeError, match="apt-get install festival"):
        plan_festival_speakers(1)


def test_a_festival_build_alone_needs_festival_speakers(sentences):
    with pytest.raises(ValueError, match="num_speakers=0 builds festival speakers alone"):
        build_speech(None, sentences=sentences, num_speakers=0)
