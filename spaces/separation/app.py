"""Speech separation Space: split a two-speaker mixture into one track per speaker with a zoo Conv-TasNet.

Runs alone (`python spaces/separation/app.py`) or as one tab of `zoo demo`, which imports this file and
calls `build_demo()`. Importing it is cheap; `build_demo()` loads the model(s) and makes one warm-up call.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from transformers import pipeline

import zoo  # registers the zoo models and the audio-source-separation / speech-enhancement pipelines

# ---- constants ----------------------------------------------------------------------------------------------
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]  # the zoo checkout when run from it; on a Hub Space nothing is there and the Hub id is used

TITLE = "Speech separation"
HUB_MODEL = "zoo-models/convtasnet-zoo-2mix-8k-gpu2"
# 2-speaker separators offered in the model picker, first = default; each is used when its checkpoint folder exists
SEPARATORS = {
    "Conv-TasNet": "convtasnet-zoo-2mix-8k-gpu2",
    "Sepformer": "sepformer-zoo-2mix-8k-stage2",
    "DPRNN": "dprnn-zoo-2mix-8k",
}
# ZOO_SEPARATION_MODEL (a folder or a Hub id) replaces them all, e.g. a tiny random checkpoint in tests
if os.environ.get("ZOO_SEPARATION_MODEL"):
    SEPARATION_MODELS = {"zoo model": os.environ["ZOO_SEPARATION_MODEL"]}
else:
    SEPARATION_MODELS = {
        label: str(REPO_ROOT / "checkpoints" / name) for label, name in SEPARATORS.items() if (REPO_ROOT / "checkpoints" / name).is_dir()
    } or {"Conv-TasNet": HUB_MODEL}
MODEL = next(iter(SEPARATION_MODELS.values()))

LOCAL_THREE_SPEAKER_MODEL = REPO_ROOT / "checkpoints" / "convtasnet-zoo-3mix-8k"
# the 3-speaker tab exists only when this checkpoint does; ZOO_THREE_SPEAKER_MODEL=<folder> overrides, "" turns it off
if "ZOO_THREE_SPEAKER_MODEL" in os.environ:
    THREE_SPEAKER_MODEL = os.environ["ZOO_THREE_SPEAKER_MODEL"] or None
else:
    THREE_SPEAKER_MODEL = str(LOCAL_THREE_SPEAKER_MODEL) if LOCAL_THREE_SPEAKER_MODEL.is_dir() else None

LOCAL_ENHANCEMENT_MODEL = REPO_ROOT / "checkpoints" / "convtasnet-zoo-enh-16k"
# the Enhancement tab exists only when this checkpoint does; ZOO_ENHANCEMENT_MODEL=<folder> overrides, "" turns it off
if "ZOO_ENHANCEMENT_MODEL" in os.environ:
    ENHANCEMENT_MODEL = os.environ["ZOO_ENHANCEMENT_MODEL"] or None
else:
    ENHANCEMENT_MODEL = str(LOCAL_ENHANCEMENT_MODEL) if LOCAL_ENHANCEMENT_MODEL.is_dir() else None

LOCAL_ESTIMATOR = REPO_ROOT / "checkpoints" / "sisnr-estimator-zoo-8k"
# the blind SI-SNR estimator (REAL-M) fills "estimated SI-SNR" when its checkpoint exists; ZOO_ESTIMATOR_MODEL overrides
if "ZOO_ESTIMATOR_MODEL" in os.environ:
    ESTIMATOR_MODEL = os.environ["ZOO_ESTIMATOR_MODEL"] or None
else:
    ESTIMATOR_MODEL = str(LOCAL_ESTIMATOR) if LOCAL_ESTIMATOR.is_dir() else None

MAX_SECONDS = 60.0  # longer inputs are refused with a gr.Error: it bounds the work one request costs a CPU Space
MIN_SECONDS = 0.05  # shorter is not speech; the model also needs at least one encoder frame
MAX_FILE_SIZE = "20mb"  # an upload limit for gradio; 60 s of 48 kHz stereo 16-bit wav is 11 MB
EXAMPLES = sorted(str(path) for path in (HERE / "examples").glob("*.wav") if not path.name.startswith("3spk"))
EXAMPLES_3SPK = sorted(str(path) for path in (HERE / "examples").glob("3spk*.wav"))
NO_ESTIMATE = "n/a — no estimator shipped"  # shown when the pipeline returns estimated_si_snr=None

DESCRIPTION = f"""
# {TITLE}

