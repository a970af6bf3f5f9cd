"""The documentation site (mkdocs.yml, docs/): it builds with warnings as errors, its generated
command-line reference covers the parser, its studies section picks up new pages, and the Python
blocks of the getting-started page run as written."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import contrastlens
from contrastlens.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _hook(name: str):
    """A module of docs/hooks/ (MkDocs loads them by path; so does this test)."""
    path = DOCS / "hooks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parsers(parser: argparse.ArgumentParser):
    """Every (sub)parser below `parser`, `parser` included."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_site_builds_strict(tmp_path):
    """`make docs` in a temporary folder: any warning (broken link or anchor, a page missing from
    the navigation, a `:::` reference to nothing) fails the build."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    src = str(Path(contrastlens.__file__).resolve().parents[1])  # the hook documents this copy
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    site = tmp_path / "site"
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    done = subprocess.run(
        [*command, "--config-file", str(ROOT / "mkdocs.yml")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cli = (site / "cli" / "index.html").read_text()
    for parser in _parsers(build_parser()):
        assert parser.prog in cli, parser.prog
    losses = (site / "api" / "losses" / "index.html").read_text()
    assert "vrn_loss" in losses and "Def 5.7" in losses  # the docstrings were read
    assert (site / "studies" / "index.html").exists()
    assert "One page per study." in (site / "studies" / "index.html").read_text()
    assert "Unreleased" in (site / "changelog" / "index.html").read_text()  # CHANGELOG.md


def test_cli_reference_covers_every_command_and_option():
    hook = _hook("cli_reference")
    text = hook.render(build_parser())
    parts = re.split(r"^#+ `(.+?)` \{ #[\w-]+ \}$", text, flags=re.M)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))  # prog -> its section
    for parser in _parsers(build_parser()):
        assert parser.prog in sections, f"no section for {parser.prog}"
        section = sections[parser.prog]
        for option in set(re.findall(r"[\[ ](--?[a-z][\w-]*)", parser.format_usage())):
            assert f"`{option}" in section or f", {option}" in section, (parser.prog, option)
        for action in parser._actions:  # positionals, by their metavar or their choices
            if not action.option_strings and not isinstance(action, argparse._SubParsersAction):
                assert f"| `{hook._metavar(action)}` |" in section, (parser.prog, action.dest)
    # every link to a command's section lands on a heading that exists
    anchors = set(re.findall(r"\{ #([\w-]+) \}", text))
    assert set(re.findall(r"\]\(#([\w-]+)\)", text)) <= anchors
    assert "theory-siglip" in anchors and "contrastlens" in anchors


def test_cli_reference_escapes_markdown_outside_code():
    hook = _hook("cli_reference")
    assert hook.escape("PATH/train/<class>/*.jpg") == "PATH/train/&lt;class&gt;/\\*.jpg"
    assert hook.escape("auto | cpu") == "auto \\| cpu"
    assert hook.escape("`a<b>*c`, x_y") == "`a<b>*c`, x\\_y"  # code spans stay as written


def test_cli_reference_marker_is_on_the_page():
    assert _hook("cli_reference").MARKER in (DOCS / "cli.md").read_text()


def test_studies_nav_lists_every_study_page(tmp_path):
    hook = _hook("studies_nav")
    (tmp_path / "studies").mkdir()
    for name in ("index.md", "b-text.md", "a-images.md", "listed.md"):
        (tmp_path / "studies" / name).write_text(f"# {name}\n")
    nav = [{"Home": "index.md"}, {"Studies": ["studies/index.md", {"L": "studies/listed.md"}]}]
    out = hook.with_studies(nav, tmp_path)
    assert out[1]["Studies"] == [
        "studies/index.md",
        {"L": "studies/listed.md"},
        "studies/a-images.md",
        "studies/b-text.md",
    ]
    from mkdocs.exceptions import PluginError

    with pytest.raises(PluginError, match="studies/index.md"):
        hook.with_studies([{"Home": "index.md"}], tmp_path)


def test_docs_address_is_one_fact():
    """mkdocs.yml's site_url is where pyproject.toml's Documentation URL points."""
    site_url = re.search(r"^site_url: (\S+)$", (ROOT / "mkdocs.yml").read_text(), re.M)[1]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^Documentation = "(.+)"$', pyproject, re.M)[1] == site_url
    assert re.search(r'^Changelog = "(.+)"$', pyproject, re.M)[1] == site_url + "changelog/"


def test_getting_started_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = (DOCS / "getting-started.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```$", text, re.M | re.S)
    assert len(blocks) >= 3
    for block in blocks:
        exec(compile(block, "<docs/getting-started.md>", "exec"), {"__name__": "__docs__"})
    printed = capsys.readouterr().out
    assert "positives" in printed and "-1.66669" in printed  # -1/(60000-1)


def test_version_option(capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"contrastlens {contrastlens.__version__}"


def _readme_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", (ROOT / "README.md").read_text(), re.M | re.S)


def test_readme_quickstart_runs(tmp_path, monkeypatch, capsys):
    """The README's first Python block (VRN in a training loop) runs as written."""
    monkeypatch.chdir(tmp_path)
    block = _readme_blocks()[0]
    assert "vrn_loss" in block and len(block.strip().splitlines()) <= 16
    exec(compile(block, "<README.md>", "exec"), {"__name__": "__readme__"})
    assert "neg_mean" in capsys.readouterr().out  # the statistics were printed


@pytest.mark.integration
def test_readme_sentence_transformers_block_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    block = next(b for b in _readme_blocks() if "sentence_transformers" in b)
    namespace = {"__name__": "__readme__"}
    exec(compile(block, "<README.md>", "exec"), namespace)
    assert type(namespace["loss"]).__name__ == "CombinedLoss"
