"""Speech recognition Space: record or upload speech, pick a zoo recognizer, read the transcript and see what the
model saw: the CTC character posteriors over time, or the attention decoder's alignment.

Runs alone (`python spaces/asr/app.py`) or as one tab of `zoo demo`, which imports this file and calls
`build_demo()`. Importing it is cheap; `build_demo()` loads the recognizers and makes one warm-up call each.

Every recognizer is loaded through transformers' stock `pipeline("automatic-speech-recognition", model=folder)`:
a CTC checkpoint decodes greedily, a folder holding a `Wav2Vec2ProcessorWithLM` (an n-gram LM) decodes with
pyctcdecode's beam search, and an encoder-decoder checkpoint with its own `generate`. The picker offers each shipped
folder that exists, so a new checkpoint appears without a change here.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import traceback
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from transformers import pipeline

import zoo  # registers the zoo recognizers with transformers' Auto classes
from zoo.asr.processing_asr import normalize_text
from zoo.metrics import edit_counts

# ---- constants ----------------------------------------------------------------------------------------------
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]  # the zoo checkout when run from it; on a Hub Space nothing is there and Hub ids are used

TITLE = "Speech recognition"
HUB_ORG = "zoo-models"
# picker label -> shipped checkpoint folder (in checkpoints/ of the zoo checkout); each is offered when it exists
RECOGNIZERS = {
    "CTC (greedy)": "ctc-conformer-zoo-16k-stage18",
    "CTC + n-gram LM": "ctc-conformer-zoo-16k-lm",
    "Joint CTC/attention (+LM)": "transformer-asr-joint-zoo-16k",
}
# ZOO_ASR_MODEL="folder_or_id[,folder_or_id...]" replaces them all (picker labels: the folder names), e.g. tiny
# random checkpoints in tests
if os.environ.get("ZOO_ASR_MODEL"):
    _overrides = [m.strip() for m in os.environ["ZOO_ASR_MODEL"].split(",") if m.strip()]
    MODELS = {}
    for _model in _overrides:
        _label = Path(_model).name or _model
        MODELS[_label if _label not in MODELS else f"{_label} ({len(MODELS) + 1})"] = _model
    MISSING = {}
else:
    MODELS = {
        label: str(REPO_ROOT / "checkpoints" / name)
        for label, name in RECOGNIZERS.items()
        if (REPO_ROOT / "checkpoints" / name).is_dir()
    } or {"CTC (greedy)": f"{HUB_ORG}/{RECOGNIZERS['CTC (greedy)']}"}
    MISSING = {label: name for label, name in RECOGNIZERS.items() if label not in MODELS}
DEFAULT_MODEL = next(iter(MODELS))
LOAD_ERRORS: dict[str, str] = {}  # label -> why its checkpoint did not load; build_demo() drops it from the picker

MAX_SECONDS = 30.0  # longer inputs are refused: the recognizers saw sentences of a few seconds, and it bounds a request
MIN_SECONDS = 0.3  # shorter holds no word
SILENCE_DBFS = -60.0  # a peak below this is no speech (a muted microphone, digital silence)
MAX_FILE_SIZE = "20mb"  # an upload limit for gradio; 30 s of 48 kHz stereo 16-bit wav is 5.8 MB
MAX_REFERENCE_CHARS = 2000
MIN_ROW_PROBABILITY = 0.05  # the CTC plot shows a character only if its posterior reaches this somewhere
MAX_PLOT_ROWS = 30  # the CTC plot shows at most this many rows: the likeliest characters, and the blank
MAX_LABELLED_TOKENS = 120  # beyond this many emitted characters, the CTC plot's top axis would be unreadable
MAX_LABELLED_ROWS = 60  # the attention plot names its rows (output characters) up to this many
MAX_PLOT_INCHES = 9.0  # the attention plot's height at most, however long the transcript
EXAMPLES_DIR = HERE / "examples"
MANIFEST = json.loads((EXAMPLES_DIR / "examples.json").read_text()) if (EXAMPLES_DIR / "examples.json").is_file() else None
EXAMPLE_CLIPS = [dict(clip, path=str(EXAMPLES_DIR / clip["file"])) for clip in (MANIFEST or {}).get("clips", [])]
COMPARE_HEADERS = ["model", "transcript", "WER", "CER", "seconds"]

SPACE_LABEL = "(space)"  # the word delimiter's row in the CTC plot
BLANK_LABEL = "(blank)"

DESCRIPTION = f"""
# {TITLE}