Upload or record a mixture of two people talking (up to {MAX_SECONDS:.0f} s), press **Separate**, and get one
track per speaker with its spectrogram. Models: {", ".join(f"{label} (`{Path(path).name}`)" for label, path in SEPARATION_MODELS.items())}
from the zoo, 8 kHz (other rates are resampled), trained on synthetic TTS voices.
"""


# ---- model --------------------------------------------------------------------------------------------------
@functools.cache
def load_pipeline(task: str, model: str):
    """A pipeline for `task`, loaded once per process, with one warm-up call so the first user does not wait."""
    try:
        # the estimator was trained on 2-speaker separator outputs: its scores mean nothing for enhanced speech
        # or for 3-speaker outputs
        two_speakers = task == "audio-source-separation" and model != THREE_SPEAKER_MODEL
        pipe = pipeline(task, model=model, device="cpu", estimator=ESTIMATOR_MODEL if two_speakers else None)
    except OSError as err:
        raise RuntimeError(
            f"could not load the {task} model {model!r} ({err}); point ZOO_SEPARATION_MODEL / ZOO_ENHANCEMENT_MODEL "
            f"at a local checkpoint folder, or run online so the Hub id can be downloaded"
        ) from err
    rate = int(pipe.model.config.sampling_rate)
    warm_up = np.random.default_rng(0).normal(0.0, 0.1, rate).astype(np.float32)  # 1 s of quiet noise
    pipe(warm_up, sampling_rate=rate)
    return pipe


# ---- helpers ------------------------------------------------------------------------------------------------
def read_input(path: str | None, rate: int, what: str) -> np.ndarray:
    """The uploaded or recorded file as a mono float32 waveform at `rate`; bad input becomes a gr.Error."""
    if not path:
        raise gr.Error(f"no {what}: upload a file or record one, then press the button", print_exception=False)
    try:
        return zoo.load_audio(path, sampling_rate=rate, min_seconds=MIN_SECONDS, max_seconds=MAX_SECONDS, name=what)
    except zoo.AudioError as err:
        # gradio's upload path is a long temp folder; the user knows their file by its name
        raise gr.Error(str(err).replace(path, Path(path).name), print_exception=False) from None


def playable(waveform: np.ndarray, rate: int) -> tuple[int, np.ndarray]:
    """(rate, int16) for gr.Audio; separated sources have an arbitrary scale, so each is peak-normalised."""
    peak = float(np.abs(waveform).max()) if waveform.size else 0.0
    scaled = waveform / peak * 0.9 if peak > 0 else waveform
    return rate, (scaled * 32767).astype(np.int16)


def spectrogram(waveform: np.ndarray, rate: int, title: str) -> np.ndarray:
    """A log-magnitude STFT (32 ms Hann window, 8 ms hop) drawn with matplotlib, as RGB `(height, width, 3)`."""
    n_fft = max(int(0.032 * rate), 16)
    hop = max(n_fft // 4, 1)
    signal = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))
    if signal.shape[0] < n_fft:
        signal = torch.nn.functional.pad(signal, (0, n_fft - signal.shape[0]))
    stft = torch.stft(signal, n_fft, hop_length=hop, window=torch.hann_window(n_fft), return_complex=True)
    magnitude_db = 20 * torch.log10(stft.abs() + 1e-8)  # (frequencies, frames)
    magnitude_db = (magnitude_db - magnitude_db.max()).clamp(min=-80.0).numpy()

    # a bare Figure on an Agg canvas, not pyplot: no global state shared between concurrent requests
    figure = Figure(figsize=(6.4, 2.2), dpi=100)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    duration = waveform.shape[0] / rate
    axes.imshow(
        magnitude_db,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0, duration, 0, rate / 2000),
        vmin=-80,
        vmax=0,
    )
    axes.set(title=title, xlabel="time (s)", ylabel="kHz")
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def si_snr_text(value) -> str:
    return NO_ESTIMATE if value is None else f"{value:.1f} dB (estimated, no reference needed)"


# ---- handlers -----------------------------------------------------------------------------------------------
def separate(path: str | None, model: str | None = None):
    """Button handler: mixture file (and the picked model's label) -> [mixture spectrogram] + (audio, spectrogram,
    SI-SNR text) per source."""
    if model not in SEPARATION_MODELS:
        model = next(iter(SEPARATION_MODELS))
    return run_separator(SEPARATION_MODELS[model], path)


def separate_three(path: str | None):
    """Button handler of the 3-speaker tab."""
    return run_separator(THREE_SPEAKER_MODEL, path)


def run_separator(model: str, path: str | None):
    separator = load_pipeline("audio-source-separation", model)
    rate = int(separator.model.config.sampling_rate)
    mixture = read_input(path, rate, "mixture")
    try:
        sources = separator(mixture, sampling_rate=rate)
    except zoo.AudioError as err:
        raise gr.Error(str(err), print_exception=False) from None
    outputs = [spectrogram(mixture, rate, "mixture")]
    for index, source in enumerate(sources, start=1):
        outputs += [
            playable(source["audio"], source["sampling_rate"]),
            spectrogram(source["audio"], source["sampling_rate"], f"source {index}"),
            si_snr_text(source["estimated_si_snr"]),
        ]
    return outputs


def enhance(path: str | None):
    """Button handler: noisy file -> enhanced audio and the spectrograms before and after."""
    enhancer = load_pipeline("speech-enhancement", ENHANCEMENT_MODEL)
    rate = int(enhancer.model.config.sampling_rate)
    noisy = read_input(path, rate, "noisy speech")
    try:
        speech = enhancer(noisy, sampling_rate=rate)[0]
    except zoo.AudioError as err:
        raise gr.Error(str(err), print_exception=False) from None
    return (
        spectrogram(noisy, rate, "noisy input"),
        playable(speech["audio"], speech["sampling_rate"]),
        spectrogram(speech["audio"], speech["sampling_rate"], "enhanced"),
    )


# ---- interface ----------------------------------------------------------------------------------------------
def build_separation_tab(num_sources: int, three: bool = False) -> None:
    """One separation tab; element ids start with "separation"/"source-N" (2 speakers) or "separation3"/"source3-N"."""
    ids = "3" if three else ""
    examples = EXAMPLES_3SPK if three else EXAMPLES
    with gr.Row():
        with gr.Column():
            mixture = gr.Audio(
                sources=["upload", "microphone"], type="filepath", label="Mixture", elem_id=f"separation{ids}-input"
            )
            inputs = [mixture]
            if not three and len(SEPARATION_MODELS) > 1:
                inputs.append(
                    gr.Radio(list(SEPARATION_MODELS), value=next(iter(SEPARATION_MODELS)), label="Model", elem_id="separation-model")
                )
            button = gr.Button("Separate", variant="primary", elem_id=f"separation{ids}-button")
            if examples:
                gr.Examples(
                    examples=[[path] for path in examples],
                    inputs=[mixture],
                    label="Example mixtures (synthetic voices)",
                )
        mixture_spectrogram = gr.Image(
            label="Mixture spectrogram", type="numpy", interactive=False, elem_id=f"mixture{ids}-spectrogram"
        )
    outputs = [mixture_spectrogram]
    for index in range(1, num_sources + 1):
        with gr.Row(elem_id=f"source{ids}-{index}"):
            with gr.Column():
                audio = gr.Audio(
                    label=f"Source {index}", type="numpy", interactive=False, elem_id=f"source{ids}-{index}-audio"
                )
                si_snr = gr.Textbox(
                    label=f"Source {index} estimated SI-SNR", interactive=False, elem_id=f"source{ids}-{index}-si-snr"
                )
            image = gr.Image(
                label=f"Source {index} spectrogram",
                type="numpy",
                interactive=False,
                elem_id=f"source{ids}-{index}-spectrogram",
            )
        outputs += [audio, image, si_snr]
    if three:
        button.click(separate_three, inputs=inputs, outputs=outputs, api_name="separate_three")
    else:
        button.click(separate, inputs=inputs, outputs=outputs, api_name="separate")


def build_enhancement_tab() -> None:
    with gr.Row():
        with gr.Column():
            noisy = gr.Audio(
                sources=["upload", "microphone"], type="filepath", label="Noisy speech", elem_id="enhancement-input"
            )
            button = gr.Button("Enhance", variant="primary", elem_id="enhancement-button")
        noisy_spectrogram = gr.Image(label="Input spectrogram", type="numpy", interactive=False)
    with gr.Row():
        enhanced = gr.Audio(label="Enhanced speech", type="numpy", interactive=False, elem_id="enhancement-audio")
        enhanced_spectrogram = gr.Image(
            label="Enhanced spectrogram", type="numpy", interactive=False, elem_id="enhancement-spectrogram"
        )
    button.click(
        enhance, inputs=[noisy], outputs=[noisy_spectrogram, enhanced, enhanced_spectrogram], api_name="enhance"
    )


def build_demo() -> gr.Blocks:
    """Load the model(s), warm them up, and lay out the Space."""
    separators = [load_pipeline("audio-source-separation", model) for model in SEPARATION_MODELS.values()]
    counts = {int(separator.model.config.num_speakers) for separator in separators}
    if len(counts) != 1:
        raise ValueError(f"the models of the picker separate different numbers of speakers ({sorted(counts)}); give them one each")
    if THREE_SPEAKER_MODEL is not None:
        load_pipeline("audio-source-separation", THREE_SPEAKER_MODEL)
    if ENHANCEMENT_MODEL is not None:
        load_pipeline("speech-enhancement", ENHANCEMENT_MODEL)
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(DESCRIPTION)
        with gr.Tabs():
            with gr.Tab(f"{counts.pop()}-speaker separation"):
                build_separation_tab(int(separators[0].model.config.num_speakers))
            if THREE_SPEAKER_MODEL is not None:
                three = load_pipeline("audio-source-separation", THREE_SPEAKER_MODEL)
                with gr.Tab(f"{three.model.config.num_speakers}-speaker separation"):
                    build_separation_tab(int(three.model.config.num_speakers), three=True)
            if ENHANCEMENT_MODEL is not None:
                with gr.Tab("Enhancement"):
                    build_enhancement_tab()
    return demo


if __name__ == "__main__":
    build_demo().queue(default_concurrency_limit=1, max_size=16).launch(max_file_size=MAX_FILE_SIZE, show_error=True)
