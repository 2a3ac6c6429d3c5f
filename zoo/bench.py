"""`zoo bench <name>`: speed and memory of zoo models against their reference implementations.

    zoo bench separation            # zoo Sepformer vs SpeechBrain's SepFormer, CPU, published configuration
    zoo bench speaker               # zoo ECAPA-TDNN vs SpeechBrain's ECAPA_TDNN, CPU, published configuration
    zoo bench asr CKPT --lm-ckpt CKPT-lm   # zoo CTC recognizer, greedy and with its n-gram LM, vs pocketsphinx

Each benchmark owns its arguments and `--help`. A benchmark that needs a peer library installs it into a
venv of its own (created once, reused after), so that both sides run on the same torch and the peer's
pins never touch the project's environment.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# 1. SpeechBrain needs torchaudio, whose newest release pins torch 2.9.1; both models run on that torch there
BENCH_VENV = Path(os.environ.get("ZOO_BENCH_VENV", Path.home() / ".cache" / "zoo" / "bench-venv"))
BENCH_TORCH = "2.9.1"
SAMPLING_RATE = 8000


def _transformers_version() -> str:
    from importlib.metadata import version

    return version("transformers")


def ensure_venv(venv: Path, log=print) -> Path:
    """Create (once) a venv with torch 2.9.1, torchaudio, speechbrain and the transformers we run on; return its python.

    About 7 GB and 90 s the first time; a marker file makes later calls instant. zoo itself is not installed
    there: the worker loads the model's own modeling file by path, as `trust_remote_code` would.
    """
    python = venv / "bin" / "python"
    spec = f"torch=={BENCH_TORCH} torchaudio==2.9.* speechbrain transformers=={_transformers_version()}"
    marker = venv / ".zoo-bench-ready"
    if marker.exists() and marker.read_text() == spec and python.exists():
        return python
    log(f"creating the benchmark venv {venv} ({spec}); about 7 GB and a few minutes, once")
    base_python = getattr(sys, "_base_executable", sys.executable)  # not this venv's python: a venv of a venv is fragile
    steps = [
        [base_python, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "-q", f"torch=={BENCH_TORCH}"],
        # torch again in the same command, so that the resolver cannot move it while adding torchaudio
        [str(python), "-m", "pip", "install", "-q", f"torch=={BENCH_TORCH}", "torchaudio==2.9.*", "speechbrain"],
        [str(python), "-m", "pip", "install", "-q", f"torch=={BENCH_TORCH}", f"transformers=={_transformers_version()}", "safetensors"],
    ]
    for step in steps:
        if step[0] == base_python and python.exists():
            continue
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"zoo bench: `{' '.join(step)}` failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    marker.write_text(spec)
    return python


# 2. the two models, built from one configuration


def _load_zoo_modeling(name: str, group: str = "separation"):
    """Import zoo/<group>/<name>/modeling_<name>.py standalone (it imports only torch, transformers and its config)."""
    folder = Path(__file__).resolve().parent / group / name
    package = f"zoo_bench_{name}"
    spec = importlib.util.spec_from_file_location(package, folder / "__init__.py", submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    spec.loader.exec_module(module)
    return importlib.import_module(f"{package}.modeling_{name}"), importlib.import_module(f"{package}.configuration_{name}")


def _build_ours(num_speakers: int = 2):
    modeling, configuration = _load_zoo_modeling("sepformer")
    config = configuration.SepformerConfig.published(num_speakers=num_speakers)
    model = modeling.SepformerForSourceSeparation(config).eval()
    return model, config


def _build_speechbrain(config):
    """SpeechBrain's SepFormer as its WSJ0-Mix recipe wires it (hparams/sepformer.yaml), at the values of `config`."""
    import torch
    from speechbrain.lobes.models.dual_path import Decoder, Dual_Path_Model, Encoder, SBTransformerBlock

    def transformer(num_layers):
        return SBTransformerBlock(
            num_layers=num_layers, d_model=config.hidden_size, nhead=config.num_heads, d_ffn=config.ffn_dim,
            dropout=0, use_positional_encoding=True, norm_before=True,
        )

    class SpeechBrainSepformer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = Encoder(kernel_size=config.kernel_size, out_channels=config.num_filters)
            self.masknet = Dual_Path_Model(
                num_spks=config.num_speakers, in_channels=config.num_filters, out_channels=config.hidden_size,
                num_layers=config.num_layers, K=config.chunk_size, intra_model=transformer(config.num_intra_layers),
                inter_model=transformer(config.num_inter_layers), norm="ln", linear_layer_after_inter_intra=False,
                skip_around_intra=True,
            )
            self.decoder = Decoder(
                in_channels=config.num_filters, out_channels=1, kernel_size=config.kernel_size,
                stride=config.kernel_size // 2, bias=False,
            )

        def forward(self, mix):  # the recipe's compute_forward: (batch, time) -> (batch, time, speakers)
            mix_w = self.encoder(mix)
            est_mask = self.masknet(mix_w)
            sep_h = torch.stack([mix_w] * config.num_speakers) * est_mask
            est_source = torch.cat([self.decoder(sep_h[i]).unsqueeze(-1) for i in range(config.num_speakers)], dim=-1)
            if mix.shape[1] > est_source.shape[1]:
                return torch.nn.functional.pad(est_source, (0, 0, 0, mix.shape[1] - est_source.shape[1]))
            return est_source[:, : mix.shape[1]]

    return SpeechBrainSepformer().eval()