Record or upload English speech (up to {MAX_SECONDS:.0f} s; any sample rate, mono or stereo), pick a recognizer and
press **Transcribe**. The plot shows what the model saw: for a CTC model, the probability of each character at
every step (40 ms for the zoo's Conformer; the letters along the top are the ones it emitted); for an attention
decoder, which part of the audio each output character attended to. Type the reference transcript (or pick a
bundled example, which fills it in) to get the word error rate. The zoo's recognizers are small and trained on a
few hours of synthetic (TTS) speech: expect errors, most of all on real voices. The bundled examples are synthetic
voices never heard in training.
"""


# ---- model --------------------------------------------------------------------------------------------------
@functools.cache
def load_pipeline(model: str):
    """The stock ASR pipeline of `model` (a folder or a Hub id), loaded once per process, with one warm-up call."""
    try:
        pipe = pipeline("automatic-speech-recognition", model=model, device="cpu")
    except OSError as err:
        raise RuntimeError(
            f"could not load the recognizer {model!r} ({err}); point ZOO_ASR_MODEL at a local checkpoint folder, "
            "or run online so the Hub id can be downloaded"
        ) from err
    rate = sampling_rate(pipe)
    warm_up = np.random.default_rng(0).normal(0.0, 0.1, rate).astype(np.float32)  # 1 s of quiet noise
    pipe(warm_up)
    return pipe


def sampling_rate(pipe) -> int:
    return int(getattr(pipe.feature_extractor, "sampling_rate", None) or pipe.model.config.sampling_rate)


def is_encoder_decoder(pipe) -> bool:
    return pipe.type.startswith("seq2seq") or bool(getattr(pipe.model.config, "is_encoder_decoder", False))


def decoder_name(pipe, model: str) -> str:
    """How `pipe` turns scores into text, in words; says so when a folder's n-gram LM could not be used."""
    if is_encoder_decoder(pipe):
        # the checkpoint's decoding defaults (generation_config.json), which the stock pipeline's generate() uses
        settings = getattr(pipe.model, "generation_config", None)
        beams = int(getattr(settings, "num_beams", None) or 1)
        ctc_weight = float(getattr(settings, "ctc_weight", None) or 0.0)
        lm_weight = float(getattr(settings, "lm_weight", None) or 0.0)
        details = [f"{beams} beam{'s' if beams != 1 else ''}"]
        details += [f"CTC weight {ctc_weight:g}"] if ctc_weight else []
        details += [f"character LM weight {lm_weight:g}"] if lm_weight else []
        return f"{'joint CTC/attention' if ctc_weight else 'attention'} decoding ({', '.join(details)})"
    if pipe.type == "ctc_with_lm":
        return "CTC beam search with the folder's n-gram LM (pyctcdecode)"
    if (Path(model) / "language_model").is_dir():
        return "greedy CTC: the folder's n-gram LM could not be loaded (install pyctcdecode and kenlm)"
    return "greedy CTC (the most likely character at each step)"


# ---- helpers ------------------------------------------------------------------------------------------------
def read_input(path: str | None, rate: int) -> np.ndarray:
    """The uploaded or recorded file as a mono float32 waveform at `rate`; bad input becomes a gr.Error."""
    if not path:
        raise gr.Error("no audio: record something or upload a file, then press Transcribe", print_exception=False)
    try:
        waveform = zoo.load_audio(path, sampling_rate=rate, min_seconds=MIN_SECONDS, max_seconds=MAX_SECONDS, name="audio")
    except zoo.AudioError as err:
        # gradio's upload path is a long temp folder; the user knows their file by its name
        raise gr.Error(str(err).replace(str(path), Path(path).name), print_exception=False) from None
    peak = float(np.abs(waveform).max())
    peak_dbfs = 20 * np.log10(peak) if peak > 0 else -np.inf
    if peak_dbfs < SILENCE_DBFS:
        raise gr.Error(
            f"the audio is silent (peak {peak_dbfs:.0f} dBFS, under {SILENCE_DBFS:.0f} dBFS); check the microphone "
            "is not muted and record again, or upload a file with speech in it",
            print_exception=False,
        )
    return waveform


def clean_reference(reference: str | None) -> str:
    """The reference transcript, normalised as the recognizers' training text was; "" when none was given."""
    reference = (reference or "").strip()
    if len(reference) > MAX_REFERENCE_CHARS:
        raise gr.Error(
            f"the reference transcript is {len(reference)} characters long; keep it under {MAX_REFERENCE_CHARS}",
            print_exception=False,
        )
    return normalize_text(reference)


def error_rates(reference: str, hypothesis: str) -> tuple[float, float, int, int]:
    """`(wer, cer, word_errors, reference_words)` of a normalised hypothesis against a normalised reference."""
    word_errors, words = edit_counts(reference, hypothesis, "word")
    char_errors, characters = edit_counts(reference, hypothesis, "char")
    return word_errors / words, char_errors / characters, word_errors, words


def render(figure: Figure) -> np.ndarray:
    """A bare Figure on an Agg canvas (no pyplot: no global state shared between requests) as RGB `(h, w, 3)`."""
    canvas = FigureCanvasAgg(figure)
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def token_label(token: str, pipe) -> str:
    tokenizer = pipe.tokenizer
    if token == tokenizer.pad_token and pipe.type.startswith("ctc"):
        return BLANK_LABEL
    if token in ("|", getattr(tokenizer, "word_delimiter_token", None), " "):
        return SPACE_LABEL
    return token


def model_inputs(pipe, waveform: np.ndarray, rate: int) -> dict:
    """The feature extractor's tensors for one waveform, as the model's forward takes them."""
    features = pipe.feature_extractor(waveform, sampling_rate=rate, return_tensors="pt", return_attention_mask=True)
    keys = ("input_features", "input_values", "attention_mask")
    return {key: value for key, value in features.items() if key in keys}


# ---- plots --------------------------------------------------------------------------------------------------
def ctc_posteriors(pipe, waveform: np.ndarray, rate: int) -> tuple[np.ndarray, list[str]]:
    """`(steps, vocab_size)` softmax posteriors of the CTC model on `waveform`, and the vocabulary's tokens."""
    with torch.inference_mode():
        logits = pipe.model(**model_inputs(pipe, waveform, rate)).logits[0]  # (steps, vocab_size)
    probabilities = logits.float().softmax(-1).numpy()
    tokens = pipe.tokenizer.convert_ids_to_tokens(list(range(probabilities.shape[1])))
    return probabilities, tokens


def ctc_plot(pipe, waveform: np.ndarray, rate: int, title: str) -> np.ndarray:
    """A heatmap of the character posteriors over time (blank in its own row at the bottom), the characters of the
    best path written along the top at the steps that emit them."""
    probabilities, tokens = ctc_posteriors(pipe, waveform, rate)
    steps, _ = probabilities.shape
    duration = waveform.shape[0] / rate
    step_seconds = duration / max(steps, 1)
    blank = pipe.tokenizer.pad_token_id
    best = probabilities.argmax(-1)  # (steps,)
    # the best path's emissions: the first step of every run of one non-blank symbol
    emitted = [i for i in range(steps) if best[i] != blank and (i == 0 or best[i] != best[i - 1])]
    peaks = probabilities.max(0)  # (vocab_size,)
    rows = [t for t in range(len(tokens)) if t != blank and (peaks[t] >= MIN_ROW_PROBABILITY or t in best[emitted])]
    if len(rows) > MAX_PLOT_ROWS - 1:
        rows = sorted(sorted(rows, key=lambda t: -peaks[t])[: MAX_PLOT_ROWS - 1])
    rows.append(blank)
    labels = [token_label(tokens[t], pipe) for t in rows]

    figure = Figure(figsize=(9.0, 1.6 + 0.2 * len(rows)), dpi=100)
    axes = figure.add_subplot()
    image = axes.imshow(
        probabilities[:, rows].T, origin="upper", aspect="auto", cmap="magma", vmin=0.0, vmax=1.0,
        interpolation="nearest", extent=(0, steps * step_seconds, len(rows) - 0.5, -0.5),
    )
    axes.axhline(len(rows) - 1.5, color="white", linewidth=0.8)  # the blank row apart from the characters
    axes.set_yticks(range(len(rows)), labels, fontsize=8)
    axes.set(xlabel="time (s)", ylabel="character")
    if emitted and len(emitted) <= MAX_LABELLED_TOKENS:
        top = axes.secondary_xaxis("top")
        letters = [token_label(tokens[best[i]], pipe).replace(SPACE_LABEL, "␣") for i in emitted]
        top.set_xticks([(i + 0.5) * step_seconds for i in emitted], letters, fontsize=8)
        top.tick_params(length=2, pad=1)
    figure.colorbar(image, ax=axes, fraction=0.025, pad=0.01, label="posterior")
    axes.set_title(title, fontsize=10, pad=14 if emitted else 6)
    return render(figure)


def config_value(model, *names: str):
    """The first of `names` set in the model's config, else in its generation config; None when neither has one."""
    for name in names:
        for config in (model.config, getattr(model, "generation_config", None)):
            value = getattr(config, name, None)
            if value is not None:
                return value
    return None


def attention_plot(pipe, waveform: np.ndarray, rate: int, text: str, title: str) -> np.ndarray | None:
    """The decoder's cross-attention (last layer, heads averaged) while it reads `text` back, teacher-forced: one
    row per output token, one column per encoder step. None when the model returns no cross-attention."""
    model, tokenizer = pipe.model, pipe.tokenizer
    ids = tokenizer(text, add_special_tokens=False).input_ids
    start = config_value(model, "decoder_start_token_id", "bos_token_id")
    if start is None:
        raise ValueError("the model config has no decoder_start_token_id or bos_token_id to start the decoder with")
    eos = config_value(model, "eos_token_id")
    eos = eos[0] if isinstance(eos, (list, tuple)) else eos
    decoder_input_ids = torch.tensor([[int(start), *ids]])  # (1, tokens + 1)
    with torch.inference_mode():
        out = model(**model_inputs(pipe, waveform, rate), decoder_input_ids=decoder_input_ids, output_attentions=True)
    cross = getattr(out, "cross_attentions", None)
    if not cross:
        return None
    attention = cross[-1] if isinstance(cross, (list, tuple)) else cross
    attention = attention[0].float()
    if attention.ndim == 3:
        attention = attention.mean(0)  # (tokens + 1, encoder_steps): heads averaged
    attention = attention.numpy()
    targets = [*ids, eos] if eos is not None else ids
    labels = [token_label(t, pipe) for t in tokenizer.convert_ids_to_tokens(targets)][: attention.shape[0]]
    attention = attention[: len(labels)]
    duration = waveform.shape[0] / rate

    figure = Figure(figsize=(9.0, min(1.4 + 0.16 * len(labels), MAX_PLOT_INCHES)), dpi=100)
    axes = figure.add_subplot()
    image = axes.imshow(
        attention, origin="upper", aspect="auto", cmap="magma", interpolation="nearest",
        extent=(0, duration, len(labels) - 0.5, -0.5),
    )
    if len(labels) <= MAX_LABELLED_ROWS:
        axes.set_yticks(range(len(labels)), labels, fontsize=7)
        axes.set(xlabel="time (s)", ylabel="output character")
    else:  # too many rows to name each: number them
        axes.set(xlabel="time (s)", ylabel=f"output character (of {len(labels)})")
    axes.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axes, fraction=0.025, pad=0.01, label="attention")
    return render(figure)


