"""MkDocs hook: every page of docs/studies/ in the navigation, without listing each in mkdocs.yml.

MkDocs' `nav` names pages one by one. This hook finds the nav list that holds
`studies/index.md` and appends the folder's other Markdown pages after it, sorted by file name
(each titled by its first heading). A new study is one new file in docs/studies/.
"""

from __future__ import annotations

from pathlib import Path

FOLDER = "studies"
INDEX = f"{FOLDER}/index.md"


def on_config(config):
    config["nav"] = with_studies(config["nav"], Path(config["docs_dir"]))
    return config


def with_studies(nav: list, docs_dir: Path) -> list:
    """`nav` with the pages of docs_dir/studies/ added to the list that holds the index."""
    found = _holder(nav)
    if found is None:
        from mkdocs.exceptions import PluginError

        raise PluginError(f"mkdocs.yml's nav must list {INDEX} (the studies section)")
    listed = set(_pages(nav))
    pages = sorted(p.relative_to(docs_dir).as_posix() for p in (docs_dir / FOLDER).rglob("*.md"))
    found.extend(page for page in pages if page not in listed)
    return nav


def _holder(items):
    """The nav list that holds the studies index (as a bare path or as {title: path})."""
    if not isinstance(items, list):
        return None
    for item in items:
        if item == INDEX or (isinstance(item, dict) and INDEX in item.values()):
            return items
        if isinstance(item, dict):
            for value in item.values():
                found = _holder(value)
                if found is not None:
                    return found
    return None


def _pages(items):
    if isinstance(items, str):
        yield items
    elif isinstance(items, list):
        for item in items:
            yield from _pages(item)
    elif isinstance(items, dict):
        for value in items.values():
            yield from _pages(value)
