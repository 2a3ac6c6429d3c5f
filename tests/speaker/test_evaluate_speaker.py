"""Speaker verification evaluation: trials, embeddings, the CryCeleb protocol, `zoo eval` on a tiny checkpoint."""

import json
import sys

import numpy as np
import pytest
import yaml

from zoo.speaker import evaluate_speaker as ev
from zoo.speaker.evaluate_speaker import Trials, pair_trials, period_trials

from ..scripts import load_script

RATE = 16000


def voice(f0: float, seconds: float, rng, brightness: float) -> np.ndarray:
    """A buzzy harmonic "voice": f0 with a slow vibrato, harmonics rolling off by `brightness`, a little noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(2, 5) * t))) / RATE
    wave = sum(brightness**k * np.sin(k * phase) for k in range(1, 12))
    wave = wave + 0.02 * rng.standard_normal(t.size)
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


def write_corpus(folder, rows_by_split: dict, kind: str):
    """A `save_to_disk` corpus of flac files, as `zoo data` writes them; rows are dicts with an "array"."""
    import datasets
    import soundfile as sf

    parts = {}
    for split, rows in rows_by_split.items():
        (folder / "audio" / split).mkdir(parents=True, exist_ok=True)
        columns: dict[str, list] = {}
        for i, row in enumerate(rows):
            path = folder / "audio" / split / f"{i}.flac"
            sf.write(path, row.pop("array"), RATE)
            row = {"audio": str(path), **row}
            for key, value in row.items():
                columns.setdefault(key, []).append(value)
        parts[split] = datasets.Dataset.from_dict(columns).cast_column("audio", datasets.Audio())
    datasets.DatasetDict(parts).save_to_disk(str(folder / "corpus"))
    (folder / "corpus" / "zoo_corpus.json").write_text(json.dumps({"kind": kind}))
    return folder / "corpus"


@pytest.fixture(scope="module")
def speech_corpus(tmp_path_factory):
    """3 speakers x 3 utterances in train and validation, 4 x 3 in test (2 of them "unseen voices")."""
    rng = np.random.default_rng(0)
    splits, f0 = {}, 90.0
    for split, speakers in (("train", 3), ("validation", 3), ("test", 4)):
        rows = []
        for s in range(speakers):
            f0, brightness = f0 * 1.25, 0.5 + 0.1 * s
            for u in range(3):
                seconds = rng.uniform(0.4, 0.9)
                rows.append({"array": voice(f0, seconds, rng, brightness), "speaker_id": f"{split}-{s}",
                             "unseen_voice": split == "test" and s >= 2, "duration": seconds})
        splits[split] = rows
    return write_corpus(tmp_path_factory.mktemp("speech"), splits, "speech")


@pytest.fixture(scope="module")
def period_corpus(tmp_path_factory):
    """A CryCeleb-style corpus: 3 speakers with B and D recordings (2 each) in test, D slightly higher pitched."""
    rng = np.random.default_rng(1)
    splits = {}
    for split, speakers in (("train", 2), ("validation", 2), ("test", 3)):
        rows = []
        for s in range(speakers):
            for period, shift in (("B", 1.0), ("D", 1.04)):
                for _ in range(2):
                    rows.append({"array": voice(350 * 1.3**s * shift, 0.6, rng, 0.6), "speaker_id": f"baby{split}{s}",
                                 "period": period, "duration": 0.6})
        splits[split] = rows
    return write_corpus(tmp_path_factory.mktemp("cry"), splits, "cry")


@pytest.fixture
def checkpoint(speech_corpus, tmp_path):
    import torch

    from zoo.hub import save_checkpoint
    from zoo.speaker.ecapa_tdnn.configuration_ecapa_tdnn import EcapaTdnnConfig
    from zoo.speaker.ecapa_tdnn.modeling_ecapa_tdnn import EcapaTdnnForSpeakerEmbedding
    from zoo.speaker.feature_extraction_speaker import SpeakerFeatureExtractor

    torch.manual_seed(0)
    model = EcapaTdnnForSpeakerEmbedding(EcapaTdnnConfig(channels=[16, 16, 16, 16, 48], attention_channels=8, embedding_size=16))
    recipe = {"name": "tiny-ecapa", "task": "speaker-embedding", "model": {"type": "ecapa_tdnn"},
              "data": {"corpus": str(speech_corpus), "sampling_rate": RATE}}
    return save_checkpoint(model.eval(), tmp_path / "tiny-ecapa", feature_extractor=SpeakerFeatureExtractor(),
                           task="speaker-embedding", recipe=recipe, datasets=[str(speech_corpus)])


# ---------------------------------------------------------------------------------------------------------------
# trials


def test_pair_trials_cover_every_pair_once():
    speakers = ["a", "a", "a", "b", "b", "c"]
    trials = pair_trials(speakers)
    assert len(trials) == 15 and trials.counts() == (4, 11)
    assert {tuple(p) for p in trials.pairs.tolist()} == {(i, j) for i in range(6) for j in range(i + 1, 6)}


def test_pair_trials_restricted_to_rows_use_only_those_rows():
    speakers = ["a", "a", "b", "b", "c", "c"]
    trials = pair_trials(speakers, rows=[2, 3, 4, 5])
    used = trials.tests[trials.pairs]  # (trials, 2) dataset rows
    assert set(used.ravel().tolist()) == {2, 3, 4, 5}
    assert trials.counts() == (2, 4)
    assert trials.rows.tolist() == [2, 3, 4, 5]


def test_sampled_pair_trials_are_balanced_distinct_and_reproducible():
    speakers = [f"s{i // 5}" for i in range(60)]  # 12 speakers x 5: 120 target pairs, 1650 non-target
    trials = pair_trials(speakers, max_trials=200, seed=3)
    assert trials.counts() == (100, 100)
    pairs = [tuple(p) for p in trials.pairs.tolist()]
    assert len(set(pairs)) == len(pairs) and all(a < b for a, b in pairs)
    labels = np.array([speakers[a] == speakers[b] for a, b in trials.tests[trials.pairs]])
    assert (labels == trials.labels).all()
    again = pair_trials(speakers, max_trials=200, seed=3)
    assert (again.pairs == trials.pairs).all()
    # fewer target pairs than half: all of them, the rest non-targets
    few = pair_trials(speakers, max_trials=400, seed=0)
    assert few.counts() == (120, 280)


def test_period_trials_follow_the_cryceleb_protocol():
    speakers = ["a", "a", "a", "a", "b", "b", "b", "c", "d", "d"]
    periods = ["B", "B", "D", "D", "b", "d", "D", "B", "D", "D"]  # c: birth only, d: discharge only -> left out
    trials = period_trials(speakers, periods)
    assert trials.enrollment_speakers == ["a", "b"]
    assert [e.tolist() for e in trials.enrollments] == [[0, 1], [4]]
    assert trials.tests.tolist() == [2, 3, 5, 6]
    assert len(trials) == 2 * 4 and trials.counts() == (4, 4)


def test_period_trials_score_the_mean_enrollment_against_each_test():
    speakers, periods = ["a", "a", "a", "b", "b"], ["B", "B", "D", "B", "D"]
    embeddings = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1]], dtype=np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    trials = period_trials(speakers, periods)
    scores = trials.scores(embeddings)
    # a's enrollment is the normalised mean of (1,0,0) and (0,1,0), which is its test recording exactly
    assert scores[trials.labels].tolist() == pytest.approx([1.0, 1.0])
    assert scores[~trials.labels].tolist() == pytest.approx([0.0, 0.0])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: pair_trials(["a", "b", "c"]), "one speaker with two or more"),
        (lambda: pair_trials(["a", "a"]), "at least two speakers"),
        (lambda: period_trials(["a", "a", "b"], ["B", "D", "B"]), "both 'B' and 'D'"),
        (lambda: period_trials(["a", "b"], ["B"]), "one period per row"),
        (lambda: pair_trials(["a", "a", "b"], max_trials=1), "max_trials"),
    ],
)
def test_unusable_trials_are_refused_with_the_reason(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ---------------------------------------------------------------------------------------------------------------
# embeddings and metrics


def test_embeddings_do_not_depend_on_the_batch(checkpoint, speech_corpus):
    from zoo.data.hub import load_corpus

    model, fe = ev.load_speaker_model(str(checkpoint))
    test = load_corpus(str(speech_corpus), split="test")
    one = ev.compute_embeddings(model, fe, test, batch_size=1, progress=False)
    batched = ev.compute_embeddings(model, fe, test, batch_size=5, progress=False)
    assert one.shape == (len(test), 16)
    np.testing.assert_allclose(np.linalg.norm(one, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(one, batched, atol=1e-4)
    some = ev.compute_embeddings(model, fe, test, rows=[1, 4], batch_size=2, progress=False)
    np.testing.assert_allclose(some[[1, 4]], one[[1, 4]], atol=1e-4)
    assert not some[[0, 2, 3]].any()


def test_a_bad_recording_is_named_by_its_row(checkpoint):
    from zoo.audio import AudioError

    model, fe = ev.load_speaker_model(str(checkpoint))
    audio = [{"array": np.zeros(8000, dtype=np.float32), "sampling_rate": RATE},
             {"array": np.full(8000, np.nan, dtype=np.float32), "sampling_rate": RATE}]
    with pytest.raises(AudioError, match="row 1 contains 8000 NaN"):
        ev.compute_embeddings(model, fe, audio, batch_size=2, progress=False)


def test_verification_metrics_report_the_errors_at_a_threshold():
    metrics = ev.verification_metrics([0.9, 0.6, 0.7, 0.1], [1, 1, 0, 0], threshold=0.65)
    assert metrics["eer"] == pytest.approx(50.0)
    assert metrics["target_trials"] == 2 and metrics["nontarget_trials"] == 2
    assert metrics["frr_at_threshold"] == 50.0 and metrics["far_at_threshold"] == 50.0


def test_det_plot_is_a_png(tmp_path):
    rng = np.random.default_rng(0)
    scores = np.r_[rng.normal(1, 0.5, 50), rng.normal(0, 0.5, 200)]
    labels = np.r_[np.ones(50), np.zeros(200)]
    path = ev.plot_det({"a": (scores, labels), "perfect": (np.r_[np.ones(5), np.zeros(5)], np.r_[np.ones(5), np.zeros(5)])},
                       tmp_path / "det.png", title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_card_sections_replace_only_their_own_part(checkpoint):
    ev.update_card_section(checkpoint, "one", "first text")
    ev.update_card_section(checkpoint, "two", "second text")
    ev.update_card_section(checkpoint, "one", "first text, again")
    readme = (checkpoint / "README.md").read_text()
    assert "first text, again" in readme and "second text" in readme and "first text\n" not in readme
    assert readme.index("first text, again") < readme.index("second text")


# ---------------------------------------------------------------------------------------------------------------
# zoo eval


def test_zoo_eval_measures_calibrates_plots_and_writes_the_card(checkpoint, speech_corpus, period_corpus, capsys):
    from zoo.evaluate import main

    assert json.loads((checkpoint / "config.json").read_text()).get("threshold") is None
    assert main([str(checkpoint), "--verification-corpus", str(period_corpus), "--batch-size", "4"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    datasets = [r["dataset"] for r in printed]
    assert datasets == [
        f"{speech_corpus} (validation speakers)",
        f"{speech_corpus} (held-out speakers)",
        f"{speech_corpus} (unseen voices)",
        f"{period_corpus} (CryCeleb B->D trials)",
    ]
    assert [r["split"] for r in printed] == ["validation", "test", "test", "test"]
    assert [r["examples"] for r in printed] == [36, 66, 15, 3 * 6]  # 9, 12 and 6 recordings; 3 babies x 6 D recordings
    for result in printed:
        assert 0 <= result["metrics"]["eer"] <= 100 and 0 <= result["metrics"]["min-dcf"] <= 1.0 + 1e-9

    # the threshold: at the validation EER point, written into config.json, loaded by from_pretrained
    threshold = json.loads((checkpoint / "config.json").read_text())["threshold"]
    model, fe = ev.load_speaker_model(str(checkpoint))
    assert model.config.threshold == pytest.approx(threshold)
    from zoo.data.hub import load_corpus

    validation = load_corpus(str(speech_corpus), split="validation")
    trials = pair_trials(validation["speaker_id"])
    scores = trials.scores(ev.compute_embeddings(model, fe, validation, progress=False))
    assert threshold == pytest.approx(ev.eer(scores, trials.labels)[1], abs=1e-5)
    assert printed[0]["metrics"]["eer"] == pytest.approx(round(ev.eer(scores, trials.labels)[0], 2), abs=0.01)

    # the card: results in the model-index, the section with the threshold, the synthetic-data line, the DET plot
    from huggingface_hub import ModelCard

    assert (checkpoint / ev.DET_PLOT).read_bytes()[:4] == b"\x89PNG"
    card = ModelCard.load(checkpoint / "README.md")
    measured = {(r.dataset_name, r.dataset_split, r.metric_type) for r in card.data.eval_results}
    assert (f"{period_corpus} (CryCeleb B->D trials)", "test", "eer") in measured
    assert (f"{speech_corpus} (unseen voices)", "test", "min-dcf") in measured
    assert "### Speaker verification" in card.text and f"cosine **{threshold:.4f}**" in card.text
    assert "synthetic infant cries" in card.text and "synthetic speech (TTS voices" in card.text
    assert f"]({ev.DET_PLOT})" in card.text

    # a second run keeps the threshold, replaces its results and does not duplicate the section
    assert main([str(checkpoint), "--max-trials", "20"]) == 0
    assert json.loads((checkpoint / "config.json").read_text())["threshold"] == threshold
    text = (checkpoint / "README.md").read_text()
    assert text.count("### Speaker verification") == 1 and "about 20 sampled pairs" in text
    assert "already in config.json" in text
    card = ModelCard.load(checkpoint / "README.md")
    assert len({(r.dataset_name, r.dataset_split) for r in card.data.eval_results}) == 4
    assert main([str(checkpoint), "--max-trials", "20", "--recalibrate"]) == 0
    assert "calibrated by `zoo eval`" in (checkpoint / "README.md").read_text()


def test_zoo_eval_s_norm_scores_calibrates_and_writes_the_scoring(speech_corpus, tmp_path, capsys):
    import torch

    from zoo.evaluate import main
    from zoo.hub import save_checkpoint
    from zoo.speaker.ecapa_tdnn.configuration_ecapa_tdnn import EcapaTdnnConfig
    from zoo.speaker.ecapa_tdnn.modeling_ecapa_tdnn import EcapaTdnnForSpeakerEmbedding
    from zoo.speaker.feature_extraction_speaker import SpeakerFeatureExtractor
    from zoo.speaker.score_norm import cohort_of

    torch.manual_seed(0)
    config = EcapaTdnnConfig(channels=[16, 16, 16, 16, 48], attention_channels=8, embedding_size=16, num_labels=5, threshold=0.3)
    recipe = {"name": "tiny-ecapa", "task": "speaker-embedding", "model": {"type": "ecapa_tdnn"},
              "data": {"corpus": str(speech_corpus), "sampling_rate": RATE}}
    folder = save_checkpoint(EcapaTdnnForSpeakerEmbedding(config).eval(), tmp_path / "tiny", feature_extractor=SpeakerFeatureExtractor(),
                             task="speaker-embedding", recipe=recipe, datasets=[str(speech_corpus)])
    assert main([str(folder), "--score-norm", "s-norm", "--score-norm-top-k", "3", "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    printed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [r["dataset"] for r in printed][0] == f"{speech_corpus} (validation speakers, s-norm top 3)"
    written = json.loads((folder / "config.json").read_text())
    assert written["score_norm"] == "s-norm" and written["score_norm_top_k"] == 3 and written["threshold"] != 0.3
    assert -1 <= written["cosine_threshold"] <= 1  # the raw-cosine EER point, for diarization's clustering
    assert "calibrated by `zoo eval`" in out  # a scoring change recalibrates: the threshold's units changed

    # the threshold is the validation EER point of the s-norm scores
    model, fe = ev.load_speaker_model(str(folder))
    from zoo.data.hub import load_corpus

    validation = load_corpus(str(speech_corpus), split="validation")
    trials = pair_trials(validation["speaker_id"])
    embeddings = ev.compute_embeddings(model, fe, validation, progress=False)
    scores = trials.scores(embeddings, cohort=cohort_of(model), top_k=3)
    assert not np.allclose(scores, trials.scores(embeddings))
    assert written["threshold"] == pytest.approx(ev.eer(scores, trials.labels)[1], abs=1e-5)
    assert "s-norm score **" in (folder / "README.md").read_text()

    # back to cosine: recalibrated again, in [-1, 1]
    assert main([str(folder), "--score-norm", "cosine", "--max-trials", "20"]) == 0
    written = json.loads((folder / "config.json").read_text())
    assert written["score_norm"] is None and -1 <= written["threshold"] <= 1 and "cosine_threshold" not in written


def test_zoo_eval_no_card_changes_nothing(checkpoint, capsys):
    from zoo.evaluate import main

    before = {p.name: p.read_bytes() for p in checkpoint.iterdir()}
    assert main([str(checkpoint), "--no-card", "--max-trials", "10"]) == 0
    assert {p.name: p.read_bytes() for p in checkpoint.iterdir()} == before
    assert "not written: --no-card" in capsys.readouterr().out


def test_a_verification_corpus_without_periods_is_refused(checkpoint, speech_corpus):
    with pytest.raises(ValueError, match=r"no \['period'\] column"):
        ev.evaluate_speaker(str(checkpoint), verification_corpora=(str(speech_corpus),), max_trials=10, plot=False,
                            write_config=False, progress=False)


def test_period_split_falls_back_to_validation(period_corpus, tmp_path):
    """CryCeleb2023's test identities are anonymous; its dev (validation) split is where B->D trials exist."""
    import datasets

    loaded = datasets.load_from_disk(str(period_corpus))
    test = loaded["test"].map(lambda row, i: {"speaker_id": f"anonymous{i}"}, with_indices=True)
    folder = tmp_path / "anonymous-test"
    datasets.DatasetDict({"validation": loaded["validation"], "test": test}).save_to_disk(str(folder))
    dataset, split = ev.period_split(str(folder), "test", RATE)
    assert split == "validation" and len(dataset) == len(loaded["validation"])


