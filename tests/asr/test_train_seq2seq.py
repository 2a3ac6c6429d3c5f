"""Seq2seq ASR training through the shared accelerate loop: the model type picks the task, the joint loss learns,
validation decodes, the checkpoint carries its decoding defaults to the stock pipeline, `zoo eval` measures it with
any decoding, and the shipped recipes build."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import pipeline

import zoo  # noqa: F401  (registers the models with the Auto classes)
from zoo.data import mixtures
from zoo.tasks import TASKS, TASKS_BY_MODEL_TYPE, AsrCtcTask, AsrSeq2SeqTask
from zoo.train import get_task, load_recipe
from zoo.train import main as train_main

from .seq2seq_helpers import TINY_CONFIGS
from .tones import RATE, TRAIN_TEXTS, tones

REPO_ROOT = Path(__file__).resolve().parents[2]
VALIDATION_TEXTS = ["dcb ac", "bad", "cab da"]  # sentences never seen in training


@pytest.fixture(scope="module")
def tone_corpus(tmp_path_factory):
    """A `zoo data speech`-like corpus of tone speech, upper-case transcripts like the real one's."""
    import datasets

    def split(texts, speaker):
        return datasets.Dataset.from_dict({
            "audio": [{"array": tones(t), "sampling_rate": RATE} for t in texts],
            "text": [t.upper() for t in texts],
            "speaker_id": [speaker] * len(texts),
            "duration": [len(tones(t)) / RATE for t in texts],
        }).cast_column("audio", datasets.Audio(sampling_rate=RATE))

    folder = tmp_path_factory.mktemp("tone-corpus") / "corpus"
    datasets.DatasetDict(train=split(TRAIN_TEXTS, "a"), validation=split(VALIDATION_TEXTS, "b"), test=split(["ab cd"], "c")).save_to_disk(str(folder))
    return str(folder)


@pytest.fixture(autouse=True)
def small_noise_bank(monkeypatch):
    bank = {"white": (0.1 * np.random.default_rng(0).standard_normal(3 * RATE)).astype(np.float32)}
    monkeypatch.setattr(mixtures, "noise_bank", lambda sampling_rate, seconds=None, cache=True: bank)


def make_recipe(corpus, tmp_path, kind="transformer_asr", **training) -> dict:
    return {
        "name": f"tiny-{kind}",
        "task": "automatic-speech-recognition",
        "model": {"type": kind, "config": dict(TINY_CONFIGS[kind], sampling_rate=RATE), "generation": {"num_beams": 2, "ctc_weight": 0.4}},
        "data": {"corpus": corpus, "sampling_rate": RATE, "max_seconds": 5.0, "repeats": 2, "speed_probability": 0.0, "noise_probability": 0.0},
        "training": {
            "seed": 0, "batch_size": 4, "learning_rate": 0.003, "lr_scheduler": "constant", "max_steps": 3, "eval_every": 3,
            "save_every": 3, "log_every": 1, "log_with": "none", **training,
        },
        "output_dir": str(tmp_path / "checkpoint"),
        "run_dir": str(tmp_path / "run"),
    }


@pytest.mark.parametrize("kind", ["transformer_asr", "las"])
def test_a_tiny_run_per_model_type(kind, tone_corpus, tmp_path):
    recipe = make_recipe(tone_corpus, tmp_path, kind)
    recipe["data"].update(speed_probability=0.5, noise_probability=0.5, validation_examples=2)
    assert type(get_task(recipe)) is AsrSeq2SeqTask and TASKS["automatic-speech-recognition"] is AsrCtcTask
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert train_main([str(tmp_path / "recipe.yaml")]) == 0
    folder = tmp_path / "checkpoint"
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == kind and config["vocab_size"] == 32 and config["eos_token_id"] == 31
    assert "AutoModelForSpeechSeq2Seq" in config["auto_map"]
    generation = json.loads((folder / "generation_config.json").read_text())
    assert (generation["num_beams"], generation["ctc_weight"]) == (2, 0.4)  # the recipe's model.generation
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["metric"] == "wer" and {"wer", "cer"} <= set(summary["history"][0])


def test_init_weights_from_puts_a_ctc_encoder_into_a_seq2seq_model(tone_corpus, tone_folder, tmp_path):
    """`model.init_weights_from` copies the CTC checkpoint's encoder (renamed) and leaves the decoder fresh;
    a prefix that matches nothing, or a weight of another shape, is a named error."""
    from safetensors.torch import load_file

    recipe = make_recipe(tone_corpus, tmp_path, "las")
    recipe["model"]["init_weights_from"] = {"checkpoint": tone_folder, "rename": {"ctc_conformer.": "encoder."}}
    model = get_task(recipe).build_model()
    ctc = load_file(f"{tone_folder}/model.safetensors")
    encoder = {k: v for k, v in ctc.items() if k.startswith("ctc_conformer.")}
    assert encoder
    for name, value in encoder.items():
        assert torch.equal(model.state_dict()["encoder." + name.removeprefix("ctc_conformer.")], value), name
    recipe["model"]["init_weights_from"]["rename"] = {"nothing.": "encoder."}
    with pytest.raises(ValueError, match=r"no weight of .* starts with \['nothing.'\]"):
        get_task(recipe).build_model()
    recipe["model"]["init_weights_from"]["rename"] = {"ctc_conformer.": "encoder."}
    recipe["model"]["config"]["hidden_size"] = 48
    with pytest.raises(ValueError, match="does not fit this model"):
        get_task(recipe).build_model()


