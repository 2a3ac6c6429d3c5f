"""`zoo data <corpus>`: build an offline corpus and save it with `save_to_disk`.

    zoo data speech     --output data/speech  [--num-speakers 40 --utterances-per-speaker 60 --sampling-rate 16000]
    zoo data mixtures   --speech data/speech --output data/mix2-8k [--num-speakers 2 --condition clean --sampling-rate 8000]
    zoo data events     --output data/events  [--clips-per-class 20 --sampling-rate 16000]
    zoo data sentences  --output data/sentences
    zoo data sessions   --output data/sessions [--speakers-from data/speech --num-speakers 100 --utterances-per-period 4]
    zoo data cry        --output data/cry      [--num-infants 200 --recordings-per-period 4]   (SYNTHETIC cries)
    zoo data conversations --speech data/speech --output data/conversations [--split test --num-conversations 40 --seconds 60]

Every command takes --output, --seed, --tiny (a seconds-long build for tests), --workers and --help,
and prints where it wrote and rows / speakers / hours per split.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _common(parser: argparse.ArgumentParser, output: str) -> None:
    parser.add_argument("--output", default=output, help=f"folder to write (default: {output}); replaced if it holds an earlier build")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same bytes (default: 0)")
    parser.add_argument("--tiny", action="store_true", help="a build of a few seconds for tests and smoke runs")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: os.cpu_count())")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo data", description="Build the zoo's offline corpora as datasets.DatasetDict folders.")
    commands = parser.add_subparsers(dest="corpus", metavar="{speech,mixtures,events,sentences,sessions,cry,conversations}")

    speech = commands.add_parser("speech", help="multi-speaker English speech synthesized with espeak-ng and flite")
    _common(speech, "data/speech")
    speech.add_argument("--num-speakers", type=int, default=40, help="distinct speakers, both engines (default: 40)")
    speech.add_argument("--utterances-per-speaker", type=int, default=60, help="default: 60")
    speech.add_argument("--flite-utterances-per-speaker", type=int, default=None, metavar="N",
                        help="sentences each flite speaker reads instead (default: as many as the others); flite has few "
                             "speakers, so a recognition corpus evens out the engines' hours with more sentences each")
    speech.add_argument("--pronunciation-variants", type=float, default=0.0, metavar="P",
                        help="share of the espeak-ng training utterances said with one or two accent features espeak-ng's "
                             "voices lack (TH-stopping, TH-fronting, g-dropping, h-dropping, final cluster reduction, "
                             "final devoicing), for recognition corpora (default: 0, none)")
    speech.add_argument("--sampling-rate", type=int, default=16000, help="Hz (default: 16000)")
    speech.add_argument("--format", dest="audio_format", choices=["flac", "wav", "opus"], default="flac",
                        help="embedded audio encoding (default: flac; opus: lossy, a fifth of the size, for ASR corpora)")
    speech.add_argument("--splits", default="train,validation,test",
                        help="comma-separated splits whose speakers to synthesize (default: all three; the speaker plan is unchanged)")
    speech.add_argument("--exclude-sentences-of", default=None, metavar="FOLDER",
                        help="leave out every sentence read in this `zoo data speech` folder (a bigger training build next to a fixed test set)")
    speech.add_argument("--exclude-speakers-of", default=None, metavar="FOLDER",
                        help="leave out every validation and test speaker (speaker_id: a voice and pitch slot) of this `zoo data speech` "
                             "folder: with another --seed, a build with many more training speakers that shares none with "
                             "that folder's held-out splits")
    speech.add_argument("--festival-speakers", type=int, default=0, metavar="N",
                        help="add N training speakers voiced by festival (voices ked, kal, slt; `apt-get install festival "
                             "festvox-kdlpc16k festvox-kallpc16k festvox-us-slt-hts`), reading --flite-utterances-per-speaker "
                             "sentences each; with --num-speakers 0 the build holds them alone (default: 0)")
    speech.add_argument("--unseen-dev-of", default=None, metavar="FOLDER",
                        help="build a development set of the unseen voices instead: only their speakers, as a validation "
                             "split, reading this `zoo data speech` folder's validation sentences (never read by builds "
                             "made with --exclude-sentences-of it), so decoding choices for unseen voices need not touch its test split")

    mixtures = commands.add_parser("mixtures", help="LibriMix/WHAM(R)-style mixtures of a speech corpus")
    _common(mixtures, "data/mix2-8k")
    mixtures.add_argument("--speech", default="data/speech", help="speech corpus folder made by `zoo data speech` (default: data/speech)")
    mixtures.add_argument("--num-speakers", type=int, choices=[2, 3], default=2)
    mixtures.add_argument("--condition", choices=["clean", "noisy", "reverb"], default="clean")
    mixtures.add_argument("--sampling-rate", type=int, choices=[8000, 16000], default=8000)
    mixtures.add_argument("--mode", choices=["min", "max"], default="min", help="truncate to the shortest source (min) or pad to the longest (max)")
    mixtures.add_argument("--splits", default="train,validation,test", help="comma-separated splits to build (default: all three)")
    mixtures.add_argument("--mixtures-per-split", type=int, default=None,
                          help="mixtures per split (default: as many as utterances in the split / num-speakers)")

    events = commands.add_parser("events", help="labelled 5 s sound-event clips (fluidsynth GM soundfont + sox)")
    _common(events, "data/events")
    events.add_argument("--clips-per-class", type=int, default=20, help="default: 20")
    events.add_argument("--sampling-rate", type=int, default=16000, help="Hz (default: 16000)")
    events.add_argument("--seconds", type=float, default=5.0, help="clip length (default: 5.0)")
    events.add_argument("--folds", type=int, default=5, help="cross-validation folds, ESC-50 style (default: 5)")

    sentences = commands.add_parser("sentences", help="clean English sentences from fortunes, WordNet and GCIDE")
    _common(sentences, "data/sentences")
    sentences.add_argument("--refresh", action="store_true", help="re-read the sources instead of the cache")

    sessions = commands.add_parser("sessions", help="CryCeleb-style two-session speech: B clean, D other sentences, rate, noise, room")
    _common(sessions, "data/sessions")
    sessions.add_argument("--speakers-from", default=None, metavar="SPEECH",
                          help="reuse the speakers and splits of this `zoo data speech` folder (do this to evaluate models trained on it)")
    sessions.add_argument("--num-speakers", type=int, default=None,
                          help="speakers (default: 100 planned from --seed, or all of --speakers-from; fewer takes a subset)")
    sessions.add_argument("--utterances-per-period", type=int, default=4, help="sentences per speaker at B and again at D (default: 4)")
    sessions.add_argument("--splits", default="train,validation,test", help="comma-separated splits to build (default: all three)")
    sessions.add_argument("--snr", default="5,20", metavar="LOW,HIGH", help="range of D's background SNR in dB, or 'none' (default: 5,20)")
    sessions.add_argument("--reverb-probability", type=float, default=0.5, help="chance of a reverberant room at D (default: 0.5)")
    sessions.add_argument("--sampling-rate", type=int, default=16000, help="Hz (default: 16000)")

    cry = commands.add_parser("cry", help="SYNTHETIC infant cries (numpy source-filter synthesis), CryCeleb2023-style B/D periods")
    _common(cry, "data/cry")
    cry.add_argument("--num-infants", type=int, default=200, help="synthetic identities, split identity-disjointly (default: 200)")
    cry.add_argument("--recordings-per-period", type=int, default=4, help="recordings per infant at B and at D (default: 4)")
    cry.add_argument("--sampling-rate", type=int, default=16000, help="Hz, 16000 or more (default: 16000)")
    cry.add_argument("--no-background", dest="background", action="store_false", help="no background noise from the noise bank")

    conversations = commands.add_parser("conversations", help="multi-speaker conversations with reference segments, for diarization")
    _common(conversations, "data/conversations")
    conversations.add_argument("--speech", default="data/speech", help="`zoo data speech` folder (default: data/speech)")
    conversations.add_argument("--split", default="test", help="speech split(s) to draw speakers from, comma-separated (default: test)")
    conversations.add_argument("--num-conversations", type=int, default=40, help="conversations per split (default: 40)")
    conversations.add_argument("--min-speakers", type=int, default=2, help="default: 2")
    conversations.add_argument("--max-speakers", type=int, default=4, help="default: 4")
    conversations.add_argument("--seconds", type=float, default=60.0, help="longest conversation in seconds (default: 60)")
    conversations.add_argument("--overlap", type=float, default=0.2, help="chance that a turn overlaps the previous one (default: 0.2)")
    conversations.add_argument("--snr", type=float, default=None, help="background noise at this SNR in dB (default: clean)")
    conversations.add_argument("--sampling-rate", type=int, default=16000, help="Hz (default: 16000)")
    return parser


def _snr_range(text: str) -> tuple[float, float] | None:
    if text.strip().lower() == "none":
        return None
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise SystemExit(f"--snr {text!r}: give LOW,HIGH in dB (e.g. 5,20) or 'none'") from None
    if low > high:
        raise SystemExit(f"--snr {text!r}: LOW is above HIGH; give e.g. 5,20")
    return low, high


def _print_summary(output: str, summary: dict, seconds: float) -> None:
    print(f"wrote {os.path.abspath(output)} in {seconds:.1f} s")
    total_rows = total_hours = 0.0
    for split, entry in summary.items():
        parts = [f"{entry['rows']} rows"]
        if "speakers" in entry:
            parts.append(f"{entry['speakers']} speakers")
        if "hours" in entry:
            parts.append(f"{entry['hours']:.3f} h")
        print(f"  {split:<11} " + ", ".join(parts))
        total_rows += entry["rows"]
        total_hours += entry.get("hours", 0.0)
    print(f"  {'total':<11} {int(total_rows)} rows" + (f", {total_hours:.3f} h" if total_hours else ""))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.corpus is None:
        parser.print_help()
        return 0
    start = time.perf_counter()
    if args.corpus == "speech":
        from zoo.data.speech import build_speech, summarize

        sizes = dict(num_speakers=12, utterances_per_speaker=2) if args.tiny else dict(
            num_speakers=args.num_speakers, utterances_per_speaker=args.utterances_per_speaker)
        dataset = build_speech(args.output, sampling_rate=args.sampling_rate, seed=args.seed, workers=args.workers,
                               audio_format=args.audio_format, progress=args.progress,
                               splits=tuple(s for s in args.splits.split(",") if s), exclude_sentences_of=args.exclude_sentences_of,
                               exclude_speakers_of=args.exclude_speakers_of,
                               flite_utterances_per_speaker=args.flite_utterances_per_speaker,
                               pronunciation_variants=args.pronunciation_variants, unseen_dev_of=args.unseen_dev_of,
                               festival_speakers=args.festival_speakers, **sizes)
        summary = summarize(dataset)
    elif args.corpus == "mixtures":
        from zoo.data.mixtures import build_mixtures
        from zoo.data.speech import summarize

        dataset = build_mixtures(
            args.speech, args.output, num_speakers=args.num_speakers, condition=args.condition,
            sampling_rate=args.sampling_rate, mode=args.mode, splits=tuple(s for s in args.splits.split(",") if s),
            mixtures_per_split=4 if args.tiny else args.mixtures_per_split, seed=args.seed, workers=args.workers,
            progress=args.progress,
        )
        summary = summarize(dataset)
    elif args.corpus == "events":
        from zoo.data.events import build_events
        from zoo.data.speech import summarize

        dataset = build_events(
            args.output, clips_per_class=1 if args.tiny else args.clips_per_class, sampling_rate=args.sampling_rate,
            seconds=1.0 if args.tiny else args.seconds, folds=args.folds, seed=args.seed, workers=args.workers,
            tiny=args.tiny, progress=args.progress,
        )
        summary = summarize(dataset)
    elif args.corpus == "sessions":
        from zoo.data.sessions import build_sessions
        from zoo.data.speech import summarize

        dataset = build_sessions(
            args.output, num_speakers=10 if args.tiny else args.num_speakers,
            utterances_per_period=1 if args.tiny else args.utterances_per_period, sampling_rate=args.sampling_rate,
            seed=args.seed, workers=args.workers, speakers_from=args.speakers_from,
            splits=tuple(s for s in args.splits.split(",") if s), snr_db=_snr_range(args.snr),
            reverb_probability=args.reverb_probability, progress=args.progress,
        )
        summary = summarize(dataset)
    elif args.corpus == "cry":
        from zoo.data.cry import SYNTHETIC_NOTE, build_cry
        from zoo.data.speech import summarize

        dataset = build_cry(
            args.output, num_infants=6 if args.tiny else args.num_infants,
            recordings_per_period=1 if args.tiny else args.recordings_per_period, sampling_rate=args.sampling_rate,
            seed=args.seed, workers=args.workers, background=args.background, progress=args.progress,
        )
        summary = summarize(dataset)
        print(SYNTHETIC_NOTE)
    elif args.corpus == "conversations":
        from zoo.data.conversations import build_conversations
        from zoo.data.speech import summarize

        dataset = build_conversations(
            args.speech, args.output, splits=tuple(s for s in args.split.split(",") if s),
            num_conversations=2 if args.tiny else args.num_conversations, min_speakers=args.min_speakers,
            max_speakers=args.max_speakers, seconds=15.0 if args.tiny else args.seconds, overlap=args.overlap, snr=args.snr,
            sampling_rate=args.sampling_rate, seed=args.seed, workers=args.workers, progress=args.progress,
        )
        summary = summarize(dataset)
    else:
        from zoo.data.speech import summarize
        from zoo.data.text import build_sentences

        dataset = build_sentences(args.output, refresh=args.refresh, tiny=args.tiny)
        summary = summarize(dataset)
    _print_summary(args.output, summary, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
