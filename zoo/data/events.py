"""Labelled sound-event clips, ESC-50 style, rendered offline with fluidsynth and sox.

Sources:

- fluidsynth with the General MIDI soundfont ``FluidR3_GM.sf2`` (package ``fluid-soundfont-gm``), driven by
  small MIDI files written here byte by byte: instrument families (piano, guitar, strings, brass, organ ...),
  drum kits, and the GM sound-effect programs (bird tweet, telephone ring, helicopter, applause, gunshot,
  seashore, breath noise ...);
- ``sox -n ... synth``: sine sweeps, beeps, dial tones, noise bursts, wind and static.

Every clip is `seconds` long (5 s by default, like ESC-50), mono, at `sampling_rate`, its RMS level
normalised to -25 dBFS with peaks under -1 dBFS. Each clip gets its own tempo, register, pattern and
loudness from a per-clip random generator, and a caption describing it ("a helicopter flying overhead",
"fast arpeggios played on a harp in a high register") for CLAP-style training.

Columns: ``audio``, ``label`` (ClassLabel), ``category``, ``caption``, ``fold`` (1..folds), ``source``
(``fluidsynth`` or ``sox``), ``id``. One ``train`` split; cross-validate on ``fold`` as with ESC-50.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import tempfile
from dataclasses import asdict, dataclass

import numpy as np

from zoo.audio import AudioError, resample
from zoo.data.speech import (
    encode_audio,
    normalize_level,
    run_pool,
    save_dataset_dict,
    summarize,
    to_dataset_dict,
)

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
RENDER_RATE = 32000  # fluidsynth and sox render here, then we resample to the wanted rate
GAP_SECONDS = 2.0  # silence between clips rendered in one fluidsynth call, so release tails do not leak
DRUM_CHANNEL = 9


@dataclass(frozen=True)
class EventClass:
    """One label: how to render it and how to talk about it."""

    label: str
    category: str
    kind: str  # "melodic", "drums", "effect" (GM sound effect, one program) or "sox"
    program: int = 0  # GM program (0-based) or drum-kit program
    names: tuple[str, ...] = ()  # nouns for captions ("a harp", "the harp")
    phrases: tuple[str, ...] = ()  # whole captions for effects and sox sounds


def _melodic(label, program, category, *names):
    return EventClass(label, category, "melodic", program, names)


def _effect(label, program, *phrases):
    return EventClass(label, "sound effect", "effect", program, (), phrases)


def _sox(label, category, *phrases):
    return EventClass(label, category, "sox", 0, (), phrases)


EVENT_CLASSES: tuple[EventClass, ...] = (
    _melodic("piano", 0, "keyboard", "a piano", "a grand piano", "an acoustic piano"),
    _melodic("electric_piano", 4, "keyboard", "an electric piano", "a Rhodes-style electric piano"),
    _melodic("harpsichord", 6, "keyboard", "a harpsichord"),
    _melodic("organ", 19, "keyboard", "a church organ", "a pipe organ"),
    _melodic("accordion", 21, "keyboard", "an accordion"),
    _melodic("music_box", 10, "mallet", "a music box"),
    _melodic("marimba", 12, "mallet", "a marimba"),
    _melodic("xylophone", 13, "mallet", "a xylophone"),
    _melodic("acoustic_guitar", 25, "guitar", "an acoustic guitar", "a steel-string guitar"),
    _melodic("electric_guitar", 29, "guitar", "an overdriven electric guitar", "a distorted electric guitar"),
    _melodic("bass_guitar", 33, "guitar", "a bass guitar", "an electric bass"),
    _melodic("violin", 40, "strings", "a violin", "a solo violin"),
    _melodic("cello", 42, "strings", "a cello"),
    _melodic("harp", 46, "strings", "a harp"),
    _melodic("string_ensemble", 48, "strings", "a string ensemble", "an orchestra's string section"),
    _melodic("choir", 52, "voice", "a choir", "a group of singers"),
    _melodic("trumpet", 56, "brass", "a trumpet"),
    _melodic("trombone", 57, "brass", "a trombone"),
    _melodic("brass_section", 61, "brass", "a brass section", "a group of horns"),
    _melodic("saxophone", 65, "woodwind", "an alto saxophone", "a saxophone"),
    _melodic("clarinet", 71, "woodwind", "a clarinet"),
    _melodic("flute", 73, "woodwind", "a flute"),
    _melodic("bagpipe", 109, "woodwind", "a bagpipe", "the bagpipes"),
    _melodic("steel_drums", 114, "percussion", "steel drums", "a steel pan"),
    _melodic("timpani", 47, "percussion", "timpani", "orchestral kettle drums"),
    EventClass("drum_kit", "percussion", "drums", 0, ("a drum kit", "the drums", "a rock drum kit")),
    EventClass("electronic_drums", "percussion", "drums", 25, ("a drum machine", "electronic drums")),
    _effect("breath_noise", 121, "someone breathing heavily", "slow breaths close to the microphone", "a person inhaling and exhaling"),
    _effect("seashore", 122, "waves washing onto a beach", "the sea crashing on the shore", "surf rolling in at the seaside"),
    _effect("bird_tweet", 123, "birds tweeting", "a small bird chirping", "birdsong in the morning"),
    _effect("telephone_ring", 124, "a telephone ringing", "an old phone ringing repeatedly", "a ringing telephone waiting to be answered"),
    _effect("helicopter", 125, "a helicopter flying overhead", "the thudding rotor of a helicopter", "a helicopter hovering nearby"),
    _effect("applause", 126, "an audience applauding", "a crowd clapping", "applause after a performance"),
    _effect("gunshot", 127, "gunshots", "a gun being fired", "sharp shots ringing out"),
    _effect("guitar_fret_noise", 120, "fingers squeaking along guitar strings", "guitar fret noise"),
    _effect("rain", 96, "a synthetic rain pad", "rain-like shimmering synth sounds"),
    _sox("sine_sweep", "synthetic", "a pure tone sweeping in pitch", "an electronic sine sweep", "a test tone gliding"),
    _sox("beeps", "synthetic", "a series of short electronic beeps", "an alarm beeping", "repeated beeping tones"),
    _sox("dial_tone", "synthetic", "a telephone dial tone", "a steady two-note telephone tone", "the hum of a dial tone"),
    _sox("noise_burst", "synthetic", "bursts of noise", "short hissing noise bursts", "static crackling in bursts"),
    _sox("wind", "ambient", "wind blowing", "a gusty wind", "a low rumble of wind"),
    _sox("static", "ambient", "steady static hiss", "white noise from an untuned radio", "a constant hiss"),
)
TINY_LABELS = ("piano", "drum_kit", "helicopter", "bird_tweet", "sine_sweep", "noise_burst")


# --------------------------------------------------------------------------- MIDI, by hand


def _varlen(value: int) -> bytes:
    """MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def write_midi(events: list[tuple[float, bytes]], ticks_per_second: int = 960) -> bytes:
    """A type-0 MIDI file from ``(time_seconds, message_bytes)`` events (120 bpm, 480 ticks per beat).

    >>> data = write_midi([(0.0, bytes([0x90, 60, 100])), (1.0, bytes([0x80, 60, 0]))])
    >>> data[:4], len(data)
    (b'MThd', 42)
    """
    track = bytearray(b"\x00\xff\x51\x03\x07\xa1\x20")  # tempo 500000 us per beat -> 960 ticks per second
    now = 0
    # stable order: by time, and note-offs (0x8_) before anything else at the same tick
    for time, message in sorted(events, key=lambda e: (round(e[0] * ticks_per_second), e[1][0] >> 4 != 0x8)):
        tick = round(time * ticks_per_second)
        track += _varlen(tick - now) + message
        now = tick
    track += b"\x00\xff\x2f\x00"  # end of track
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_second // 2)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def render_midi(midi: bytes, sampling_rate: int, soundfont: str = SOUNDFONT, gain: float = 0.4) -> np.ndarray:
    """Render MIDI bytes with fluidsynth (reverb and chorus off) to a mono `(time,)` float32 waveform."""
    import soundfile as sf

    if shutil.which("fluidsynth") is None:
        raise RuntimeError("fluidsynth is not installed; install it with `apt-get install fluidsynth fluid-soundfont-gm`")
    if not os.path.exists(soundfont):
        raise FileNotFoundError(f"soundfont {soundfont!r} is missing; install it with `apt-get install fluid-soundfont-gm`")
    with tempfile.TemporaryDirectory(prefix="zoo-midi-") as tmp:
        mid, wav = os.path.join(tmp, "in.mid"), os.path.join(tmp, "out.wav")
        with open(mid, "wb") as handle:
            handle.write(midi)
        cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", str(gain), "-r", str(RENDER_RATE),
               "-T", "wav", "-O", "float", "-F", wav, soundfont, mid]
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0 or not os.path.exists(wav):
            raise AudioError(f"fluidsynth failed: {proc.stderr.decode(errors='replace')[:300]}")
        data, sr = sf.read(wav, dtype="float32", always_2d=True)
    return resample(data.mean(axis=1), sr, sampling_rate)


