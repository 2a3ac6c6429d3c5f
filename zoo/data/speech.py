"""Build a multi-speaker English speech corpus offline with espeak-ng and flite.

A *speaker* is one fixed ``(engine, voice, variant, speed, pitch)`` combination, e.g. espeak-ng's
``en-gb-scotland`` voice with the ``f3`` variant at 150 words/min and pitch 55, or flite's ``slt`` voice
stretched by 1.1 with a 183 Hz mean F0. Speakers of one voice are kept audibly apart (see `plan_speakers`), and
``speaker_id`` names the voice, variant and pitch only. Every utterance is a different sentence from `zoo.data.text`.

Splits are speaker-disjoint. Whole voices listed in ``unseen_voices`` (by default espeak-ng ``en-029``,
Caribbean English, and flite ``rms``) never reach ``train`` or ``validation``: all their speakers are in
``test`` with ``unseen_voice=True``, so a model can be scored on voices it has never heard.

Columns: ``audio`` (Audio, FLAC bytes embedded, mono, ``sampling_rate``), ``text`` (LibriSpeech-style
normalised), ``original_text``, ``phonemes`` (IPA from ``espeak-ng -q --ipa -v en-us`` for every speaker,
so labels do not depend on the accent), ``speaker_id``, ``engine``, ``voice``, ``variant``, ``gender``,
``unseen_voice``, ``duration`` (seconds), ``source`` (where the sentence came from), ``id``.

Audio: leading/trailing silence trimmed (frames 40 dB below the loudest, keeping 100 ms of margin),
level normalised to -25 dBFS RMS over the kept samples with peaks held under -1 dBFS, 16-bit.
Waveforms are `(time,)` float32 while processed.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, replace

import numpy as np

from zoo.audio import AudioError, resample
from zoo.data.text import harvest_sentences

# espeak-ng English voices (language names as `espeak-ng --voices=en` lists them)
ESPEAK_VOICES = (
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc",
)
# espeak-ng voice variants (file names under espeak-ng-data/voices/!v) -> gender; odd ones (whisper,
# croak, robots) are left out on purpose: they make poor "speakers" for separation and ASR
ESPEAK_VARIANTS = {
    "m1": "male", "m2": "male", "m3": "male", "m4": "male", "m5": "male", "m6": "male", "m7": "male",
    "f1": "female", "f2": "female", "f3": "female", "f4": "female", "f5": "female",
    "klatt": "male", "klatt2": "male", "klatt3": "male",
    "Andy": "male", "david": "male", "edward": "male", "max": "male", "paul": "male", "robert": "male",
    "Alicia": "female", "Andrea": "female", "Annie": "female", "aunty": "female", "belinda": "female",
    "linda": "female", "steph": "female", "anika": "female",
}
# Two speakers of one TTS voice differ only in prosody settings, so the plan keeps them far enough apart to be heard
# as different people; closer ones are the same voice twice, which no verifier or separator can tell apart:
# - espeak-ng: speakers of one voice and variant differ by at least ESPEAK_PITCH_STEP in pitch (the `-p` scale);
# - flite: speakers of one voice differ by at least FLITE_F0_STEP_SEMITONES in mean F0.
# Speaking rate is drawn freely and is not part of the identity: measured on the 13 flite rms test speakers of the
# stop-11 corpus (5 Hz apart), ECAPA-TDNN scored pairs 0-5 Hz apart like one speaker (34-43 % EER against the
# true pairs, whatever their rates) and pairs 20-25 Hz (3-4 semitones) apart at 0.5-1.1 %.
# Each voice so has a fixed number of identity slots; `speaker_id` names the slot, never the rate, so a corpus
# built with `exclude_speakers_of` shares no voice-and-pitch with the excluded one.
ESPEAK_PITCH_STEP = 15
ESPEAK_PITCHES = tuple(range(25, 71, ESPEAK_PITCH_STEP))  # 25, 40, 55, 70
ESPEAK_SPEEDS = (140, 196)  # words per minute, drawn in steps of 5
FLITE_F0_STEP_SEMITONES = 4.0
FLITE_STRETCH = (0.85, 1.2)
# flite voices (16 kHz ones; `kal` is the 8 kHz diphone twin of kal16, `awb_time` only says the time)
# -> (gender, range of the mean F0 in Hz): the F0 slots are low, low x 2^(4/12), ... up to high
# flite's rms voice ignores int_f0_target_mean (its output is byte-identical for every value; kal16, awb and slt
# follow it), so its pitch is shifted after synthesis with sox instead: voice -> its own mean F0 in Hz (measured by
# autocorrelation on a test sentence), the reference the shift in cents is taken from. Corpora built before this fix
# (zoo <= stop 9) had rms "speakers" that differed only in duration_stretch.
FLITE_F0_IGNORED = {"rms": 100.0}
FLITE_VOICES = {"kal16": ("male", (75, 190)), "awb": ("male", (80, 205)), "rms": ("male", (70, 180)), "slt": ("female", (145, 300))}
# Festival (Debian's `festival` with festvox-kdlpc16k, festvox-kallpc16k and festvox-us-slt-hts): flite's parent
# engine, whose English voices add a speaker flite lacks (ked, an American man) and other renderings of two flite
# speakers (kal as festival's diphone voice, slt as an HTS voice). Opt-in extra training speakers
# (`build_speech(festival_speakers=n)`), never in validation or test, so the fixed test builds are unchanged.
# voice -> (festival's voice function, gender, range of the mean F0 in Hz for the slots, the voice's own median F0 in
# Hz, measured by Praat on a test sentence). Pitch and rate are set after synthesis with sox (`pitch`, `tempo`):
# the HTS voice ignores Duration_Stretch, so all three voices are varied the same way.
FESTIVAL_VOICES = {
    "ked": ("voice_ked_diphone", "male", (75, 190), 102.0),
    "kal": ("voice_kal_diphone", "male", (75, 190), 102.0),
    "slt": ("voice_cmu_us_slt_arctic_hts", "female", (145, 300), 174.0),
}
UNSEEN_VOICES = ("espeak:en-029", "flite:rms")
# Pronunciation variants (`build_speech(pronunciation_variants=p)`): consonant features that set many Englishes apart
# from the ones espeak-ng's voices speak, as rewrites of espeak-ng's own phoneme mnemonics (`espeak-ng -x`), so a
# recognizer hears words said in more than the voices' accents. Each is common to several accents, e.g. TH-stopping
# (Irish, Caribbean, West African, Indian, New York), TH-fronting (London, AAVE), g-dropping (most informal speech),
# h-dropping (London, Yorkshire, Caribbean), final cluster reduction (AAVE, Caribbean, West African), final
# devoicing (German, Dutch, Slavic and Turkish speakers of English). Name -> [(regex, replacement)], applied in order;
# a word ends at a space or a pause mark (_).
_END = r"(?=[\s_]|$)"
PRONUNCIATION_RULES = {
    "th-stopping": [(r"D", "d"), (r"T", "t")],
    "th-fronting": [(r"T", "f"), (r"(?<=\S)D", "v")],  # "the" keeps its initial sound, "brother" gets a v
    "g-dropping": [(r"(?<!')IN" + _END, "In")],  # unstressed -ing only: "doing", not "thing"
    "h-dropping": [(r"(^|\s)([',]?)h(?=\S)", r"\1\2")],
    "cluster-reduction": [(r"(?<=[snlkf])[td]" + _END, "")],
    "final-devoicing": [(r"dZ" + _END, "tS"), (r"d" + _END, "t"), (r"z" + _END, "s"), (r"v" + _END, "f"),
                        (r"g" + _END, "k")],
}
SPLITS = ("train", "validation", "test")
TARGET_DBFS = -25.0
PEAK = 10 ** (-1.0 / 20)


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: a fixed TTS engine, voice and prosody setting."""

    speaker_id: str
    engine: str  # "espeak" or "flite"
    voice: str  # espeak-ng language voice ("en-gb-x-rp") or flite voice ("slt")
    variant: str  # espeak-ng variant ("f3", "klatt"); "" for flite
    speed: float  # espeak-ng words per minute (-s); flite duration_stretch (>1 is slower)
    pitch: float  # espeak-ng pitch 0..99 (-p); flite mean F0 target in Hz
    gender: str
    split: str = "train"
    unseen_voice: bool = False

    @property
    def voice_key(self) -> str:
        return f"{self.engine}:{self.voice}"


