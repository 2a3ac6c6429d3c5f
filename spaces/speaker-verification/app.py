"""Speaker verification Space, CryCeleb-style: enroll voices, verify a clip against them, compare the zoo's speaker
models on bundled trials, and see who spoke when in a conversation.

Runs alone (`python spaces/speaker-verification/app.py`) or as one tab of `zoo demo`, which imports this file and
calls `build_demo()`. Importing it is cheap; `build_demo()` loads the model(s) and makes one warm-up call. The
Leaderboard is computed the first time its tab is opened and cached for the life of the process.

Enrollments live in the browser session (a `gr.State`): one visitor never sees another's enrolled voices, and
they are gone when the page is closed.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from statistics import NormalDist

import gradio as gr
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from transformers import pipeline

import zoo  # registers the zoo models and the speaker-embedding / speaker-diarization pipelines
from zoo.metrics import det_curve, eer, min_dcf
from zoo.speaker.pipeline_speaker import explain_score
from zoo.speaker.score_norm import score_unit, verification_scores

# ---- constants ----------------------------------------------------------------------------------------------
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]  # the zoo checkout when run from it; on a Hub Space nothing is there and the Hub id is used

TITLE = "Speaker verification"
HUB_MODEL = "zoo-models/ecapa-tdnn-zoo-16k-stage2"
LOCAL_MODEL = REPO_ROOT / "checkpoints" / "ecapa-tdnn-zoo-16k-stage2"
# ZOO_SPEAKER_MODEL (a folder or a Hub id) overrides both, e.g. a tiny random checkpoint in tests
MODEL = os.environ.get("ZOO_SPEAKER_MODEL") or (str(LOCAL_MODEL) if LOCAL_MODEL.is_dir() else HUB_MODEL)
# the Diarization tab embeds its windows with MODEL unless ZOO_DIARIZATION_MODEL names another checkpoint
DIARIZATION_MODEL = os.environ.get("ZOO_DIARIZATION_MODEL") or MODEL

# Leaderboard rows: every shipped speaker checkpoint found in checkpoints/ (else the Space's model);
# ZOO_SPEAKER_LEADERBOARD="folder_or_id,folder_or_id" overrides
SHIPPED_MODELS = ("ecapa-tdnn-zoo-16k-stage2", "ecapa-tdnn-zoo-16k", "xvector-zoo-16k")
if os.environ.get("ZOO_SPEAKER_LEADERBOARD"):
    LEADERBOARD_MODELS = [m.strip() for m in os.environ["ZOO_SPEAKER_LEADERBOARD"].split(",") if m.strip()]
else:
    LEADERBOARD_MODELS = [str(REPO_ROOT / "checkpoints" / n) for n in SHIPPED_MODELS if (REPO_ROOT / "checkpoints" / n).is_dir()]
    LEADERBOARD_MODELS = LEADERBOARD_MODELS or [MODEL]

MAX_SECONDS = 60.0  # enrollment and test clips; longer is refused: it bounds the work one request costs a CPU Space
MAX_CONVERSATION_SECONDS = 600.0  # the Diarization tab takes recordings up to 10 minutes
MIN_SECONDS = 0.5  # shorter clips hold too little speech for an embedding
MAX_FILE_SIZE = "20mb"  # an upload limit for gradio
MAX_CLIPS_PER_ENROLLMENT = 10
MAX_ENROLLED = 50  # speakers per browser session
MAX_NAME_LENGTH = 60
MATCH_SECONDS = 30.0  # a diarized speaker is matched to the enrolled voices on at most this much of their speech
P_TARGET = 0.05  # the minDCF prior (VoxSRC); the card's zoo-eval numbers say theirs
EXAMPLES_DIR = HERE / "examples"
MANIFEST = json.loads((EXAMPLES_DIR / "examples.json").read_text()) if (EXAMPLES_DIR / "examples.json").is_file() else None
EXAMPLE_CLIPS = [dict(clip, path=str(EXAMPLES_DIR / clip["file"])) for clip in (MANIFEST or {}).get("clips", [])]
CONVERSATION = str(EXAMPLES_DIR / MANIFEST["conversation"]["file"]) if MANIFEST and MANIFEST.get("conversation") else None
ENROLLED_HEADERS = ["name", "clips", "seconds", "clip agreement"]
SCORE_HEADERS = ["enrolled speaker", "score", "decision"]
SEGMENT_HEADERS = ["speaker", "enrolled match", "start (s)", "end (s)", "duration (s)"]
LEADERBOARD_HEADERS = ["model", "architecture", "parameters", "EER (%)", f"minDCF (p={P_TARGET:g})", "threshold",
                       "FRR / FAR at threshold (%)", "zoo eval (model card)"]

DESCRIPTION = f"""
# {TITLE}

