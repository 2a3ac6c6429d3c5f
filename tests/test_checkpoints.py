"""Every shipped checkpoint: Hub layout, its recipe in recipes/, measured test results in its card, code in sync."""

from pathlib import Path

import pytest
import torch
import yaml
from huggingface_hub import ModelCard

import zoo
from zoo.registry import auto_class_for

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = sorted(p for p in (REPO_ROOT / "checkpoints").iterdir() if p.is_dir())


def test_checkpoints_are_shipped():
    assert {p.name for p in CHECKPOINTS} >= {"convtasnet-zoo-2mix-8k", "sisnr-estimator-zoo-8k", "convtasnet-zoo-enh-16k"}


@pytest.mark.parametrize("folder", CHECKPOINTS, ids=lambda p: p.name)
def test_checkpoint(folder):
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "README.md", "recipe.yaml"} <= names
    assert not {n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))}
    assert sum(p.stat().st_size for p in folder.iterdir()) < 16 * 2**20, "checkpoints ship in git: 16 MB at most"

    # trained by a recipe the project has, under the same name and settings; a folder derived from a trained one
    # (an LM attached: `zoo lm attach`, `zoo attach-lm`) carries its base model's recipe and says how it was derived
    shipped = yaml.safe_load((folder / "recipe.yaml").read_text())
    name = shipped["name"]
    if name != folder.name:
        assert (REPO_ROOT / "checkpoints" / name).is_dir(), f"{folder.name} carries the recipe of {name}, which is not shipped"
        assert any(command in (folder / "README.md").read_text() for command in ("zoo lm attach", "zoo attach-lm"))
    recipe = yaml.safe_load((REPO_ROOT / "recipes" / f"{name}.yaml").read_text())
    assert shipped["model"] == recipe["model"] and shipped["data"] == recipe["data"]
    assert shipped["training"] == recipe["training"]

    # the card holds results `zoo eval` measured on the test split, and the command that trained it
    card = ModelCard.load(folder / "README.md")
    assert any(r.dataset_split == "test" for r in card.data.eval_results), "run `zoo eval` on this checkpoint"
    assert f"zoo train recipes/{name}.yaml" in card.text

    # the code carried for trust_remote_code is the package's current code
    for source in folder.glob("*.py"):
        packaged = next((REPO_ROOT / "zoo").rglob(source.name))
        assert source.read_text() == packaged.read_text(), f"{source} is stale; re-save the checkpoint"

    model = auto_class_for(shipped["model"]["type"], shipped["task"]).from_pretrained(folder).eval()
    assert type(model).__name__ in {c for entry in zoo.MODELS for c in entry.heads.values()}
    assert torch.isfinite(next(model.parameters())).all()
