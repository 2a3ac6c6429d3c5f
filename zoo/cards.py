"""Model cards: Hub metadata (pipeline tag, tags, model-index) and a README rendered from `model_cards/`.

A card is rendered from one JSON-able dict, the card data, kept next to it as `card_data.json`, so
`zoo eval` can merge new results and re-render without any other state. Nothing in a card is written
by hand: every number comes from the results passed in.

Results, as everywhere in zoo: `{"task": "audio-source-separation", "dataset": "zoo-mix2-tts",
"split": "test", "metrics": {"si-snri": 11.2, "sdri": 11.6}}`.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import yaml
from huggingface_hub import EvalResult, ModelCardData

CARD_DATA_FILE = "card_data.json"
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "model_cards"
DEFAULT_TEMPLATE = "model_card.md.j2"

# zoo task -> (Hub pipeline tag, title, example input for the usage snippet)
TASKS = {
    "audio-source-separation": ("audio-to-audio", "Audio source separation", '"mixture.wav"'),
    "speech-enhancement": ("audio-to-audio", "Speech enhancement", '"noisy.wav"'),
    "automatic-speech-recognition": ("automatic-speech-recognition", "Speech recognition", '"speech.wav"'),
    "text-to-speech": ("text-to-speech", "Text to speech", '"The birch canoe slid on the smooth planks."'),
    "text-to-audio": ("text-to-audio", "Text to audio", '"a dog barks twice"'),
    # an embedding model is a feature extractor on the Hub; a closed-set speaker classifier is a classifier
    "speaker-verification": ("feature-extraction", "Speaker verification", '"speaker.wav"'),
    "speaker-embedding": ("feature-extraction", "Speaker embedding", '"speaker.wav"'),
    "speaker-identification": ("audio-classification", "Speaker identification", '"speaker.wav"'),
    "speaker-diarization": ("voice-activity-detection", "Speaker diarization", '"meeting.wav"'),
    "voice-activity-detection": ("voice-activity-detection", "Voice activity detection", '"speech.wav"'),
    "audio-classification": ("audio-classification", "Audio classification", '"clip.wav"'),
    "sound-event-detection": ("audio-classification", "Sound event detection", '"clip.wav"'),
    "keyword-spotting": ("audio-classification", "Keyword spotting", '"command.wav"'),
    "language-identification": ("audio-classification", "Language identification", '"speech.wav"'),
    "zero-shot-audio-classification": ("zero-shot-audio-classification", "Zero-shot audio classification", '"clip.wav", candidate_labels=["speech", "music", "dog"]'),
    # a quality / SI-SNR estimator regresses a score from audio: the Hub's closest tag is audio-classification
    "speech-quality-assessment": ("audio-classification", "Speech quality assessment", '"speech.wav"'),
    # the character LM that speech recognizers fuse in when decoding; it also continues text
    "text-generation": ("text-generation", "Character language model", '"the cat sat on the"'),
}
TASK_ALIASES = {
    "separation": "audio-source-separation",
    "enhancement": "speech-enhancement",
    "asr": "automatic-speech-recognition",
    "tts": "text-to-speech",
    "diarization": "speaker-diarization",
    "vad": "voice-activity-detection",
    "kws": "keyword-spotting",
    "sed": "sound-event-detection",
    "clap": "zero-shot-audio-classification",
    "quality": "speech-quality-assessment",
}

# metric type -> (display name, unit); unknown metrics are still accepted and shown under their own name
METRICS = {
    "si-snri": ("SI-SNRi", "dB"),
    "si-snr": ("SI-SNR", "dB"),
    "sdri": ("SDRi", "dB"),
    "sdr": ("SDR", "dB"),
    "pesq": ("PESQ", ""),
    "stoi": ("STOI", ""),
    "estoi": ("ESTOI", ""),
    "wer": ("WER", ""),
    "cer": ("CER", ""),
    "eer": ("EER", "%"),
    "min-dcf": ("minDCF", ""),
    "der": ("DER", "%"),
    "accuracy": ("Accuracy", ""),
    "f1": ("F1", ""),
    "map": ("mAP", ""),
    "mos": ("MOS", ""),
    "rtf": ("Real-time factor", ""),
}
METRIC_ALIASES = {"sisnri": "si-snri", "sisnr": "si-snr", "si-sdri": "si-snri", "mindcf": "min-dcf", "acc": "accuracy"}

# keys of `extra` the card reads itself; the rest is listed under "Training details"
CARD_EXTRA_KEYS = {"model_name", "license", "language", "synthetic", "data_description", "description", "limitations", "base_model"}


def canonical_task(task: str) -> str:
    """A zoo task name, aliases (`asr`, `tts`, `separation`, ...) resolved; raises on unknown tasks."""
    name = TASK_ALIASES.get(task, task)
    if name not in TASKS:
        raise ValueError(
            f"unknown task {task!r}; choose one of {', '.join(TASKS)} (or an alias: {', '.join(TASK_ALIASES)}), "
            "or add it to TASKS in zoo/cards.py with its Hub pipeline tag"
        )
    return name


def pipeline_tag(task: str) -> str:
    """The Hub pipeline tag of a zoo task.

    >>> pipeline_tag("speech-enhancement"), pipeline_tag("asr")
    ('audio-to-audio', 'automatic-speech-recognition')
    """
    return TASKS[canonical_task(task)][0]


def canonical_metric(name: str) -> str:
    """A metric's canonical name: lower case, dashes, aliases resolved.

    >>> canonical_metric("SI_SNRi"), canonical_metric("sisnri"), canonical_metric("minDCF")
    ('si-snri', 'si-snri', 'min-dcf')
    """
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    return METRIC_ALIASES.get(key.replace("-", ""), METRIC_ALIASES.get(key, key))


def _number(name: str, value) -> float | None:
    """A metric as a float; None (with a warning for NaN / inf) when it was not measured."""
    if value is None:
        return None
    try:
        number = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        raise ValueError(f"metric {name!r} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        warnings.warn(f"metric {name!r} is {number}; it is left out of the card", stacklevel=3)
        return None
    return number


def normalize_result(result: dict, default_task: str) -> dict | None:
    """One result with canonical task and metric names and float values; None when no metric has a value.

    Metrics whose value is None or not finite are left out; an `examples` count is kept for the table.
    """
    if not isinstance(result, dict) or "dataset" not in result or not isinstance(result.get("metrics"), dict):
        raise ValueError(
            f"a result must be a dict like {{'task': ..., 'dataset': NAME, 'split': 'test', 'metrics': {{'si-snri': 10.1}}}}, got {result!r}"
        )
    if not result["metrics"]:
        raise ValueError(f"result on {result['dataset']!r} has no metrics; pass at least one, e.g. {{'si-snri': 10.1}}")
    metrics = {canonical_metric(k): _number(k, v) for k, v in result["metrics"].items()}
    metrics = {k: v for k, v in metrics.items() if v is not None}
    if not metrics:
        warnings.warn(f"result on {result['dataset']!r} has no finite metric; it is left out of the card", stacklevel=2)
        return None
    out = {
        "task": canonical_task(result.get("task") or default_task),
        "dataset": str(result["dataset"]),
        "split": str(result.get("split") or "test"),
        "metrics": metrics,
    }
    if result.get("examples") is not None:
        out["examples"] = int(result["examples"])
    return out


def results_from_metrics(task: str, metrics: dict | None, datasets: list[str] | None) -> tuple[list[dict], dict]:
    """`save_checkpoint(metrics=...)` -> `(results, context)`, measured on `datasets[0]` unless a "dataset" key says.

    Two forms:
        `{"si-snri": 9.8, "sdri": 10.1}`: one result, split "test" (or the "split" key's).
        `{"validation": {"si-snri": 9.8}, "step": 1200}`: one result per dict-valued key, named after the split;
            the other keys (step, epoch, ...) are context, listed under "Training details", not results.
    """
    if not metrics:
        return [], {}
    metrics = dict(metrics)
    dataset = metrics.pop("dataset", None) or (datasets[0] if datasets else None)
    per_split = {k: v for k, v in metrics.items() if isinstance(v, dict)}
    if per_split:
        context = {k: v for k, v in metrics.items() if k not in per_split}
    else:
        per_split, context = {str(metrics.pop("split", None) or "test"): metrics}, {}
    if dataset is None:
        raise ValueError(
            f"metrics {sorted(metrics)} need a dataset to be reported on; pass datasets=[NAME] or metrics={{'dataset': NAME, ...}}"
        )
    results = [
        normalize_result({"task": task, "dataset": dataset, "split": split, "metrics": values}, task)
        for split, values in per_split.items()
    ]
    return [r for r in results if r is not None], context


def merge_results(old: list[dict], new: list[dict]) -> list[dict]:
    """Results keyed by (task, dataset, split); a new value for a metric replaces the old one, others are kept."""
    merged = [dict(r, metrics=dict(r["metrics"])) for r in old]
    for result in new:
        for kept in merged:
            if (kept["task"], kept["dataset"], kept["split"]) == (result["task"], result["dataset"], result["split"]):
                kept["metrics"].update(result["metrics"])
                if "examples" in result:
                    kept["examples"] = result["examples"]
                break
        else:
            merged.append(dict(result, metrics=dict(result["metrics"])))
    return merged


def format_value(value: float) -> str:
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.4g}"


def metric_label(name: str) -> str:
    display, unit = METRICS.get(name, (name, ""))
    return f"{display} ({unit})" if unit else display


def results_table(results: list[dict]) -> str:
    """Markdown table, one row per (task, dataset, split), one column per metric."""
    if not results:
        return ""
    names = []
    for result in results:
        names += [m for m in result["metrics"] if m not in names]
    examples = any("examples" in r for r in results)
    header = ["Task", "Dataset", "Split"] + (["Examples"] if examples else []) + [metric_label(n) for n in names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        cells = [TASKS[r["task"]][1], r["dataset"], r["split"]] + ([str(r.get("examples", "–"))] if examples else [])
        cells += [format_value(r["metrics"][n]) if n in r["metrics"] else "–" for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def card_metadata(card: dict) -> ModelCardData:
    """Hub YAML front-matter of a card; `model-index` holds one entry per measured metric."""
    eval_results = [
        EvalResult(
            task_type=TASKS[r["task"]][0],
            task_name=TASKS[r["task"]][1],
            dataset_type=r["dataset"],
            dataset_name=r["dataset"],
            dataset_split=r["split"],
            metric_type=name,
            metric_name=METRICS.get(name, (name, ""))[0],
            metric_value=value,
        )
        for r in card["results"]
        for name, value in r["metrics"].items()
    ]
    metric_names = []
    for r in card["results"]:
        metric_names += [m for m in r["metrics"] if m not in metric_names]
    tags = ["zoo", card["task"], card["model_type"]] + (["synthetic-data"] if card["synthetic"] else [])
    return ModelCardData(
        library_name="transformers",
        pipeline_tag=TASKS[card["task"]][0],
        license=card["license"],
        language=card.get("language"),
        base_model=card.get("base_model"),
        tags=list(dict.fromkeys(tags)),
        datasets=card["datasets"] or None,
        metrics=metric_names or None,
        # model_name only names the model-index; alone it would be a stray top-level key
        model_name=card["model_name"] if eval_results else None,
        eval_results=eval_results or None,
    )


def render_card(card: dict, template: str | Path | None = None) -> str:
    """README.md text of a card data dict: YAML front-matter plus the body from the jinja2 template."""
    import jinja2

    path = Path(template) if template else TEMPLATE_DIR / DEFAULT_TEMPLATE
    if not path.is_file():
        raise FileNotFoundError(
            f"model card template {path} not found; zoo renders cards from the repository's model_cards/ folder: "
            "install zoo editable (pip install -e .) or pass template=PATH"
        )
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    pipeline_tag_, title, example = TASKS[card["task"]]
    extra = {k: v for k, v in (card.get("extra") or {}).items() if k not in CARD_EXTRA_KEYS}
    body = env.from_string(path.read_text()).render(
        card=card,
        card_data=card_metadata(card).to_yaml(),
        pipeline_tag=pipeline_tag_,
        task_title=title,
        example_input=example,
        results_table=results_table(card["results"]),
        training_details=extra,
        recipe_yaml=yaml.safe_dump(card["recipe"], sort_keys=False).strip() if card.get("recipe") else None,
        metric_label=metric_label,
    )
    return body


def load_card_data(folder: str | Path) -> dict:
    path = Path(folder) / CARD_DATA_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{Path(folder)} has no {CARD_DATA_FILE}, so its card cannot be re-rendered; save the checkpoint with "
            "zoo.hub.save_checkpoint(model, folder, task=...) first"
        )
    return json.loads(path.read_text())


def write_card(folder: str | Path, card: dict) -> Path:
    """Write `card_data.json` and the rendered `README.md` into `folder`; returns the README path."""
    folder = Path(folder)
    text = render_card(card)
    # default=str: a recipe or extra value like a Path is kept as its text
    (folder / CARD_DATA_FILE).write_text(json.dumps(card, indent=2, default=str) + "\n")
    readme = folder / "README.md"
    readme.write_text(text)
    return readme