Is it the same voice? In the spirit of [CryCeleb](https://huggingface.co/datasets/Ubenwa/CryCeleb2023) (enroll a baby at birth, verify at discharge): **enroll**
speakers from one or more clips each, then **verify** a new clip: it is scored against every enrolled voice (cosine
similarity of speaker embeddings) and accepted when the best score reaches the model's calibrated threshold.
**Leaderboard** compares the zoo's speaker models on the bundled trials; **Diarization** shows who spoke when.
Model: `{MODEL}` (16 kHz; other rates are resampled). Clips: {MIN_SECONDS:g} to {MAX_SECONDS:.0f} s.
The bundled examples are synthetic voices (espeak-ng and flite) never heard in training.
"""


# ---- model --------------------------------------------------------------------------------------------------
@functools.cache
def load_pipeline(task: str, model: str):
    """A pipeline for `task`, loaded once per process, with one warm-up call so the first user does not wait."""
    try:
        if task != "speaker-embedding" and model == MODEL:  # the same weights: share the embedding pipeline's model
            embedder = load_pipeline("speaker-embedding", model)
            pipe = pipeline(task, model=embedder.model, feature_extractor=embedder.feature_extractor, device="cpu")
        else:
            pipe = pipeline(task, model=model, device="cpu")
    except OSError as err:
        raise RuntimeError(
            f"could not load the {task} model {model!r} ({err}); point ZOO_SPEAKER_MODEL at a local checkpoint folder, "
            "or run online so the Hub id can be downloaded"
        ) from err
    rate = int(pipe.model.config.sampling_rate)
    warm_up = np.random.default_rng(0).normal(0.0, 0.1, rate).astype(np.float32)  # 1 s of quiet noise
    pipe(warm_up, sampling_rate=rate)
    return pipe


def embedder():
    return load_pipeline("speaker-embedding", MODEL)


def model_threshold() -> float | None:
    """The model's decision threshold (a cosine, or an s-norm score), calibrated at the validation EER; None when
    uncalibrated."""
    threshold = getattr(embedder().model.config, "threshold", None)
    return None if threshold is None else float(threshold)


# ---- helpers ------------------------------------------------------------------------------------------------
def read_input(path: str | None, rate: int, what: str, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """The uploaded or recorded file as a mono float32 waveform at `rate`; bad input becomes a gr.Error."""
    if not path:
        raise gr.Error(f"no {what}: upload a file or record one, then press the button", print_exception=False)
    try:
        return zoo.load_audio(path, sampling_rate=rate, min_seconds=MIN_SECONDS, max_seconds=max_seconds, name=what)
    except zoo.AudioError as err:
        # gradio's upload path is a long temp folder; the user knows their file by its name
        raise gr.Error(str(err).replace(str(path), Path(path).name), print_exception=False) from None


def embed(waveforms: list[np.ndarray]) -> np.ndarray:
    """`(clips, embedding_size)` L2-normalised embeddings of waveforms at the model's rate, several per forward."""
    pipe = embedder()
    rate = int(pipe.model.config.sampling_rate)
    try:
        out = pipe(list(waveforms), sampling_rate=rate, batch_size=8)
    except zoo.AudioError as err:
        raise gr.Error(str(err), print_exception=False) from None
    return np.stack(out).astype(np.float32)


def centroid(embeddings: np.ndarray) -> np.ndarray:
    """The enrollment embedding: the mean of the clips' embeddings, re-normalised (as the verification pipeline does)."""
    mean = np.asarray(embeddings, dtype=np.float32).mean(0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def decision(score: float, threshold: float | None) -> str:
    if threshold is None:
        return "no threshold"
    return "same speaker" if score >= threshold else "different"


def enrolled_table(enrolled: dict) -> list[list]:
    """One row per enrolled speaker: clips, seconds, and how well the clips agree (mean cosine to the centroid)."""
    rows = []
    for name, entry in enrolled.items():
        embeddings = np.asarray(entry["embeddings"])
        agreement = float((embeddings @ centroid(embeddings)).mean()) if len(embeddings) > 1 else None
        rows.append([name, len(embeddings), round(entry["seconds"], 1), "—" if agreement is None else round(agreement, 3)])
    return rows


def probit(rates: np.ndarray, floor: float) -> np.ndarray:
    """Rates on the normal-deviate scale of DET plots; 0 and 1 are clipped to `floor` and 1 - `floor`."""
    inverse = NormalDist().inv_cdf
    return np.array([inverse(min(max(float(r), floor), 1 - floor)) for r in rates])


def render(figure: Figure) -> np.ndarray:
    """A bare Figure on an Agg canvas (no pyplot: no global state shared between requests) as RGB `(h, w, 3)`."""
    canvas = FigureCanvasAgg(figure)
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def det_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], num_target: int, num_nontarget: int) -> np.ndarray:
    """DET curves (false rejection vs false acceptance, probit axes) of each model, with the EER line.

    Each axis reaches down to half of one trial of its kind (a rate of 0 has no place on a probit axis).
    """
    floor_far, floor_frr = 0.5 / max(num_nontarget, 1), 0.5 / max(num_target, 1)
    ticks = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95)
    figure = Figure(figsize=(5.6, 4.6), dpi=100)
    axes = figure.add_subplot()
    for name, (fpr, fnr) in curves.items():
        axes.plot(probit(fpr, floor_far), probit(fnr, floor_frr), drawstyle="steps-post", linewidth=2, label=name)
    z = NormalDist().inv_cdf
    common = (z(max(floor_far, floor_frr)), z(1 - max(floor_far, floor_frr)))
    axes.plot(common, common, color="grey", linestyle=":", linewidth=1, label="EER line")
    far_ticks = [t for t in ticks if floor_far <= t <= 1 - floor_far]
    frr_ticks = [t for t in ticks if floor_frr <= t <= 1 - floor_frr]
    axes.set_xticks([z(t) for t in far_ticks], [f"{100 * t:g}" for t in far_ticks])
    axes.set_yticks([z(t) for t in frr_ticks], [f"{100 * t:g}" for t in frr_ticks])
    axes.set(xlim=(z(floor_far), z(1 - floor_far)), ylim=(z(floor_frr), z(1 - floor_frr)),
             xlabel="false acceptance rate (%)", ylabel="false rejection rate (%)",
             title=f"DET, bundled trials ({num_target} target / {num_nontarget} non-target)")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper right", fontsize=8)
    return render(figure)


