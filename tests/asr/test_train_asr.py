"""ASR training through the shared accelerate loop: utterances and augmentation, labels, validation WER / CER, a
Hub-layout checkpoint that transformers' stock pipeline loads from the folder alone, and the shipped recipe."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import pipeline

import zoo  # noqa: F401  (registers the model with AutoModelForCTC)
from zoo.data import mixtures
from zoo.tasks import TASKS, AsrCtcTask, AsrUtterances
from zoo.train import load_recipe
from zoo.train import main as train_main

from .tones import RATE, TINY, TRAIN_TEXTS, tones

REPO_ROOT = Path(__file__).resolve().parents[2]
VALIDATION_TEXTS = ["dcb ac", "bad", "cab da"]  # sentences never seen in training, as in the speech corpus


@pytest.fixture(scope="module")
def tone_corpus(tmp_path_factory):
    """A `zoo data speech`-like corpus of tone speech: upper-case transcripts, like the real one's."""
    import datasets

    def split(texts, speaker):
        return datasets.Dataset.from_dict({
            "audio": [{"array": tones(t), "sampling_rate": RATE} for t in texts],
            "text": [t.upper() for t in texts],
            "speaker_id": [speaker] * len(texts),
            "duration": [len(tones(t)) / RATE for t in texts],
        }).cast_column("audio", datasets.Audio(sampling_rate=RATE))

    folder = tmp_path_factory.mktemp("tone-corpus") / "corpus"
    datasets.DatasetDict(
        train=split(TRAIN_TEXTS, "a"), validation=split(VALIDATION_TEXTS, "b"), test=split(["ab cd"], "c")
    ).save_to_disk(str(folder))
    return str(folder)


@pytest.fixture(autouse=True)
def small_noise_bank(monkeypatch):
    """One short noise instead of the 17 rendered ones (seconds of sox and fluidsynth); same interface."""
    bank = {"white": (0.1 * np.random.default_rng(0).standard_normal(3 * RATE)).astype(np.float32)}
    monkeypatch.setattr(mixtures, "noise_bank", lambda sampling_rate, seconds=None, cache=True: bank)


def make_recipe(corpus, tmp_path, **training) -> dict:
    return {
        "name": "tiny-ctc-conformer",
        "task": "automatic-speech-recognition",
        "model": {"type": "ctc_conformer", "config": dict(TINY, sampling_rate=RATE)},
        "data": {"corpus": corpus, "sampling_rate": RATE, "max_seconds": 5.0, "repeats": 2, "speed_probability": 0.0, "noise_probability": 0.0},
        "training": {
            "seed": 0, "batch_size": 4, "learning_rate": 0.003, "lr_scheduler": "constant", "max_steps": 4, "eval_every": 2,
            "save_every": 2, "log_every": 2, "log_with": "none", **training,
        },
        "output_dir": str(tmp_path / "checkpoint"),
        "run_dir": str(tmp_path / "run"),
    }


def test_training_learns_and_writes_a_checkpoint_the_stock_pipeline_loads(tone_corpus, tmp_path):
    recipe = make_recipe(tone_corpus, tmp_path, max_steps=160, eval_every=40, save_every=80)
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert train_main([str(tmp_path / "recipe.yaml")]) == 0

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    wers = [h["wer"] for h in summary["history"]]
    assert summary["metric"] == "wer" and summary["best"] == min(wers) and all("cer" in h for h in summary["history"])
    # it learns to read sentences it never saw: from every word wrong to most right
    assert wers[0] == 1.0 and summary["best"] < 0.5, wers

    folder = tmp_path / "checkpoint"
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "tokenizer_config.json", "vocab.json", "README.md", "recipe.yaml"} <= names
    card = (folder / "README.md").read_text()
    assert "pipeline_tag: automatic-speech-recognition" in card and "type: wer" in card
    asr = pipeline("automatic-speech-recognition", model=str(folder))
    from zoo.metrics import wer

    hypotheses = [asr(tones(t))["text"] for t in VALIDATION_TEXTS]
    assert wer(VALIDATION_TEXTS, hypotheses) == pytest.approx(summary["best"], abs=1e-3)

    # `zoo eval` measures the same WER through the stock pipeline and writes it into the card
    from zoo.evaluate import main as eval_main

    assert eval_main([str(folder), "--split", "validation", "--peer", "pocketsphinx"]) == 0
    card = (folder / "README.md").read_text()
    assert "(validation speakers, all)" in card and "Real-time factor" in card
    # the peer ran on the same audio: one row per system in the comparison table
    assert "### Comparison on the same audio" in card and "| pocketsphinx |" in card and "| checkpoint |" in card
    from zoo.cards import load_card_data

    measured = [r for r in load_card_data(folder)["results"] if r["dataset"].endswith("(validation speakers, all)")]
    assert measured and measured[0]["metrics"]["wer"] == pytest.approx(summary["best"], abs=1e-3)
    # the peer's numbers are kept beside the card's own results (for scripts/asr_table.py), not in the model-index
    peer = load_card_data(folder)["peer_results"]["pocketsphinx"]
    assert peer["split"] == "validation" and "wer" in peer["results"]["validation speakers, all"]
    assert not any("pocketsphinx" in r["dataset"] for r in load_card_data(folder)["results"])


