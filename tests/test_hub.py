"""Hub layout of a checkpoint, its model card, and `zoo push` against a fake HfApi."""

from __future__ import annotations

import json
import shutil
import types

import pytest
import torch
import yaml
import huggingface_hub.constants
from huggingface_hub import ModelCard
from huggingface_hub.errors import HfHubHTTPError
from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

import zoo
from zoo import cards, hub

TINY = dict(num_filters=16, bottleneck_channels=8, hidden_channels=16, skip_channels=8, num_blocks=2, num_repeats=1)
HUB_FILES = {
    "README.md",
    "card_data.json",
    "config.json",
    "configuration_conv_tasnet.py",
    "model.safetensors",
    "modeling_conv_tasnet.py",
    "preprocessor_config.json",
    "recipe.yaml",
}
RECIPE = {"task": "audio-source-separation", "model": {"type": "conv_tasnet", **TINY}, "train": {"epochs": 2, "lr": 1e-3}}
COMMAND = "zoo train recipes/conv_tasnet_tiny.yaml --output-dir runs/conv_tasnet_tiny"


def tiny_model(cls=zoo.ConvTasNetForSourceSeparation, **overrides):
    torch.manual_seed(0)
    return cls(zoo.ConvTasNetConfig(**{**TINY, **overrides})).eval()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = tiny_model()
    folder = hub.save_checkpoint(
        model,
        tmp_path_factory.mktemp("ckpt") / "conv_tasnet_tiny",
        task="audio-source-separation",
        recipe=RECIPE,
        recipe_path="recipes/conv_tasnet_tiny.yaml",
        command=COMMAND,
        metrics={"si-snri": 9.8765, "SDRi": 10.25},
        datasets=["zoo-mix2-tts"],
        extra={"epochs": 2, "limitations": ["Tiny test model."]},
        repo_id="zoo-test/convtasnet-tiny",
    )
    return model, folder


@pytest.fixture
def folder_copy(saved, tmp_path):
    return shutil.copytree(saved[1], tmp_path / "ckpt")


# ---- layout and loading -----------------------------------------------------------------------------------------


def test_save_checkpoint_writes_exactly_the_hub_files(saved):
    _, folder = saved
    assert {p.name for p in folder.iterdir()} == HUB_FILES
    assert hub.check_checkpoint(folder)  # what it wrote is pushable as-is


def test_from_pretrained_gives_identical_outputs(saved):
    model, folder = saved
    loaded = AutoModel.from_pretrained(folder).eval()
    assert type(loaded) is type(model)
    features = AutoFeatureExtractor.from_pretrained(folder)
    assert features.sampling_rate == model.config.sampling_rate == 8000
    inputs = features([torch.randn(900).numpy(), torch.randn(700).numpy()], sampling_rate=8000, return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = model(**inputs).waveforms
        actual = loaded(**inputs).waveforms
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


def test_config_names_the_source_files_and_save_leaves_classes_untouched(saved, tmp_path):
    _, folder = saved
    auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
    assert auto_map == {
        "AutoConfig": "configuration_conv_tasnet.ConvTasNetConfig",
        "AutoModel": "modeling_conv_tasnet.ConvTasNetForSourceSeparation",
    }
    assert AutoConfig.from_pretrained(folder).model_type == "conv_tasnet"
    # a plain save_pretrained afterwards copies no source files: the auto-class marks were undone
    tiny_model().save_pretrained(tmp_path)
    assert not list(tmp_path.glob("*.py"))
    assert "auto_map" not in json.loads((tmp_path / "config.json").read_text())


def test_recipe_is_saved_and_read_from_recipe_path(saved, tmp_path):
    _, folder = saved
    assert yaml.safe_load((folder / "recipe.yaml").read_text()) == RECIPE
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(RECIPE))
    out = hub.save_checkpoint(tiny_model(), tmp_path / "ckpt", task="separation", recipe_path=str(recipe_file))
    assert yaml.safe_load((out / "recipe.yaml").read_text()) == RECIPE
    assert str(recipe_file) in (out / "README.md").read_text()


# ---- model card -------------------------------------------------------------------------------------------------


def test_card_metadata_holds_what_was_passed(saved):
    _, folder = saved
    card = ModelCard.load(folder / "README.md")
    data = card.data
    assert data.library_name == "transformers"
    assert data.pipeline_tag == "audio-to-audio"
    assert {"zoo", "audio-source-separation", "conv_tasnet"} <= set(data.tags)
    assert data.datasets == ["zoo-mix2-tts"]
    assert data.metrics == ["si-snri", "sdri"]
    assert data.license == "apache-2.0"
    measured = {(r.dataset_name, r.dataset_split, r.metric_type): r.metric_value for r in data.eval_results}
    assert measured == {("zoo-mix2-tts", "test", "si-snri"): 9.8765, ("zoo-mix2-tts", "test", "sdri"): 10.25}
    assert {r.task_type for r in data.eval_results} == {"audio-to-audio"}


