"""Speaker-embedding training through the shared accelerate loop: crops and augmentation, validation EER, the
calibrated threshold in the checkpoint, and the shipped recipes."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoFeatureExtractor, AutoModelForAudioXVector

import zoo  # noqa: F401  (registers the Auto classes)
from zoo.data import mixtures
from zoo.metrics import eer
from zoo.tasks import TASKS, SpeakerEmbeddingTask
from zoo.train import load_recipe
from zoo.train import main as train_main

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "ecapa_tdnn": dict(channels=[16, 16, 16, 16, 48], attention_channels=8, se_channels=8, embedding_size=16),
    "xvector": dict(hidden_size=16, embedding_size=16),
}


@pytest.fixture(scope="module")
def tiny_speech(tmp_path_factory):
    """8 speakers x 2 utterances at 16 kHz, built by the real builder: 2-3 speakers in each split."""
    from zoo.data.speech import build_speech

    out = tmp_path_factory.mktemp("speech") / "speech"
    build_speech(str(out), num_speakers=8, utterances_per_speaker=2, sampling_rate=16000, workers=2, progress=False)
    return out


@pytest.fixture(autouse=True)
def small_noise_bank(monkeypatch):
    """Two short noises instead of the 17 rendered ones (seconds of sox and fluidsynth); same interface."""
    t = np.arange(3 * 16000) / 16000
    bank = {
        "hum": (0.1 * np.sin(2 * np.pi * 50 * t)).astype(np.float32),
        "white": (0.1 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32),
    }
    monkeypatch.setattr(mixtures, "noise_bank", lambda sampling_rate, seconds=None, cache=True: bank)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_recipe(tiny_speech, tmp_path, model_type="ecapa_tdnn", **data) -> dict:
    return {
        "name": f"tiny-{model_type}",
        "task": "speaker-embedding",
        "model": {"type": model_type, "config": dict(TINY[model_type], sampling_rate=16000)},
        "data": {
            "corpus": str(tiny_speech), "sampling_rate": 16000, "segment_seconds": 0.5, "train_examples": 64,
            "speed_probability": 0.5, "reverb_probability": 0.5, "rir_pool": 2, "noise_probability": 0.5,
            "snr_db": [0, 15], "validation_seconds": 1.0, **data,
        },
        "training": {
            "seed": 0, "batch_size": 4, "learning_rate": 0.003, "max_steps": 4, "eval_every": 2, "save_every": 2,
            "log_every": 2, "log_with": "none",
        },
        "output_dir": str(tmp_path / "checkpoint"),
        "run_dir": str(tmp_path / "run"),
    }


@pytest.mark.parametrize("model_type", ["ecapa_tdnn", "xvector"])
def test_train_writes_a_checkpoint_with_its_eer_threshold(tiny_speech, tmp_path, model_type):
    recipe = make_recipe(tiny_speech, tmp_path, model_type)
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert train_main([str(tmp_path / "recipe.yaml")]) == 0

    out = Path(recipe["output_dir"])
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md", "recipe.yaml",
            "feature_extraction_speaker.py", f"modeling_{model_type}.py"} <= names
    summary = json.loads((Path(recipe["run_dir"]) / "summary.json").read_text())
    assert [h["step"] for h in summary["history"]] == [2, 4] and summary["metric"] == "eer"
    assert all(0.0 <= h["eer"] <= 100.0 for h in summary["history"])
    assert summary["best"] == min(h["eer"] for h in summary["history"])
    assert "EER" in (out / "README.md").read_text()

    model = AutoModelForAudioXVector.from_pretrained(out).eval()
    features = AutoFeatureExtractor.from_pretrained(out)
    task = SpeakerEmbeddingTask(recipe)
    assert list(model.config.id2label.values()) == task.speakers() and model.config.num_labels == len(task.speakers())
    threshold = model.config.threshold
    assert isinstance(threshold, float) and -1.0 <= threshold <= 1.0

    # the stored threshold is the EER point of the saved weights on the validation set
    validation = task.eval_dataset()
    items = [validation[i] for i in range(len(validation))]
    inputs = features([item["waveform"] for item in items], sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        embeddings = model(**inputs).embeddings
    speakers = torch.tensor([item["speaker"] for item in items])
    first, second = torch.triu_indices(len(items), len(items), offset=1)
    rate, expected = eer((embeddings[first] * embeddings[second]).sum(-1), speakers[first] == speakers[second])
    assert threshold == pytest.approx(expected, abs=1e-4)
    assert rate == pytest.approx(summary["best"], abs=1e-3)


def test_crops_are_reproducible_labelled_and_augmented(tiny_speech, tmp_path):
    clean = SpeakerEmbeddingTask(make_recipe(tiny_speech, tmp_path, speed_probability=0, reverb_probability=0, noise_probability=0))
    noisy = SpeakerEmbeddingTask(make_recipe(tiny_speech, tmp_path, speed_probability=1, reverb_probability=1, noise_probability=1))
    plain, augmented = clean.train_dataset(), noisy.train_dataset()
    speakers = clean.speakers()
    train = clean.split("train")
    for index in range(6):
        a, b = plain[index], augmented[index]
        np.testing.assert_array_equal(a["waveform"], plain[index]["waveform"])  # a function of (seed, index)
        assert a["waveform"].shape == b["waveform"].shape == (8000,) and a["waveform"].dtype == np.float32
        assert a["label"] == b["label"] and 0 <= a["label"] < len(speakers)
        assert np.isfinite(b["waveform"]).all() and np.abs(b["waveform"]).max() <= 1.0
        assert not np.allclose(a["waveform"], b["waveform"], atol=1e-3)
    # the label is the index of the utterance's speaker among the sorted training speakers
    labels = {speakers[plain[i]["label"]] for i in range(20)}
    assert labels <= set(train["speaker_id"])
    batch = clean.collate([plain[0], plain[1]])
    assert batch["input_features"].shape == (2, 51, 80) and batch["labels"].tolist() == [plain[0]["label"], plain[1]["label"]]


def test_validation_scores_every_pair_and_finalize_stores_the_threshold(tiny_speech, tmp_path):
    task = SpeakerEmbeddingTask(make_recipe(tiny_speech, tmp_path, validation_per_speaker=2))
    validation = task.eval_dataset()
    assert len(validation) == 2 * len({validation[i]["speaker"] for i in range(len(validation))})
    batch = task.collate([validation[0], validation[1]])
    assert set(batch) == {"input_features", "attention_mask", "_speaker"}  # "_speaker" never reaches the model

    # two speakers on opposite sides of a circle: separable, so no error and a threshold between the classes
    embeddings = torch.nn.functional.normalize(torch.tensor([[1.0, 0.1], [1.0, -0.1], [-1.0, 0.2], [-1.0, -0.2]]), dim=-1)
    values = {"_embeddings": embeddings.reshape(-1), "_speaker": torch.tensor([0.0, 0.0, 1.0, 1.0])}
    assert task.corpus_metrics(values) == {"eer": 0.0}
    assert -0.95 < task.threshold < 0.98
    model = zoo.EcapaTdnnForSpeakerEmbedding(zoo.EcapaTdnnConfig(**TINY["ecapa_tdnn"]))
    task.finalize(model, {"eer": 0.0})
    assert model.config.threshold == pytest.approx(task.threshold, abs=1e-6)


def test_bad_data_values_are_named(tiny_speech, tmp_path):
    with pytest.raises(ValueError, match="validation_per_speaker"):
        SpeakerEmbeddingTask(make_recipe(tiny_speech, tmp_path, validation_per_speaker=1))
    with pytest.raises(ValueError, match="noise_probability"):
        SpeakerEmbeddingTask(make_recipe(tiny_speech, tmp_path, noise_probability=1.5)).train_dataset()
    with pytest.raises(ValueError, match="snr_db"):
        SpeakerEmbeddingTask(make_recipe(tiny_speech, tmp_path, snr_db=[10, 0])).train_dataset()
    recipe = make_recipe(tiny_speech, tmp_path)
    recipe["model"]["config"]["sampling_rate"] = 8000
    with pytest.raises(ValueError, match="sampling_rate"):
        SpeakerEmbeddingTask(recipe).build_model()


@pytest.mark.parametrize("name", ["ecapa-tdnn-zoo-16k", "xvector-zoo-16k"])
def test_shipped_recipes_are_consistent(name):
    recipe = load_recipe(REPO_ROOT / "recipes" / f"{name}.yaml")
    assert TASKS[recipe["task"]] is SpeakerEmbeddingTask and recipe["output_dir"] == f"checkpoints/{name}"
    config_cls, heads = zoo.registry.model_classes(recipe["model"]["type"])
    # training speakers: data/speech-spk's 805 (`train_corpus`) or data/speech-200's 134
    config = config_cls(**recipe["model"]["config"], num_labels=805 if "train_corpus" in recipe["data"] else 134)
    assert config.sampling_rate == recipe["data"]["sampling_rate"] == 16000
    training = recipe["training"]
    assert recipe["data"]["train_examples"] == training["max_steps"] * training["batch_size"]
    # checkpoints ship in git: 10 MB at most (tests/test_checkpoints.py)
    assert heads["speaker-embedding"](config).num_parameters() * 4 < 9 * 2**20


def test_fine_tuning_starts_from_a_checkpoint_with_a_new_classifier(tiny_speech, tmp_path):
    """`model.init_from` keeps the pretrained encoder and rebuilds the classifier for the new corpus' speakers."""
    base_recipe = make_recipe(tiny_speech, tmp_path / "base")
    base = zoo.EcapaTdnnForSpeakerEmbedding(
        zoo.EcapaTdnnConfig(**base_recipe["model"]["config"], id2label={i: f"old{i}" for i in range(7)}, threshold=0.3)
    )
    base.save_pretrained(tmp_path / "base-ckpt")
    recipe = make_recipe(tiny_speech, tmp_path)
    recipe["model"]["init_from"] = str(tmp_path / "base-ckpt")
    task = SpeakerEmbeddingTask(recipe)
    model = task.build_model()
    assert list(model.config.id2label.values()) == task.speakers() and model.config.threshold is None
    encoder = {k: v for k, v in base.state_dict().items() if "classifier" not in k}
    assert all(torch.equal(model.state_dict()[k], v) for k, v in encoder.items())

    recipe["model"]["type"] = "xvector"
    with pytest.raises(ValueError, match="is a ecapa_tdnn, not xvector"):
        SpeakerEmbeddingTask(recipe).build_model()


@pytest.mark.parametrize("name", ["ecapa-tdnn-cryceleb-finetune", "ecapa-tdnn-cry-16k"])
def test_fine_tuning_recipes_name_their_base_and_corpus(name):
    recipe = load_recipe(REPO_ROOT / "recipes" / f"{name}.yaml")
    assert TASKS[recipe["task"]] is SpeakerEmbeddingTask
    assert recipe["model"]["init_from"] == "checkpoints/ecapa-tdnn-zoo-16k"
    assert recipe["data"]["corpus"] in {"Ubenwa/CryCeleb2023", "data/cry"}
