"""`zoo demo`, the launcher: --help, finding and picking Spaces, refusing --share; no browser, no model."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from zoo import cli, demo

REPO_SPACES = Path(__file__).resolve().parents[1] / "spaces"

FAKE_APP = textwrap.dedent(
    """
    import gradio as gr

    TITLE = "{title}"
    MAX_SECONDS = 5

    def build_demo():
        {body}
        with gr.Blocks() as blocks:
            gr.Markdown("{title}")
        return blocks
    """
)


@pytest.fixture
def spaces_dir(tmp_path) -> Path:
    """alpha and beta are Spaces; gamma has no app.py; broken's build_demo fails."""
    for name, title, body in [
        ("alpha", "Alpha", "pass"),
        ("beta", "Beta", "pass"),
        ("broken", "Broken", "raise OSError('no model')"),
    ]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text(FAKE_APP.format(title=title, body=body))
    (tmp_path / "gamma").mkdir()
    (tmp_path / "gamma" / "README.md").write_text("not a Space")
    return tmp_path


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["demo", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in ("--spaces", "--spaces-dir", "--port", "--share", "--list"):
        assert option in out
    assert "7860" in out


def test_the_repo_has_the_separation_space():
    spaces = demo.find_spaces(demo.DEFAULT_SPACES_DIR)
    assert demo.DEFAULT_SPACES_DIR == REPO_SPACES
    assert "separation" in [space.name for space in spaces]
    for space in spaces:
        assert (space.path.parent / "README.md").is_file() and (space.path.parent / "requirements.txt").is_file()


def test_find_and_select(spaces_dir):
    spaces = demo.find_spaces(spaces_dir)
    assert [space.name for space in spaces] == ["alpha", "beta", "broken"]
    assert [space.name for space in demo.select_spaces(spaces, "beta, alpha,beta")] == ["beta", "alpha"]
    assert demo.select_spaces(spaces, None) == spaces
    with pytest.raises(ValueError, match="unknown Space.*gamma; choose from alpha, beta, broken"):
        demo.select_spaces(spaces, "alpha,gamma")
    with pytest.raises(FileNotFoundError, match="--spaces-dir"):
        demo.find_spaces(spaces_dir / "missing")


def test_import_space(spaces_dir, tmp_path):
    space = demo.find_spaces(spaces_dir)[0]
    module = demo.import_space(space)
    assert module.MAX_SECONDS == 5 and space.title == "Alpha"
    (tmp_path / "nobuild").mkdir()
    (tmp_path / "nobuild" / "app.py").write_text("TITLE = 'x'\n")
    with pytest.raises(AttributeError, match="build_demo"):
        demo.import_space(demo.Space("nobuild", tmp_path / "nobuild" / "app.py"))


def test_list(spaces_dir, capsys):
    assert demo.main(["--spaces-dir", str(spaces_dir), "--spaces", "beta", "--list"]) == 0
    assert capsys.readouterr().out.split("\t")[:2] == ["beta", "Beta"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--share"], "needs internet access"),
        (["--spaces", "nope"], "unknown Space(s) nope"),
        (["--spaces-dir", "/nonexistent/spaces"], "no Spaces folder at /nonexistent/spaces"),
    ],
)
def test_refusals(argv, message, capsys):
    assert demo.main(argv) == 2
    assert message in capsys.readouterr().err


def test_build_app_tabs_and_skips_a_broken_space(spaces_dir, capsys):
    import gradio as gr

    spaces = demo.find_spaces(spaces_dir)
    for space in spaces:
        demo.import_space(space)
    app = demo.build_app(spaces)
    tabs = [block.label for block in app.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs == ["Alpha", "Beta"]
    assert "skipping 'broken': OSError: no model" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="no Space could be built"):
        demo.build_app([spaces[2]])