def _require(binary: str, package: str) -> None:
    if shutil.which(binary) is None:
        raise RuntimeError(f"{binary!r} is not installed; install it with `apt-get install {package}`")


def available_espeak_variants() -> set[str]:
    """Variant names espeak-ng knows (it silently ignores unknown ones, so check first)."""
    _require("espeak-ng", "espeak-ng")
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True).stdout
    return {line.split("!v/", 1)[1].strip().split("  ")[0] for line in out.splitlines() if "!v/" in line}


def available_flite_voices() -> set[str]:
    _require("flite", "flite")
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=False).stdout
    return set(out.split(":", 1)[-1].split())


def available_festival_voices() -> set[str]:
    """The `FESTIVAL_VOICES` whose festvox package is installed (their folders under festival's voice path)."""
    _require("text2wave", "festival")
    found = set()
    for name, (function, *_rest) in FESTIVAL_VOICES.items():
        folder = function[len("voice_"):]
        if any(os.path.isdir(os.path.join(root, family, folder))
               for root in ("/usr/share/festival/voices", "/usr/local/share/festival/voices") for family in ("english", "us")):
            found.add(name)
    return found


def flite_f0_slots(voice: str) -> list[int]:
    """The mean F0 values (Hz) a flite voice's speakers are given: its range in steps of FLITE_F0_STEP_SEMITONES.

    >>> flite_f0_slots("rms")
    [70, 88, 111, 140, 176]
    """
    return f0_slots(*FLITE_VOICES[voice][1])


def f0_slots(low: float, high: float) -> list[int]:
    """Mean F0 values (Hz) from `low` up to `high` in steps of FLITE_F0_STEP_SEMITONES: the identity slots of a flite
    or festival voice, whose speakers differ only in pitch and rate."""
    count = int(math.floor(12 * math.log2(high / low) / FLITE_F0_STEP_SEMITONES + 1e-9)) + 1
    return [round(low * 2 ** (k * FLITE_F0_STEP_SEMITONES / 12)) for k in range(count)]


