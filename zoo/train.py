"""One training loop for every zoo task, on `accelerate`, driven by a recipe YAML.

    zoo train recipes/convtasnet-zoo-2mix-8k.yaml            # train
    zoo train recipes/convtasnet-zoo-2mix-8k.yaml --resume   # continue after a kill, losing no step
    accelerate launch --cpu --num_processes 2 -m zoo.train recipes/....yaml   # DDP over gloo

Sections, top to bottom: 1 config, 2 data, 3 model, 4 optimizer, 5 train, 6 evaluate, 7 save.
A recipe holds `name`, `task`, `model` (type + config), `data` (task specific), `training` (below),
`output_dir` (the Hub-layout checkpoint) and `run_dir` (resumable state, logs; never committed).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import yaml


# ---------------------------------------------------------------- 1. config
@dataclass
class TrainingConfig:
    seed: int = 0
    batch_size: int = 4                   # per process
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    lr_scheduler: str = "cosine"          # any transformers.get_scheduler name
    warmup_steps: int = 0
    max_steps: int = 1000                 # optimizer steps
    max_grad_norm: float = 5.0            # 0 disables clipping
    mixed_precision: str = "no"           # "no", "fp16", "bf16" (bf16 also works on CPU)
    eval_every: int = 250                 # optimizer steps between validations
    save_every: int = 250                 # optimizer steps between save_state snapshots
    keep_states: int = 2                  # save_state snapshots kept in run_dir
    average_last: int = 0                 # at the end, also try the mean weights of the last N snapshots (0: off)
    log_every: int = 10
    num_workers: int = 0                  # DataLoader workers
    log_with: str = "tensorboard"         # "tensorboard" or "none"

    @classmethod
    def from_dict(cls, values: dict) -> "TrainingConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown training keys {sorted(unknown)} in recipe; known keys: {sorted(known)}")
        config = cls(**values)
        if config.mixed_precision not in {"no", "fp16", "bf16"}:
            raise ValueError(f"training.mixed_precision must be no, fp16 or bf16, got {config.mixed_precision!r}")
        if config.max_steps < 0 or config.batch_size < 1 or config.gradient_accumulation_steps < 1:
            raise ValueError("training.batch_size and gradient_accumulation_steps must be >= 1, and max_steps >= 0 (0: "
                             "validate and save model.init_from's weights, e.g. an average of checkpoints, untrained)")
        if config.average_last < 0 or config.average_last == 1:
            raise ValueError(f"training.average_last must be 0 (off) or at least 2 snapshots, got {config.average_last}")
        if config.average_last > config.keep_states:
            raise ValueError(
                f"training.average_last is {config.average_last} but only keep_states={config.keep_states} snapshots "
                f"are kept; set keep_states to at least {config.average_last}"
            )
        return config


def load_recipe(path: str | os.PathLike, overrides: list[str] | None = None) -> dict:
    """Read a recipe YAML and apply `key.sub=value` overrides (values parsed as YAML)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"recipe {str(path)!r} does not exist; recipes live in recipes/*.yaml")
    recipe = yaml.safe_load(path.read_text())
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} must look like key.sub=value")
        node = recipe
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(value)
    for key in ("name", "task", "model", "data", "output_dir"):
        if key not in recipe:
            raise ValueError(f"recipe {str(path)!r} lacks the top-level key {key!r}")
    card_extras(recipe)  # a malformed `card` is refused now, not after the training
    recipe.setdefault("run_dir", f"runs/{recipe['name']}")
    recipe.setdefault("training", {})
    return recipe


def get_task(recipe: dict):
    from .tasks import TASKS, TASKS_BY_MODEL_TYPE

    if recipe["task"] not in TASKS:
        raise ValueError(f"recipe task {recipe['task']!r} is not trainable; choose one of {', '.join(TASKS)}")
    # a model type may need its own task class (an attention recognizer is not trained like a CTC one)
    task = TASKS_BY_MODEL_TYPE.get(recipe["model"].get("type"), TASKS[recipe["task"]])
    return task(recipe)


class _Progress:
    """Counters that `save_state` stores with the model, so `--resume` knows where it was."""

    def __init__(self):
        self.step = 0
        self.best = None
        self.history: list[dict] = []

    def state_dict(self):
        return {"step": self.step, "best": self.best, "history": json.dumps(self.history)}

    def load_state_dict(self, state):
        self.step = int(state["step"])
        self.best = state["best"]
        self.history = json.loads(state["history"])