def test_training_learns_and_the_stock_pipeline_reads_the_checkpoint(tone_corpus, tmp_path):
    recipe = make_recipe(tone_corpus, tmp_path, max_steps=160, eval_every=40, save_every=160)
    # eight training sentences teach the decoder little language; joint decoding lets CTC spell unseen ones
    recipe["data"]["validation_generation"] = {"num_beams": 2, "ctc_weight": 0.5}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert train_main([str(tmp_path / "recipe.yaml")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    wers = [h["wer"] for h in summary["history"]]
    # from more errors than words to most words right, on sentences it never saw
    assert wers[0] >= 1.0 and summary["best"] < 0.65, wers

    folder = str(tmp_path / "checkpoint")
    asr = pipeline("automatic-speech-recognition", model=folder)
    from zoo.metrics import wer

    # the pipeline, asked for validation's decoding, gives validation's WER
    hypotheses = [asr(tones(t), num_beams=2, ctc_weight=0.5)["text"] for t in VALIDATION_TEXTS]
    assert wer(VALIDATION_TEXTS, hypotheses) == pytest.approx(summary["best"], abs=1e-3)

    # `zoo eval` measures any decoding through the stock pipeline; each lands in the card under its own name
    from zoo.cards import load_card_data
    from zoo.evaluate import main as eval_main

    assert eval_main([folder, "--split", "validation", "--num-beams", "2", "--ctc-weight", "0.5"]) == 0
    assert eval_main([folder, "--split", "validation", "--num-beams", "1", "--ctc-weight", "0"]) == 0
    assert eval_main([folder, "--split", "validation"]) == 0  # the checkpoint's defaults: the recipe's model.generation
    results = {r["dataset"]: r["metrics"] for r in load_card_data(folder)["results"]}
    assert results[f"{tone_corpus} (validation speakers, all; beam 2, CTC weight 0.5, no LM)"]["wer"] == pytest.approx(summary["best"], abs=1e-3)
    assert f"{tone_corpus} (validation speakers, all; greedy attention decoding)" in results
    assert f"{tone_corpus} (validation speakers, all; beam 2, CTC weight 0.4, no LM)" in results


def test_decoding_options_are_refused_for_a_ctc_checkpoint(tone_corpus, tmp_path, capsys):
    from zoo.evaluate import main as eval_main
    from zoo.hub import save_checkpoint

    from .tones import TINY

    recipe = {"task": "automatic-speech-recognition", "data": {"corpus": tone_corpus, "sampling_rate": RATE}}
    model = zoo.CtcConformerForCTC(zoo.CtcConformerConfig(**TINY))
    from zoo.asr.processing_asr import build_processor

    folder = save_checkpoint(model, tmp_path / "ctc", feature_extractor=build_processor(), task="asr", recipe=recipe)
    with pytest.raises(SystemExit):
        eval_main([str(folder), "--split", "validation", "--num-beams", "4", "--no-card"])
    assert "is a CTC checkpoint" in capsys.readouterr().err


def test_recipe_checks(tone_corpus, tmp_path):
    recipe = make_recipe(tone_corpus, tmp_path)
    recipe["model"]["config"]["eos_token_id"] = 29
    with pytest.raises(ValueError, match="eos_token_id=29 but the seq2seq character tokenizer needs 31"):
        AsrSeq2SeqTask(recipe).build_model()
    recipe = make_recipe(tone_corpus, tmp_path, "las")
    recipe["model"]["config"]["hop_length"] = 320
    with pytest.raises(ValueError, match="set hop_length: 160"):
        AsrSeq2SeqTask(recipe).build_model()


@pytest.mark.parametrize("name, kind, parameters", [("transformer-asr-joint-zoo-16k", "transformer_asr", (2e6, 4e6)), ("las-zoo-16k", "las", (2e6, 4e6))])
def test_shipped_recipes(name, kind, parameters):
    recipe = load_recipe(REPO_ROOT / "recipes" / f"{name}.yaml")
    assert recipe["task"] == "automatic-speech-recognition" and recipe["model"]["type"] == kind and TASKS_BY_MODEL_TYPE[kind] is AsrSeq2SeqTask
    assert recipe["data"]["corpus"] == "data/speech-200" and recipe["data"]["train_corpus"] == "data/speech-asr"
    model = get_task(recipe).build_model()  # needs no corpus
    assert type(model).__name__.endswith("ForSpeechSeq2Seq") and model.config.ctc_weight == 0.3
    assert parameters[0] < model.num_parameters() < parameters[1]
    assert (model.generation_config.num_beams, model.generation_config.ctc_weight) == (4, 0.3)
    assert recipe["output_dir"] == f"checkpoints/{name}"