def timeline_plot(segments: list[dict], duration: float, names: dict[str, str]) -> np.ndarray:
    """Who spoke when: one lane per speaker, a bar per segment (overlapping speech shows on two lanes)."""
    speakers = list(dict.fromkeys(segment["speaker"] for segment in segments))
    figure = Figure(figsize=(8.0, 0.9 + 0.45 * max(len(speakers), 1)), dpi=100)
    axes = figure.add_subplot()
    colors = [f"C{i % 10}" for i in range(len(speakers))]
    for lane, (speaker, color) in enumerate(zip(speakers, colors, strict=True)):
        bars = [(s["start"], s["end"] - s["start"]) for s in segments if s["speaker"] == speaker]
        axes.broken_barh(bars, (lane - 0.35, 0.7), facecolors=color)
    axes.set_yticks(range(len(speakers)), [names.get(s, s) for s in speakers])
    axes.set(xlim=(0, max(duration, 1e-3)), ylim=(-0.6, max(len(speakers), 1) - 0.4), xlabel="time (s)",
             title="who spoke when" if speakers else "no speech found")
    axes.invert_yaxis()
    axes.grid(True, axis="x", alpha=0.3)
    return render(figure)


# ---- handlers -----------------------------------------------------------------------------------------------
def enroll(name: str | None, files: list | None, recording: str | None, enrolled: dict | None):
    """Button handler: a name and one or more clips -> the session's enrollments (added to an existing name)."""
    enrolled = dict(enrolled or {})
    name = (name or "").strip()
    if not name:
        raise gr.Error("no name: type who is speaking in the clips, then press Enroll", print_exception=False)
    if len(name) > MAX_NAME_LENGTH:
        raise gr.Error(f"the name is {len(name)} characters long; keep it under {MAX_NAME_LENGTH}", print_exception=False)
    paths = [str(getattr(f, "name", f)) for f in (files or [])] + ([recording] if recording else [])
    if not paths:
        raise gr.Error(f"no clips for {name!r}: upload one or more files or record one, then press Enroll", print_exception=False)
    if len(paths) > MAX_CLIPS_PER_ENROLLMENT:
        raise gr.Error(f"{len(paths)} clips at once; enroll at most {MAX_CLIPS_PER_ENROLLMENT} per press", print_exception=False)
    if name not in enrolled and len(enrolled) >= MAX_ENROLLED:
        raise gr.Error(f"{MAX_ENROLLED} speakers are enrolled already; press Clear to start over", print_exception=False)
    rate = int(embedder().model.config.sampling_rate)
    waveforms = [read_input(path, rate, f"enrollment clip {Path(path).name}") for path in paths]
    embeddings = embed(waveforms)
    entry = enrolled.get(name, {"embeddings": [], "seconds": 0.0})
    enrolled[name] = {
        "embeddings": [*entry["embeddings"], *embeddings],
        "seconds": entry["seconds"] + sum(w.shape[0] for w in waveforms) / rate,
    }
    verb = "added to" if entry["embeddings"] else "enrolled"
    status = f"{len(paths)} clip{'s' if len(paths) > 1 else ''} {verb} **{name}**; {len(enrolled)} speaker(s) enrolled."
    return enrolled, enrolled_table(enrolled), status