def plan_speakers(
    num_speakers: int = 40,
    seed: int = 0,
    flite_fraction: float = 0.25,
    unseen_voices: tuple[str, ...] = UNSEEN_VOICES,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    min_heldout_speakers: int = 3,
) -> list[Speaker]:
    """Choose `num_speakers` distinct speakers and their split, deterministically from `seed`.

    Voices are used round-robin within each engine so every voice gets speakers; the unseen voices come
    first in that rotation so even a tiny build holds them. Within a voice, speakers take distinct identity slots
    (espeak-ng: variant and one of ESPEAK_PITCHES; flite: one of `flite_f0_slots`), so no two speakers of a voice
    are the same voice at a slightly different pitch; the speaking rate is drawn freely. flite has few slots (18),
    so a large plan voices the rest of its flite share with espeak-ng. Speakers of unseen voices go to ``test`` only;
    the other speakers are shuffled and split by `validation_fraction` / `test_fraction` per engine (at least
    one each where an engine has three or more seen-voice speakers), so held-out splits hear both engines.

    Args:
        num_speakers: total number of speakers (both engines).
        seed: random seed for variants, prosody and the split.
        flite_fraction: share of speakers voiced by flite (at least one when flite is installed).
        unseen_voices: ``"engine:voice"`` keys kept out of train and validation.
        validation_fraction: share of seen-voice speakers in ``validation``.
        test_fraction: share of seen-voice speakers in ``test``.
        min_heldout_speakers: fewest speakers in validation and in test (unseen voices count), taken
            from train when the fractions give fewer, so 3-speaker mixtures can be made from every split.
    """
    if num_speakers < 8:
        raise ValueError(f"num_speakers={num_speakers} is too few for train/validation/test plus unseen voices; use 8 or more")
    rng = random.Random(f"speakers-{seed}")
    variants = [v for v in ESPEAK_VARIANTS if v in available_espeak_variants()]
    flite_voices = [v for v in FLITE_VOICES if v in available_flite_voices()]
    if not variants or not flite_voices:
        raise RuntimeError(f"found espeak-ng variants {variants} and flite voices {flite_voices}; both engines need at least one")
    num_flite = max(1, round(num_speakers * flite_fraction))
    unseen = set(unseen_voices)

    def rotation(engine: str, voices: list[str]) -> list[str]:
        # unseen voices first, so the first speakers of each engine cover them
        return sorted(voices, key=lambda v: (f"{engine}:{v}" not in unseen, voices.index(v)))

    # identity slots per voice, each voice's in a seeded order; voices take turns, a full voice drops out of the turn
    espeak_voices = rotation("espeak", list(ESPEAK_VOICES))
    espeak_slots = {voice: [(variant, pitch) for variant in variants for pitch in ESPEAK_PITCHES] for voice in espeak_voices}
    ordered_flite = rotation("flite", flite_voices)
    flite_slots = {voice: flite_f0_slots(voice) for voice in ordered_flite}
    for slots in (*espeak_slots.values(), *flite_slots.values()):
        rng.shuffle(slots)
    num_flite = min(num_flite, sum(map(len, flite_slots.values())))  # the rest are voiced by espeak-ng
    num_espeak = num_speakers - num_flite
    espeak_capacity = sum(map(len, espeak_slots.values()))
    if num_espeak > espeak_capacity:
        raise ValueError(
            f"num_speakers={num_speakers} is more than the {espeak_capacity + num_flite} distinct speakers the engines "
            f"give ({len(espeak_voices)} espeak-ng voices x {len(variants)} variants x {len(ESPEAK_PITCHES)} pitches, "
            f"plus {num_flite} flite voice-and-F0 slots); use {espeak_capacity + num_flite} or fewer"
        )

    speakers: list[Speaker] = []
    for voice, (variant, pitch) in _take_in_turn(espeak_slots, num_espeak):
        speed = rng.randrange(ESPEAK_SPEEDS[0], ESPEAK_SPEEDS[1], 5)
        speaker_id = f"espeak_{voice}_{variant}_p{pitch}"
        speakers.append(Speaker(speaker_id, "espeak", voice, variant, float(speed), float(pitch), ESPEAK_VARIANTS[variant]))
    for voice, f0 in _take_in_turn(flite_slots, num_flite):
        stretch = round(rng.uniform(*FLITE_STRETCH), 2)
        speakers.append(Speaker(f"flite_{voice}_f{f0}", "flite", voice, "", stretch, float(f0), FLITE_VOICES[voice][0]))

    # split each engine's seen-voice speakers separately, so validation and test hear both engines
    split_of: dict[str, str] = {}
    for engine in ("espeak", "flite"):
        seen = [s for s in speakers if s.engine == engine and s.voice_key not in unseen]
        rng.shuffle(seen)
        if len(seen) < 3:
            continue  # too few to spare any: all train
        num_val = max(1, round(len(seen) * validation_fraction))
        num_test = max(1, round(len(seen) * test_fraction))
        split_of.update({s.speaker_id: "validation" for s in seen[:num_val]})
        split_of.update({s.speaker_id: "test" for s in seen[num_val : num_val + num_test]})
    hidden = [s for s in speakers if s.voice_key in unseen]
    # held-out splits need a few speakers to make mixtures from; top them up from train when small
    train = [s for s in speakers if s.voice_key not in unseen and s.speaker_id not in split_of]
    rng.shuffle(train)
    for split, have in (("validation", 0), ("test", len(hidden))):
        have += sum(1 for v in split_of.values() if v == split)
        while have < min_heldout_speakers and len(train) > min_heldout_speakers:
            split_of[train.pop().speaker_id] = split
            have += 1
    if set(split_of.values()) != {"validation", "test"}:
        raise ValueError(f"num_speakers={num_speakers} leaves too few seen-voice speakers for validation and test; use 8 or more")
    result = []
    for s in speakers:
        if s in hidden:
            result.append(Speaker(**{**asdict(s), "split": "test", "unseen_voice": True}))
        else:
            result.append(Speaker(**{**asdict(s), "split": split_of.get(s.speaker_id, "train")}))
    return result