def test_speaker_checkpoints_are_recognised(checkpoint, tmp_path):
    assert ev.is_speaker_checkpoint(checkpoint)
    assert ev.speaker_checkpoint_in(["--no-card", str(checkpoint)])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "recipe.yaml").write_text(yaml.safe_dump({"task": "audio-source-separation"}))
    assert not ev.is_speaker_checkpoint(tmp_path / "other")
    assert not ev.speaker_checkpoint_in([])


def test_trials_dataclass_counts():
    trials = Trials("x", [np.array([0])], ["a"], np.array([1, 2]), np.array([[0, 0], [0, 1]]), np.array([True, False]))
    assert trials.counts() == (1, 1) and trials.rows.tolist() == [0, 1, 2] and len(trials) == 2


# ---------------------------------------------------------------------------------------------------------------
# scripts/compare_resemblyzer.py


@pytest.fixture(scope="module")
def compare():
    yield load_script("compare_resemblyzer")
    sys.modules.pop("compare_resemblyzer", None)


def spectrum_system(compare):
    """A stand-in for resemblyzer: the normalised long-term log spectrum of each recording."""
    from zoo.audio import load_audio

    def embed(dataset, rows, desc):
        out = np.zeros((len(dataset), 64), dtype=np.float32)
        for row in rows:
            wave = load_audio(dataset[int(row)]["audio"], RATE)
            spectrum = np.log(np.abs(np.fft.rfft(wave, 4096))[:2048].reshape(64, 32).mean(1) + 1e-6)
            out[row] = (spectrum - spectrum.mean()) / np.linalg.norm(spectrum - spectrum.mean())
        return out

    return compare.System("spectrum", "long-term log spectrum", None, embed)


