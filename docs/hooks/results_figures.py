"""MkDocs hook: the studies' figures straight from results/, not copied into docs/.

The reports write their PNGs next to their runs (`results/<study>/*.png`). This hook adds every
such file to the site under the same path, so a study page links `../results/<study>/x.png` and
the build (strict) checks that the figure exists. One copy of each figure: the committed one.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File


def on_files(files, config):
    root = Path(config["config_file_path"]).resolve().parent
    for png in sorted((root / "results").rglob("*.png")):
        rel = png.relative_to(root).as_posix()
        files.append(
            File(
                rel,
                src_dir=str(root),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files