def explain(pipe, waveform: np.ndarray, rate: int, text: str, label: str) -> tuple[np.ndarray | None, str]:
    """The plot for `pipe`'s kind of model, and a note; never raises: a transcript must not be lost to its plot."""
    try:
        if is_encoder_decoder(pipe):
            if not text:
                return None, "No alignment plot: the model emitted no characters."
            image = attention_plot(pipe, waveform, rate, text, f"{label}: decoder cross-attention (last layer, heads averaged)")
            if image is None:
                return None, "No alignment plot: this model returns no cross-attention weights."
            return image, "The plot: each row is an output character, bright where the decoder attended in the audio."
        title = f"{label}: CTC character posteriors"
        if pipe.type == "ctc_with_lm":
            title += " (acoustic model only; the n-gram LM rescores the beams)"
        image = ctc_plot(pipe, waveform, rate, title)
        note = (
            "The plot: the probability of each character (rows) at every step of the model (bright = likely); the "
            "letters along the top are the ones the best path emits, where it emits them."
        )
        return image, note
    except Exception as err:  # noqa: BLE001  (a plot is a bonus; its failure is reported, not raised)
        traceback.print_exc(file=sys.stderr)
        return None, f"No plot: drawing it failed ({type(err).__name__}: {err})."


# ---- handlers -----------------------------------------------------------------------------------------------
def recognise(label: str, waveform: np.ndarray, rate: int) -> tuple[str, float]:
    """`(normalised transcript, seconds taken)` of `waveform` (at `rate`) by the recognizer behind `label`."""
    pipe = load_pipeline(MODELS[label])
    start = time.perf_counter()
    try:
        text = pipe({"raw": waveform, "sampling_rate": rate})["text"]
    except (zoo.AudioError, ValueError) as err:
        raise gr.Error(f"{label} could not transcribe this audio: {err}", print_exception=False) from None
    return normalize_text(text), time.perf_counter() - start