def enroll_examples(enrolled: dict | None):
    """Button handler: enroll every bundled example voice from its first clip (the second ones are left to verify)."""
    if not EXAMPLE_CLIPS:
        raise gr.Error("this Space has no bundled examples (examples/examples.json is missing)", print_exception=False)
    firsts = {}
    for clip in EXAMPLE_CLIPS:
        firsts.setdefault(clip["name"], clip["path"])
    rate = int(embedder().model.config.sampling_rate)
    waveforms = [read_input(path, rate, Path(path).name) for path in firsts.values()]
    embeddings = embed(waveforms)
    enrolled = dict(enrolled or {})
    for name, embedding, waveform in zip(firsts, embeddings, waveforms, strict=True):
        enrolled[name] = {"embeddings": [embedding], "seconds": waveform.shape[0] / rate}
    status = f"{len(firsts)} example voices enrolled from their first clip; verify their second clips in the Verify tab."
    return enrolled, enrolled_table(enrolled), status


def clear_enrollments():
    return {}, [], "Nobody is enrolled."


def verify(path: str | None, enrolled: dict | None):
    """Button handler: a test clip -> the best-matching enrolled speaker, its score and the decision, all scores."""
    if not enrolled:
        raise gr.Error(
            "nobody is enrolled yet: enroll at least one speaker in the Enroll tab (or press 'Enroll the example voices')",
            print_exception=False,
        )
    rate = int(embedder().model.config.sampling_rate)
    test = embed([read_input(path, rate, "test clip")])[0]
    model = embedder().model
    names = list(enrolled)
    centroids = np.stack([centroid(enrolled[name]["embeddings"]) for name in names])
    values = verification_scores(model, centroids, np.repeat(test[None], len(names), axis=0))
    scores = {name: float(value) for name, value in zip(names, values)}
    unit = score_unit(model)
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    threshold = model_threshold()
    best, score = ranked[0]
    lines = [f"### Best match: **{best}**, score {score:.3f}"]
    if threshold is None:
        lines.append(
            "**No decision**: this checkpoint has no calibrated threshold (`config.threshold` is empty). Calibrate it "
            "with `zoo eval CHECKPOINT`, which sets the threshold at the validation equal-error-rate point."
        )
    elif score >= threshold:
        lines.append(f"**Accepted as {best}.** {explain_score(score, threshold, unit=unit)}")
    else:
        lines.append(f"**Not any enrolled speaker.** {explain_score(score, threshold, unit=unit)}")
    meaning = (
        "The score is the cosine similarity of the two speaker embeddings (1 = identical voice print, around 0 = unrelated)."
        if unit == "cosine" else
        "The score is the cosine similarity of the two speaker embeddings in s-norm: how many standard deviations it "
        "stands above the cosines each voice gets against the model's closest training speakers (around 0 = like an "
        "unrelated voice)."
    )
    lines.append(
        meaning + " The threshold is where false acceptances and false rejections were equally frequent on the "
        "model's validation speakers (the equal error rate point)."
    )
    table = [[name, round(value, 3), decision(value, threshold)] for name, value in ranked]
    return "\n\n".join(lines), table


