"""The character LM: loss and padding, transformers' stock text-generation pipeline, its training task (text without
the recognizer's test sentences), `zoo train`, and shallow fusion into a seq2seq recognizer (`zoo attach-lm`)."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

import zoo
from zoo.asr.fusion import attach_char_lm
from zoo.hub import save_checkpoint
from zoo.tasks import TASKS, CharLmTask

from .seq2seq_helpers import TINY_LM, tone_seq2seq, train_tone_lm, transcribe
from .tones import RATE, TRAIN_TEXTS, tones


@pytest.fixture(scope="module")
def tone_lm():
    return train_tone_lm()


@pytest.fixture(scope="module")
def lm_folder(tone_lm, tmp_path_factory):
    model, tokenizer, _ = tone_lm
    return str(save_checkpoint(model, tmp_path_factory.mktemp("lm") / "tone-lm", feature_extractor=tokenizer, task="text-generation"))


@pytest.fixture(scope="module")
def asr_folder(tmp_path_factory):
    model, processor, _ = tone_seq2seq("transformer_asr")
    return str(save_checkpoint(model, tmp_path_factory.mktemp("asr") / "tone-s2s", feature_extractor=processor, task="asr"))


def test_loss_is_next_character_cross_entropy_and_padding_does_not_leak():
    torch.manual_seed(0)
    model = zoo.CharLmForCausalLM(zoo.CharLmConfig(**TINY_LM)).eval()
    ids = torch.tensor([[30, 6, 4, 23, 31, 0, 0], [30, 4, 4, 4, 4, 2, 31]])
    labels = ids.masked_fill(torch.tensor([[0, 0, 0, 0, 0, 1, 1], [0] * 7]).bool(), -100)
    out = model(ids, labels=labels)
    assert out.logits.shape == (2, 7, 32)
    expected = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, 32), labels[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(model(ids[:1, :5]).logits[0], out.logits[0, :5])  # right padding never reaches real tokens
    assert model(ids).loss is None
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, vocab_size=32\)"):
        model(torch.tensor([[30, 40]]))
    with pytest.raises(ValueError, match="must lie in"):
        zoo.CharLmConfig(vocab_size=30)


def test_a_trained_lm_prefers_what_it_read_and_continues_text_in_the_stock_pipeline(tone_lm, lm_folder):
    model, tokenizer, losses = tone_lm
    assert losses[-1] < 0.3 * losses[0]

    def log_prob(text):
        ids = torch.tensor([[tokenizer.bos_token_id] + tokenizer(text).input_ids])
        return -model(ids, labels=ids).loss.item() * (ids.shape[1] - 1)

    assert log_prob("acb dad bcb") > log_prob("bcb dad acb") + 2.0  # a training sentence beats its words reordered
    assert json.loads(Path(lm_folder, "config.json").read_text())["auto_map"]["AutoModelForCausalLM"] == "modeling_char_lm.CharLmForCausalLM"
    assert isinstance(AutoModelForCausalLM.from_pretrained(lm_folder), zoo.CharLmForCausalLM)
    assert AutoTokenizer.from_pretrained(lm_folder).get_vocab() == tokenizer.get_vocab()
    generator = pipeline("text-generation", model=lm_folder)
    text = generator("acb da", max_new_tokens=4, do_sample=False)[0]["generated_text"]
    assert text.startswith("acb da") and len(text) > len("acb da")
    assert "pipeline_tag: text-generation" in Path(lm_folder, "README.md").read_text()


def test_attach_lm_fuses_it_into_the_recognizer(asr_folder, lm_folder, tmp_path):
    fused_folder = attach_char_lm(asr_folder, lm_folder, tmp_path / "fused", lm_weight=0.4)
    config = json.loads((fused_folder / "config.json").read_text())
    assert config["lm_config"]["hidden_size"] == TINY_LM["hidden_size"] and config["lm_config"]["vocab_size"] == 32
    assert json.loads((fused_folder / "generation_config.json").read_text())["lm_weight"] == 0.4
    fused = zoo.TransformerAsrForSpeechSeq2Seq.from_pretrained(fused_folder).eval()
    lm = zoo.CharLmForCausalLM.from_pretrained(lm_folder)
    torch.testing.assert_close(fused.lm.lstm.weight_hh_l0, lm.lstm.weight_hh_l0)  # the LM's weights, as trained
    plain, processor, _ = tone_seq2seq("transformer_asr")
    torch.testing.assert_close(fused.decoder.lm_head.weight, plain.decoder.lm_head.weight)

    # the fused LM changes the scores, not (on sentences both models know) the text
    inputs = processor.feature_extractor(tones(TRAIN_TEXTS[0]), sampling_rate=RATE, return_tensors="pt")
    with_lm = fused.generate(**inputs, return_dict_in_generate=True)
    without_lm = fused.generate(**inputs, lm_weight=0.0, return_dict_in_generate=True)
    assert with_lm.sequences.tolist() == without_lm.sequences.tolist()
    assert with_lm.sequences_scores.item() != pytest.approx(without_lm.sequences_scores.item(), abs=1e-4)
    assert without_lm.sequences_scores.item() == pytest.approx(plain.generate(**inputs, return_dict_in_generate=True).sequences_scores.item(), abs=1e-5)
    assert transcribe(fused, processor, TRAIN_TEXTS) == TRAIN_TEXTS  # joint CTC / attention + LM, padded batch

    asr = pipeline("automatic-speech-recognition", model=str(fused_folder))
    assert asr.type == "seq2seq" and asr.model.lm is not None
    outputs = asr([tones(t) for t in TRAIN_TEXTS[:4]], batch_size=2)
    assert [o["text"] for o in outputs] == TRAIN_TEXTS[:4]
    assert "fused_language_model" in json.loads((fused_folder / "card_data.json").read_text())["extra"]


def test_attach_lm_command(asr_folder, lm_folder, tmp_path, capsys):
    from zoo.cli import main

    assert main(["attach-lm", asr_folder, lm_folder, "--output", str(tmp_path / "fused"), "--lm-weight", "0.2", "--num-beams", "2"]) == 0
    saved = json.loads((tmp_path / "fused" / "generation_config.json").read_text())
    assert (saved["lm_weight"], saved["num_beams"], saved["ctc_weight"]) == (0.2, 2, 0.3)
    # in place: the recognizer's own folder now holds the LM; what `zoo eval` measured on it stays in its card
    import shutil

    from zoo.cards import load_card_data
    from zoo.hub import update_card_results

    in_place = tmp_path / "in-place"
    shutil.copytree(asr_folder, in_place)
    update_card_results(in_place, [{"dataset": "tones (greedy attention decoding)", "split": "test", "metrics": {"wer": 0.1}}])
    assert main(["attach-lm", str(in_place), lm_folder, "--output", str(in_place)]) == 0
    assert zoo.TransformerAsrForSpeechSeq2Seq.from_pretrained(in_place).lm is not None
    assert any(r["dataset"] == "tones (greedy attention decoding)" for r in load_card_data(in_place)["results"])
    # an ASR checkpoint is no LM
    assert main(["attach-lm", asr_folder, asr_folder, "--output", str(tmp_path / "bad")]) == 1
    assert "zoo attach-lm: error" in capsys.readouterr().err


SENTENCES = [
    {"text": "ACB DAD BCB", "original_text": "Acb dad bcb.", "source": "fortunes", "kind": "fortune"},  # in the excluded corpus
    {"text": "THE CAT SAT", "original_text": "The cat sat.", "source": "fortunes", "kind": "fortune"},
    {"text": "THE CAT SAT", "original_text": "The cat sat!", "source": "wordnet", "kind": "example"},  # a duplicate
    {"text": "A DOG RAN HOME", "original_text": "A dog ran home.", "source": "gcide", "kind": "quotation"},
] + [{"text": f"SENTENCE NUMBER {word}", "original_text": "", "source": "fortunes", "kind": "fortune"} for word in "ONE TWO THREE FOUR FIVE SIX".split()]


@pytest.fixture
def text_corpus(tmp_path, monkeypatch):
    """A speech corpus to exclude (its text only matters) and a small sentence pool instead of the harvested one."""
    import datasets

    from zoo.data import text

    monkeypatch.setattr(text, "harvest_sentences", lambda sources=text.SOURCES, refresh=False, cache=True: SENTENCES)
    corpus = tmp_path / "speech"
    split = datasets.Dataset.from_dict({"text": ["ACB DAD BCB"], "speaker_id": ["a"]})
    datasets.DatasetDict(train=split, test=split).save_to_disk(str(corpus))
    return str(corpus)


def lm_recipe(corpus, tmp_path, **training) -> dict:
    return {
        "name": "tiny-char-lm",
        "task": "text-generation",
        "model": {"type": "char_lm", "config": TINY_LM},
        "data": {"exclude_corpora": [corpus], "validation_sentences": 2},
        "training": {"seed": 0, "batch_size": 2, "learning_rate": 0.01, "max_steps": 3, "eval_every": 3, "save_every": 3, "log_every": 1,
                     "log_with": "none", **training},
        "output_dir": str(tmp_path / "lm"),
        "run_dir": str(tmp_path / "run"),
    }


def test_task_leaves_out_the_excluded_corpus_and_holds_out_validation(text_corpus, tmp_path):
    assert TASKS["text-generation"] is CharLmTask
    task = CharLmTask(lm_recipe(text_corpus, tmp_path))
    splits = task.sentences()
    everything = splits["train"] + splits["validation"]
    assert "acb dad bcb" not in everything and splits["excluded"] == 1
    assert sorted(everything) == sorted({"the cat sat", "a dog ran home"} | {f"sentence number {w}" for w in "one two three four five six".split()})
    assert len(splits["validation"]) == 2 and not set(splits["validation"]) & set(splits["train"])
    assert CharLmTask(lm_recipe(text_corpus, tmp_path)).sentences() == splits  # seeded
    batch = task.collate([{"text": "ab"}, {"text": "abc d"}])
    assert batch["input_ids"][0].tolist() == [30, 4, 5, 31, 0, 0, 0] and batch["labels"][0, -1] == -100
    # a model that knows nothing: log2(32) = 5 bits per character
    uniform = type("Out", (), {"logits": torch.zeros(2, 7, 32)})
    assert task.corpus_metrics(task.metrics(batch, uniform))["bits_per_char"] == pytest.approx(5.0)
    recipe = lm_recipe(text_corpus, tmp_path)
    recipe["data"]["validation_sentences"] = 50
    with pytest.raises(ValueError, match="only 8 sentences left"):
        CharLmTask(recipe).sentences()


def test_zoo_train_writes_an_lm_checkpoint(text_corpus, tmp_path):
    from zoo.train import main as train_main

    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(lm_recipe(text_corpus, tmp_path)))
    assert train_main([str(tmp_path / "recipe.yaml")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["metric"] == "bits_per_char" and 0 < summary["best"] < 6 and "perplexity" in summary["history"][0]
    folder = tmp_path / "lm"
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "modeling_char_lm.py"} <= {p.name for p in folder.iterdir()}
    assert isinstance(AutoModelForCausalLM.from_pretrained(folder), zoo.CharLmForCausalLM)

    # `zoo eval`: bits per character on the excluded corpus' test sentences, into the card
    from zoo.cards import load_card_data
    from zoo.evaluate import main as eval_main

    assert eval_main([str(folder)]) == 0
    measured = [r for r in load_card_data(folder)["results"] if r["split"] == "test"]
    assert measured[0]["dataset"] == f"{text_corpus} transcripts (sentences left out of training)"
    assert 0 < measured[0]["metrics"]["bits-per-char"] < 6 and measured[0]["metrics"]["perplexity"] > 1  # card names


def test_shipped_lm_recipe():
    from zoo.train import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "char-lm-zoo.yaml")
    assert recipe["task"] == "text-generation" and recipe["data"]["exclude_corpora"] == ["data/speech-200"]
    model = CharLmTask(recipe).build_model()
    assert type(model).__name__ == "CharLmForCausalLM" and model.config.vocab_size == 32
    assert 0.3e6 < model.num_parameters() < 2e6
