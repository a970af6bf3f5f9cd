"""The architecture as a test: imports flow one way, no import circle, and torch.distributed is
imported by distributed.py alone. Every import counts, also those inside functions."""

import ast
from pathlib import Path

import contrastlens

ROOT = Path(contrastlens.__file__).parent
# A module may import from its own layer or a lower one; never from a higher one.
LAYERS = {
    "errors": 0,
    "optimum": 0,
    "checks": 0,
    "runfolder": 0,
    "distributed": 0,
    "memory": 0,
    "losses": 1,
    "similarity": 1,
    "theory": 1,
    "models": 2,
    "data": 2,
    "train": 3,
    "eval": 3,
    "experiments": 4,
    "report": 4,
    "integrations": 4,
    "text": 4,
    "inspect": 5,  # the lens of any model: reads inputs (experiments, integrations), reports
    "cli": 5,
    "__init__": 6,
    "__main__": 6,
}


def _unit(path: Path) -> str:
    """The top-level package or module a file belongs to (losses, runfolder, ...)."""
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _graph() -> dict[str, set[str]]:
    """unit -> the units it imports (contrastlens' own)."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        unit = _unit(path)
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "contrastlens" and len(parts) > 1 and parts[1] != unit:
                target = parts[1]
                if target in LAYERS:
                    graph.setdefault(unit, set()).add(target)
    return graph


def test_every_unit_has_a_layer():
    units = {_unit(p) for p in ROOT.rglob("*.py")}
    assert units <= set(LAYERS), sorted(units - set(LAYERS))


def test_imports_flow_down():
    upward = [(a, b) for a, bs in _graph().items() for b in bs if LAYERS[b] > LAYERS[a]]
    assert not upward, upward


def test_no_import_circle_between_packages():
    graph = _graph()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    circles = [unit for unit in graph if reaches(unit, unit, {unit})]
    assert not circles, circles


def test_only_distributed_imports_torch_distributed():
    users = {
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if any(
            n == "torch.distributed"
            or n.startswith("torch.distributed.")
            or n.startswith("torch.nn.parallel")
            for n in _imports(p)
        )
    }
    assert users == {"distributed.py"}, users


def test_report_never_imports_the_trainer():
    assert not _graph().get("report", set()) & {"train", "eval", "experiments", "models"}