def _take_in_turn(slots: dict[str, list], count: int) -> list[tuple[str, object]]:
    """`count` `(voice, slot)` pairs, the voices taking turns, each turn popping the last of that voice's slots left;
    a voice with none left drops out of the turn. `count` must not exceed the slots left."""
    taken = []
    while len(taken) < count:
        for voice, left in slots.items():
            if left and len(taken) < count:
                taken.append((voice, left.pop()))
    return taken


def plan_festival_speakers(count: int, seed: int = 0) -> list[Speaker]:
    """`count` festival training speakers: the `FESTIVAL_VOICES` take turns, each speaker a distinct F0 slot of its
    voice (as flite's, `f0_slots`), with a speaking rate drawn from FLITE_STRETCH; all in ``train``. No
    speaker asked for needs no festival installed."""
    if count == 0:
        return []
    voices = [v for v in FESTIVAL_VOICES if v in available_festival_voices()]
    if not voices:
        raise RuntimeError("no festival voice is installed; `apt-get install festival festvox-kdlpc16k festvox-kallpc16k "
                           "festvox-us-slt-hts`")
    rng = random.Random(f"festival-{seed}")
    slots = {voice: f0_slots(*FESTIVAL_VOICES[voice][2]) for voice in voices}
    for left in slots.values():
        rng.shuffle(left)
    capacity = sum(map(len, slots.values()))
    if count > capacity:
        raise ValueError(f"festival_speakers={count} is more than the {capacity} festival voice-and-F0 slots; use {capacity} or fewer")
    return [
        Speaker(f"festival_{voice}_f{f0}", "festival", voice, "", round(rng.uniform(*FLITE_STRETCH), 2), float(f0), FESTIVAL_VOICES[voice][1])
        for voice, f0 in _take_in_turn(slots, count)
    ]


def vary_pronunciation(phonemes: str, rules: tuple[str, ...] | list[str]) -> str:
    """espeak-ng phoneme mnemonics (`espeak-ng -x` output) rewritten by the named `PRONUNCIATION_RULES`, in order.

    >>> vary_pronunciation("D@ T'IN wID D,Em", ["th-stopping"])
    "d@ t'IN wId d,Em"
    >>> vary_pronunciation("g'oUIN h'oUm", ["g-dropping", "h-dropping"])
    "g'oUIn 'oUm"
    """
    for rule in rules:
        if rule not in PRONUNCIATION_RULES:
            raise ValueError(f"unknown pronunciation rule {rule!r}; choose among {sorted(PRONUNCIATION_RULES)}")
        for pattern, replacement in PRONUNCIATION_RULES[rule]:
            phonemes = re.sub(pattern, replacement, phonemes)
    return phonemes


