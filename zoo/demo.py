"""`zoo demo`: serve every Space under `spaces/` in one Gradio app on localhost, one tab per Space.

A Space is a folder `spaces/<name>/` holding an `app.py` that defines `build_demo() -> gr.Blocks`, a `TITLE`
(its tab's label) and a `MAX_SECONDS` (the input duration it refuses beyond), and that runs alone with
`python spaces/<name>/app.py`. The launcher imports each app.py as a module (its `__main__` block does not
run), builds every Space first (each loads its model and makes its warm-up call), then renders them as tabs
of one `gr.Blocks` served with one queue. Each Space checks its own inputs (duration limit, empty, NaN or
unreadable audio) and answers bad input with a `gr.Error`.

    zoo demo                         # every Space, http://127.0.0.1:7860
    zoo demo --spaces separation --port 7861
    zoo demo --list                  # print the Spaces found and exit
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

# where `spaces/` is in a checkout (zoo is installed editable from the repo root); --spaces-dir overrides it
DEFAULT_SPACES_DIR = Path(__file__).resolve().parent.parent / "spaces"
DEFAULT_PORT = 7860
MAX_FILE_SIZE = "20mb"  # gradio refuses bigger uploads before they reach a Space

SHARE_REFUSAL = (
    "zoo demo: --share is not supported. A share link is a public tunnel through Gradio's relay servers "
    "(*.gradio.live): it needs internet access, which this machine does not have (the tunnel client cannot be "
    "downloaded and the relay cannot be reached), and it would hand the models to anyone holding the link. "
    "The demo serves on 127.0.0.1 only; to reach it from another machine, forward the port: "
    "`ssh -L {port}:127.0.0.1:{port} <this host>` and open http://127.0.0.1:{port}."
)


@dataclass
class Space:
    name: str  # the folder's name, as given to --spaces
    path: Path  # its app.py
    module: ModuleType | None = None

    @property
    def title(self) -> str:
        return str(getattr(self.module, "TITLE", self.name))


def find_spaces(spaces_dir: Path | str = DEFAULT_SPACES_DIR) -> list[Space]:
    """Every `<spaces_dir>/<name>/app.py`, sorted by name (not imported yet)."""
    spaces_dir = Path(spaces_dir)
    if not spaces_dir.is_dir():
        raise FileNotFoundError(f"no Spaces folder at {spaces_dir}; pass --spaces-dir <folder holding <name>/app.py>")
    return [Space(app.parent.name, app) for app in sorted(spaces_dir.glob("*/app.py"))]


def select_spaces(spaces: list[Space], names: str | None) -> list[Space]:
    """The Spaces named in a comma-separated list (all of them for None), in the order given."""
    if not names:
        return spaces
    by_name = {space.name: space for space in spaces}
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise ValueError(f"unknown Space(s) {', '.join(unknown)}; choose from {', '.join(by_name) or '(none found)'}")
    return [by_name[name] for name in dict.fromkeys(wanted)]


def import_space(space: Space) -> ModuleType:
    """Import `space.path` as module `zoo_space_<name>`; checks that it defines `build_demo`."""
    module_name = f"zoo_space_{space.name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, space.path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    # a Space may import modules sitting next to its app.py, as it can on the Hub
    sys.path.insert(0, str(space.path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[module_name]
        raise
    finally:
        sys.path.remove(str(space.path.parent))
    if not callable(getattr(module, "build_demo", None)):
        raise AttributeError(f"{space.path} defines no build_demo() -> gr.Blocks; every Space's app.py needs one")
    if getattr(module, "MAX_SECONDS", None) is None:
        print(
            f"zoo demo: warning: {space.path} sets no MAX_SECONDS; every Space should refuse over-long input",
            file=sys.stderr,
        )
    space.module = module
    return module


def build_app(spaces: list[Space]):
    """One `gr.Blocks` with a tab per Space; the Spaces' own Blocks are built first, then rendered into tabs.

    A Space whose `build_demo()` fails (say its model is neither on disk nor reachable) is left out with a
    message on stderr; `RuntimeError` when none is left.
    """
    import gradio as gr

    built = []
    for space in spaces:
        start = time.perf_counter()
        try:
            built.append((space, space.module.build_demo()))
        except Exception as err:  # one Space whose model is missing should not take the others down
            print(f"zoo demo: skipping {space.name!r}: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            continue
        print(f"zoo demo: built {space.name!r} ({space.title}) in {time.perf_counter() - start:.1f} s", flush=True)
    if not built:
        raise RuntimeError("no Space could be built; see the messages above")
    with gr.Blocks(title="zoo demo") as app:
        with gr.Tabs():
            for space, blocks in built:
                with gr.Tab(space.title, id=space.name, elem_id=f"space-{space.name}"):
                    blocks.render()
    return app


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="zoo demo",
        description="Serve every Space (each spaces/<name>/app.py) in one Gradio app on 127.0.0.1, a tab per Space.",
        epilog="A Space also runs alone: python spaces/<name>/app.py. Model paths come from each app.py's constants "
        "(e.g. ZOO_SEPARATION_MODEL overrides the separation Space's model).",
    )
    parser.add_argument(
        "--spaces", metavar="NAME[,NAME...]", help="serve only these Spaces (folder names), in this order; default: all"
    )
    parser.add_argument(
        "--spaces-dir",
        type=Path,
        default=DEFAULT_SPACES_DIR,
        help=f"folder holding <name>/app.py (default: {DEFAULT_SPACES_DIR})",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default: {DEFAULT_PORT})")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="requests run at once per event; 1 suits a CPU (default: 1)"
    )
    parser.add_argument(
        "--max-queue", type=int, default=16, help="requests waiting before new ones are turned away (default: 16)"
    )
    parser.add_argument(
        "--list", action="store_true", help="print the Spaces found (name, title, MAX_SECONDS, app.py) and exit"
    )
    parser.add_argument(
        "--share",
        action="store_true",
        help="refused: a public gradio.live link needs internet access (see the message)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.share:
        print(SHARE_REFUSAL.format(port=args.port), file=sys.stderr)
        return 2
    try:
        spaces = select_spaces(find_spaces(args.spaces_dir), args.spaces)
    except (FileNotFoundError, ValueError) as err:
        print(f"zoo demo: {err}", file=sys.stderr)
        return 2
    if not spaces:
        print(f"zoo demo: no <name>/app.py under {args.spaces_dir}", file=sys.stderr)
        return 2
    for space in spaces:
        import_space(space)
    if args.list:
        for space in spaces:
            print(f"{space.name}\t{space.title}\t{getattr(space.module, 'MAX_SECONDS', None)}\t{space.path}")
        return 0
    try:
        app = build_app(spaces)
    except RuntimeError as err:
        print(f"zoo demo: {err}", file=sys.stderr)
        return 1
    app.queue(default_concurrency_limit=args.concurrency, max_size=args.max_queue)
    # quiet: gradio's own banner suggests share=True, which this launcher refuses; say where it serves instead
    try:
        _, url, _ = app.launch(
            server_name="127.0.0.1",
            server_port=args.port,
            max_file_size=MAX_FILE_SIZE,
            show_error=True,
            share=False,
            quiet=True,
            prevent_thread_lock=True,
        )
    except OSError as err:  # the port is taken
        print(f"zoo demo: cannot serve on 127.0.0.1:{args.port} ({err}); pick another with --port", file=sys.stderr)
        return 1
    print(f"zoo demo: serving {', '.join(space.name for space in spaces)} at {url} (Ctrl+C to stop)", flush=True)
    app.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