def _models(which: list[str]):
    ours, config = _build_ours()
    models = {"ours": lambda x: ours(x).waveforms}
    params = {"ours": sum(p.numel() for p in ours.parameters())}
    if "theirs" in which:
        theirs = _build_speechbrain(config)
        models["theirs"] = theirs
        params["theirs"] = sum(p.numel() for p in theirs.parameters())
    return {k: models[k] for k in which}, {k: params[k] for k in which}


def _mixture(seconds: float):
    import torch

    generator = torch.Generator().manual_seed(0)
    return 0.1 * torch.randn(1, int(seconds * SAMPLING_RATE), generator=generator)


# 3. workers, run inside the venv


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _worker_time(args) -> dict:
    """One process, both models, calls interleaved so that a noisy neighbour slows both alike."""
    import torch

    torch.set_num_threads(args.threads)
    models, params = _models(["ours", "theirs"])
    mixture = _mixture(args.seconds)
    times = {name: [] for name in models}
    cpu_times = {name: [] for name in models}  # process CPU time: what a busy machine's other processes do not inflate
    with torch.no_grad(), _autocast(args):
        for name, model in models.items():
            for _ in range(args.warmup):
                model(mixture)
        for run in range(args.runs):
            order = list(models) if run % 2 == 0 else list(reversed(models))
            for name in order:
                start, start_cpu = time.perf_counter(), time.process_time()
                out = models[name](mixture)
                times[name].append(time.perf_counter() - start)
                cpu_times[name].append(time.process_time() - start_cpu)
                if not bool(torch.isfinite(out).all()):
                    raise RuntimeError(f"{name} returned non-finite estimates")
        scaling = {}
        for seconds in args.lengths:
            x = _mixture(seconds)
            runs = []
            for _ in range(args.length_runs):
                start = time.perf_counter()
                models["ours"](x)
                runs.append(time.perf_counter() - start)
            scaling[str(seconds)] = runs
    return {"times": times, "cpu_times": cpu_times, "scaling": scaling, "params": params, "torch": torch.__version__}


def _worker_memory(args) -> dict:
    """Peak RSS increase during one forward, in a process that has done nothing else of size."""
    import torch

    torch.set_num_threads(args.threads)
    if args.bench == "speaker":
        models, _ = _speaker_models([args.model])
        make_input = functools.partial(_speaker_batch, args.batch, ragged=args.ragged)
    else:
        models, _ = _models([args.model])
        make_input = _mixture
    model = models[args.model]
    mixture = make_input(args.seconds)
    with torch.no_grad(), _autocast(args):
        model(make_input(0.5))  # one-time initialisations (thread pools, kernels) are not the model's memory
        gc.collect()
        try:  # hand the warm-up's freed heap back to the OS, or the measured call would reuse it unseen
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # reset VmHWM to the current RSS
        before = _status_kb("VmRSS")
        model(mixture)
        peak = _status_kb("VmHWM")
    return {"peak_increase_mb": (peak - before) / 1024, "rss_before_mb": before / 1024}


def _autocast(args):
    import contextlib

    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()