def card_summary(model: str) -> str:
    """The first verification result `zoo eval` wrote into the checkpoint's card, e.g. 'EER 4.1 % (speech-200 test)'."""
    path = Path(model) / "card_data.json"
    if not path.is_file():
        return "—"
    try:
        results = json.loads(path.read_text()).get("results") or []
    except (OSError, ValueError):
        return "—"
    for result in sorted(results, key=lambda r: r.get("split") != "test"):  # a test-split result first
        metrics = result.get("metrics") or {}
        if "eer" in metrics:
            return f"EER {metrics['eer']:.2f} % ({result.get('dataset', '?')} {result.get('split', '')})".strip()
    return "—"


def bundled_trials() -> tuple[list[str], np.ndarray, np.ndarray]:
    """The bundled clips, and every pair of them as a trial: `(paths, pairs (trials, 2), labels (trials,))`."""
    if len(EXAMPLE_CLIPS) < 3:
        raise gr.Error("the leaderboard needs the bundled example clips (examples/examples.json)", print_exception=False)
    speakers = [clip["speaker_id"] for clip in EXAMPLE_CLIPS]
    pairs = np.array([(i, j) for i in range(len(speakers)) for j in range(i + 1, len(speakers))])
    labels = np.array([speakers[i] == speakers[j] for i, j in pairs])
    return [clip["path"] for clip in EXAMPLE_CLIPS], pairs, labels