def test_card_body_says_usage_data_recipe_results_limits(saved):
    _, folder = saved
    text = ModelCard.load(folder / "README.md").text
    assert 'pipeline("audio-source-separation", model="zoo-test/convtasnet-tiny")' in text
    assert "conv_tasnet_tiny" in text  # the local path
    assert "trust_remote_code=True" in text
    assert "synthetic" in text and "espeak-ng" in text
    assert COMMAND in text
    assert "lr: 0.001" in text  # the recipe
    assert "| Audio source separation | zoo-mix2-tts | test | 9.88 | 10.25 |" in text
    assert "Tiny test model." in text and "## Limitations" in text


def test_update_card_results_merges(folder_copy):
    hub.update_card_results(
        folder_copy,
        [
            {"dataset": "zoo-mix2-tts", "split": "test", "metrics": {"si-snri": 11.5, "pesq": 2.1}},
            {"task": "audio-source-separation", "dataset": "zoo-mix2-reverb", "split": "test", "metrics": {"si_snri": 6.0}},
        ],
        table_markdown="| condition | SI-SNRi |\n|---|---|\n| anechoic | 12.0 |",
    )
    card = ModelCard.load(folder_copy / "README.md")
    measured = {(r.dataset_name, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert measured == {
        ("zoo-mix2-tts", "si-snri"): 11.5,  # replaced
        ("zoo-mix2-tts", "sdri"): 10.25,  # kept
        ("zoo-mix2-tts", "pesq"): 2.1,  # added
        ("zoo-mix2-reverb", "si-snri"): 6.0,  # new dataset
    }
    assert "| anechoic | 12.0 |" in card.text
    assert "| Audio source separation | zoo-mix2-reverb | test | 6.00 | – | – |" in card.text
    # a second update without a table keeps the first one's table
    hub.update_card_results(folder_copy, [{"dataset": "zoo-mix2-tts", "metrics": {"stoi": 0.91}}])
    text = (folder_copy / "README.md").read_text()
    assert "| anechoic | 12.0 |" in text and "0.91" in text


def test_update_card_results_needs_a_zoo_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="save_checkpoint"):
        hub.update_card_results(tmp_path, [{"dataset": "d", "metrics": {"wer": 0.1}}])


def test_speech_enhancement_card(tmp_path):
    model = tiny_model(zoo.ConvTasNetForSpeechEnhancement, num_speakers=1)
    folder = hub.save_checkpoint(model, tmp_path, task="enhancement", datasets=["zoo-noisy-tts"], metrics={"pesq": 2.5, "stoi": 0.9})
    data = ModelCard.load(folder / "README.md").data
    assert data.pipeline_tag == "audio-to-audio"
    assert "speech-enhancement" in data.tags
    assert json.loads((folder / "config.json").read_text())["auto_map"]["AutoModel"].endswith("ConvTasNetForSpeechEnhancement")
    assert not (folder / "recipe.yaml").exists()


@pytest.mark.parametrize(
    "task, tag",
    [
        ("audio-source-separation", "audio-to-audio"),
        ("speech-enhancement", "audio-to-audio"),
        ("asr", "automatic-speech-recognition"),
        ("tts", "text-to-speech"),
        ("speaker-verification", "feature-extraction"),
        ("speaker-identification", "audio-classification"),
        ("diarization", "voice-activity-detection"),
        ("clap", "zero-shot-audio-classification"),
    ],
)
def test_pipeline_tags(task, tag):
    assert cards.pipeline_tag(task) == tag


def test_bad_task_and_metrics_are_refused(tmp_path):
    model = tiny_model()
    with pytest.raises(ValueError, match="unknown task 'separate'.*audio-source-separation"):
        hub.save_checkpoint(model, tmp_path, task="separate")
    with pytest.raises(ValueError, match="need a dataset.*datasets="):
        hub.save_checkpoint(model, tmp_path, task="separation", metrics={"si-snri": 3.0})
    with pytest.raises(ValueError, match="'si-snri' must be a number"):
        hub.save_checkpoint(model, tmp_path, task="separation", metrics={"si-snri": "high"}, datasets=["d"])
    with pytest.warns(UserWarning, match="'si-snri' is nan; it is left out"):
        hub.save_checkpoint(model, tmp_path, task="separation", metrics={"si-snri": float("nan"), "sdri": 1.0}, datasets=["d"])
    assert [r.metric_type for r in ModelCard.load(tmp_path / "README.md").data.eval_results] == ["sdri"]


def test_training_metrics_per_split_and_eval_examples(tmp_path):
    # the forms zoo train (per split, with the step) and zoo eval (with an example count) pass
    folder = hub.save_checkpoint(
        tiny_model(), tmp_path, task="separation", datasets=["zoo-mix2-tts"],
        metrics={"validation": {"si_snri": 7.123, "loss": -7.0}, "step": 120},
    )
    data = ModelCard.load(folder / "README.md").data
    assert {(r.dataset_split, r.metric_type): r.metric_value for r in data.eval_results} == {
        ("validation", "si-snri"): 7.123,
        ("validation", "loss"): -7.0,
    }
    assert "- **step:** 120" in (folder / "README.md").read_text()
    hub.update_card_results(
        folder, {"dataset": "zoo-mix2-tts (unseen voices)", "split": "test", "metrics": {"si-snri": 6.5, "pesq": None}, "examples": 50}
    )
    text = (folder / "README.md").read_text()
    assert "| Audio source separation | zoo-mix2-tts (unseen voices) | test | 50 | 6.50 | – |" in text


# ---- push -------------------------------------------------------------------------------------------------------


class FakeApi:
    """Records the HfApi calls push makes."""

    def __init__(self, token="hf_fake", fail_status=None):
        self.token = token
        self.calls = []
        self.fail_status = fail_status

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))
        if self.fail_status:
            response = types.SimpleNamespace(status_code=self.fail_status, headers={}, request=None)
            raise HfHubHTTPError(f"{self.fail_status} Client Error", response=response)
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs["repo_id"], kwargs))
        return types.SimpleNamespace(commit_url=f"https://huggingface.co/{kwargs['repo_id']}/commit/abc123")