def test_a_tiny_run_through_main(tone_corpus, tmp_path):
    recipe = make_recipe(tone_corpus, tmp_path, max_steps=2)
    recipe["data"].update(speed_probability=0.5, noise_probability=0.5, validation_examples=2)
    recipe["card"] = {"limitations": ["Chosen on the test set: validation has no unseen voice."]}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert train_main([str(tmp_path / "recipe.yaml")]) == 0
    config = json.loads((tmp_path / "checkpoint" / "config.json").read_text())
    assert config["vocab_size"] == 30 and config["pad_token_id"] == 0 and config["model_type"] == "ctc_conformer"
    # the recipe's card extras reach the card
    assert "Chosen on the test set: validation has no unseen voice." in (tmp_path / "checkpoint" / "README.md").read_text()
    recipe["card"] = {"limitations": "one sentence"}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(ValueError, match="recipe key 'card' must be a mapping of card extras"):
        train_main([str(tmp_path / "recipe.yaml")])


def test_utterances_normalise_filter_and_augment(tone_corpus):
    from zoo.data.hub import load_corpus

    train = load_corpus(tone_corpus)["train"]
    plain = AsrUtterances(train, RATE, repeats=2)
    assert len(plain) == 16 and plain[0]["text"] == TRAIN_TEXTS[0] and plain[8]["text"] == TRAIN_TEXTS[0]
    np.testing.assert_allclose(plain[0]["waveform"], tones(TRAIN_TEXTS[0]), atol=1e-4)
    short = AsrUtterances(train, RATE, max_seconds=1.0)
    assert [short[i]["text"] for i in range(len(short))] == [t for t in TRAIN_TEXTS if len(t) * 0.16 <= 1.0]
    assert len(AsrUtterances(train, RATE, limit=3)) == 3

    augmented = AsrUtterances(train, RATE, repeats=4, seed=1, speed_probability=1.0, noise_probability=1.0)
    lengths = {len(augmented[i]["waveform"]) for i in range(0, 32, 8)}  # one sentence, four draws
    assert lengths <= {round(len(tones(TRAIN_TEXTS[0])) / s) for s in (0.9, 1.1)} and len(lengths) >= 1
    np.testing.assert_array_equal(augmented[5]["waveform"], augmented[5]["waveform"])  # a draw depends on (seed, index)
    assert np.abs(augmented[5]["waveform"]).max() <= 1.0

    formants = AsrUtterances(train, RATE, seed=1, formant_probability=1.0, formant_ratios=(0.8,))
    assert formants[0]["waveform"].shape == plain[0]["waveform"].shape  # tempo kept
    assert not np.allclose(formants[0]["waveform"], plain[0]["waveform"], atol=1e-3)
    pitched = AsrUtterances(train, RATE, seed=1, pitch_probability=1.0, pitch_semitones=(-4.0,))
    assert pitched[0]["waveform"].shape == plain[0]["waveform"].shape  # tempo kept
    assert not np.allclose(pitched[0]["waveform"], plain[0]["waveform"], atol=1e-3)
    np.testing.assert_array_equal(AsrUtterances(train, RATE, seed=1, pitch_probability=0.0)[0]["waveform"], plain[0]["waveform"])

    with pytest.raises(ValueError, match="max_seconds=0.1"):
        AsrUtterances(train, RATE, max_seconds=0.1)
    with pytest.raises(ValueError, match=r"data.noise_probability must lie in \[0, 1\]"):
        AsrUtterances(train, RATE, noise_probability=2.0)
    with pytest.raises(ValueError, match=r"data.formant_probability must lie in \[0, 1\]"):
        AsrUtterances(train, RATE, formant_probability=-0.5)
    with pytest.raises(ValueError, match=r"data.formant_ratios must be positive ratios.*got \[0.0\]"):
        AsrUtterances(train, RATE, formant_probability=0.5, formant_ratios=(0.0,))
    with pytest.raises(ValueError, match=r"data.pitch_probability must lie in \[0, 1\]"):
        AsrUtterances(train, RATE, pitch_probability=1.5)
    with pytest.raises(ValueError, match="data.pitch_semitones must list the shifts"):
        AsrUtterances(train, RATE, pitch_probability=0.5, pitch_semitones=())
    with pytest.raises(IndexError):
        plain[16]


