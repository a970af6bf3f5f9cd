"""MkDocs hook: the command-line reference, generated from the argument parser at every build.

docs/cli.md holds the prose and the line `<!-- cli-reference -->`; this hook replaces that line
with the usage, description and arguments of `contrastlens` and of every subcommand (nested
ones included), walked from `contrastlens.cli.build_parser()`. Nothing generated is committed,
so the page cannot drift from the parser. tests/test_docs.py checks `render` on the real parser.

argparse has no public API to list a parser's arguments: this reads `parser._actions` (stable
since Python 3.2), the way documentation generators for argparse do.
"""

from __future__ import annotations

import argparse
import functools
import re

MARKER = "<!-- cli-reference -->"
PAGE = "cli.md"
WIDTH = 88  # usage lines are wrapped at this width, whatever the terminal


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        from mkdocs.exceptions import PluginError

        raise PluginError(f"docs/{PAGE} must contain the line {MARKER} (the generated reference)")
    from contrastlens.cli import build_parser

    return markdown.replace(MARKER, render(build_parser()))


def render(parser: argparse.ArgumentParser) -> str:
    """Markdown for `parser` and every subcommand below it, one section each, in parser order."""
    sections = [_section(parser, 2)]  # the program, then each command at the same level
    for sub in _subcommands(parser).values():
        sections += [_section(p, level) for p, level in _walk(sub, 2)]
    return "\n".join(sections)


def _walk(parser: argparse.ArgumentParser, level: int):
    yield parser, level
    for sub in _subcommands(parser).values():
        yield from _walk(sub, level + 1)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help_of(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Subcommand name -> its one-line help, as `contrastlens COMMAND --help` lists it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help or "" for a in action._choices_actions}
    return {}


def anchor(prog: str) -> str:
    """The heading id of a command's section (`contrastlens theory siglip` -> `theory-siglip`)."""
    words = prog.split()[1:] or prog.split()
    return "-".join(words)


def _section(parser: argparse.ArgumentParser, level: int) -> str:
    formatter = _formatter_type(parser)
    parser.formatter_class = functools.partial(formatter, width=WIDTH)
    out = [f"{'#' * level} `{parser.prog}` {{ #{anchor(parser.prog)} }}", ""]
    if parser.description:
        # a raw description is preformatted text (examples, aligned columns): kept as it is
        if issubclass(formatter, argparse.RawDescriptionHelpFormatter):
            out += ["```text", parser.description.strip("\n"), "```", ""]
        else:
            out += [escape(" ".join(parser.description.split())), ""]
    out += ["```text", parser.format_usage().strip(), "```", ""]
    subs = _subcommands(parser)
    if subs:
        helps = _help_of(parser)
        out += ["| command | what it does |", "| --- | --- |"]
        for name, sub in subs.items():
            link = f"[`{name}`](#{anchor(sub.prog)})"
            out.append(f"| {link} | {_cell(helps.get(name, ''))} |")
        out.append("")
    rows = [a for a in parser._actions if not isinstance(a, argparse._SubParsersAction)]
    rows = [a for a in rows if a.help is not argparse.SUPPRESS]
    if rows:
        out += ["| argument | description |", "| --- | --- |"]
        out += [f"| `{_invocation(a)}` | {_cell(_description(a, parser.prog))} |" for a in rows]
        out.append("")
    return "\n".join(out)


def _formatter_type(parser: argparse.ArgumentParser) -> type:
    cls = parser.formatter_class
    return cls.func if isinstance(cls, functools.partial) else cls


def _metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        name = action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    elif action.choices is not None:
        name = "{" + ",".join(map(str, action.choices)) + "}"
    else:
        name = action.dest if not action.option_strings else action.dest.upper()
    nargs = action.nargs
    if nargs is None:
        return name
    if nargs == argparse.OPTIONAL:
        return f"[{name}]"
    if nargs == argparse.ZERO_OR_MORE:
        return f"[{name} ...]"
    if nargs == argparse.ONE_OR_MORE:
        return f"{name} [{name} ...]"
    if isinstance(nargs, int):
        return " ".join([name] * nargs)
    return name


def _invocation(action: argparse.Action) -> str:
    if not action.option_strings:
        return _metavar(action)
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    return ", ".join(f"{opt} {_metavar(action)}" for opt in action.option_strings)


def _description(action: argparse.Action, prog: str) -> str:
    text = action.help or ""
    if "%" in text:  # argparse's own expansion of %(default)s, %(prog)s, %%
        params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
        params["prog"] = prog
        if params.get("choices") is not None:
            params["choices"] = ", ".join(map(str, params["choices"]))
        text = text % params
    extras = []
    if action.choices is not None and action.option_strings:
        extras.append("one of " + ", ".join(f"`{c}`" for c in action.choices))
    default = action.default
    shown = default not in (None, False, [], argparse.SUPPRESS) and action.nargs != 0
    if shown and "default" not in text:
        extras.append(f"default `{default}`")
    if action.required and action.option_strings:
        extras.append("required")
    if extras:
        text = f"{text} ({'; '.join(extras)})" if text else "; ".join(extras)
    return text


def escape(text: str) -> str:
    """Markdown-safe text: code spans (`...`) kept as they are, elsewhere the characters that
    Markdown or HTML would act on escaped (`<class>` would vanish as a tag, `*` start emphasis)."""
    parts = re.split(r"(`[^`]*`)", text)
    for i in range(0, len(parts), 2):
        part = parts[i].replace("\\", "\\\\").replace("&", "&amp;")
        part = part.replace("<", "&lt;").replace(">", "&gt;")
        parts[i] = re.sub(r"([*_\[\]|])", r"\\\1", part)
    return "".join(parts)


def _cell(text: str) -> str:
    """One table cell: one line."""
    return escape(" ".join(text.split()))