def _worker(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py _worker")
    parser.add_argument("kind", choices=["time", "memory", "rtf"])
    parser.add_argument("--bench", choices=["separation", "speaker"], default="separation")
    parser.add_argument("--batch", type=int, default=16, help="speaker: clips per batch")
    parser.add_argument("--ragged", action="store_true", help="speaker: clips of different lengths, padded, with masks")
    parser.add_argument("--checkpoint", default=None, help="speaker rtf: a checkpoint folder instead of random weights")
    parser.add_argument("--model", choices=["ours", "theirs"], default="ours")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--lengths", type=float, nargs="*", default=[])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--length-runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bf16", action="store_true")
    args = parser.parse_args(argv)
    if args.kind == "rtf":
        result = _worker_rtf(args)
    elif args.kind == "time":
        result = _worker_time_speaker(args) if args.bench == "speaker" else _worker_time(args)
    else:
        result = _worker_memory(args)
    print("RESULT " + json.dumps(result))
    return 0


def _run_worker(python: Path, argv: list[str], module: bool = False) -> dict:
    """Run a worker in a fresh `python`: this file by path (the bench venv has no zoo), or `-m zoo.bench` (`module`)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONPATH", None)
    entry = ["-m", "zoo.bench"] if module else [str(Path(__file__).resolve())]
    result = subprocess.run([str(python), *entry, "_worker", *argv], capture_output=True, text=True, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"zoo bench: worker {' '.join(argv)} failed:\n{result.stdout[-3000:]}{result.stderr[-5000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


# 4. the `separation` benchmark


def separation(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="zoo bench separation",
        description=(
            "zoo's Sepformer against SpeechBrain's SepFormer (speechbrain.lobes.models.dual_path, wired as its WSJ0-Mix "
            "recipe) at the published configuration, on CPU, eval mode, no_grad, in a venv of their own with torch "
            f"{BENCH_TORCH}. Prints the median time and the peak memory of each and the ratios ours/theirs, then "
            "ours on longer inputs. Time: both models in one process, calls interleaved. Peak memory: the rise "
            "of the process's peak RSS (VmHWM) during one forward, each in a fresh process."
        ),
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="input length of the head-to-head (default 4)")
    parser.add_argument("--lengths", type=float, nargs="*", default=[1.0, 10.0, 60.0], help="input lengths (s) for ours alone")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per model after warm-up (default 5)")
    parser.add_argument("--length-runs", type=int, default=3, help="timed runs per input length (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per model first (default 1)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument(
        "--bf16", action="store_true", help="run both models under torch.autocast('cpu', bfloat16) instead of float32"
    )
    parser.add_argument("--venv", type=Path, default=BENCH_VENV, help=f"benchmark venv, created if needed (default {BENCH_VENV})")
    args = parser.parse_args(argv)

    python = ensure_venv(args.venv, log=lambda m: print(m, file=sys.stderr))
    common = ["--threads", str(args.threads), *(["--bf16"] if args.bf16 else [])]
    print(f"zoo bench separation: timing both models ({args.runs} runs of {args.seconds:g} s each) ...", file=sys.stderr, flush=True)
    timing = _run_worker(
        python,
        ["time", "--seconds", str(args.seconds), "--runs", str(args.runs), "--warmup", str(args.warmup),
         "--length-runs", str(args.length_runs), "--lengths", *map(str, args.lengths), *common],
    )
    memory = {}
    for model, seconds in [("ours", args.seconds), ("theirs", args.seconds), *(("ours", s) for s in args.lengths)]:
        print(f"zoo bench separation: peak memory of {model} on {seconds:g} s ...", file=sys.stderr, flush=True)
        memory[(model, seconds)] = _run_worker(python, ["memory", "--model", model, "--seconds", str(seconds), *common])

    median = {name: statistics.median(runs) for name, runs in timing["times"].items()}
    peak = {name: memory[(name, args.seconds)]["peak_increase_mb"] for name in ("ours", "theirs")}
    cpu = {name: statistics.median(runs) for name, runs in timing["cpu_times"].items()}
    time_ratio, memory_ratio = median["ours"] / median["theirs"], peak["ours"] / peak["theirs"]
    rows = [
        "zoo bench separation",
        f"  published SepFormer config (256 filters, kernel 16, chunk 250, 2 x (8 intra + 8 inter) layers, 8 heads, "
        f"FFN 1024); CPU, torch {timing['torch']}, {args.threads} threads, eval, no_grad, "
        f"{'bfloat16 autocast' if args.bf16 else 'float32'}",
        f"  input: {args.seconds:g} s at {SAMPLING_RATE} Hz; time: median of {args.runs} runs after {args.warmup} warm-up, "
        "both models in one process, interleaved",
        "  peak memory: rise of peak RSS (VmHWM) over RSS before one forward, fresh process each, weights excluded",
        "",
        f"  {'model':<24}{'params':>10}{'time (s)':>12}{'peak mem (MB)':>16}",
        f"  {'zoo Sepformer':<24}{timing['params']['ours'] / 1e6:>9.2f}M{median['ours']:>12.3f}{peak['ours']:>16.1f}",
        f"  {'SpeechBrain SepFormer':<24}{timing['params']['theirs'] / 1e6:>9.2f}M{median['theirs']:>12.3f}{peak['theirs']:>16.1f}",
        f"  {'ours / theirs':<24}{'':>10}{time_ratio:>12.2f}{memory_ratio:>16.2f}",
        f"  speed-up {1 / time_ratio:.2f}x (target >= 2x: {'met' if time_ratio <= 0.5 else 'NOT met'}); "
        f"memory {'no more than theirs' if memory_ratio <= 1 else 'MORE than theirs'}",
        f"  all runs (s): ours {' '.join(f'{t:.2f}' for t in timing['times']['ours'])}; "
        f"theirs {' '.join(f'{t:.2f}' for t in timing['times']['theirs'])}",
        f"  process CPU time, median (s, all threads; steadier than wall time on a busy machine): ours {cpu['ours']:.3f}, "
        f"theirs {cpu['theirs']:.3f}, ours / theirs {cpu['ours'] / cpu['theirs']:.2f}",
        "",
        f"  zoo Sepformer by input length (median of {args.length_runs} runs)",
        f"  {'input (s)':>10}{'time (s)':>12}{'x real time':>13}{'peak mem (MB)':>16}{'MB per s':>10}",
    ]
    for seconds in args.lengths:
        t = statistics.median(timing["scaling"][str(seconds)])
        mb = memory[("ours", seconds)]["peak_increase_mb"]
        rows.append(f"  {seconds:>10g}{t:>12.3f}{seconds / t:>13.2f}{mb:>16.1f}{mb / seconds:>10.1f}")
    if len(args.lengths) >= 2:
        short, long = min(args.lengths), max(args.lengths)
        growth = memory[("ours", long)]["peak_increase_mb"] / memory[("ours", short)]["peak_increase_mb"]
        rows.append(
            f"  memory {short:g} s -> {long:g} s: x{growth:.1f} for x{long / short:g} the input "
            f"({'at most linear' if growth <= long / short else 'MORE than linear'})"
        )
    print("\n".join(rows))
    return 0


# 5. the `speaker` benchmark

SPEAKER_RATE = 16000
FRAMES_PER_SECOND = 100  # SpeakerFeatureExtractor's 10 ms hop
MIN_RAGGED_SECONDS = 1.5  # with --ragged, clip lengths are spread evenly between this and --seconds


def _build_ours_speaker():
    """zoo's ECAPA-TDNN at SpeechBrain's published size (1024 channels, 192-d), embeddings only: no classifier."""
    modeling, configuration = _load_zoo_modeling("ecapa_tdnn", "speaker")
    config = configuration.EcapaTdnnConfig.published()
    return modeling.EcapaTdnnForSpeakerEmbedding(config).eval(), config


def _build_speechbrain_ecapa(config):
    """SpeechBrain's ECAPA_TDNN (speechbrain.lobes.models.ECAPA_TDNN) at the values of `config`."""
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    return ECAPA_TDNN(
        input_size=config.num_mel_bins,
        lin_neurons=config.embedding_size,
        channels=list(config.channels),
        kernel_sizes=list(config.kernel_sizes),
        dilations=list(config.dilations),
        attention_channels=config.attention_channels,
        res2net_scale=config.res2net_scale,
        se_channels=config.se_channels,
        global_context=True,
    ).eval()


