"""The `contrastlens` command line: one module per subcommand in this package.

Each module here defines `register(subparsers)`, which adds its parser and sets `func` (a
callable taking the parsed namespace and returning an exit code). Modules import heavy
dependencies inside `func`, so `contrastlens --help` stays fast. This file only discovers the
modules, parses and dispatches, and turns errors into exit codes:

    0  done                        1  done, but some runs failed / a check did not pass;
                                      or another process of a distributed job died or hung
    2  bad input or environment:   one line on stderr naming the problem and the fix, no
       traceback (ConfigError, DataError, ValueError, OSError with its path and errno,
       out of memory); argparse's usage errors are 2 as well
    3  `train`: the loss diverged (the message names the step and the last checkpoint)
    130 interrupted (Ctrl-C)

Any other exception is a bug in contrastlens, not a problem with the input: it keeps its
traceback (exit 1) so that it can be reported and fixed. CONTRASTLENS_DEBUG=1 shows the
traceback of every error, the expected ones included.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import sys

from contrastlens import __version__
from contrastlens.errors import ConfigError, DataError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contrastlens",
        description="Contrastive learning seen through the similarities of embeddings.",
    )
    parser.add_argument("--version", action="version", version=f"contrastlens {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if os.environ.get("CONTRASTLENS_DEBUG"):
            raise
        peer = peer_failure(err)
        if peer is not None:
            print(f"contrastlens {args.command}: error: {peer}", file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
            # A process group whose peer died cannot be torn down: its destructor at exit
            # aborts ("terminate called without an active exception", SIGABRT). Leave now.
            os._exit(1)
        message = user_error(err)
        if message is None:
            raise
        print(f"contrastlens {args.command}: error: {message}", file=sys.stderr)
        return 2


# How to fix an OSError, by errno (the message names the path).
OS_FIXES = {
    errno.ENOSPC: "the disk is full. Fix: free space (or write to another disk) and run the "
    "command again; completed files are kept and a training run continues with "
    "`contrastlens train --resume RUN_DIR`",
    errno.EDQUOT: "the disk quota is exceeded. Fix: free space within your quota and run the "
    "command again (a training run continues with `contrastlens train --resume RUN_DIR`)",
    errno.EROFS: "the file system is read-only. Fix: choose a writable folder",
    errno.EACCES: "permission denied. Fix: choose a path you can write to or change its "
    "permissions",
    errno.EPERM: "operation not permitted. Fix: choose a path you own",
    errno.ENOENT: "no such file or folder. Fix: check the path",
    errno.ENOTDIR: "a part of this path is a file, not a folder. Fix: choose another path",
    errno.EISDIR: "this is a folder, a file was expected. Fix: give the path of a file",
    errno.EEXIST: "this already exists and is not a folder. Fix: choose another path",
    errno.ENAMETOOLONG: "the name is too long. Fix: choose a shorter path",
}


def user_error(err: BaseException) -> str | None:
    """The one-line message for an error caused by the input or the environment (the user can
    fix it), or None for anything else (a bug: keep the traceback)."""
    if isinstance(err, OSError) and not isinstance(err, ConnectionError):
        fix = OS_FIXES.get(err.errno)
        if fix is None and err.errno is not None:
            code = errno.errorcode.get(err.errno, str(err.errno))
            fix = f"{err.strerror} ({code}). Fix: check the path and the disk"
        if err.filename:
            where = f"{err.filename}" + (f" -> {err.filename2}" if err.filename2 else "")
            return f"{where}: {fix}"
        if err.errno is None:  # raised by contrastlens with a message of its own
            return _one_line(str(err))
        return f"{err.strerror}: {fix}"
    if isinstance(err, (DataError, ConfigError, ValueError)):
        return _one_line(str(err))
    if isinstance(err, MemoryError) or _torch_oom(err):
        return (
            f"out of memory ({_one_line(str(err))[:200]}). Fix: lower train.batch_size "
            "(or use train.micro_batch), or the model's sizes"
        )
    return None


def peer_failure(err: BaseException) -> str | None:
    """The message for a collective that failed because another process of a torchrun job died
    or hung (gloo/nccl raise RuntimeError; the wait is bounded by distributed.TIMEOUT_S), or
    None. Exit 1: not bad input, but not a bug in this process either."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    torch = sys.modules.get("torch")
    dist_error = getattr(getattr(torch, "distributed", None), "DistError", ())
    text = str(err)
    markers = (
        "gloo",
        "nccl",
        "NCCL",
        "Connection reset",
        "Connection closed",
        "Timed out",
        "timed out",
        "Broken pipe",
    )
    if not isinstance(err, dist_error) and not (
        isinstance(err, (RuntimeError, ConnectionError)) and any(m in text for m in markers)
    ):
        return None
    rank = os.environ.get("RANK", "?")
    first = _one_line(text)[:300]
    return (
        f"rank {rank}: a collective operation failed: another process of this job died or "
        f"stopped responding ({first}). Fix: read that process's error above; then continue "
        "from the last checkpoint with the same torchrun command and `--resume RUN_DIR`"
    )


def _torch_oom(err: BaseException) -> bool:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(err, getattr(torch, "OutOfMemoryError", ())):
        return True
    return isinstance(err, RuntimeError) and "can't allocate memory" in str(err)


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