@functools.cache
def leaderboard() -> tuple[list[list], np.ndarray, str]:
    """Compute (once per process) EER, minDCF and the DET curve of each leaderboard model on the bundled trials."""
    paths, pairs, labels = bundled_trials()
    rows, curves, notes = [], {}, []
    for model in LEADERBOARD_MODELS:
        name = Path(model).name if Path(model).is_absolute() or Path(model).is_dir() else model  # a folder, or a Hub id
        try:
            pipe = load_pipeline("speaker-embedding", model)
        except Exception as err:  # a checkpoint that does not load is listed as such, the others still count
            notes.append(f"`{name}` could not be loaded: {type(err).__name__}: {err}")
            continue
        rate = int(pipe.model.config.sampling_rate)
        waveforms = [zoo.load_audio(path, sampling_rate=rate, name=Path(path).name) for path in paths]
        embeddings = np.stack(pipe(waveforms, sampling_rate=rate, batch_size=8))  # (clips, embedding_size)
        scores = verification_scores(pipe.model, embeddings[pairs[:, 0]], embeddings[pairs[:, 1]])  # the model's scoring
        rate_eer, _ = eer(scores, labels)
        fpr, fnr, _ = det_curve(scores, labels)
        curves[name] = (np.r_[0.0, fpr], np.r_[1.0, fnr])
        threshold = getattr(pipe.model.config, "threshold", None)
        if threshold is None:
            at_threshold = "uncalibrated"
        else:
            frr = 100 * float(np.mean(scores[labels] < threshold))
            far = 100 * float(np.mean(scores[~labels] >= threshold))
            at_threshold = f"{frr:.1f} / {far:.1f}"
        rows.append([
            name,
            pipe.model.config.model_type,
            f"{sum(p.numel() for p in pipe.model.parameters()) / 1e6:.2f} M",
            round(rate_eer, 2),
            round(min_dcf(scores, labels, p_target=P_TARGET), 3),
            "—" if threshold is None else round(float(threshold), 3),
            at_threshold,
            card_summary(model),
        ])
    rows.sort(key=lambda row: row[3])
    num_target, num_nontarget = int(labels.sum()), int((~labels).sum())
    speakers = len({clip["speaker_id"] for clip in EXAMPLE_CLIPS})
    note = [
        f"Trials: every pair of the {len(paths)} bundled clips ({speakers} unseen synthetic voices, two clips each): "
        f"{num_target} target and {num_nontarget} non-target trials; lower EER and minDCF are better. So few target trials "
        "make these numbers coarse (one miss is 10 points of FRR); the model cards hold `zoo eval` results on "
        "thousands of trials. FRR / FAR use each model's own calibrated threshold.",
        *notes,
    ]
    image = det_plot(curves, num_target, num_nontarget) if curves else None
    return rows, image, "\n\n".join(note)


def show_leaderboard():
    """Tab handler: the cached leaderboard (computed on first use)."""
    rows, image, note = leaderboard()
    return rows, image, note


def match_speakers(waveform: np.ndarray, rate: int, segments: list[dict], enrolled: dict | None) -> dict[str, tuple[str, float]]:
    """Each diarized speaker -> `(enrolled name, score)` of the enrolled voice it matches at the threshold; others left out."""
    threshold = model_threshold()
    if not enrolled or threshold is None or not segments:
        return {}
    names, centroids = list(enrolled), np.stack([centroid(e["embeddings"]) for e in enrolled.values()])
    matches = {}
    for speaker in dict.fromkeys(s["speaker"] for s in segments):
        others = [(s["start"], s["end"]) for s in segments if s["speaker"] != speaker]
        pieces, total = [], 0.0
        for s in segments:  # the speaker's speech that overlaps nobody else's, up to MATCH_SECONDS
            if s["speaker"] != speaker or any(a < s["end"] and s["start"] < b for a, b in others):
                continue
            piece = waveform[int(s["start"] * rate) : int(s["end"] * rate)]
            pieces.append(piece[: int((MATCH_SECONDS - total) * rate)])
            total += pieces[-1].shape[0] / rate
            if total >= MATCH_SECONDS:
                break
        if total < MIN_SECONDS:
            continue
        test = embed([np.concatenate(pieces)])[0]
        scores = verification_scores(embedder().model, centroids, np.repeat(test[None], len(names), axis=0))
        best = int(np.argmax(scores))
        if scores[best] >= threshold:
            matches[speaker] = (names[best], float(scores[best]))
    return matches