def transcribe(path: str | None, model: str | None = None, reference: str | None = None):
    """Button handler: audio file, picker label and an optional reference -> transcript, plot, and a summary."""
    label = model if model in MODELS else DEFAULT_MODEL
    pipe = load_pipeline(MODELS[label])
    rate = sampling_rate(pipe)
    waveform = read_input(path, rate)
    reference = clean_reference(reference)
    text, seconds = recognise(label, waveform, rate)
    duration = waveform.shape[0] / rate
    image, plot_note = explain(pipe, waveform, rate, text, label)
    folder = Path(MODELS[label]).name
    lines = [f"**{label}** (`{folder}`), {decoder_name(pipe, MODELS[label])}: {duration:.1f} s of audio in {seconds:.2f} s."]
    if not text:
        lines.append("Nothing was recognised: the model heard no words in this audio.")
    if reference:
        word_error_rate, char_error_rate, errors, words = error_rates(reference, text)
        lines.append(
            f"**WER {100 * word_error_rate:.1f} %** ({errors} word error{'s' if errors != 1 else ''} in {words} "
            f"reference word{'s' if words != 1 else ''}), CER {100 * char_error_rate:.1f} %, against the reference "
            f"*{reference}* (both lower-cased, punctuation removed)."
        )
    lines.append(plot_note)
    return text, image, "\n\n".join(lines)


