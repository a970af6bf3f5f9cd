"""The integrations are optional: `import contrastlens` (and every core subpackage, the CLI
included) imports none of the outside libraries, and an adapter whose library is missing says
which extra to install. Fresh subprocesses, so nothing imported by other tests can hide a leak."""

from __future__ import annotations

import json
import subprocess
import sys

OUTSIDE = [
    "sentence_transformers",
    "lightly",
    "pytorch_metric_learning",
    "open_clip",
    "transformers",
]


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_contrastlens_imports_no_outside_library():
    code = f"""
import json, sys
import contrastlens
import contrastlens.losses, contrastlens.similarity, contrastlens.theory
import contrastlens.integrations
import contrastlens.cli
import contrastlens.inspect
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({OUTSIDE!r}))))
"""
    assert json.loads(_run(code)) == []


def test_inspect_is_lazy_and_callable():
    """`import contrastlens` does not import the inspect package; `contrastlens.inspect` is it,
    and calling it runs the lens (on arrays: no outside library needed for float32)."""
    code = """
import json, sys
import numpy as np
import contrastlens
before = "contrastlens.inspect" in sys.modules
r = contrastlens.inspect(np.eye(6, 4) + 0.1, precisions=("float32",), batch_size=3)
import contrastlens.inspect as package
same = package.inspect is contrastlens.inspect.inspect
print(json.dumps([before, r.rows, callable(contrastlens.inspect), same,
                  "sentence_transformers" in sys.modules]))
"""
    assert json.loads(_run(code)) == [False, 6, True, True, False]


ADAPTERS = {  # module -> (host library, extra)
    "sentence_transformers": ("sentence_transformers", "sentence-transformers"),
    "lightly": ("lightly", "lightly"),
    "pml": ("pytorch_metric_learning", "pml"),
    "open_clip": ("open_clip", "open-clip"),
}


def test_missing_library_names_the_extra():
    """One subprocess in which every host library is missing; each adapter's ImportError names
    itself and the extra to install."""
    code = f"""
import importlib, json, sys
adapters = {ADAPTERS!r}
for library, _ in adapters.values():
    sys.modules[library] = None  # as if not installed: importing it raises ImportError
messages = {{}}
for module in adapters:
    try:
        importlib.import_module("contrastlens.integrations." + module)
    except ImportError as error:
        messages[module] = str(error)
    else:
        messages[module] = "imported"
print(json.dumps(messages))
"""
    messages = json.loads(_run(code))
    for module, (_, extra) in ADAPTERS.items():
        assert f"pip install 'contrastlens[{extra}]'" in messages[module]
        assert f"contrastlens.integrations.{module} needs" in messages[module]
