"""`zoo` console script: one subcommand per job, each owning its own arguments and `--help`."""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module, one-line help); modules are imported only when their command runs
COMMANDS = {
    "data": ("zoo.data.cli", "build the offline corpora (speech, mixtures, events) as datasets.Dataset folders"),
    "train": ("zoo.train", "train a checkpoint from a recipe YAML with accelerate (resumable)"),
    "eval": ("zoo.evaluate", "evaluate a checkpoint on a test set and write the metrics into its model card"),
    "push": ("zoo.hub", "create a Hub repo and upload a checkpoint folder as-is"),
    "demo": ("zoo.demo", "serve every Space under spaces/ in one Gradio app on localhost"),
    "bench": ("zoo.bench", "speed / memory benchmarks against peers, printed as ratios"),
    "lm": ("zoo.asr.lm", "word n-gram LMs for CTC beam search: build an ARPA, attach it to a checkpoint"),
    "attach-lm": ("zoo.asr.fusion", "put a character LM inside a seq2seq ASR checkpoint (shallow fusion)"),
}


def usage() -> str:
    lines = ["usage: zoo <command> [options]   (zoo <command> --help for its options)", "", "commands:"]
    lines += [f"  {name:<7} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"zoo: unknown command {command!r}; choose one of {', '.join(COMMANDS)}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