def diarize(path: str | None, num_speakers: str | None, enrolled: dict | None):
    """Button handler: a recording -> a timeline of who spoke when, a segment table and a summary."""
    diarizer = load_pipeline("speaker-diarization", DIARIZATION_MODEL)
    rate = int(diarizer.model.config.sampling_rate)
    waveform = read_input(path, rate, "recording", max_seconds=MAX_CONVERSATION_SECONDS)
    count = None if num_speakers in (None, "", "auto") else int(num_speakers)
    try:
        segments = diarizer(waveform, sampling_rate=rate, num_speakers=count)
    except (zoo.AudioError, ValueError) as err:
        raise gr.Error(str(err), print_exception=False) from None
    duration = waveform.shape[0] / rate
    matches = match_speakers(waveform, rate, segments, enrolled)
    labels = {speaker: f"{name} ({score:.2f})" for speaker, (name, score) in matches.items()}
    table = [
        [s["speaker"], labels.get(s["speaker"], ""), round(s["start"], 2), round(s["end"], 2), round(s["end"] - s["start"], 2)]
        for s in segments
    ]
    speakers = list(dict.fromkeys(s["speaker"] for s in segments))
    if not segments:
        summary = f"No speech found in {duration:.1f} s of audio."
    else:
        talk = {sp: sum(s["end"] - s["start"] for s in segments if s["speaker"] == sp) for sp in speakers}
        summary = f"{len(speakers)} speaker(s) in {duration:.1f} s: " + ", ".join(f"{sp} {t:.1f} s" for sp, t in talk.items())
        if matches:
            summary += ". Matched to enrolled voices: " + ", ".join(f"{sp} = {label}" for sp, label in labels.items())
    lanes = {speaker: f"{speaker}\n{name}" for speaker, (name, _) in matches.items()}
    return timeline_plot(segments, duration, lanes), table, summary


# ---- interface ----------------------------------------------------------------------------------------------
def build_enroll_tab(enrolled: gr.State) -> None:
    with gr.Row():
        with gr.Column():
            name = gr.Textbox(label="Speaker name", placeholder="e.g. Alice", max_length=MAX_NAME_LENGTH, elem_id="enroll-name")
            files = gr.File(
                label="Clips of this speaker (one or more files)", file_count="multiple", type="filepath",
                elem_id="enroll-files",
            )
            recording = gr.Audio(
                sources=["microphone", "upload"], type="filepath", label="...or record / upload one clip",
                elem_id="enroll-audio",
            )
            with gr.Row():
                button = gr.Button("Enroll", variant="primary", elem_id="enroll-button")
                clear = gr.Button("Clear", elem_id="enroll-clear")
            if EXAMPLE_CLIPS:
                examples_button = gr.Button("Enroll the example voices", elem_id="enroll-examples")
                firsts = {}
                for clip in EXAMPLE_CLIPS:
                    firsts.setdefault(clip["name"], clip["path"])
                gr.Examples(
                    examples=[[name_, path] for name_, path in firsts.items()],
                    inputs=[name, recording],
                    label="Example voices (synthetic, unseen in training): first clip of each",
                )
        with gr.Column():
            status = gr.Markdown("Nobody is enrolled.", elem_id="enroll-status")
            table = gr.Dataframe(
                headers=ENROLLED_HEADERS, value=[], label="Enrolled speakers", interactive=False, elem_id="enrolled-table"
            )
    button.click(enroll, inputs=[name, files, recording, enrolled], outputs=[enrolled, table, status], api_name="enroll")
    clear.click(clear_enrollments, outputs=[enrolled, table, status], api_name="clear_enrollments")
    if EXAMPLE_CLIPS:
        examples_button.click(enroll_examples, inputs=[enrolled], outputs=[enrolled, table, status], api_name="enroll_examples")