def _espeak_input(voice: str, text: str, pronunciation: tuple[str, ...]) -> str:
    """What espeak-ng reads: `text` itself, or its clauses as rewritten phonemes (``[[...]]``), a comma between
    clauses so their pauses stay."""
    if not pronunciation:
        return text
    proc = subprocess.run(["espeak-ng", "-q", "-x", "-v", voice], input=text.encode(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise AudioError(f"espeak-ng -x failed on {text!r}: {proc.stderr.decode(errors='replace')[:200]}")
    clauses = [line.strip() for line in proc.stdout.decode("utf-8").splitlines() if line.strip()]
    return ", ".join(f"[[{vary_pronunciation(clause, pronunciation)}]]" for clause in clauses) + "."


def synthesize(speaker: Speaker, text: str, workdir: str | None = None, pronunciation: tuple[str, ...] = ()) -> tuple[np.ndarray, int]:
    """Render `text` with `speaker`; returns the engine's raw `(time,)` float32 waveform and its rate.

    Args:
        speaker: who speaks.
        text: the sentence, in ordinary spelling.
        workdir: folder for the temporary wav (a fresh temporary folder when None).
        pronunciation: `PRONUNCIATION_RULES` names to say it with (espeak-ng speakers only): espeak-ng's phonemes
            for the sentence, rewritten, are spoken instead of the text.
    """
    import soundfile as sf

    handle, path = tempfile.mkstemp(suffix=".wav", dir=workdir)
    os.close(handle)
    try:
        if speaker.engine == "espeak":
            voice = f"{speaker.voice}+{speaker.variant}" if speaker.variant else speaker.voice
            cmd = ["espeak-ng", "-v", voice, "-s", str(int(speaker.speed)), "-p", str(int(speaker.pitch)), "-w", path]
            proc = subprocess.run(cmd, input=_espeak_input(voice, text, tuple(pronunciation)).encode(), capture_output=True, check=False)
        elif pronunciation:
            raise ValueError(f"pronunciation variants need an espeak-ng speaker, got {speaker.engine} {speaker.speaker_id}")
        elif speaker.engine == "flite":
            cmd = ["flite", "-voice", speaker.voice, "--setf", f"duration_stretch={speaker.speed}",
                   "--setf", f"int_f0_target_mean={speaker.pitch}", "-t", text, "-o", path]
            proc = subprocess.run(cmd, capture_output=True, check=False)
        elif speaker.engine == "festival":
            _require("text2wave", "festival")
            cmd = ["text2wave", "-eval", f"({FESTIVAL_VOICES[speaker.voice][0]})", "-o", path]
            proc = subprocess.run(cmd, input=text.encode(), capture_output=True, check=False)
        else:
            raise ValueError(f"unknown engine {speaker.engine!r}; use 'espeak', 'flite' or 'festival'")
        if proc.returncode != 0:
            raise AudioError(f"{cmd[0]} failed for speaker {speaker.speaker_id} on {text!r}: {proc.stderr.decode(errors='replace')[:200]}")
        if speaker.engine == "flite" and speaker.voice in FLITE_F0_IGNORED:
            _shift_pitch(path, speaker.pitch / FLITE_F0_IGNORED[speaker.voice])
        if speaker.engine == "festival":
            _shift_pitch(path, speaker.pitch / FESTIVAL_VOICES[speaker.voice][3], tempo=1.0 / speaker.speed)
        data, sr = sf.read(path, dtype="float32", always_2d=True)
    finally:
        os.unlink(path)
    return data.mean(axis=1), sr


def _shift_pitch(path: str, ratio: float, tempo: float = 1.0) -> None:
    """Shift the pitch of the wav at `path` by the frequency `ratio` in place, keeping its duration (sox `pitch`);
    `tempo` other than 1 also speeds it up (above 1) or slows it down, keeping the pitch (sox `tempo -s`)."""
    cents = 1200.0 * math.log2(ratio)
    effects = ([] if abs(cents) < 1.0 else ["pitch", f"{cents:.1f}"]) + ([] if abs(tempo - 1.0) < 1e-3 else ["tempo", "-s", f"{tempo:.4f}"])
    if not effects:
        return
    _require("sox", "sox")
    shifted = path[: -len(".wav")] + "_pitch.wav"
    # -D: no dither, whose noise sox draws afresh on every run; the same speaker and text give the same bytes
    proc = subprocess.run(["sox", "-D", path, shifted, *effects], capture_output=True, check=False)
    if proc.returncode != 0:
        raise AudioError(f"sox {' '.join(effects)} failed on {path}: {proc.stderr.decode(errors='replace')[:200]}")
    os.replace(shifted, path)


def phonemize(text: str, voice: str = "en-us") -> str:
    """IPA phonemes of `text` from ``espeak-ng -q --ipa`` (clauses joined with spaces)."""
    proc = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice], input=text.encode(), capture_output=True, check=True)
    return " ".join(proc.stdout.decode("utf-8").split())


def trim_silence(waveform: np.ndarray, sampling_rate: int, threshold_db: float = 40.0, margin_seconds: float = 0.1) -> np.ndarray:
    """Drop leading/trailing frames `threshold_db` below the loudest 10 ms frame, keeping a margin.

    >>> import numpy as np
    >>> x = np.concatenate([np.zeros(8000), np.ones(1600), np.zeros(8000)]).astype(np.float32)
    >>> trim_silence(x, 16000).shape  # 1600 samples of sound + 2 x 100 ms of margin
    (4800,)
    """
    hop = max(1, sampling_rate // 100)
    frames = len(waveform) // hop
    if frames == 0:
        return waveform
    energy = np.sqrt((waveform[: frames * hop].reshape(frames, hop) ** 2).mean(axis=1) + 1e-20)  # (frames,)
    loud = np.flatnonzero(energy > energy.max() * 10 ** (-threshold_db / 20))
    margin = int(margin_seconds * sampling_rate)
    start = max(0, loud[0] * hop - margin)
    end = min(len(waveform), (loud[-1] + 1) * hop + margin)
    return waveform[start:end]


def normalize_level(waveform: np.ndarray, target_dbfs: float = TARGET_DBFS, peak: float = PEAK) -> np.ndarray:
    """Scale to `target_dbfs` RMS, then down (never up) so the peak stays under `peak`."""
    rms = float(np.sqrt(np.mean(waveform.astype(np.float64) ** 2)))
    if rms < 1e-8:
        return waveform
    scaled = waveform * (10 ** (target_dbfs / 20) / rms)
    top = float(np.abs(scaled).max())
    if top > peak:
        scaled = scaled * (peak / top)
    return scaled.astype(np.float32)


# embedded audio encodings: name -> (soundfile container, subtype). Opus (in Ogg) is lossy, about 25 kbit/s at 16 kHz:
# a fifth of FLAC's size at ~22 dB waveform SNR, for recognition corpora that must stay small; keep FLAC for separation
# targets, whose SI-SNR it would cap
AUDIO_FORMATS = {"flac": ("FLAC", "PCM_16"), "wav": ("WAV", "PCM_16"), "opus": ("OGG", "OPUS")}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def check_audio_format(audio_format: str, sampling_rate: int) -> None:
    """Refuse an encoding `encode_audio` cannot write at this rate, naming the choices."""
    if audio_format not in AUDIO_FORMATS:
        raise ValueError(f"audio_format={audio_format!r}; use one of {', '.join(AUDIO_FORMATS)}")
    if audio_format == "opus" and sampling_rate not in OPUS_RATES:
        raise ValueError(f"Opus takes {', '.join(map(str, OPUS_RATES))} Hz, not {sampling_rate}; pick one of those or flac")


def encode_audio(waveform: np.ndarray, sampling_rate: int, audio_format: str = "flac") -> bytes:
    """FLAC or WAV (16-bit) or Opus bytes of a `(time,)` waveform in [-1, 1]."""
    import soundfile as sf

    check_audio_format(audio_format, sampling_rate)
    container, subtype = AUDIO_FORMATS[audio_format]
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(waveform, -1.0, 1.0), sampling_rate, format=container, subtype=subtype)
    return buffer.getvalue()