def sox_synth(effects: list[str], seconds: float, sampling_rate: int, channels: int = 1) -> np.ndarray:
    """``sox -R -n ... synth`` output as mono `(time,)` float32 (`-R`: repeatable random numbers)."""
    import soundfile as sf

    if shutil.which("sox") is None:
        raise RuntimeError("sox is not installed; install it with `apt-get install sox`")
    with tempfile.TemporaryDirectory(prefix="zoo-sox-") as tmp:
        wav = os.path.join(tmp, "out.wav")
        cmd = ["sox", "-R", "-n", "-r", str(RENDER_RATE), "-c", str(channels), "-b", "32", "-e", "floating-point", wav] + effects
        cmd += ["trim", "0", f"{seconds:.3f}"]
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0:
            raise AudioError(f"sox failed ({' '.join(cmd)}): {proc.stderr.decode(errors='replace')[:300]}")
        data, sr = sf.read(wav, dtype="float32", always_2d=True)
    return resample(data.mean(axis=1), sr, sampling_rate)


# --------------------------------------------------------------------------- clip content and captions


def _note(events, start, end, note, velocity, channel=0):
    events.append((start, bytes([0x90 | channel, note, velocity])))
    events.append((end, bytes([0x80 | channel, note, 0])))


def _melodic_clip(rng: random.Random, seconds: float, program: int) -> tuple[list, dict]:
    """Events for one melodic clip starting at 0, and the facts a caption may mention."""
    tempo = rng.choice(["slow", "moderate", "fast"])
    beat = {"slow": 0.6, "moderate": 0.4, "fast": 0.22}[tempo] * rng.uniform(0.85, 1.15)
    register = rng.choice(["low", "middle", "high"])
    low = {"low": 36, "middle": 52, "high": 67}[register]
    if program in (33, 47):  # bass guitar and timpani sound wrong up high
        register, low = "low", 31
    pattern = rng.choice(["melody", "chords", "arpeggios", "long notes"])
    scale = [0, 2, 4, 5, 7, 9, 11] if rng.random() < 0.6 else [0, 2, 3, 5, 7, 8, 10]
    mood = "major" if scale[2] == 4 else "minor"
    root = low + rng.randrange(0, 7)
    velocity = rng.randrange(60, 120)
    events = [(0.0, bytes([0xC0, program]))]
    t, stop, degree = rng.uniform(0.0, 0.4), seconds - 0.5, 0
    while t < stop:
        if pattern == "melody":
            degree = max(0, min(13, degree + rng.choice([-2, -1, 1, 1, 2])))
            length = beat * rng.choice([1, 1, 2, 0.5])
            _note(events, t, min(t + length * 0.9, stop), root + scale[degree % 7] + 12 * (degree // 7), velocity)
        elif pattern == "chords":
            length = beat * rng.choice([2, 4])
            first = rng.choice([0, 3, 4, 5])
            for k in (0, 2, 4):
                d = first + k
                _note(events, t, min(t + length * 0.95, stop), root + scale[d % 7] + 12 * (d // 7), velocity - 10)
        elif pattern == "arpeggios":
            length = beat * 0.5
            d = [0, 2, 4, 7][int(t / length) % 4]
            _note(events, t, min(t + length * 1.5, stop), root + scale[d % 7] + 12 * (d // 7), velocity)
        else:
            length = beat * rng.choice([4, 6])
            d = rng.choice([0, 2, 4])
            _note(events, t, min(t + length, stop), root + scale[d % 7] + 12 * (d // 7), velocity)
        t += length
    loud = "loud" if velocity > 100 else "soft" if velocity < 75 else ""
    return events, {"tempo": tempo, "register": register, "pattern": pattern, "mood": mood, "loudness": loud}


def _drum_clip(rng: random.Random, seconds: float, program: int) -> tuple[list, dict]:
    tempo = rng.choice(["slow", "moderate", "fast"])
    step = {"slow": 0.25, "moderate": 0.18, "fast": 0.12}[tempo]
    style = rng.choice(["steady beat", "busy groove", "fill"])
    kit = rng.choice([program, program, 8, 16]) if program == 0 else rng.choice([24, 25])
    events = [(0.0, bytes([0xC0 | DRUM_CHANNEL, kit]))]
    hat = 42 if rng.random() < 0.7 else 51  # closed hi-hat or ride
    step_index, t = 0, 0.05
    while t < seconds - 0.4:
        hits = [hat] if step_index % 2 == 0 or style != "steady beat" else []
        if step_index % 8 == 0 or (style == "busy groove" and rng.random() < 0.25):
            hits.append(36)  # bass drum
        if step_index % 8 == 4 or (style == "fill" and rng.random() < 0.5):
            hits.append(38 if style != "fill" else rng.choice([38, 45, 47, 48, 50]))
        if step_index == 0 and rng.random() < 0.5:
            hits.append(49)  # crash on the downbeat
        for note in hits:
            _note(events, t, t + 0.1, note, rng.randrange(70, 127), DRUM_CHANNEL)
        t += step
        step_index += 1
    return events, {"tempo": tempo, "pattern": style, "loudness": ""}


def _effect_clip(rng: random.Random, seconds: float, program: int) -> tuple[list, dict]:
    events = [(0.0, bytes([0xC0, program]))]
    count = rng.choice([1, 1, 2, 3]) if program != 127 else rng.choice([1, 2, 3, 5])
    velocity = rng.randrange(60, 127)
    t = rng.uniform(0.0, 0.8)
    span = (seconds - 0.5 - t) / count
    for _ in range(count):
        length = max(0.15, span * rng.uniform(0.4, 0.95)) if program != 127 else 0.3
        _note(events, t, t + length, rng.randrange(48, 72), velocity)
        t += span
    distance = "in the distance" if velocity < 80 else "close by" if velocity > 115 else ""
    return events, {"count": count, "distance": distance}


def _sox_effects(label: str, rng: random.Random, seconds: float) -> tuple[list[str], int, dict]:
    """sox effects for one clip, its channel count, and caption facts."""
    if label == "sine_sweep":
        low, high = rng.randrange(100, 600), rng.randrange(1500, 6000)
        up = rng.random() < 0.5
        a, b = (low, high) if up else (high, low)
        return ["synth", f"{seconds:.3f}", "sine", f"{a}{rng.choice(['-', ':'])}{b}", "fade", "q", "0.05", f"{seconds:.3f}", "0.05"], 1, {
            "direction": "rising" if up else "falling"}
    if label == "beeps":
        on, off = rng.uniform(0.08, 0.3), rng.uniform(0.1, 0.5)
        repeats = max(1, int(seconds / (on + off)))
        return ["synth", f"{on:.3f}", rng.choice(["sine", "square"]), str(rng.randrange(500, 3000)), "fade", "q", "0.005",
                f"{on:.3f}", "0.005", "pad", "0", f"{off:.3f}", "repeat", str(repeats)], 1, {"tempo": "fast" if on + off < 0.4 else ""}
    if label == "dial_tone":
        pair = rng.choice([("350", "440"), ("400", "450"), ("425", "425"), ("480", "620")])
        return ["synth", f"{seconds:.3f}", "sine", pair[0], "sine", pair[1]], 2, {}
    if label == "noise_burst":
        on, off = rng.uniform(0.05, 0.4), rng.uniform(0.1, 0.8)
        repeats = max(1, int(seconds / (on + off)))
        return ["synth", f"{on:.3f}", rng.choice(["whitenoise", "pinknoise"]), "fade", "q", "0.005", f"{on:.3f}", f"{on / 2:.3f}",
                "pad", "0", f"{off:.3f}", "repeat", str(repeats)], 1, {}
    if label == "wind":
        return ["synth", f"{seconds:.3f}", "brownnoise", "lowpass", str(rng.randrange(250, 900)), "tremolo",
                f"{rng.uniform(0.15, 0.6):.2f}", str(rng.randrange(40, 90))], 1, {"strength": rng.choice(["gentle", "strong", ""])}
    if label == "static":
        return ["synth", f"{seconds:.3f}", rng.choice(["whitenoise", "pinknoise"]), "highpass", str(rng.randrange(100, 2000))], 1, {}
    raise ValueError(f"no sox recipe for {label!r}")


def make_caption(event: EventClass, facts: dict, rng: random.Random) -> str:
    """A varied English caption for a clip of `event` with the clip's `facts`."""
    if event.kind in ("melodic", "drums"):
        name = rng.choice(event.names)
        tempo = facts.get("tempo", "")
        pattern = facts.get("pattern", "")
        if event.kind == "drums":
            forms = [f"{name} playing a {tempo} {pattern}", f"a {tempo} {pattern} on {name}", f"a drummer playing a {tempo} {pattern} on {name}"]
        else:
            register, mood = facts.get("register", ""), facts.get("mood", "")
            what = {"melody": f"a {tempo} {mood} melody", "chords": f"{tempo} {mood} chords", "arpeggios": f"{tempo} arpeggios",
                    "long notes": "long sustained notes"}[pattern]
            forms = [f"{name} playing {what}", f"{what} played on {name}", f"{what} on {name} in a {register} register",
                     f"someone playing {what} on {name}"]
        caption = rng.choice(forms)
        if event.category == "voice":
            caption = caption.replace("playing", "singing").replace("played on", "sung by").replace(" on a", " by a")
        if facts.get("loudness") == "loud":
            caption += rng.choice([", loudly", ", played hard", ""])
        elif facts.get("loudness") == "soft":
            caption += rng.choice([", softly", ", played gently", ""])
    else:
        caption = rng.choice(event.phrases)
        if facts.get("direction"):
            caption += f", {facts['direction']}"
        elif facts.get("strength"):
            caption += f", {facts['strength']}"
        elif facts.get("distance"):
            caption += f" {facts['distance']}"
        elif facts.get("count", 1) > 2:
            caption += ", several times"
        elif facts.get("tempo") == "fast":
            caption += ", in quick succession"
    return " ".join(caption.split())


# --------------------------------------------------------------------------- building


def _fade(wave: np.ndarray, sampling_rate: int, seconds: float = 0.02) -> np.ndarray:
    n = min(len(wave) // 2, int(seconds * sampling_rate))
    if n:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        wave[:n] *= ramp
        wave[-n:] *= ramp[::-1]
    return wave


def _finish(wave: np.ndarray, seconds: float, sampling_rate: int) -> np.ndarray:
    length = round(seconds * sampling_rate)
    wave = np.asarray(wave[:length], dtype=np.float32).copy()
    wave = np.pad(wave, (0, length - len(wave)))  # ESC-50 pads short sounds with silence
    return normalize_level(_fade(wave, sampling_rate))


def _render_class(task: tuple) -> list[dict]:
    event_dict, clips, seconds, sampling_rate, seed = task
    event = EventClass(**{**event_dict, "names": tuple(event_dict["names"]), "phrases": tuple(event_dict["phrases"])})
    rngs = [random.Random(f"event-{seed}-{event.label}-{k}") for k in range(clips)]
    waves, facts = [], []
    if event.kind == "sox":
        for rng in rngs:
            effects, channels, fact = _sox_effects(event.label, rng, seconds)
            waves.append(sox_synth(effects, seconds, sampling_rate, channels))
            facts.append(fact)
    else:
        # one fluidsynth call per class: loading the 140 MB soundfont costs more than rendering
        make = {"melodic": _melodic_clip, "drums": _drum_clip, "effect": _effect_clip}[event.kind]
        period = seconds + GAP_SECONDS
        events: list[tuple[float, bytes]] = []
        for k, rng in enumerate(rngs):
            clip_events, fact = make(rng, seconds, event.program)
            events += [(k * period + t, m) for t, m in clip_events]
            for channel in (0, DRUM_CHANNEL):  # all notes off, all sound off, at the clip's end
                events.append((k * period + seconds - 0.05, bytes([0xB0 | channel, 123, 0])))
                events.append((k * period + seconds, bytes([0xB0 | channel, 120, 0])))
            facts.append(fact)
        events.append((clips * period, bytes([0xB0, 121, 0])))  # keep the file running to the last gap
        audio = render_midi(write_midi(events), sampling_rate)
        for k in range(clips):
            start = round(k * period * sampling_rate)
            waves.append(audio[start : start + round(seconds * sampling_rate)])
    rows = []
    for k, (wave, fact, rng) in enumerate(zip(waves, facts, rngs)):
        wave = _finish(wave, seconds, sampling_rate)
        clip_id = f"{event.label}-{k:03d}"
        rows.append({
            "audio": {"bytes": encode_audio(wave, sampling_rate, "flac"), "path": f"{clip_id}.flac"},
            "label": event.label,
            "category": event.category,
            "caption": make_caption(event, fact, rng),
            "source": "sox" if event.kind == "sox" else "fluidsynth",
            "duration": float(seconds),
            "id": clip_id,
        })
    return rows


def events_features(sampling_rate: int, labels: list[str]):
    import datasets

    return datasets.Features({
        "audio": datasets.Audio(sampling_rate=sampling_rate),
        "label": datasets.ClassLabel(names=labels),
        "category": datasets.Value("string"),
        "caption": datasets.Value("string"),
        "fold": datasets.Value("int32"),
        "source": datasets.Value("string"),
        "duration": datasets.Value("float32"),
        "id": datasets.Value("string"),
    })


def build_events(
    output: str | None = "data/events",
    clips_per_class: int = 20,
    sampling_rate: int = 16000,
    seconds: float = 5.0,
    folds: int = 5,
    seed: int = 0,
    workers: int | None = None,
    labels: tuple[str, ...] | None = None,
    tiny: bool = False,
    progress: bool = True,
):
    """Render the sound-event corpus and (when `output` is given) save it with `save_to_disk`.

    Args:
        output: folder to write, or None to only return the DatasetDict.
        clips_per_class: clips of each label.
        sampling_rate: output rate in Hz.
        seconds: clip length.
        folds: folds for cross-validation; clips of each class are spread evenly over them.
        seed: drives every clip's content, caption and fold; same seed, same bytes.
        workers: processes (default: all CPUs).
        labels: subset of `EVENT_CLASSES` labels (default: all; with `tiny`, a six-label subset).
        tiny: the six-label subset, for tests.
        progress: show a tqdm bar.

    Returns:
        A `datasets.DatasetDict` with one ``train`` split and a ``fold`` column.
    """
    chosen = labels or (TINY_LABELS if tiny else tuple(e.label for e in EVENT_CLASSES))
    known = {e.label: e for e in EVENT_CLASSES}
    unknown = [label for label in chosen if label not in known]
    if unknown:
        raise ValueError(f"unknown event labels {unknown}; choose from {sorted(known)}")
    events = [known[label] for label in chosen]
    tasks = [(asdict(e), clips_per_class, seconds, sampling_rate, seed) for e in events]
    rows = [row for group in run_pool(_render_class, tasks, workers, "events", progress) for row in group]
    for event in events:  # spread each class evenly over the folds, ESC-50 style
        order = [r for r in rows if r["label"] == event.label]
        random.Random(f"folds-{seed}-{event.label}").shuffle(order)
        for k, row in enumerate(order):
            row["fold"] = k % folds + 1
    settings = dict(clips_per_class=clips_per_class, sampling_rate=sampling_rate, seconds=seconds, folds=folds, seed=seed, labels=list(chosen))
    description = f"zoo sound events: {len(events)} labels x {clips_per_class} clips of {seconds} s at {sampling_rate} Hz, fluidsynth (FluidR3 GM) and sox. Settings: {json.dumps(settings, sort_keys=True)}"
    fingerprint = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    dataset = to_dataset_dict({"train": rows}, events_features(sampling_rate, list(chosen)), description, fingerprint)
    if output:
        metadata = {"kind": "events", "settings": settings, "summary": summarize(dataset),
                    "classes": [{"label": e.label, "category": e.category, "source": e.kind, "program": e.program} for e in events]}
        save_dataset_dict(dataset, output, metadata)
    return dataset