def _speaker_models(which: list[str]):
    """`({name: batch -> (batch, 192) embeddings}, {name: parameter count})`; a batch is `_speaker_batch`'s dict."""
    ours, config = _build_ours_speaker()
    models = {"ours": lambda batch: ours(batch["features"], attention_mask=batch["mask"]).embeddings}
    params = {"ours": sum(p.numel() for p in ours.parameters())}
    if "theirs" in which:
        theirs = _build_speechbrain_ecapa(config)
        models["theirs"] = lambda batch: theirs(batch["features"], lengths=batch["lengths"]).squeeze(1)
        params["theirs"] = sum(p.numel() for p in theirs.parameters())
    return {k: models[k] for k in which}, {k: params[k] for k in which}


def _speaker_batch(batch: int, seconds: float, ragged: bool = False) -> dict:
    """The same random log-mel-like features for both models: `features` (batch, frames, 80).

    Equal lengths (the default): no mask for either model. `ragged`: clip lengths spread evenly between
    MIN_RAGGED_SECONDS and `seconds`, zero-padded, with `mask` (batch, frames) for ours and the relative
    `lengths` (batch,) SpeechBrain takes.
    """
    import torch

    frames = max(round(seconds * FRAMES_PER_SECOND), 1)
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(batch, frames, 80, generator=generator)
    if not ragged:
        return {"features": features, "mask": None, "lengths": None}
    shortest = min(max(int(MIN_RAGGED_SECONDS * FRAMES_PER_SECOND), 1), frames)
    sizes = torch.linspace(shortest, frames, batch).round().long()  # (batch,)
    mask = (torch.arange(frames)[None, :] < sizes[:, None]).long()  # (batch, frames)
    return {"features": features * mask[..., None], "mask": mask, "lengths": sizes.float() / frames}