def test_every_system_is_scored_on_the_same_trials(compare, checkpoint, speech_corpus, period_corpus):
    sets = compare.trial_sets(str(speech_corpus), verification_corpora=[str(period_corpus)])
    assert [s.name for s in sets] == ["corpus test, unseen voices", "corpus test, B->D"]
    assert [s.trials.counts() for s in sets] == [(6, 9), (6, 12)]  # 2 unseen voices x 3; 3 babies x 6 D recordings
    calls = []
    fake = spectrum_system(compare)
    inner = fake.embed
    fake.embed = lambda dataset, rows, desc: calls.append((desc, rows.tolist())) or inner(dataset, rows, desc)
    systems = [compare.zoo_system(str(checkpoint)), fake]
    results = compare.compare(systems, sets)
    assert set(results) == {"tiny-ecapa", "spectrum"}
    assert calls == [(f"spectrum on {s.name}", s.trials.rows.tolist()) for s in sets]
    for per_set in results.values():
        assert set(per_set) == {s.name for s in sets}
        assert all(m["target_trials"] + m["nontarget_trials"] == len(s.trials) for s, m in zip(sets, per_set.values()))
    table = compare.comparison_table(systems, sets, results)
    assert "| tiny-ecapa | " in table and "| spectrum | – |" in table
    assert "(6 / 9 trials)" in table and "(6 / 12 trials)" in table
    assert "**spectrum**: long-term log spectrum" in table