def _snapshots(run_dir: Path) -> list[Path]:
    """The run's `save_state` snapshots (state_STEP folders), oldest first."""
    return sorted(run_dir.glob("state_*"), key=lambda p: int(p.name.split("_")[1]))


def _latest_state(run_dir: Path) -> Path | None:
    states = _snapshots(run_dir)
    return states[-1] if states else None


def train(recipe: dict, resume: bool = False, recipe_path: str | None = None, command: str | None = None) -> dict:
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed
    from tqdm.auto import tqdm
    from transformers import get_scheduler

    config = TrainingConfig.from_dict(recipe.get("training", {}))
    run_dir = Path(recipe["run_dir"])
    accelerator = Accelerator(
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        mixed_precision=config.mixed_precision,
        log_with=None if config.log_with == "none" else config.log_with,
        project_config=ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / "logs")),
    )
    set_seed(config.seed)
    task = get_task(recipe)
    if not resume and _latest_state(run_dir) is not None:
        # starting over here would mix two runs' snapshots (and the pruning would delete the new ones)
        raise FileExistsError(
            f"run_dir {str(run_dir)!r} holds snapshots of an earlier run ({_latest_state(run_dir).name}); "
            f"pass --resume to continue it, or --run-dir/another run_dir (or delete it) to start over"
        )
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    if config.log_with != "none":
        accelerator.init_trackers("train", config={k: v for k, v in asdict(config).items()})

    # ------------------------------------------------------------ 2. data
    with accelerator.main_process_first():  # a task that caches its data builds it once, not once per process
        train_set, eval_set = task.train_dataset(), task.eval_dataset()
    generator = torch.Generator().manual_seed(config.seed)
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=config.batch_size, shuffle=True, generator=generator,
        collate_fn=task.collate, num_workers=config.num_workers, drop_last=True,
    )
    eval_loader = torch.utils.data.DataLoader(
        eval_set, batch_size=config.batch_size, shuffle=False, collate_fn=task.collate, num_workers=config.num_workers
    )

    # ------------------------------------------------------------ 3. model
    model = task.build_model()
    if accelerator.is_main_process:
        params = sum(p.numel() for p in model.parameters())
        accelerator.print(f"{recipe['name']}: {params / 1e6:.2f} M parameters, {len(train_set)} training examples/epoch")

    # ------------------------------------------------------------ 4. optimizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = get_scheduler(
        config.lr_scheduler, optimizer, num_warmup_steps=config.warmup_steps, num_training_steps=config.max_steps
    )
    model, optimizer, train_loader, eval_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, eval_loader, scheduler
    )
    progress = _Progress()
    accelerator.register_for_checkpointing(progress)
    if resume:
        state = _latest_state(run_dir)
        if state is None:
            accelerator.print(f"--resume: no saved state in {run_dir}; starting from step 0")
        else:
            accelerator.load_state(str(state))
            accelerator.print(f"resumed from {state} at step {progress.step}")

    # ------------------------------------------------------------ 5. train
    batches_per_epoch = len(train_loader)
    if batches_per_epoch == 0:
        raise ValueError(f"the training set has {len(train_set)} examples, fewer than one batch of {config.batch_size}")
    steps_per_epoch = max(batches_per_epoch // config.gradient_accumulation_steps, 1)
    bar = tqdm(total=config.max_steps, initial=progress.step, desc="train", disable=not accelerator.is_local_main_process)
    running, running_count, start_time = 0.0, 0, time.time()

    def validate_and_save(averaged: int = 0) -> None:
        # ------------------------------------------------------ 6. evaluate
        metrics = evaluate(model, eval_loader, task, accelerator)
        metrics["step"] = progress.step
        if averaged:
            metrics["averaged_states"] = averaged
        metrics["elapsed_s"] = round(time.time() - start_time, 1)
        progress.history.append(metrics)
        accelerator.log({f"eval/{k}": v for k, v in metrics.items()}, step=progress.step)
        accelerator.print(f"step {progress.step}: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
        score = metrics[task.metric_for_best]
        better = progress.best is None or (score > progress.best if task.greater_is_better else score < progress.best)
        if better:
            progress.best = score
            finalize = getattr(task, "finalize", None)
            if finalize is not None:  # a task may store what this validation calibrated (a threshold) in the model
                finalize(accelerator.unwrap_model(model), metrics)
            # -------------------------------------------------- 7. save
            if accelerator.is_main_process:
                save_best(accelerator.unwrap_model(model), task, recipe, metrics, recipe_path, command)
        model.train()

    if config.max_steps == 0:  # nothing to train: validate and save the starting weights (e.g. averaged checkpoints)
        validate_and_save()
    model.train()
    while progress.step < config.max_steps:
        epoch, done_in_epoch = divmod(progress.step, steps_per_epoch)
        # the shuffle of epoch e depends only on (seed, e): a resumed run sees the same batches
        generator.manual_seed(config.seed + epoch)
        loader = train_loader
        skip = done_in_epoch * config.gradient_accumulation_steps
        if skip:
            loader = accelerator.skip_first_batches(train_loader, skip)
        for batch in loader:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            running += loss.detach().float().item()
            running_count += 1
            if not accelerator.sync_gradients:
                continue
            progress.step += 1
            bar.update(1)
            if progress.step % config.log_every == 0:
                mean_loss = running / max(running_count, 1)
                bar.set_postfix(loss=f"{mean_loss:.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
                accelerator.log({"train/loss": mean_loss, "train/lr": scheduler.get_last_lr()[0]}, step=progress.step)
                running, running_count = 0.0, 0
            last = progress.step >= config.max_steps
            if progress.step % config.eval_every == 0 or last:
                validate_and_save()
            if progress.step % config.save_every == 0 or last:
                save_state(accelerator, run_dir, progress.step, config.keep_states)
            if last:
                break
    bar.close()
    accelerator.wait_for_everyone()
    if config.average_last and config.max_steps > 0:
        # ------------------------------------------------------ 8. the mean of the last snapshots
        # (checkpoint averaging along the run; it replaces the checkpoint only if it validates better)
        averaged = average_last_states(accelerator.unwrap_model(model), run_dir, config.average_last)
        accelerator.print(f"averaged the weights of {', '.join(averaged)}")
        validate_and_save(averaged=len(averaged))
    accelerator.end_training()
    summary = {"best": progress.best, "metric": task.metric_for_best, "steps": progress.step, "history": progress.history}
    if accelerator.is_main_process:
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


@torch.no_grad()
def evaluate(model, loader, task, accelerator) -> dict:
    """Sum the task's per-example metrics over the whole (sharded) validation set, then average.

    A task with `corpus_metrics(values)` also gets every per-example value, gathered, for scores that are not
    means (a correlation, an EER); names starting with "_" go only there. Batch keys starting with "_" are not
    passed to the model.
    """
    model.eval()
    totals: dict[str, torch.Tensor] = {}
    collected: dict[str, list[torch.Tensor]] = {}
    corpus_metrics = getattr(task, "corpus_metrics", None)
    for batch in loader:
        # keys starting with "_" are for task.metrics only (e.g. the speakers of validation utterances)
        outputs = model(**{key: value for key, value in batch.items() if not key.startswith("_")})
        per_example = task.metrics(batch, outputs)  # name -> (batch,) tensor
        for name, values in per_example.items():
            values = accelerator.gather_for_metrics(values.detach().float())
            if corpus_metrics is not None:
                collected.setdefault(name, []).append(values.reshape(-1).cpu())
            if name.startswith("_"):
                continue
            totals[name] = totals.get(name, 0.0) + values.sum().cpu()
            totals.setdefault("_count_" + name, 0)
            totals["_count_" + name] += values.numel()
    metrics = {name: float(totals[name] / max(totals["_count_" + name], 1)) for name in totals if not name.startswith("_count_")}
    if corpus_metrics is not None:
        metrics.update(corpus_metrics({name: torch.cat(parts) for name, parts in collected.items()}))
    return metrics


def average_last_states(model, run_dir: Path, count: int) -> list[str]:
    """Set `model`'s weights to the mean of the last `count` snapshots in `run_dir` (state_*/model.safetensors);
    returns their folder names. Fewer snapshots than `count` (a short run) is an error naming what is there."""
    from safetensors.torch import load_file

    from .tasks import average_weights

    states = _snapshots(run_dir)[-count:]
    if len(states) < count:
        raise ValueError(
            f"training.average_last is {count} but {run_dir} holds {len(states)} snapshot(s) "
            f"({', '.join(p.name for p in states) or 'none'}); lower average_last or save_every"
        )
    weights = [load_file(str(state / "model.safetensors")) for state in states]
    model.load_state_dict(weights[-1])
    average_weights(model, weights[:-1], [str(state) for state in states[::-1]])
    return [state.name for state in states]


def save_state(accelerator, run_dir: Path, step: int, keep: int) -> None:
    """A full resumable snapshot (model, optimizer, scheduler, RNGs, counters), written then renamed into place."""
    final = run_dir / f"state_{step}"
    tmp = run_dir / f"tmp_state_{step}"
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)  # a kill during save_state leaves only a tmp_ folder, which resume ignores
        for old in _snapshots(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def save_best(model, task, recipe: dict, metrics: dict, recipe_path: str | None, command: str | None) -> None:
    from .hub import save_checkpoint

    validation = {k: round(v, 3) for k, v in metrics.items() if k not in {"step", "elapsed_s", "averaged_states"}}
    context = {"step": metrics["step"]}
    if metrics.get("averaged_states"):
        context["weights"] = f"the mean of the run's last {metrics['averaged_states']} snapshots (training.average_last)"
    save_checkpoint(
        model,
        recipe["output_dir"],
        feature_extractor=task.feature_extractor(),
        task=recipe["task"],
        recipe=recipe,
        recipe_path=recipe_path,
        command=command,
        metrics={"validation": validation, **context},
        datasets=list(dict.fromkeys(task.dataset_names() + inherited_datasets(task.init_sources()))),
        extra=card_extras(recipe),
    )


def inherited_datasets(sources: list[str]) -> list[str]:
    """The training corpora named in the cards of the checkpoints a recipe starts from (`model.init_from`): a
    fine-tune's (or an average's) weights learnt from those too, so its card lists them after its own. A source
    that is a Hub id, or a folder without `card_data.json`, adds nothing."""
    from .cards import CARD_DATA_FILE, load_card_data

    names: list[str] = []
    for source in sources:
        if (Path(source) / CARD_DATA_FILE).is_file():
            names += [str(name) for name in load_card_data(source).get("datasets") or []]
    return list(dict.fromkeys(names))


def card_extras(recipe: dict) -> dict | None:
    """The recipe's `card` mapping: what its checkpoint's card says besides the measurements (`limitations`, a list
    of sentences, e.g. how the checkpoint was chosen; `description`, `license`, `language`, `data_description`, ...)."""
    extras = recipe.get("card")
    if extras is None:
        return None
    if not isinstance(extras, dict) or not isinstance(extras.get("limitations", []), list):
        raise ValueError(
            f"recipe key 'card' must be a mapping of card extras, its 'limitations' a list of sentences; got {extras!r}"
        )
    return dict(extras)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zoo train", description="Train a zoo checkpoint from a recipe YAML.")
    parser.add_argument("recipe", help="path to a recipe, e.g. recipes/convtasnet-zoo-2mix-8k.yaml")
    parser.add_argument("--resume", action="store_true", help="continue from the newest save_state snapshot in run_dir")
    parser.add_argument("--output-dir", help="override the recipe's output_dir (the Hub-layout checkpoint)")
    parser.add_argument("--run-dir", help="override the recipe's run_dir (resumable state and logs)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override recipe values, e.g. training.max_steps=10")
    args = parser.parse_args(argv)
    overrides = list(args.set)
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    if args.run_dir:
        overrides.append(f"run_dir={args.run_dir}")
    recipe = load_recipe(args.recipe, overrides)
    # cli.main passes the arguments after "train"; `python -m zoo.train` leaves them in sys.argv
    used = sys.argv[1:] if argv is None else argv
    command = "zoo train " + " ".join(shlex.quote(a) for a in used)
    summary = train(recipe, resume=args.resume, recipe_path=args.recipe, command=command)
    print(f"best {summary['metric']} = {summary['best']} after {summary['steps']} steps; checkpoint in {recipe['output_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