def _worker_time_speaker(args) -> dict:
    """Both ECAPA-TDNNs on one batch in one process, calls interleaved; also checks the embeddings' shape."""
    import torch

    torch.set_num_threads(args.threads)
    models, params = _speaker_models(["ours", "theirs"])
    batch = _speaker_batch(args.batch, args.seconds, ragged=args.ragged)
    times = {name: [] for name in models}
    cpu_times = {name: [] for name in models}  # process CPU time: what a busy machine's other processes do not inflate
    with torch.no_grad(), _autocast(args):
        for name, model in models.items():
            for _ in range(args.warmup):
                model(batch)
        for run in range(args.runs):
            order = list(models) if run % 2 == 0 else list(reversed(models))
            for name in order:
                start, start_cpu = time.perf_counter(), time.process_time()
                out = models[name](batch)
                times[name].append(time.perf_counter() - start)
                cpu_times[name].append(time.process_time() - start_cpu)
                if out.shape != (args.batch, 192) or not bool(torch.isfinite(out).all()):
                    raise RuntimeError(f"{name} returned {tuple(out.shape)} embeddings or non-finite values")
    return {"times": times, "cpu_times": cpu_times, "params": params, "torch": torch.__version__}


def _worker_rtf(args) -> dict:
    """Our whole embedding pipeline, audio -> features -> embedding, run in the project's own environment.

    `pipeline("speaker-embedding")` when zoo registers it, else SpeakerFeatureExtractor + the model. The model is
    `--checkpoint` or, by default, a random-weights ECAPA-TDNN at the published size (speed does not depend on
    the weights). `--bf16` loads the model in bfloat16 rather than wrapping the call in autocast: the log-mel front
    end is numpy-facing float32 code.
    """
    import tempfile

    import numpy as np
    import torch
    from transformers.pipelines import PIPELINE_REGISTRY

    import zoo

    torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(int(args.seconds * SPEAKER_RATE))).astype(np.float32) for _ in range(args.batch)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.checkpoint
        if folder is None:
            folder = tmp
            zoo.EcapaTdnnForSpeakerEmbedding(zoo.EcapaTdnnConfig.published()).save_pretrained(folder)
            zoo.SpeakerFeatureExtractor().save_pretrained(folder)
        if "speaker-embedding" in PIPELINE_REGISTRY.get_supported_tasks():
            from transformers import pipeline

            # --bf16: the model in bfloat16 (the pipeline casts the features to it); the log-mel front end stays float32
            pipe = pipeline("speaker-embedding", model=folder, device="cpu", dtype=dtype)
            how = 'pipeline("speaker-embedding")'

            def embed():
                return pipe(clips, sampling_rate=SPEAKER_RATE, batch_size=args.batch)
        else:
            from transformers import AutoFeatureExtractor, AutoModelForAudioXVector

            extractor = AutoFeatureExtractor.from_pretrained(folder)
            model = AutoModelForAudioXVector.from_pretrained(folder, dtype=dtype).eval()
            how = "SpeakerFeatureExtractor + model (no speaker-embedding pipeline registered)"

            def embed():
                inputs = extractor(clips, sampling_rate=SPEAKER_RATE, return_tensors="pt", padding=True)
                with torch.inference_mode():
                    return model(inputs["input_features"].to(dtype), attention_mask=inputs["attention_mask"]).embeddings

        times = []
        for _ in range(args.warmup):
            embed()
        for _ in range(args.runs):
            start = time.perf_counter()
            embed()
            times.append(time.perf_counter() - start)
    return {"times": times, "how": how, "audio_seconds": args.batch * args.seconds, "torch": torch.__version__}