def test_compare_script_writes_the_table_into_the_cards(compare, checkpoint, speech_corpus, period_corpus, tmp_path, capsys):
    output = tmp_path / "comparison.md"
    argv = [str(checkpoint), "--verification-corpus", str(period_corpus), "--no-resemblyzer", "--write-cards", "--output", str(output)]
    assert compare.main(argv) == 0
    readme = (checkpoint / "README.md").read_text()
    assert readme.count("### Comparison with resemblyzer") == 1
    assert "corpus test, unseen voices" in readme and "Measured by `python scripts/compare_resemblyzer.py" in readme
    assert output.read_text().strip() in capsys.readouterr().out
    numbers = json.loads(output.with_suffix(".json").read_text())
    assert set(numbers["tiny-ecapa"]) == {"corpus test, unseen voices", "corpus test, B->D"}
    # zoo eval's section and the comparison live side by side; re-running either replaces only its own
    ev.update_card_section(checkpoint, "speaker-eval", "### Speaker verification\n\nnumbers")
    assert compare.main(argv) == 0
    readme = (checkpoint / "README.md").read_text()
    assert readme.count("### Comparison with resemblyzer") == 1 and readme.count("### Speaker verification") == 1


def test_compare_script_says_how_to_set_up_resemblyzer(compare, tmp_path):
    with pytest.raises(FileNotFoundError, match="setup_resemblyzer.sh"):
        compare.resemblyzer_system(tmp_path / "no-venv")