def _render(task: tuple) -> dict:
    # pronunciation: the rules to say it with, or None in builds without variants (no column then)
    speaker_dict, sentence, utt_id, sampling_rate, audio_format, pronunciation = task
    speaker = Speaker(**speaker_dict)
    raw, sr = synthesize(speaker, sentence["original_text"], pronunciation=pronunciation or ())
    wave = resample(raw, sr, sampling_rate)
    wave = normalize_level(trim_silence(wave, sampling_rate))
    return {
        "audio": {"bytes": encode_audio(wave, sampling_rate, audio_format), "path": f"{utt_id}.{audio_format}"},
        "text": sentence["text"],
        "original_text": sentence["original_text"],
        "phonemes": phonemize(sentence["original_text"]),
        "speaker_id": speaker.speaker_id,
        "engine": speaker.engine,
        "voice": speaker.voice,
        "variant": speaker.variant,
        "gender": speaker.gender,
        "unseen_voice": speaker.unseen_voice,
        "duration": round(len(wave) / sampling_rate, 4),
        "source": sentence["source"],
        "id": utt_id,
    } | ({} if pronunciation is None else {"pronunciation": ",".join(pronunciation)})


def speech_features(sampling_rate: int, pronunciation: bool = False):
    """The columns of a `zoo data speech` corpus; ``pronunciation`` (the `PRONUNCIATION_RULES` an utterance was said
    with, comma-separated, "" for none) only in builds with pronunciation variants."""
    import datasets

    features = datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=sampling_rate),
            "text": datasets.Value("string"),
            "original_text": datasets.Value("string"),
            "phonemes": datasets.Value("string"),
            "speaker_id": datasets.Value("string"),
            "engine": datasets.Value("string"),
            "voice": datasets.Value("string"),
            "variant": datasets.Value("string"),
            "gender": datasets.Value("string"),
            "unseen_voice": datasets.Value("bool"),
            "duration": datasets.Value("float32"),
            "source": datasets.Value("string"),
            "id": datasets.Value("string"),
        }
    )
    if pronunciation:
        features["pronunciation"] = datasets.Value("string")
    return features


def run_pool(function, tasks: list, workers: int | None, description: str, progress: bool = True) -> list:
    """Map `function` over `tasks` in order with a process pool and a tqdm bar (in-process when workers=1)."""
    from tqdm.auto import tqdm

    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks) or 1))
    bar = tqdm(total=len(tasks), desc=description, unit="item", disable=not progress)
    results = []
    if workers == 1:
        for task in tasks:
            results.append(function(task))
            bar.update()
    else:
        # fork keeps start-up cheap; the workers only run subprocesses and numpy
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for result in pool.imap(function, tasks, chunksize=4):
                results.append(result)
                bar.update()
    bar.close()
    return results


def to_dataset_dict(rows_by_split: dict[str, list[dict]], features, description: str, fingerprint: str):
    """DatasetDict with a fingerprint derived from the build settings, so `save_to_disk` is byte-reproducible."""
    import datasets

    splits = {}
    for split, rows in rows_by_split.items():
        columns = {name: [row[name] for row in rows] for name in features}
        info = datasets.DatasetInfo(description=description, features=features)
        table = datasets.Dataset.from_dict(columns, features=features, info=info, split=split)
        # from_dict gives a random fingerprint, which would land in state.json and break reproducibility
        splits[split] = datasets.Dataset(table.data, info=table.info, split=table.split, fingerprint=f"{fingerprint}-{split}"[:64])
    return datasets.DatasetDict(splits)


def save_dataset_dict(dataset_dict, output: str, metadata: dict) -> None:
    """Write `dataset_dict` to `output` via a sibling temporary folder (replacing an earlier zoo build)."""
    output = os.path.abspath(output)
    if os.path.isdir(output) and os.listdir(output) and not os.path.exists(os.path.join(output, "dataset_dict.json")):
        raise FileExistsError(f"{output!r} exists and is not a saved dataset; pass an empty or new --output folder")
    tmp = f"{output}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    dataset_dict.save_to_disk(tmp)
    with open(os.path.join(tmp, "zoo_corpus.json"), "w") as handle:
        json.dump(metadata, handle, indent=2, sort_keys=True)
    shutil.rmtree(output, ignore_errors=True)
    os.replace(tmp, output)