def test_no_speech_items_have_an_empty_transcript(tone_corpus):
    from zoo.data.hub import load_corpus
    from zoo.tasks import SILENCE_DBFS

    train = load_corpus(tone_corpus)["train"]
    quiet = AsrUtterances(train, RATE, repeats=4, seed=3, silence_probability=1.0, silence_seconds=(0.5, 1.0))
    items = [quiet[i] for i in range(len(quiet))]
    assert all(item["text"] == "" for item in items)
    assert all(0.5 * RATE <= len(item["waveform"]) <= RATE for item in items)
    levels = [20 * np.log10(np.sqrt(np.mean(item["waveform"].astype(np.float64) ** 2)) + 1e-12) for item in items]
    silent = [level for level in levels if level < -200]  # digital silence, about one in five
    assert 0 < len(silent) < len(items)
    assert all(SILENCE_DBFS[0] - 0.1 <= level <= SILENCE_DBFS[1] + 0.1 for level in levels if level > -200)
    # off, no draw is made: every item is what it was before the option existed
    plain, off = AsrUtterances(train, RATE, seed=3, noise_probability=1.0), AsrUtterances(train, RATE, seed=3, noise_probability=1.0, silence_probability=0.0)
    np.testing.assert_array_equal(off[2]["waveform"], plain[2]["waveform"])
    some = AsrUtterances(train, RATE, repeats=4, seed=3, silence_probability=0.5)
    texts = [some[i]["text"] for i in range(len(some))]
    assert "" in texts and set(texts) - {""} <= set(TRAIN_TEXTS)
    with pytest.raises(ValueError, match=r"data.silence_probability must lie in \[0, 1\]"):
        AsrUtterances(train, RATE, silence_probability=1.2)
    with pytest.raises(ValueError, match=r"data.silence_seconds must be \[shortest, longest\].*got \[2.0, 1.0\]"):
        AsrUtterances(train, RATE, silence_probability=0.1, silence_seconds=(2.0, 1.0))


