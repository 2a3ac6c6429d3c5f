"""Hub layout of a zoo checkpoint, its model card, and `zoo push`.

A checkpoint folder is what `from_pretrained` loads and what `huggingface_hub.upload_folder` pushes as-is:

    config.json                 the config, with `auto_map` naming the source files below
    model.safetensors           the weights (never pickles)
    preprocessor_config.json    the feature extractor (or processor)
    configuration_<model>.py    the model's own source, so `trust_remote_code=True` loads it where zoo
    modeling_<model>.py           is not installed
    feature_extraction_<x>.py   a zoo feature extractor's own source, likewise (auto_map in preprocessor_config.json)
    recipe.yaml                 the recipe that trained it (when there is one)
    README.md                   the model card, rendered from model_cards/: Hub YAML front-matter + body
    card_data.json              everything the card is rendered from, so `zoo eval` can re-render it

    zoo push FOLDER --repo-id ORG/NAME [--private] [--commit-message MSG] [--token TOKEN] [--dry-run]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import sys
import warnings
from pathlib import Path

import yaml
from huggingface_hub import HfApi, ModelCard, get_token
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.utils import validate_repo_id

from . import cards

# files a push refuses: they may hold pickles, which run code when loaded
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
# zoo models are well under 1 GB; a larger file is most likely a stray corpus or log. The Hub takes up to 50 GB.
MAX_FILE_BYTES = 5 * 1024**3
# never pushed, never checked
IGNORED = (".git", ".cache", "__pycache__")
REQUIRED = ("config.json", "README.md")


# ---------------------------------------------------------------------------------------------------------------
# 1. save a checkpoint


def save_checkpoint(
    model,
    output_dir,
    *,
    feature_extractor=None,
    task: str,
    recipe: dict | None = None,
    recipe_path: str | None = None,
    command: str | None = None,
    metrics: dict | None = None,
    datasets: list[str] | None = None,
    extra: dict | None = None,
    repo_id: str | None = None,
) -> Path:
    """Write `model` as a Hub-ready folder (see the module docstring) and return its path.

    Args:
        model: a zoo `PreTrainedModel` (unwrap it first: `accelerator.unwrap_model(model)`).
        output_dir: folder to write; created if missing. Files already there are overwritten, others kept.
        feature_extractor: what `AutoFeatureExtractor` (or `AutoProcessor`) should load; None gives a
            `Wav2Vec2FeatureExtractor` for mono audio at `config.sampling_rate`; a text model (the character LM)
            passes its tokenizer.
        task: the zoo task, e.g. "audio-source-separation", "speech-enhancement", "asr"; sets the Hub pipeline tag.
        recipe: the training recipe as a dict; written to `recipe.yaml` and shown in the card.
        recipe_path: where the recipe came from; read when `recipe` is None.
        command: the exact command line that trained the model.
        metrics: results measured during training, on `datasets[0]` (or the "dataset" key's): either flat,
            `{"si-snri": 9.8, "sdri": 10.3}` on split "test" (or the "split" key's), or per split,
            `{"validation": {"si-snri": 9.8}, "step": 1200}`, where the non-dict keys are listed as training details.
        datasets: names of the training corpora (Hub dataset ids or zoo corpus names).
        extra: card extras: `model_name`, `license` (default "apache-2.0"), `language`, `synthetic` (default
            True: every `zoo data` corpus is TTS-made), `data_description`, `description`, `limitations` (list),
            `base_model`; any other key is listed under "Training details".
        repo_id: the Hub id the card's usage snippet names; `push` fills it in when it differs.

    >>> import tempfile, zoo
    >>> model = zoo.ConvTasNetForSourceSeparation(zoo.ConvTasNetConfig(num_filters=16, bottleneck_channels=8,
    ...     hidden_channels=16, skip_channels=8, num_blocks=2, num_repeats=1))
    >>> tmp = tempfile.TemporaryDirectory()
    >>> folder = save_checkpoint(model, tmp.name, task="separation", datasets=["zoo-mix2"], metrics={"si-snri": 3.2})
    >>> sorted(p.name for p in folder.iterdir())  # doctest: +NORMALIZE_WHITESPACE
    ['README.md', 'card_data.json', 'config.json', 'configuration_conv_tasnet.py', 'model.safetensors',
     'modeling_conv_tasnet.py', 'preprocessor_config.json']
    >>> tmp.cleanup()
    """
    from transformers import PreTrainedModel, Wav2Vec2FeatureExtractor

    if not isinstance(model, PreTrainedModel):
        raise TypeError(
            f"save_checkpoint expects a transformers PreTrainedModel, got {type(model).__name__}; "
            "pass accelerator.unwrap_model(model)"
        )
    task = cards.canonical_task(task)
    extra = dict(extra or {})
    output_dir = Path(output_dir)
    config = model.config
    sampling_rate = getattr(config, "sampling_rate", None)

    # 1. everything that can be wrong is checked before anything is written
    results, context = cards.results_from_metrics(task, metrics, datasets)
    recipe_source = str(recipe_path) if recipe_path else None
    if recipe is None and recipe_path is not None:
        recipe = yaml.safe_load(Path(recipe_path).read_text())
    tokenizer = processor_class = None
    if hasattr(feature_extractor, "tokenizer") and hasattr(feature_extractor, "feature_extractor"):
        # a processor (an ASR model's Wav2Vec2Processor): each part in its own files, as the stock pipeline loads them
        processor_class = type(feature_extractor).__name__
        feature_extractor, tokenizer = feature_extractor.feature_extractor, feature_extractor.tokenizer
    if feature_extractor is None:
        if sampling_rate is None:
            raise ValueError(f"{type(config).__name__} has no sampling_rate; pass feature_extractor= explicitly")
        feature_extractor = Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=sampling_rate, padding_value=0.0, do_normalize=False, return_attention_mask=True
        )
    fe_rate = getattr(feature_extractor, "sampling_rate", None)
    if sampling_rate is not None and fe_rate is not None and int(fe_rate) != int(sampling_rate):
        raise ValueError(
            f"feature extractor expects {fe_rate} Hz but the model's config says {sampling_rate} Hz; "
            f"build the feature extractor with sampling_rate={sampling_rate}"
        )

    # 2. config, weights and the model's own source files (auto_map)
    output_dir.mkdir(parents=True, exist_ok=True)
    with _remote_code_classes(model):
        model.save_pretrained(output_dir, max_shard_size="2GB")
    if not (output_dir / "model.safetensors").is_file() and not (output_dir / "model.safetensors.index.json").is_file():
        raise RuntimeError(f"save_pretrained wrote no model.safetensors into {output_dir}; transformers too old?")
    _add_task_auto_class(output_dir, task, model)
    sources = sorted(_auto_map_files(output_dir))
    _check_portable_sources(output_dir, sources)
    with _remote_code_feature_extractor(feature_extractor):
        feature_extractor.save_pretrained(output_dir)
    fe_sources = sorted(_auto_map_files(output_dir, "preprocessor_config.json"))
    _check_portable_sources(output_dir, fe_sources)
    sources += fe_sources
    if tokenizer is not None:
        _save_tokenizer(output_dir, tokenizer, processor_class)

    # 3. recipe
    if recipe is not None:
        (output_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))

    # 4. model card
    card = {
        "model_name": str(extra.get("model_name") or output_dir.resolve().name),
        "repo_id": repo_id or f"ORG/{output_dir.resolve().name}",
        "local_path": _display_path(output_dir),
        "task": task,
        "model_type": config.model_type,
        "model_class": type(model).__name__,
        "num_parameters": int(model.num_parameters()),
        "sampling_rate": int(sampling_rate) if sampling_rate else None,
        "num_speakers": getattr(config, "num_speakers", None),
        "description": extra.get("description") or _describe(model),
        "remote_code": bool(sources),
        "license": extra.get("license", "apache-2.0"),
        "language": extra.get("language"),
        "base_model": extra.get("base_model"),
        "datasets": list(datasets or []),
        "synthetic": bool(extra.get("synthetic", True)),
        "data_description": extra.get("data_description"),
        "limitations": list(extra.get("limitations") or []),
        "command": command,
        "recipe_path": recipe_source,
        "recipe": recipe,
        "results": results,
        "results_table_extra": None,
        "extra": {**context, **{k: v for k, v in extra.items() if k not in cards.CARD_EXTRA_KEYS}},
        "zoo_version": _zoo_version(),
        "transformers_version": _transformers_version(),
    }
    cards.write_card(output_dir, card)
    return output_dir


def _remote_code_classes(model):
    """Mark the config and model classes for `auto_map` during one save, then restore them."""
    return _marked_for_auto_class((type(model.config), "AutoConfig"), (type(model), "AutoModel"))


@contextlib.contextmanager
def _marked_for_auto_class(*marks: tuple[type, str]):
    """`cls.register_for_auto_class(name)` for each `(cls, name)` during one save, then the classes as they were.

    `register_for_auto_class` sets a class attribute; left set, every later `save_pretrained` anywhere in the
    process would copy source files too.
    """
    saved = [(cls, cls.__dict__.get("_auto_class", _MISSING)) for cls, _ in marks]
    try:
        for cls, name in marks:
            cls.register_for_auto_class(name)
        yield
    finally:
        for cls, value in saved:
            if value is _MISSING:
                with contextlib.suppress(AttributeError):
                    delattr(cls, "_auto_class")
            else:
                cls._auto_class = value


_MISSING = object()


# zoo tasks that transformers has its own Auto class for: the checkpoint's auto_map names that class too, so
# `AutoModelForAudioXVector.from_pretrained(folder, trust_remote_code=True)` works where zoo is not installed
TRANSFORMERS_AUTO_CLASSES = {
    "speaker-embedding": "AutoModelForAudioXVector",
    "automatic-speech-recognition": "AutoModelForCTC",
    "text-generation": "AutoModelForCausalLM",
}


def _add_task_auto_class(folder: Path, task: str, model=None) -> None:
    import json

    from transformers.models.auto.modeling_auto import MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES

    name = TRANSFORMERS_AUTO_CLASSES.get(task)
    if model is not None and type(model).__name__ in MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES.values():
        # an attention recognizer (the stock ASR pipeline's seq2seq path, by the same test), not a CTC one
        name = "AutoModelForSpeechSeq2Seq"
    path = folder / "config.json"
    config = json.loads(path.read_text())
    auto_map = config.get("auto_map") or {}
    if name is None or "AutoModel" not in auto_map or name in auto_map:
        return
    auto_map[name] = auto_map["AutoModel"]
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _save_tokenizer(folder: Path, tokenizer, processor_class: str) -> None:
    """Save a processor's tokenizer next to its feature extractor and name the processor class in both configs, so
    `AutoProcessor.from_pretrained(folder)` rebuilds it (transformers' processors only: no source is copied)."""
    import json

    tokenizer.save_pretrained(folder)
    for name in ("preprocessor_config.json", "tokenizer_config.json"):
        path = folder / name
        config = json.loads(path.read_text())
        config["processor_class"] = processor_class
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def _remote_code_feature_extractor(feature_extractor):
    """Mark a zoo feature extractor (one transformers lacks) for `auto_map` during one save, then restore it.

    `save_pretrained` then copies its source file next to the model's, so `AutoFeatureExtractor` loads it with
    `trust_remote_code=True` where zoo is not installed. transformers' own extractors are left alone.
    """
    cls = type(feature_extractor)
    if not cls.__module__.startswith("zoo."):
        yield
        return
    had_auto_map = "auto_map" in feature_extractor.__dict__
    try:
        with _marked_for_auto_class((cls, "AutoFeatureExtractor")):
            yield
    finally:
        if not had_auto_map:  # the save wrote auto_map into the instance; a later save without the source must not
            feature_extractor.__dict__.pop("auto_map", None)


def _auto_map_files(folder: Path, config_name: str = "config.json") -> set[str]:
    import json

    if not (folder / config_name).is_file():  # a text model (a character LM) saves a tokenizer, no preprocessor_config.json
        return set()
    auto_map = json.loads((folder / config_name).read_text()).get("auto_map", {})
    refs = [ref for value in auto_map.values() for ref in (value if isinstance(value, list) else [value]) if ref]
    # "modeling_x.Class", or "org/repo--modeling_x.Class" when the code lives in another repo
    return {f"{ref.split('--')[-1].rsplit('.', 1)[0]}.py" for ref in refs}


def _check_portable_sources(folder: Path, sources: list[str]) -> None:
    """The copied source files must import only torch, transformers and each other: no `zoo` on the Hub."""
    for name in sources:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"config.json's auto_map names {name}, which save_pretrained did not write into {folder}")
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            for module in modules:
                if module == "zoo" or module.startswith("zoo."):
                    raise ValueError(
                        f"{name} line {node.lineno} imports {module!r}, so the checkpoint cannot load with "
                        "trust_remote_code=True where zoo is not installed; import torch/transformers only, "
                        "and the config with a relative import"
                    )


def _describe(model) -> str:
    """One paragraph from the model's docstrings: the architecture (config module) and the head (class)."""
    module_doc = inspect.getdoc(inspect.getmodule(type(model.config))) or ""
    architecture = module_doc.split("\n\n")[0].replace("\n", " ").strip()
    if architecture.startswith("Configuration of "):
        architecture = architecture[len("Configuration of ") :]
    head = (inspect.getdoc(type(model)) or "").split("\n\n")[0].replace("\n", " ").strip()
    parts = [architecture[:1].upper() + architecture[1:]] if architecture else []
    if head:
        parts.append(f"This checkpoint is `{type(model).__name__}`: {head}")
    return "\n\n".join(parts) or f"A `{type(model).__name__}` model."


def _display_path(path: Path) -> str:
    resolved = path.resolve()
    with contextlib.suppress(ValueError):
        return str(resolved.relative_to(Path.cwd().resolve())) or "."
    return str(resolved)


def _zoo_version() -> str:
    from . import __version__

    return __version__


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


# ---------------------------------------------------------------------------------------------------------------
# 2. results from `zoo eval`


def update_card_results(output_dir, results: list[dict], table_markdown: str | None = None) -> Path:
    """Merge evaluation results into a checkpoint's card (model-index and results table); returns README.md.

    Args:
        output_dir: a folder written by `save_checkpoint`.
        results: `[{"task": ..., "dataset": NAME, "split": "test", "metrics": {"si-snri": 10.2}}]`; `task`
            defaults to the card's. A metric already recorded for the same task, dataset and split is replaced.
        table_markdown: an extra markdown table (e.g. per-condition breakdown) shown under the results; None keeps
            the one already there.
    """
    card = cards.load_card_data(output_dir)
    if isinstance(results, dict):
        results = [results]
    new = [r for r in (cards.normalize_result(r, card["task"]) for r in results) if r is not None]
    card["results"] = cards.merge_results(card["results"], new)
    if table_markdown is not None:
        card["results_table_extra"] = table_markdown.strip() or None
    return cards.write_card(output_dir, card)


def update_card_section(checkpoint, key: str, markdown: str, results: list[dict] | None = None) -> Path:
    """Put `markdown` into the card's extra results text as the section `key`, replacing that section only.

    Sections are delimited by HTML comments (invisible on the Hub), so `zoo eval`, the resemblyzer comparison and the
    ASR comparison tables each keep their own part of the card. `results` are merged into the results table as `update_card_results` does.
    """
    start, end = f"<!-- zoo:{key} -->", f"<!-- /zoo:{key} -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = cards.load_card_data(checkpoint).get("results_table_extra") or ""
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = (text.strip() + "\n\n" + block) if text.strip() else block
    return update_card_results(str(checkpoint), list(results or []), table_markdown=text)


# ---------------------------------------------------------------------------------------------------------------
# 3. push


def check_checkpoint(folder, *, max_file_bytes: int = MAX_FILE_BYTES) -> list[Path]:
    """Raise ValueError listing every reason `folder` is not a pushable checkpoint; return its files otherwise."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder {folder} does not exist; write it with zoo.hub.save_checkpoint")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(part in IGNORED for part in p.relative_to(folder).parts))
    names = {p.relative_to(folder).as_posix() for p in files}
    problems = [f"{name} is missing" for name in REQUIRED if name not in names]
    if "model.safetensors" not in names and "model.safetensors.index.json" not in names:
        problems.append("model.safetensors is missing (zoo pushes safetensors weights only)")
    for path in files:
        rel = path.relative_to(folder).as_posix()
        if path.name.lower().endswith(PICKLE_SUFFIXES):
            problems.append(f"{rel} may be a pickle (runs code when loaded); delete it, weights go in model.safetensors")
        size = path.stat().st_size
        if size > max_file_bytes:
            problems.append(
                f"{rel} is {size / 1024**3:.1f} GiB, over the {max_file_bytes / 1024**3:.1f} GiB limit; if it is weights, "
                "shard them with save_pretrained(..., max_shard_size='2GB'), otherwise move it out of the folder"
            )
    if "README.md" in names:
        try:
            ModelCard.load(folder / "README.md")
        except Exception as error:  # noqa: BLE001 - any parse failure makes the card unusable on the Hub
            problems.append(f"README.md has no valid YAML front-matter ({error}); re-render it with update_card_results")
    if problems:
        raise ValueError(f"{folder} is not a pushable checkpoint:\n  - " + "\n  - ".join(problems))
    return files


def push(
    folder,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    api: HfApi | None = None,
    commit_message: str | None = None,
) -> str:
    """Create `repo_id` on the Hub (if needed) and upload `folder` as-is; returns the commit URL.

    The folder is checked first (`check_checkpoint`). When its card names another repo id, the card is
    re-rendered with `repo_id` before the upload, so its usage snippet is right.

    Args:
        folder: a checkpoint folder written by `save_checkpoint`.
        repo_id: "ORG/NAME" (or "USER/NAME").
        private: create the repo private (only when it does not exist yet).
        token: a Hub token with write access; defaults to the api's, then HF_TOKEN / `hf auth login`'s.
        api: an `HfApi` (tests pass a fake); defaults to `HfApi(token=token)`.
        commit_message: defaults to "Upload <model_name> with zoo".
    """
    folder = Path(folder)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"invalid repo id {repo_id!r}: {error}; use ORG/NAME, e.g. zoo-audio/convtasnet-mix2") from None
    if repo_id.count("/") != 1:
        raise ValueError(f"repo id {repo_id!r} has no namespace; use ORG/NAME or USER/NAME, e.g. zoo-audio/convtasnet-mix2")
    token = token or getattr(api, "token", None) or get_token()
    if not token:
        raise PermissionError(
            f"no Hugging Face token to push {repo_id!r} with; run `hf auth login` with a write token, "
            "set HF_TOKEN, or pass --token"
        )
    if api is None:
        from huggingface_hub import constants

        if constants.is_offline_mode():
            raise RuntimeError("HF_HUB_OFFLINE=1 is set, so nothing can be pushed; unset HF_HUB_OFFLINE to push")
        api = HfApi(token=token)

    card_file = folder / cards.CARD_DATA_FILE
    if card_file.is_file():
        card = cards.load_card_data(folder)
        if card.get("repo_id") != repo_id:
            card["repo_id"] = repo_id
            try:
                cards.write_card(folder, card)
            except FileNotFoundError as error:  # no model_cards/ template (zoo installed from a wheel)
                warnings.warn(f"the card keeps its old repo id: {error}", stacklevel=2)
        commit_message = commit_message or f"Upload {card.get('model_name', folder.name)} with zoo"
    check_checkpoint(folder)

    try:
        api.create_repo(repo_id, exist_ok=True, private=private, repo_type="model", token=token)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type="model",
            commit_message=commit_message or f"Upload {folder.name} with zoo",
            token=token,
            ignore_patterns=[f"{name}/**" for name in IGNORED] + ["**/__pycache__/**"],
        )
    except HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            raise PermissionError(
                f"the Hub refused to write {repo_id!r} (HTTP {status}); log in with a token that can write to "
                f"{repo_id.split('/')[0]!r}: `hf auth login`, or set HF_TOKEN"
            ) from error
        raise RuntimeError(f"pushing {folder} to {repo_id!r} failed: {error}") from error
    return str(getattr(info, "commit_url", None) or info)


# ---------------------------------------------------------------------------------------------------------------
# 4. CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="zoo push",
        description="Check a checkpoint folder (written by zoo.hub.save_checkpoint), create the Hub repo and upload "
        "the folder as-is. Needs a write token: `hf auth login` or HF_TOKEN.",
    )
    parser.add_argument("folder", help="checkpoint folder: config.json, model.safetensors, README.md, ...")
    parser.add_argument("--repo-id", required=True, help="Hub repo to create / update, ORG/NAME")
    parser.add_argument("--private", action="store_true", help="create the repo private (if it does not exist yet)")
    parser.add_argument("--commit-message", default=None, help="default: 'Upload <model name> with zoo'")
    parser.add_argument("--token", default=None, help="Hub token; default: HF_TOKEN or the one `hf auth login` saved")
    parser.add_argument("--dry-run", action="store_true", help="only check the folder and list what would be uploaded")
    args = parser.parse_args(argv)
    try:
        if args.dry_run:
            files = check_checkpoint(args.folder)
            for path in files:
                print(f"{path.stat().st_size:>12,}  {path.relative_to(args.folder).as_posix()}")
            print(f"ok: {args.folder} is a pushable checkpoint ({len(files)} files)")
            return 0
        url = push(args.folder, args.repo_id, private=args.private, token=args.token, commit_message=args.commit_message)
    except (ValueError, FileNotFoundError, PermissionError, RuntimeError) as error:
        print(f"zoo push: error: {error}", file=sys.stderr)
        return 1
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