def build_speech(
    output: str | None = "data/speech",
    num_speakers: int = 40,
    utterances_per_speaker: int = 60,
    sampling_rate: int = 16000,
    seed: int = 0,
    workers: int | None = None,
    unseen_voices: tuple[str, ...] = UNSEEN_VOICES,
    min_words: int = 5,
    max_words: int = 20,
    kinds: tuple[str, ...] = ("fortune", "quotation", "example"),
    audio_format: str = "flac",
    progress: bool = True,
    sentences: list[dict] | None = None,
    splits: tuple[str, ...] = SPLITS,
    exclude_sentences_of: str | None = None,
    exclude_speakers_of: str | None = None,
    flite_utterances_per_speaker: int | None = None,
    pronunciation_variants: float = 0.0,
    unseen_dev_of: str | None = None,
    festival_speakers: int = 0,
):
    """Synthesize the corpus and (when `output` is given) save it with `save_to_disk`.

    Args:
        output: folder to write, or None to only return the DatasetDict.
        num_speakers: distinct speakers across espeak-ng and flite; 0 for a build of festival speakers alone.
        utterances_per_speaker: sentences each speaker reads (all sentences are different).
        sampling_rate: output rate in Hz.
        seed: drives speakers, sentence choice and splits; same seed, same bytes.
        workers: processes (default: all CPUs).
        unseen_voices: ``"engine:voice"`` keys found only in ``test``.
        min_words: shortest sentence, in words.
        max_words: longest sentence, in words.
        kinds: sentence kinds from `zoo.data.text` to read (add ``"gloss"`` for dictionary definitions).
        audio_format: ``"flac"`` (default, lossless and half the size of ``"wav"``) or ``"opus"`` (lossy, a
            fifth of FLAC's size: recognition corpora to carry; 8, 12, 16, 24 or 48 kHz).
        progress: show a tqdm bar.
        sentences: the sentence pool (``{"text", "original_text", "source", "kind"}`` dicts); default
            `zoo.data.text.harvest_sentences()`.
        splits: synthesize only the speakers of these splits (the plan, and so every speaker's split, is the
            same as a full build with the same `num_speakers` and `seed`).
        exclude_sentences_of: a `zoo data speech` folder whose sentences (every split) are left out of the pool, so a
            larger training build never reads a sentence that folder validates or tests on.
        exclude_speakers_of: a `zoo data speech` folder whose validation and test speakers (matched by
            ``speaker_id``, which names a voice and pitch slot, not the rate) are left out of this build, so a build
            with another `seed` and many more training speakers shares no speaker with that folder's held-out
            splits. Its training speakers may recur (with other sentences): flite has few slots to spare.
        flite_utterances_per_speaker: sentences each flite speaker reads instead of `utterances_per_speaker`. flite
            has few identity slots (a large plan has ~10 flite training speakers against ~190 of espeak-ng), so a
            recognition corpus evens out the engines' hours with more sentences per flite speaker.
        pronunciation_variants: the share of the espeak-ng training speakers' utterances said with one or two
            `PRONUNCIATION_RULES` drawn at random (seeded by `seed` and the utterance), e.g. TH-stopping and
            g-dropping: accents the engine's voices do not have, for recognizers to hear. Validation and test keep the
            voices' own pronunciation, so their scores stay comparable. The corpus gets a ``pronunciation`` column.
        unseen_dev_of: a `zoo data speech` folder (the fixed test build); the build is then a development set of its
            unseen voices: only the plan's speakers of `unseen_voices`, written as a ``validation`` split, each reading
            sentences of that folder's ``validation`` split. Training builds made with ``exclude_sentences_of`` that
            folder, and n-gram LMs built with ``--exclude`` it, never read those sentences, and the folder's test
            utterances are never used: decoding choices for unseen voices can be made here and reported on test. The
            voices (and for flite, whose few F0 slots all go to test, the speakers) are the test's.
        festival_speakers: extra training speakers voiced by festival (`FESTIVAL_VOICES`, `plan_festival_speakers`),
            reading `flite_utterances_per_speaker` sentences each when given; the espeak-ng/flite plan is unchanged.

    Returns:
        The `datasets.DatasetDict` with ``train``, ``validation`` and ``test``.
    """
    check_audio_format(audio_format, sampling_rate)
    if num_speakers == 0 and not festival_speakers:
        raise ValueError("num_speakers=0 builds festival speakers alone; give festival_speakers (--festival-speakers) too")
    speakers = plan_speakers(num_speakers, seed=seed, unseen_voices=unseen_voices) if num_speakers else []
    speakers += plan_festival_speakers(festival_speakers, seed=seed)
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown or not splits:
        raise ValueError(f"splits={list(splits)!r}; choose among {list(SPLITS)}")
    excluded = _column_of(exclude_sentences_of, "original_text") if exclude_sentences_of else set()
    pool = [
        s for s in (harvest_sentences() if sentences is None else sentences)
        if s["kind"] in kinds and min_words <= len(s["text"].split()) <= max_words and s["original_text"] not in excluded
    ]
    if unseen_dev_of:
        wanted = _column_of(unseen_dev_of, "original_text", splits=("validation",))
        pool = [s for s in pool if s["original_text"] in wanted]
        speakers = [replace(s, split="validation") for s in speakers if s.unseen_voice]
        splits = ("validation",)
    speakers = [s for s in speakers if s.split in splits]
    if exclude_speakers_of:
        taken = _column_of(exclude_speakers_of, "speaker_id", splits=("validation", "test"))
        kept = [s for s in speakers if s.speaker_id not in taken]
        num_excluded_speakers, speakers = len(speakers) - len(kept), kept
        if not speakers:
            raise ValueError(
                f"every speaker of splits {list(splits)} is also in exclude_speakers_of={exclude_speakers_of!r}; "
                f"pass another seed (--seed) or more speakers (--num-speakers)"
            )
    if not 0.0 <= pronunciation_variants <= 1.0:
        raise ValueError(f"pronunciation_variants is a share of utterances in [0, 1], got {pronunciation_variants}")
    if flite_utterances_per_speaker is not None and flite_utterances_per_speaker < 1:
        raise ValueError(f"flite_utterances_per_speaker must be >= 1, got {flite_utterances_per_speaker}")
    counts = [
        flite_utterances_per_speaker if s.engine in ("flite", "festival") and flite_utterances_per_speaker else utterances_per_speaker
        for s in speakers
    ]
    needed = sum(counts)
    if len(pool) < needed:
        raise ValueError(f"{needed} utterances need as many sentences but only {len(pool)} pass the filter; widen min_words/max_words or kinds")
    random.Random(f"sentences-{seed}").shuffle(pool)
    tasks, start = [], 0
    for speaker, count in zip(speakers, counts):
        for k in range(count):
            sentence = pool[start + k]  # every utterance its own sentence
            utt_id = f"{speaker.speaker_id}-{k:04d}"
            pronunciation = None
            if pronunciation_variants:  # a draw per utterance, from (seed, utterance) alone
                rng = random.Random(f"pronunciation-{seed}-{utt_id}")
                varied = speaker.engine == "espeak" and speaker.split == "train" and rng.random() < pronunciation_variants
                pronunciation = sorted(rng.sample(sorted(PRONUNCIATION_RULES), rng.randint(1, 2))) if varied else []
            tasks.append((asdict(speaker), sentence, utt_id, sampling_rate, audio_format, pronunciation))
        start += count
    rows = run_pool(_render, tasks, workers, "speech", progress)
    split_of = {s.speaker_id: s.split for s in speakers}
    rows_by_split = {split: [r for r in rows if split_of[r["speaker_id"]] == split] for split in SPLITS if split in splits}
    settings = dict(num_speakers=num_speakers, utterances_per_speaker=utterances_per_speaker, sampling_rate=sampling_rate,
                    seed=seed, unseen_voices=list(unseen_voices), min_words=min_words, max_words=max_words,
                    kinds=list(kinds), audio_format=audio_format)
    if flite_utterances_per_speaker:
        settings["flite_utterances_per_speaker"] = flite_utterances_per_speaker
    if pronunciation_variants:
        settings["pronunciation_variants"] = pronunciation_variants
    if tuple(splits) != SPLITS:
        settings["splits"] = list(splits)
    if unseen_dev_of:
        settings["unseen_dev_of"] = os.fspath(unseen_dev_of)
    if festival_speakers:
        settings["festival_speakers"] = festival_speakers
    if exclude_speakers_of:
        settings["exclude_speakers_of"] = os.fspath(exclude_speakers_of)
        settings["excluded_speakers"] = num_excluded_speakers
    if exclude_sentences_of:
        settings["exclude_sentences_of"] = os.fspath(exclude_sentences_of)
        settings["excluded_sentences"] = len(excluded)
    description = (
        f"zoo synthetic speech: {num_speakers} espeak-ng/flite speakers, {sampling_rate} Hz; speaker-disjoint splits; "
        + (f"a development set of the unseen voices {', '.join(unseen_voices)} reading {unseen_dev_of}'s validation sentences. "
           if unseen_dev_of else f"voices {', '.join(unseen_voices)} appear only in test (unseen_voice=True). ")
        + f"Settings: {json.dumps(settings, sort_keys=True)}"
    )
    dataset = to_dataset_dict(rows_by_split, speech_features(sampling_rate, pronunciation=bool(pronunciation_variants)), description, _stable_hash(settings))
    if output:
        metadata = {"kind": "speech", "settings": settings, "speakers": [asdict(s) for s in speakers], "summary": summarize(dataset)}
        save_dataset_dict(dataset, output, metadata)
    return dataset


def _column_of(folder: str, column: str, splits: tuple[str, ...] | None = None) -> set[str]:
    """Every value of `column` (``original_text``, ``speaker_id``) in a `zoo data speech` folder's `splits` (None: all)."""
    import datasets

    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder!r} is not a folder; build it first with `zoo data speech --output {folder}`")
    corpus = datasets.load_from_disk(folder)
    return {value for name, split in corpus.items() if splits is None or name in splits for value in split[column]}


def _stable_hash(settings: dict) -> str:
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def summarize(dataset_dict, duration_column: str = "duration") -> dict:
    """Rows, speakers and hours per split (hours only when a duration column exists)."""
    summary = {}
    for split, ds in dataset_dict.items():
        entry = {"rows": ds.num_rows}
        if "speaker_id" in ds.column_names:
            entry["speakers"] = len(set(ds["speaker_id"]))
        elif "speaker_ids" in ds.column_names:
            entry["speakers"] = len({s for group in ds["speaker_ids"] for s in group})
        if duration_column in ds.column_names:
            entry["hours"] = round(float(np.sum(ds[duration_column])) / 3600, 3)
        summary[split] = entry
    return summary