def speaker(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="zoo bench speaker",
        description=(
            "zoo's ECAPA-TDNN against SpeechBrain's ECAPA_TDNN (speechbrain.lobes.models.ECAPA_TDNN) at the published "
            "configuration (channels 1024 x4 + 3072, kernels 5,3,3,3,1, dilations 1,2,3,4,1, attention 128, "
            "res2net scale 8, SE 128, 192-d embeddings), on CPU, eval mode, no_grad, on one batch of the same random "
            f"80-dim features, in a venv of their own with torch {BENCH_TORCH}. Prints the median time and the peak "
            "memory of each and the ratios ours/theirs; then the real-time factor of our whole embedding pipeline "
            "(audio -> log-mel -> embedding) in the project's own environment. Time: both models in one process, "
            "calls interleaved. Peak memory: the rise of the process's peak RSS (VmHWM) during one forward, each in "
            "a fresh process."
        ),
    )
    parser.add_argument("--batch", type=int, default=16, help="clips per batch (default 16)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per clip, 100 frames each (default 3)")
    parser.add_argument(
        "--ragged", action="store_true",
        help=f"clips of lengths spread from {MIN_RAGGED_SECONDS:g} s to --seconds, padded, with masks / relative lengths",
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs per model after warm-up (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per model first (default 1)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument(
        "--bf16", action="store_true", help="run everything under torch.autocast('cpu', bfloat16) instead of float32"
    )
    parser.add_argument(
        "--checkpoint", type=Path, default=None,
        help="a speaker-embedding checkpoint for the pipeline's real-time factor (default: random published-size weights)",
    )
    parser.add_argument("--no-rtf", action="store_true", help="skip the pipeline's real-time factor")
    parser.add_argument("--venv", type=Path, default=BENCH_VENV, help=f"benchmark venv, created if needed (default {BENCH_VENV})")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.seconds <= 0 or args.runs < 1:
        parser.error(f"--batch {args.batch}, --seconds {args.seconds:g} and --runs {args.runs} must all be positive")
    if args.checkpoint is not None and not (args.checkpoint / "config.json").is_file():
        parser.error(f"--checkpoint {args.checkpoint} has no config.json; pass a speaker-embedding checkpoint folder")

    python = ensure_venv(args.venv, log=lambda m: print(m, file=sys.stderr))
    common = ["--bench", "speaker", "--batch", str(args.batch), "--threads", str(args.threads)]
    common += (["--bf16"] if args.bf16 else []) + (["--ragged"] if args.ragged else [])
    say = functools.partial(print, file=sys.stderr, flush=True)
    say(f"zoo bench speaker: timing both models ({args.runs} runs of {args.batch} x {args.seconds:g} s each) ...")
    timing = _run_worker(
        python, ["time", "--seconds", str(args.seconds), "--runs", str(args.runs), "--warmup", str(args.warmup), *common]
    )
    peak = {}
    for model in ("ours", "theirs"):
        say(f"zoo bench speaker: peak memory of {model} ...")
        memory = _run_worker(python, ["memory", "--model", model, "--seconds", str(args.seconds), *common])
        peak[model] = memory["peak_increase_mb"]

    median = {name: statistics.median(runs) for name, runs in timing["times"].items()}
    cpu = {name: statistics.median(runs) for name, runs in timing["cpu_times"].items()}
    time_ratio, memory_ratio = median["ours"] / median["theirs"], peak["ours"] / peak["theirs"]
    lengths = (
        f"lengths {MIN_RAGGED_SECONDS:g}-{args.seconds:g} s, padded, ours with attention_mask, theirs with lengths"
        if args.ragged else f"{args.seconds:g} s each, no padding"
    )
    rows = [
        "zoo bench speaker",
        "  published ECAPA-TDNN config (channels 1024 x4 + 3072, kernels 5,3,3,3,1, dilations 1,2,3,4,1, attention 128, "
        f"res2net scale 8, SE 128, 192-d); CPU, torch {timing['torch']}, {args.threads} threads, eval, no_grad, "
        f"{'bfloat16 autocast' if args.bf16 else 'float32'}",
        f"  input: {args.batch} clips of random 80-dim features at {FRAMES_PER_SECOND} frames/s ({lengths}); "
        f"time: median of {args.runs} runs after {args.warmup} warm-up, both models in one process, interleaved",
        "  peak memory: rise of peak RSS (VmHWM) over RSS before one forward, fresh process each, weights excluded",
        "",
        f"  {'model':<24}{'params':>10}{'time (s)':>12}{'peak mem (MB)':>16}",
        f"  {'zoo ECAPA-TDNN':<24}{timing['params']['ours'] / 1e6:>9.2f}M{median['ours']:>12.3f}{peak['ours']:>16.1f}",
        f"  {'SpeechBrain ECAPA_TDNN':<24}{timing['params']['theirs'] / 1e6:>9.2f}M{median['theirs']:>12.3f}{peak['theirs']:>16.1f}",
        f"  {'ours / theirs':<24}{'':>10}{time_ratio:>12.2f}{memory_ratio:>16.2f}",
        f"  speed-up {1 / time_ratio:.2f}x (target >= 1.5x: {'met' if time_ratio <= 1 / 1.5 else 'NOT met'}); "
        f"memory {'no more than theirs' if memory_ratio <= 1 else 'MORE than theirs'}",
        f"  all runs (s): ours {' '.join(f'{t:.2f}' for t in timing['times']['ours'])}; "
        f"theirs {' '.join(f'{t:.2f}' for t in timing['times']['theirs'])}",
        f"  process CPU time, median (s, all threads; steadier than wall time on a busy machine): ours {cpu['ours']:.3f}, "
        f"theirs {cpu['theirs']:.3f}, ours / theirs {cpu['ours'] / cpu['theirs']:.2f}",
    ]
    print("\n".join(rows), flush=True)  # before the pipeline's run: a failure there does not lose these numbers
    if args.no_rtf:
        return 0

    say("zoo bench speaker: real-time factor of our embedding pipeline ...")
    rtf = _run_worker(
        Path(sys.executable),
        ["rtf", "--seconds", str(args.seconds), "--runs", str(args.runs), "--warmup", str(args.warmup), *common,
         *(["--checkpoint", str(args.checkpoint)] if args.checkpoint else [])],
        module=True,
    )
    seconds = statistics.median(rtf["times"])
    print("\n".join([
        "",
        f"  our embedding pipeline, audio -> features -> embedding: {rtf['how']}, torch {rtf['torch']} "
        f"(the project's environment), {args.threads} threads, {args.batch} clips of {args.seconds:g} s in one batch, "
        f"{'model in bfloat16' if args.bf16 else 'float32'} ({args.checkpoint or 'random weights at the published size'})",
        f"  median {seconds:.3f} s for {rtf['audio_seconds']:g} s of audio: real-time factor {seconds / rtf['audio_seconds']:.4f} "
        f"({rtf['audio_seconds'] / seconds:.1f}x faster than real time)",
    ]))
    return 0


def asr(argv: list[str]) -> int:
    from .asr.bench_asr import main as asr_main

    return asr_main(argv)


BENCHMARKS = {
    "separation": (separation, "zoo Sepformer vs SpeechBrain's SepFormer: CPU time and peak memory, published config"),
    "speaker": (speaker, "zoo ECAPA-TDNN vs SpeechBrain's ECAPA_TDNN: CPU time and peak memory, published config; pipeline RTF"),
    "asr": (asr, "zoo CTC recognizer, greedy and with its n-gram LM, vs pocketsphinx: time, RTF, WER, peak memory"),
}


def usage() -> str:
    lines = ["usage: zoo bench <benchmark> [options]   (zoo bench <benchmark> --help for its options)", "", "benchmarks:"]
    lines += [f"  {name:<12} {text}" for name, (_, text) in BENCHMARKS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_worker":
        return _worker(argv[1:])
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    if argv[0] not in BENCHMARKS:
        print(f"zoo bench: unknown benchmark {argv[0]!r}; choose one of {', '.join(BENCHMARKS)}\n\n{usage()}", file=sys.stderr)
        return 2
    return int(BENCHMARKS[argv[0]][0](argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