def test_a_batch_of_no_speech_trains(tone_corpus, tmp_path):
    task = AsrCtcTask(make_recipe(tone_corpus, tmp_path))
    model = task.build_model().train()
    batch = task.collate([{"waveform": np.zeros(RATE, dtype=np.float32), "text": ""}, {"waveform": np.zeros(RATE // 2, dtype=np.float32), "text": ""}])
    assert batch["labels"].shape[0] == 2 and not (batch["labels"] >= 0).any()
    loss = model(**batch).loss
    assert torch.isfinite(loss) and loss > 0  # -log p(all blanks): pushes the model to say nothing
    loss.backward()


def test_collate_and_validation_metrics(tone_corpus, tmp_path):
    task = AsrCtcTask(make_recipe(tone_corpus, tmp_path))
    model = task.build_model()
    items = [task.eval_dataset()[i] for i in range(3)]
    batch = task.collate(items)
    assert batch["input_features"].shape[0] == 3 and batch["input_features"].shape[-1] == 80
    assert (batch["labels"] == -100).sum() > 0 and batch["labels"][1, :3].tolist() == [5, 4, 7]  # "bad"

    # logits that spell the references exactly: WER 0; all blank: every word deleted
    encoded = [row[row >= 0] for row in batch["labels"]]
    steps = model._get_feat_extract_output_lengths(batch["attention_mask"].sum(-1))
    logits = torch.full((3, int(steps.max()), 30), -10.0)
    logits[..., 0] = 10.0
    blank = task.metrics(batch, type("Out", (), {"logits": logits.clone()}))
    for i, ids in enumerate(encoded):
        logits[i, : 2 * len(ids) : 2] = torch.nn.functional.one_hot(ids, 30) * 20.0 - 10.0
    perfect = task.metrics(batch, type("Out", (), {"logits": logits}))
    assert task.corpus_metrics(perfect) == {"wer": 0.0, "cer": 0.0}
    assert task.corpus_metrics(blank) == {"wer": 1.0, "cer": 1.0}
    assert blank["_words"].tolist() == [2.0, 1.0, 2.0]


def test_recipe_checks(tone_corpus, tmp_path):
    recipe = make_recipe(tone_corpus, tmp_path)
    recipe["model"]["config"]["vocab_size"] = 40
    with pytest.raises(ValueError, match="vocab_size=40 but the character tokenizer needs 30"):
        AsrCtcTask(recipe).build_model()
    recipe = make_recipe(tone_corpus, tmp_path)
    recipe["model"]["config"]["hop_length"] = 320
    with pytest.raises(ValueError, match="set hop_length: 160"):
        AsrCtcTask(recipe).build_model()
    recipe = make_recipe(tone_corpus, tmp_path)
    recipe["model"]["config"]["sampling_rate"] = 8000
    with pytest.raises(ValueError, match="differs from data sampling_rate"):
        AsrCtcTask(recipe).build_model()


def test_shipped_recipe():
    recipe = load_recipe(REPO_ROOT / "recipes" / "ctc-conformer-zoo-16k.yaml")
    assert recipe["task"] == "automatic-speech-recognition" and TASKS[recipe["task"]] is AsrCtcTask
    task = AsrCtcTask(recipe)
    model = task.build_model()  # needs no corpus
    assert type(model).__name__ == "CtcConformerForCTC" and model.config.inputs_to_logits_ratio == 640
    assert 1.5e6 < sum(p.numel() for p in model.parameters()) < 3e6
    assert recipe["output_dir"] == "checkpoints/ctc-conformer-zoo-16k" and task.metric_for_best == "wer" and not task.greater_is_better


def test_train_corpus_replaces_only_the_train_split(tone_corpus, tmp_path):
    import datasets

    bigger = tmp_path / "bigger"
    datasets.DatasetDict(train=datasets.load_from_disk(tone_corpus)["test"]).save_to_disk(str(bigger))
    recipe = make_recipe(tone_corpus, tmp_path)
    recipe["data"]["train_corpus"] = str(bigger)
    task = AsrCtcTask(recipe)
    assert task.split("train")["text"] == ["AB CD"]  # from train_corpus
    assert task.split("validation")["text"] == [t.upper() for t in VALIDATION_TEXTS]  # still from corpus
    assert task.dataset_names() == [tone_corpus, str(bigger)]
    recipe["data"]["validation_corpus"] = str(bigger)
    with pytest.raises(ValueError, match="has no 'validation' split"):
        AsrCtcTask(recipe).split("validation")


def test_a_list_of_train_corpora_is_read_together_with_their_common_columns(tone_corpus, tmp_path):
    import datasets

    other = tmp_path / "other"
    test = datasets.load_from_disk(tone_corpus)["test"]
    datasets.DatasetDict(train=test.add_column("engine", ["festival"]).remove_columns("speaker_id")).save_to_disk(str(other))
    recipe = make_recipe(tone_corpus, tmp_path)
    recipe["data"]["train_corpus"] = [tone_corpus, str(other)]
    task = AsrCtcTask(recipe)
    train = task.split("train")
    assert train["text"] == [t.upper() for t in TRAIN_TEXTS] + ["AB CD"]
    assert sorted(train.column_names) == ["audio", "duration", "text"]  # speaker_id and engine are not in both
    assert len(task.train_dataset()) == len(train) * int(recipe["data"].get("repeats", 1))
    assert task.dataset_names() == [tone_corpus, str(other)]
    recipe["data"]["train_corpus"] = []
    with pytest.raises(ValueError, match="empty list"):
        AsrCtcTask(recipe).split("train")


def test_separation_refuses_a_list_of_corpora_clearly(tone_corpus):
    from zoo.tasks import SeparationTask

    task = SeparationTask({"task": "audio-source-separation", "data": {"corpus": tone_corpus, "train_corpus": [tone_corpus, tone_corpus], "sampling_rate": 8000}})
    with pytest.raises(ValueError, match="reads one corpus per split"):
        task.one_corpus_source("train")


def test_eval_groups_split_unseen_voices_and_held_out_speakers():
    import datasets

    from zoo.evaluate import asr_groups

    rows = datasets.Dataset.from_dict({
        "engine": ["espeak", "espeak", "flite", "flite", "espeak"],
        "voice": ["en-029", "en-us", "rms", "slt", "en-029"],
        "unseen_voice": [True, False, True, False, True],
        "text": ["A"] * 5,
    })
    assert asr_groups(rows, "test") == {
        "test speakers, all": [0, 1, 2, 3, 4],
        "unseen voices": [0, 2, 4],
        "held-out speakers of training voices": [1, 3],
        "unseen voice espeak en-029": [0, 4],
        "unseen voice flite rms": [2],
        "espeak voices": [0, 1, 4],
        "flite voices": [2, 3],
    }
    # a corpus that names no voices (a Hub dataset) is scored whole
    assert asr_groups(rows.remove_columns(["engine", "voice", "unseen_voice"]), "validation") == {"validation speakers, all": [0, 1, 2, 3, 4]}


def test_a_deeper_model_grown_from_a_checkpoint_starts_where_it_was(tone_corpus, tone_folder, tmp_path):
    from zoo.asr.processing_asr import greedy_decode

    recipe = make_recipe(tone_corpus, tmp_path)
    recipe["model"].update(init_from=tone_folder, new_blocks="identity")
    recipe["model"]["config"]["num_layers"] = TINY["num_layers"] + 2
    task = AsrCtcTask(recipe)
    grown = task.build_model().eval()
    source = AsrCtcTask(make_recipe(tone_corpus, tmp_path)).build_model()
    source = type(source).from_pretrained(tone_folder).eval()
    assert len(grown.ctc_conformer.blocks) == len(source.ctc_conformer.blocks) + 2
    items = [task.train_dataset()[i] for i in range(4)]
    batch = task.collate(items)
    with torch.no_grad():
        ours, theirs = grown(batch["input_features"], batch["attention_mask"]).logits, source(batch["input_features"], batch["attention_mask"]).logits
    torch.testing.assert_close(ours, theirs, atol=1e-3, rtol=1e-3)
    tokenizer = task.processor().tokenizer
    assert greedy_decode(ours, tokenizer) == greedy_decode(theirs, tokenizer)
    # random new blocks move the scores far more
    recipe["model"].pop("new_blocks")
    torch.manual_seed(0)
    with torch.no_grad():
        random_top = AsrCtcTask(recipe).build_model().eval()(batch["input_features"], batch["attention_mask"]).logits
    assert (ours - theirs).abs().mean() < 0.5 * (random_top - theirs).abs().mean()

    recipe["model"]["new_blocks"] = "copy"
    with pytest.raises(ValueError, match="needs the value 'identity'"):
        AsrCtcTask(recipe).build_model()
    recipe["model"]["new_blocks"] = "identity"
    recipe["model"]["config"]["num_layers"] = TINY["num_layers"]
    with pytest.raises(ValueError, match="adds no block"):
        AsrCtcTask(recipe).build_model()


def test_a_list_of_checkpoints_starts_from_their_mean_and_zero_steps_saves_it(tone_corpus, tone_folder, tmp_path):
    source = AsrCtcTask(make_recipe(tone_corpus, tmp_path)).build_model()
    first = type(source).from_pretrained(tone_folder)
    second = type(source).from_pretrained(tone_folder)
    with torch.no_grad():
        for value in second.parameters():
            value.add_(1.0)
    other = tmp_path / "other"
    second.save_pretrained(other)
    for name in ("preprocessor_config.json", "tokenizer_config.json", "vocab.json"):
        (other / name).write_bytes((Path(tone_folder) / name).read_bytes())
    # the card of a starting checkpoint names the corpora its weights learnt from
    (other / "card_data.json").write_text(json.dumps({"datasets": ["data/speech-festival", str(tone_corpus)]}))

    recipe = make_recipe(tone_corpus, tmp_path, max_steps=0)
    recipe["model"]["init_from"] = [tone_folder, str(other)]
    averaged = AsrCtcTask(recipe).build_model()
    for (name, ours), theirs in zip(averaged.named_parameters(), first.parameters()):
        torch.testing.assert_close(ours, theirs + 0.5, msg=name)  # the mean of w and w + 1

    # zero steps: one validation, and the average saved as the checkpoint
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert train_main([str(tmp_path / "recipe.yaml")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 0 and [h["step"] for h in summary["history"]] == [0]
    saved = type(source).from_pretrained(tmp_path / "checkpoint")
    for ours, theirs in zip(saved.parameters(), averaged.parameters()):
        torch.testing.assert_close(ours, theirs)
    # its card lists its own corpus, then those its starting weights learnt from (once each)
    card = json.loads((tmp_path / "checkpoint" / "card_data.json").read_text())
    assert card["datasets"][-1] == "data/speech-festival" and card["datasets"].count(str(tone_corpus)) == 1
    assert "festival's in `data/speech-festival`" in (tmp_path / "checkpoint" / "README.md").read_text()

    recipe["model"]["config"] = dict(recipe["model"]["config"], ffn_dim=2 * TINY["ffn_dim"])
    with pytest.raises(ValueError, match="do not fit"):
        AsrCtcTask(recipe).build_model()
    recipe = make_recipe(tone_corpus, tmp_path, max_steps=-1)
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(ValueError, match="max_steps >= 0"):
        train_main([str(tmp_path / "recipe.yaml")])


def test_averaging_refuses_checkpoints_of_another_shape(tone_corpus, tmp_path):
    from zoo.tasks import average_weights

    recipe = make_recipe(tone_corpus, tmp_path)
    small = AsrCtcTask(recipe).build_model()
    recipe["model"]["config"] = dict(recipe["model"]["config"], ffn_dim=2 * TINY["ffn_dim"])
    wide = AsrCtcTask(recipe).build_model()
    with pytest.raises(ValueError, match=r"'wide' does not fit 'small' to average them: weight .* is \("):
        average_weights(small, [wide], ["small", "wide"])


def test_a_checkpoint_at_another_rate_than_the_data_is_named_in_the_error(tone_corpus, tone_folder, tmp_path):
    recipe = make_recipe(tone_corpus, tmp_path)
    recipe["model"]["init_from"] = [tone_folder, tone_folder]
    recipe["data"]["sampling_rate"] = 2 * RATE
    with pytest.raises(ValueError, match=r"from model.init_from \[.*\]\) differs from data sampling_rate"):
        AsrCtcTask(recipe).build_model()


def test_average_last_tries_the_mean_of_the_run_s_last_snapshots(tone_corpus, tmp_path):
    from safetensors.torch import load_file

    from zoo.train import TrainingConfig, average_last_states

    recipe = make_recipe(tone_corpus, tmp_path, max_steps=6, keep_states=3, average_last=3)
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert train_main([str(tmp_path / "recipe.yaml")]) == 0
    history = json.loads((tmp_path / "run" / "summary.json").read_text())["history"]
    # validations at steps 2, 4, 6, then the average's
    assert [h["step"] for h in history] == [2, 4, 6, 6] and history[-1]["averaged_states"] == 3
    assert "averaged_states" not in history[-2]

    run = tmp_path / "run"
    snapshots = [load_file(str(run / f"state_{step}" / "model.safetensors")) for step in (2, 4, 6)]
    model = AsrCtcTask(recipe).build_model()
    assert average_last_states(model, run, 3) == ["state_2", "state_4", "state_6"]
    for name, value in model.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, sum(s[name] for s in snapshots) / 3, msg=name)

    # the average is the checkpoint only where it validated best, and then its card says so
    card = json.loads((tmp_path / "checkpoint" / "card_data.json").read_text())
    won = history[-1]["wer"] < min(h["wer"] for h in history[:-1])
    assert ("weights" in card["extra"]) == won, (history, card["extra"])

    with pytest.raises(ValueError, match="holds 3 snapshot"):
        average_last_states(model, run, 4)
    with pytest.raises(ValueError, match="set keep_states to at least 3"):
        TrainingConfig.from_dict({"average_last": 3, "keep_states": 2})
    with pytest.raises(ValueError, match="at least 2 snapshots, got 1"):
        TrainingConfig.from_dict({"average_last": 1})