@pytest.mark.slow
def test_resemblyzer_embeds_in_its_own_venv(compare, checkpoint, speech_corpus, period_corpus, capsys):
    """The real thing: resemblyzer's pretrained VoiceEncoder in ~/.cache/zoo/resemblyzer-venv (scripts/setup_resemblyzer.sh)."""
    if not (compare.RESEMBLYZER_VENV / "bin" / "python").is_file():
        pytest.skip(f"no resemblyzer venv at {compare.RESEMBLYZER_VENV}; run `bash scripts/setup_resemblyzer.sh`")
    system = compare.resemblyzer_system()
    sets = compare.trial_sets(str(speech_corpus), verification_corpora=[str(period_corpus)])
    embeddings = system.embed(sets[0].dataset, sets[0].trials.rows, "test")
    assert embeddings.shape == (len(sets[0].dataset), 256)
    np.testing.assert_allclose(np.linalg.norm(embeddings[sets[0].trials.rows], axis=1), 1.0, atol=1e-5)
    assert system.parameters and system.parameters > 1_000_000
    assert compare.main([str(checkpoint), "--verification-corpus", str(period_corpus)]) == 0
    assert "| resemblyzer | 1.42 M |" in capsys.readouterr().out


def test_a_local_cryceleb2023_copy_gives_dev_split_trials(tmp_path):
    """The CryCeleb2023 layout: audio/<split>/<baby>/<period>/<baby>_<period>_<index>.wav and a root metadata.csv;
    load_corpus maps baby_id to speaker_id and dev to validation; the test split's babies are anonymous per period."""
    import csv

    import soundfile as sf

    rng = np.random.default_rng(2)
    rows = []
    for split, babies in (("train", ["spk1", "spk2"]), ("dev", ["spk3", "spk4", "spk5"]), ("test", ["anonymous1", "anonymous2"])):
        for b, baby in enumerate(babies):
            for period in ("B", "D"):
                name = f"{baby}{period}" if split == "test" else baby  # test identities differ between periods
                for index in range(2):
                    path = tmp_path / "audio" / split / name / period / f"{name}_{period}_{index:03d}.wav"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    sf.write(path, voice(400 + 60 * b, 0.5, rng, 0.6), RATE)
                    rows.append({"file_name": str(path.relative_to(tmp_path)), "baby_id": name, "period": period,
                                 "split": split, "chronological_index": f"{index:03d}"})
    with open(tmp_path / "metadata.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    dataset, split = ev.period_split(str(tmp_path), "test", RATE)
    assert split == "validation"
    trials = period_trials(dataset["speaker_id"], dataset["period"])
    assert trials.enrollment_speakers == ["spk3", "spk4", "spk5"] and trials.counts() == (6, 12)
    assert ev.describe_corpus(str(tmp_path)).startswith("recorded infant cries")
    assert ev.describe_corpus("Ubenwa/CryCeleb2023").startswith("recorded infant cries")
    assert ev.describe_corpus("some/dataset") == "an external corpus"


def test_unseen_voice_trials_split_the_unseen_voices_by_tts_voice():
    import datasets

    test = datasets.Dataset.from_dict({
        "speaker_id": ["a", "a", "b", "b", "c", "c", "d", "d"],
        "engine": ["flite"] * 4 + ["espeak"] * 2 + ["flite"] * 2,
        "voice": ["rms"] * 4 + ["en-029"] * 2 + ["slt"] * 2,
    })
    unseen = np.arange(6)  # speakers a, b (flite rms) and c (espeak en-029, alone: no different-speaker pair)
    trials = ev.unseen_voice_trials(test, unseen, max_trials=None, seed=0)
    assert [t.name for t in trials] == ["unseen voice flite rms"]
    assert trials[0].counts() == (2, 4)  # a-a, b-b; a x b
    assert ev.unseen_voice_trials(test.remove_columns("engine"), unseen, None, 0) == []