def compare(path: str | None, reference: str | None = None) -> list[list]:
    """Button handler: the same audio through every recognizer -> one row each (transcript, WER, CER, seconds)."""
    reference = clean_reference(reference)
    rows = []
    for label, model in MODELS.items():
        rate = sampling_rate(load_pipeline(model))
        text, seconds = recognise(label, read_input(path, rate), rate)
        scores = error_rates(reference, text)[:2] if reference else None
        rates = ["—", "—"] if scores is None else [round(100 * score, 1) for score in scores]
        rows.append([label, text, *rates, round(seconds, 2)])
    return rows


def forget_reference():
    """New audio from the user: the reference of the previous example no longer applies."""
    return ""


# ---- interface ----------------------------------------------------------------------------------------------
def load_recognizers() -> None:
    """Load and warm up every recognizer; one that fails to load leaves the picker (noted in LOAD_ERRORS) rather
    than take the Space down. RuntimeError when none loads."""
    for label, model in list(MODELS.items()):
        try:
            load_pipeline(model)
        except Exception as err:  # noqa: BLE001  (a broken or half-written checkpoint folder: skip it, say why)
            print(f"asr Space: leaving out {label!r} ({model}): {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            LOAD_ERRORS[label] = f"{type(err).__name__}: {err}"
            del MODELS[label]
    if not MODELS:
        raise RuntimeError(f"no recognizer could be loaded: {LOAD_ERRORS}")
    global DEFAULT_MODEL
    DEFAULT_MODEL = next(iter(MODELS))
LOAD_ERRORS: dict[str, str] = {}  # label -> why its checkpoint did not load; build_demo() drops it from the picker


def build_demo() -> gr.Blocks:
    """Load the recognizers, warm them up, and lay out the Space."""
    load_recognizers()
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(DESCRIPTION)
        gr.Markdown("Recognizers: " + ", ".join(f"{label} (`{Path(path).name}`)" for label, path in MODELS.items()) + ".")
        if MISSING or LOAD_ERRORS:
            notes = [f"{label} (`checkpoints/{name}` is not in this checkout)" for label, name in MISSING.items()]
            notes += [f"{label} (it failed to load: {error[:200]})" for label, error in LOAD_ERRORS.items()]
            gr.Markdown("Not offered here: " + "; ".join(notes) + ".", elem_id="asr-missing")
        with gr.Row():
            with gr.Column():
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Speech", elem_id="asr-input")
                picker = gr.Radio(list(MODELS), value=DEFAULT_MODEL, label="Recognizer", elem_id="asr-model")
                reference = gr.Textbox(
                    label="Reference transcript (optional: gives the WER)", lines=2, max_lines=6,
                    placeholder="what was said; filled in by the examples", elem_id="asr-reference",
                )
                with gr.Row():
                    button = gr.Button("Transcribe", variant="primary", elem_id="asr-button")
                    compare_button = gr.Button("Compare every recognizer", elem_id="asr-compare", visible=len(MODELS) > 1)
                if EXAMPLE_CLIPS:
                    gr.Examples(
                        examples=[[clip["path"], clip["text"]] for clip in EXAMPLE_CLIPS],
                        inputs=[audio, reference],
                        label="Examples: synthetic voices never heard in training, with their transcripts",
                        example_labels=[clip["name"] for clip in EXAMPLE_CLIPS],
                    )
            with gr.Column():
                transcript = gr.Textbox(label="Transcript", lines=3, interactive=False, elem_id="asr-transcript")
                summary = gr.Markdown(elem_id="asr-summary")
        plot = gr.Image(label="What the model saw", type="numpy", interactive=False, elem_id="asr-plot")
        table = gr.Dataframe(
            headers=COMPARE_HEADERS, value=[], label="Every recognizer on this audio (WER / CER in %)", interactive=False,
            elem_id="asr-table", visible=len(MODELS) > 1,
        )
        button.click(transcribe, inputs=[audio, picker, reference], outputs=[transcript, plot, summary], api_name="transcribe")
        compare_button.click(compare, inputs=[audio, reference], outputs=[table], api_name="compare")
        # an upload or a recording replaces the example, and with it the example's reference
        audio.upload(forget_reference, outputs=[reference], api_visibility="private")
        audio.stop_recording(forget_reference, outputs=[reference], api_visibility="private")
    return demo


if __name__ == "__main__":
    build_demo().queue(default_concurrency_limit=1, max_size=16).launch(max_file_size=MAX_FILE_SIZE, show_error=True)