def build_verify_tab(enrolled: gr.State) -> None:
    with gr.Row():
        with gr.Column():
            clip = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Test clip", elem_id="verify-audio")
            button = gr.Button("Verify", variant="primary", elem_id="verify-button")
            seconds = [c for c in EXAMPLE_CLIPS if c["file"].endswith("_2.flac")]
            if seconds:
                gr.Examples(
                    examples=[[c["path"]] for c in seconds],
                    inputs=[clip],
                    label="Second clips of the example voices (enroll the example voices first)",
                )
        with gr.Column():
            result = gr.Markdown(elem_id="verify-result")
            scores = gr.Dataframe(
                headers=SCORE_HEADERS, value=[], label="Score against every enrolled speaker", interactive=False,
                elem_id="verify-scores",
            )
    button.click(verify, inputs=[clip, enrolled], outputs=[result, scores], api_name="verify")


def build_leaderboard_tab() -> gr.Tab:
    with gr.Tab("Leaderboard", elem_id="speaker-leaderboard-tab") as tab:
        gr.Markdown(
            "Equal error rate and minimum detection cost of each shipped speaker model on the bundled trials, "
            "computed here the first time this tab opens."
        )
        table = gr.Dataframe(headers=LEADERBOARD_HEADERS, value=[], label="Leaderboard", interactive=False, elem_id="leaderboard-table")
        with gr.Row():
            plot = gr.Image(label="DET curves", type="numpy", interactive=False, elem_id="leaderboard-det")
            note = gr.Markdown(elem_id="leaderboard-note")
    tab.select(show_leaderboard, outputs=[table, plot, note], api_name="leaderboard")
    return tab


def build_diarization_tab(enrolled: gr.State) -> None:
    with gr.Row():
        with gr.Column():
            recording = gr.Audio(
                sources=["upload", "microphone"], type="filepath", label="Conversation", elem_id="diarization-audio"
            )
            count = gr.Dropdown(
                choices=["auto"] + [str(n) for n in range(1, 7)], value="auto", label="Number of speakers",
                elem_id="diarization-speakers",
            )
            button = gr.Button("Who spoke when?", variant="primary", elem_id="diarization-button")
            if CONVERSATION:
                gr.Examples(
                    examples=[[CONVERSATION, str(len(MANIFEST["conversation"]["speakers"]))]],
                    inputs=[recording, count],
                    label="A synthetic three-speaker conversation",
                )
        with gr.Column():
            summary = gr.Markdown(elem_id="diarization-summary")
            timeline = gr.Image(label="Timeline", type="numpy", interactive=False, elem_id="diarization-timeline")
    segments = gr.Dataframe(
        headers=SEGMENT_HEADERS, value=[], label="Segments (enrolled match: speakers enrolled in this session)",
        interactive=False, elem_id="diarization-segments",
    )
    button.click(diarize, inputs=[recording, count, enrolled], outputs=[timeline, segments, summary], api_name="diarize")


def build_demo() -> gr.Blocks:
    """Load the model(s), warm them up, and lay out the Space."""
    load_pipeline("speaker-embedding", MODEL)
    load_pipeline("speaker-diarization", DIARIZATION_MODEL)
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(DESCRIPTION)
        enrolled = gr.State({})
        with gr.Tabs():
            with gr.Tab("Enroll", elem_id="speaker-enroll-tab"):
                build_enroll_tab(enrolled)
            with gr.Tab("Verify", elem_id="speaker-verify-tab"):
                build_verify_tab(enrolled)
            build_leaderboard_tab()
            with gr.Tab("Diarization", elem_id="speaker-diarization-tab"):
                build_diarization_tab(enrolled)
    return demo


if __name__ == "__main__":
    build_demo().queue(default_concurrency_limit=1, max_size=16).launch(max_file_size=MAX_FILE_SIZE, show_error=True)
