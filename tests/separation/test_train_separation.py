"""The shared accelerate loop on a separation recipe: checkpoint layout, kill + resume, 2 processes."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import pipeline

import zoo  # noqa: F401
from zoo.train import main as train_main

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _recipe(path):
    return yaml.safe_load(Path(path).read_text())


def test_train_writes_a_hub_layout_checkpoint(tiny_recipe):
    assert train_main([str(tiny_recipe)]) == 0
    recipe = _recipe(tiny_recipe)
    out, run = Path(recipe["output_dir"]), Path(recipe["run_dir"])
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "recipe.yaml"):
        assert (out / name).exists(), name
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pt"))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 12 and [h["step"] for h in summary["history"]] == [6, 12]
    assert sorted(p.name for p in run.glob("state_*")) == ["state_12", "state_9"]  # keep_states=2
    card = (out / "README.md").read_text()
    assert "zoo train" in card and "si_snri" in card.replace("-", "_").lower()
    separator = pipeline("audio-source-separation", model=str(out))
    assert len(separator(torch.randn(4000).numpy(), sampling_rate=8000)) == 2


def test_killed_run_resumes_without_losing_a_step(tiny_recipe, tmp_path):
    """Kill -9 mid-run, --resume, and end with exactly the weights of an uninterrupted run."""
    recipe = _recipe(tiny_recipe)
    recipe["training"].update(max_steps=16, save_every=4, eval_every=8)
    killed = dict(recipe, output_dir=str(tmp_path / "killed_out"), run_dir=str(tmp_path / "killed_run"))
    straight = dict(recipe, output_dir=str(tmp_path / "straight_out"), run_dir=str(tmp_path / "straight_run"))
    for name, r in (("killed", killed), ("straight", straight)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(r))

    command = [sys.executable, "-m", "zoo.cli", "train", str(tmp_path / "killed.yaml")]
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_dir = Path(killed["run_dir"])
    deadline = time.time() + 120
    while not (run_dir / "state_8").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = sorted(int(p.name.split("_")[1]) for p in run_dir.glob("state_*"))
    assert saved and saved[-1] < 16, f"the run was not interrupted mid-way (states: {saved})"

    subprocess.run(command + ["--resume"], env=ENV, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "zoo.cli", "train", str(tmp_path / "straight.yaml")], env=ENV, check=True, capture_output=True)
    resumed = json.loads((run_dir / "summary.json").read_text())
    assert resumed["steps"] == 16
    a = load_file(str(run_dir / "state_16" / "model.safetensors"))
    b = load_file(str(Path(straight["run_dir"]) / "state_16" / "model.safetensors"))
    for key in b:
        torch.testing.assert_close(a[key], b[key], msg=f"{key} differs after resume")


def test_bad_recipe_values_are_named(tiny_recipe):
    with pytest.raises(ValueError, match="mixed_precision"):
        train_main([str(tiny_recipe), "--set", "training.mixed_precision=fp8"])
    with pytest.raises(ValueError, match="unknown training keys"):
        train_main([str(tiny_recipe), "--set", "training.lr=1"])
    with pytest.raises(FileNotFoundError, match="recipes"):
        train_main(["nope.yaml"])


def test_init_from_starts_a_second_stage_from_a_checkpoint(tiny_recipe, tmp_path):
    """`model.init_from` loads the first stage's weights; a config that changes a weight's shape is refused."""
    from zoo.train import get_task, load_recipe

    assert train_main([str(tiny_recipe), "--set", "training.max_steps=3"]) == 0
    first = Path(_recipe(tiny_recipe)["output_dir"])
    stage2 = _recipe(tiny_recipe) | {"output_dir": str(tmp_path / "stage2"), "run_dir": str(tmp_path / "run2")}
    stage2["model"]["init_from"] = str(first)
    path = tmp_path / "stage2.yaml"
    path.write_text(yaml.safe_dump(stage2))
    model = get_task(load_recipe(path)).build_model()
    for key, value in load_file(first / "model.safetensors").items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=f"{key} not loaded from stage 1")
    assert train_main([str(path), "--set", "training.max_steps=3"]) == 0
    assert (tmp_path / "stage2" / "model.safetensors").exists()
    with pytest.raises(ValueError, match="model.init_from .* do not fit .*num_filters.*config.json"):
        get_task(load_recipe(path, ["model.config.num_filters=32"])).build_model()


def test_train_corpus_replaces_only_the_training_mixtures(tiny_recipe, tiny_speech, tmp_path):
    """`data.train_corpus` (a bigger speaker corpus) mixes the training speakers; validation stays on `corpus`."""
    import datasets

    from zoo.train import get_task, load_recipe

    corpus = datasets.load_from_disk(str(tiny_speech))
    other = tmp_path / "other-speakers"
    datasets.DatasetDict({"train": corpus["test"]}).save_to_disk(str(other))  # only speakers unseen in `corpus` train
    task = get_task(load_recipe(tiny_recipe, [f"data.train_corpus={other}"]))
    assert task.train_dataset().speakers == sorted(set(corpus["test"]["speaker_id"]))
    assert task.eval_dataset().speakers == sorted(set(corpus["validation"]["speaker_id"]))
    assert str(other) in task.dataset_names()
    # one corpus for training and validation (its validation speakers held out) is listed once on the card
    both = get_task(load_recipe(tiny_recipe, [f"data.train_corpus={other}", f"data.validation_corpus={other}"]))
    assert both.dataset_names() == [str(tiny_speech), str(other)]



def test_speed_perturbation_reaches_the_training_mixtures_only(tiny_recipe):
    from zoo.train import get_task, load_recipe

    task = get_task(load_recipe(tiny_recipe, ["data.speed_probability=0.5", "data.speeds=[0.9,1.1]"]))
    assert (task.train_dataset().speed_probability, task.train_dataset().speeds) == (0.5, (0.9, 1.1))
    assert task.eval_dataset().speed_probability == 0.0  # validation mixtures keep the corpus's own voices

def test_fresh_run_refuses_a_used_run_dir(tiny_recipe):
    train_main([str(tiny_recipe), "--set", "training.max_steps=3"])
    with pytest.raises(FileExistsError, match="--resume"):
        train_main([str(tiny_recipe), "--set", "training.max_steps=3"])


@pytest.mark.slow
def test_two_process_ddp_over_gloo(tiny_recipe):
    """`accelerate launch --cpu --num_processes 2` runs the same loop with DDP and saves one checkpoint."""
    recipe = _recipe(tiny_recipe)
    result = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "zoo.train", str(tiny_recipe)],
        env=ENV, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((Path(recipe["run_dir"]) / "summary.json").read_text())
    assert summary["steps"] == 12
    assert (Path(recipe["output_dir"]) / "model.safetensors").exists()


def test_eval_writes_measured_results_into_the_card(tiny_recipe, capsys):
    from huggingface_hub import ModelCard

    from zoo.evaluate import main as eval_main

    train_main([str(tiny_recipe), "--set", "training.max_steps=2", "training.eval_every=2"])
    out = _recipe(tiny_recipe)["output_dir"]
    assert eval_main([out, "--num-examples", "2"]) == 0
    printed_out = capsys.readouterr().out
    printed = [json.loads(line) for line in printed_out.splitlines() if line.startswith("{")]
    assert [r["split"] for r in printed] == ["test", "test"] and "unseen voices" in printed[1]["dataset"]
    # the unseen-voice mixtures broken down by the voices mixed: SI-SNRi and mixture counts adding up to the total
    counts = re.findall(r"^    (.+?)\s+(-?\d+\.\d+)  \((\d+) mixtures\)$", printed_out, re.M)
    assert counts and sum(int(n) for *_, n in counts) == 2 and all(" + " in voices for voices, *_ in counts)
    # and by speaker, worst first: every mixture counts once for each of its two speakers
    speakers = re.findall(r"^    (\S+)\s+(-?\d+\.\d+)  in (\d+) mixtures$", printed_out, re.M)
    assert speakers and sum(int(n) for *_, n in speakers) == 4
    means = [float(value) for _, value, _ in speakers]
    assert means == sorted(means)
    card = ModelCard.load(Path(out) / "README.md")
    values = {
        (result.dataset_name, result.metric_type): result.metric_value for result in card.data.eval_results
    }
    for r in printed:
        for metric in ("si_snri", "sdri"):
            assert any(abs(v - r["metrics"][metric]) < 1e-6 for (name, kind), v in values.items() if name == r["dataset"]), (metric, values)


def test_eval_table_compares_models_on_every_condition(tiny_recipe, tmp_path, capsys, monkeypatch):
    import zoo.evaluate
    from zoo.hub import save_checkpoint

    recipe = _recipe(tiny_recipe)
    train_main([str(tiny_recipe), "--set", "training.max_steps=1", "training.eval_every=1"])
    three = {**recipe, "name": "tiny-3mix", "data": {**recipe["data"], "num_speakers": 3}}
    three["model"] = {**recipe["model"], "config": {**recipe["model"]["config"], "num_speakers": 3}}
    model = zoo.ConvTasNetForSourceSeparation(zoo.ConvTasNetConfig(**three["model"]["config"]))
    save_checkpoint(model, tmp_path / "three", task="audio-source-separation", recipe=three)
    # the tiny corpus has too few unseen voices for 3-speaker mixtures: score with a stand-in, record the calls
    calls = []

    def fake_evaluate(checkpoint, test_recipe, split, num_examples, unseen_only, seed):
        calls.append((Path(checkpoint).name, test_recipe["data"]["num_speakers"], test_recipe["data"]["condition"], unseen_only))
        return {"si_snri": 1.0 * len(calls), "sdri": 2.0, "si_snr": 0.0, "examples": num_examples}

    monkeypatch.setattr(zoo.evaluate, "evaluate_separation", fake_evaluate)
    capsys.readouterr()
    assert zoo.evaluate.main(["--table", recipe["output_dir"], str(tmp_path / "three"), "--num-examples", "1"]) == 0
    assert calls == [
        ("checkpoint", 2, "clean", True), ("checkpoint", 2, "noisy", True), ("checkpoint", 2, "reverb", True), ("three", 3, "clean", True)
    ]
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("| checkpoint", "| three"))]
    assert [cell.strip() for cell in rows[0].split("|")[4:8]] == ["1.00 / 2.00", "n/a", "2.00 / 2.00", "3.00 / 2.00"]
    assert [cell.strip() for cell in rows[1].split("|")[4:8]] == ["n/a", "4.00 / 2.00", "n/a", "n/a"]
    for folder in (recipe["output_dir"], tmp_path / "three"):
        card = (Path(folder) / "README.md").read_text()
        assert "All zoo separators on every test condition" in card and rows[0] in card and rows[1] in card

    # a line `zoo eval` measured on more mixtures of the same test set is not replaced by the table's smaller one
    from zoo import cards
    from zoo.hub import update_card_results

    clean = "(2-speaker clean mixtures, unseen voices)"
    name = next(r["dataset"] for r in cards.load_card_data(recipe["output_dir"])["results"] if r["dataset"].endswith(clean))
    update_card_results(recipe["output_dir"], [{"dataset": name, "split": "test", "metrics": {"si_snri": 9.5}, "examples": 200}])
    calls.clear()
    assert zoo.evaluate.main(["--table", recipe["output_dir"], "--num-examples", "1"]) == 0
    kept = {r["dataset"]: r for r in cards.load_card_data(recipe["output_dir"])["results"]}
    assert kept[name]["metrics"]["si-snri"] == 9.5 and kept[name]["examples"] == 200
    assert kept[name.replace("clean", "noisy")]["metrics"]["si-snri"] == 2.0  # the table's other conditions still land


def test_eval_refuses_a_folder_without_a_recipe(tmp_path):
    from zoo.evaluate import main as eval_main

    with pytest.raises(SystemExit):
        eval_main([str(tmp_path)])