def test_push_creates_the_repo_then_uploads_the_folder(folder_copy):
    api = FakeApi()
    url = hub.push(folder_copy, "zoo-audio/convtasnet-mix2", private=True, api=api)
    assert url == "https://huggingface.co/zoo-audio/convtasnet-mix2/commit/abc123"
    assert [(name, repo) for name, repo, _ in api.calls] == [
        ("create_repo", "zoo-audio/convtasnet-mix2"),
        ("upload_folder", "zoo-audio/convtasnet-mix2"),
    ]
    create, upload = api.calls[0][2], api.calls[1][2]
    assert create["exist_ok"] is True and create["private"] is True
    assert upload["folder_path"] == str(folder_copy) and upload["repo_type"] == "model"
    assert "conv_tasnet_tiny" in upload["commit_message"]
    # the card now shows the repo it was pushed to
    assert 'model="zoo-audio/convtasnet-mix2"' in (folder_copy / "README.md").read_text()


@pytest.mark.parametrize("stray", ["optimizer.pt", "pytorch_model.bin", "sub/state.pkl"])
def test_push_refuses_pickles(folder_copy, stray):
    (folder_copy / stray).parent.mkdir(exist_ok=True)
    (folder_copy / stray).write_bytes(b"\x80\x04N.")
    api = FakeApi()
    with pytest.raises(ValueError, match=f"{stray} may be a pickle"):
        hub.push(folder_copy, "zoo-test/x", api=api)
    assert api.calls == []


def test_push_refuses_incomplete_or_oversized_folders(folder_copy):
    (folder_copy / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="model.safetensors is missing"):
        hub.push(folder_copy, "zoo-test/x", api=FakeApi())
    with pytest.raises(ValueError, match="over the .* limit"):
        hub.check_checkpoint(folder_copy, max_file_bytes=100)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hub.push(folder_copy / "nope", "zoo-test/x", api=FakeApi())


def test_push_errors_name_the_fix(folder_copy, monkeypatch):
    monkeypatch.setattr(hub, "get_token", lambda: None)
    with pytest.raises(PermissionError, match="hf auth login"):
        hub.push(folder_copy, "zoo-test/x", api=FakeApi(token=None))
    with pytest.raises(ValueError, match="ORG/NAME"):
        hub.push(folder_copy, "just-a-name", api=FakeApi())
    with pytest.raises(PermissionError, match="HTTP 401.*hf auth login"):
        hub.push(folder_copy, "zoo-test/x", api=FakeApi(fail_status=401))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(RuntimeError, match="unset HF_HUB_OFFLINE"):
        hub.push(folder_copy, "zoo-test/x", token="hf_fake")  # a real HfApi, refused before any request


def test_cli_help_and_dry_run(saved, capsys):
    from zoo import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["push", "--help"])
    assert exit_info.value.code == 0
    assert "--repo-id" in capsys.readouterr().out
    assert hub.main([str(saved[1]), "--repo-id", "zoo-test/x", "--dry-run"]) == 0
    assert "pushable checkpoint (8 files)" in capsys.readouterr().out
    assert hub.main([str(saved[1] / "missing"), "--repo-id", "zoo-test/x", "--dry-run"]) == 1
    assert "does not exist" in capsys.readouterr().err
