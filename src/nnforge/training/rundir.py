"""Run-directory ownership: which folders a run may replace, the lock, staging and leftovers.

The rules (also in ``docs/DESIGN.md``):

* ``RUN_DIR`` may be written only when it does not exist, is an empty folder, or is recognisably
  an nnforge run: it has ``spec.json`` and ``evaluation.json`` and every entry in it is a name
  nnforge writes (:data:`RUN_ENTRIES`). Anything else (a file, the current folder, a folder with
  a user's files, a symbolic link) is refused *before* any work, naming what is in the way.
* A training into ``RUN_DIR`` holds the lock file ``.NAME.lock`` beside it, which records its
  PID. A second training into the same place is refused while the first one lives. The lock is
  an advisory ``flock`` where the OS has one (released by the kernel when the process dies, so a
  killed run never blocks the next one), else the PID in the file decides.
* The run is assembled in ``.NAME.partial-PID`` beside ``RUN_DIR``; the old run, if any, is moved
  to ``.NAME.old-PID`` just before the new one is renamed into place, then deleted. The next
  training into the same place removes the leftovers of dead processes (and puts back an old run
  whose replacement never arrived); a leftover of a process still alive is reported, not touched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nnforge.data import Pipeline
from nnforge.exceptions import NNForgeError, SpecError
from nnforge.model import Model
from nnforge.nn import Network

try:  # POSIX: an advisory lock that dies with its process
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "RUN_ENTRIES",
    "RunDirBusyError",
    "RunDirDamagedError",
    "RunDirError",
    "check_replaceable",
    "claim_run_dir",
    "clean_leftovers",
    "is_run_dir",
    "load_run_files",
    "publish",
    "staging_dir",
]

logger = logging.getLogger(__name__)

# Every top-level entry nnforge writes into a run directory (train, importance, report).
# A new file in the run directory must be added here, or replacing such a run is refused.
RUN_ENTRIES = frozenset(
    {
        "spec.json",
        "evaluation.json",
        "history.csv",
        "log.txt",
        "predictions.csv",
        "predictions.parquet",
        "pipelines",
        "models",
        "importance.csv",
        "importance_groups.csv",
        "importance.png",
        "report.html",
        "plots",
    }
)
_REQUIRED = ("spec.json", "evaluation.json")
_ATOMIC_TMP = re.compile(r"^\..+\.tmp$")  # leftovers of nnforge._io.atomic_path
_SHOW = 5


class RunDirError(NNForgeError, ValueError):
    """``--out`` names something that is not ours to replace; nothing was written."""

    hint = "choose a new folder for --out (a folder holding an earlier run is replaced)"


class RunDirBusyError(RunDirError):
    """Another live training holds the lock of the same run directory."""

    hint = "wait for the other training to finish, or choose another --out"


def is_run_dir(path: str | Path) -> bool:
    """True when ``path`` is a folder with ``spec.json`` and ``evaluation.json``."""
    path = Path(path)
    return path.is_dir() and all((path / name).is_file() for name in _REQUIRED)


def _foreign_entries(path: Path) -> list[str]:
    """Entries of a run directory that nnforge did not write (sorted)."""
    return sorted(
        e.name
        for e in path.iterdir()
        if e.name not in RUN_ENTRIES and not _ATOMIC_TMP.match(e.name)
    )


def check_replaceable(path: str | Path) -> Path:
    """``path`` made absolute, or a :class:`RunDirError` saying why it must not be replaced."""
    shown = str(path)
    path = Path(os.path.abspath(path))
    cwd = Path.cwd()
    if path == cwd or path in cwd.parents or path.parent == path:
        msg = f"`{shown}` is the current folder or one above it; a run needs a folder of its own"
        raise RunDirError(msg)
    if path.is_symlink():
        msg = f"`{shown}` is a symbolic link; nnforge replaces only run folders it wrote"
        raise RunDirError(msg)
    if not path.exists():
        return path
    if not path.is_dir():
        msg = f"`{shown}` exists and is a file, not a run directory; nothing was written"
        raise RunDirError(msg)
    entries = list(path.iterdir())
    if not entries:
        return path
    if not is_run_dir(path):
        names = sorted(e.name for e in entries)
        more = " ..." if len(names) > _SHOW else ""
        msg = (
            f"`{shown}` exists and is not an nnforge run directory (it holds "
            f"{', '.join(names[:_SHOW])}{more}); nothing was written"
        )
        raise RunDirError(msg)
    foreign = _foreign_entries(path)
    if foreign:
        more = " ..." if len(foreign) > _SHOW else ""
        msg = (
            f"run directory `{shown}` also holds files nnforge did not write "
            f"({', '.join(foreign[:_SHOW])}{more}); replacing it would delete them"
        )
        raise RunDirError(msg)
    return path


# -- the lock ----------------------------------------------------------------------------------


def _lock_path(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.lock"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:  # pragma: no cover - e.g. Windows without that PID
        return False
    return True


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return -1


def _busy(out_dir: Path, pid: int, shown: str) -> RunDirBusyError:
    who = f"PID {pid}" if pid > 0 else "another process"
    msg = (
        f"another training ({who}) is writing `{shown}` (lock file "
        f"{_lock_path(out_dir).name}); wait for it, stop it, or choose another --out"
    )
    return RunDirBusyError(msg)


@contextlib.contextmanager
def _locked(out_dir: Path, shown: str) -> Iterator[None]:
    """Hold ``.NAME.lock`` (with this PID in it) for the duration of the block."""
    path = _lock_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire_flock(path, out_dir, shown) if fcntl else _acquire_pidfile(path, out_dir, shown)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def _acquire_flock(path: Path, out_dir: Path, shown: str) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise _busy(out_dir, _read_pid(path), shown) from None
        try:  # the holder may have unlinked the file between our open and our lock: retry
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _acquire_pidfile(path: Path, out_dir: Path, shown: str) -> int:  # pragma: no cover - Windows
    while True:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pid = _read_pid(path)
            if _pid_alive(pid):
                raise _busy(out_dir, pid, shown) from None
            with contextlib.suppress(OSError):
                path.unlink()


# -- staging, publishing and leftovers ---------------------------------------------------------


def staging_dir(out_dir: Path) -> Path:
    """A fresh hidden folder beside ``out_dir`` where the run is assembled."""
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def publish(staging: Path, out_dir: Path) -> Path:
    """Rename the finished ``staging`` folder to ``out_dir``, replacing the run there."""
    check_replaceable(out_dir)  # the folder may have changed during training
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        if out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        else:
            out_dir.rename(old)
    staging.rename(out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out_dir


def _leftovers(out_dir: Path) -> Iterator[tuple[Path, str, int]]:
    """``(path, kind, pid)`` of every ``.NAME.partial-PID`` / ``.NAME.old-PID`` beside it."""
    pattern = re.compile(rf"^\.{re.escape(out_dir.name)}\.(partial|old)-(\d+)$")
    if not out_dir.parent.is_dir():
        return
    for entry in out_dir.parent.iterdir():
        match = pattern.match(entry.name)
        if match and entry.is_dir() and not entry.is_symlink():
            yield entry, match.group(1), int(match.group(2))


def clean_leftovers(out_dir: Path) -> list[str]:
    """Remove (or report) staging folders of dead trainings into ``out_dir``; return notes.

    Call it only while holding the lock of ``out_dir``. An ``old`` folder of a dead process is
    put back as ``out_dir`` when the new run never arrived, else removed.
    """
    notes = []
    for path, kind, pid in sorted(_leftovers(out_dir), key=lambda t: t[1] != "old"):
        if pid != os.getpid() and _pid_alive(pid):
            notes.append(f"left {path.name} alone: process {pid} that wrote it is still running")
        elif kind == "old" and not out_dir.exists() and is_run_dir(path):
            path.rename(out_dir)
            notes.append(f"restored the previous run {out_dir} from {path.name} (PID {pid} died)")
        else:
            shutil.rmtree(path, ignore_errors=True)
            notes.append(f"removed {path.name}, left behind by a training that died (PID {pid})")
    return notes


@contextlib.contextmanager
def claim_run_dir(out_dir: str | Path) -> Iterator[Path]:
    """Check ``out_dir`` is ours, lock it and clean leftovers; yield its absolute path.

    Raises
    ------
    RunDirError
        ``out_dir`` is not replaceable (see the module docstring); nothing was written.
    RunDirBusyError
        Another live training writes into ``out_dir``.
    """
    shown = str(out_dir)
    path = check_replaceable(out_dir)
    with _locked(path, shown):
        for note in clean_leftovers(path):
            logger.info(note)
        check_replaceable(out_dir)  # a restored old run is a run; anything else was refused
        yield path


# -- loading: every file present, readable and consistent, or an error naming it ---------------


class RunDirDamagedError(NNForgeError, ValueError):
    """A run directory lacks a file or holds one that is unreadable or inconsistent."""

    hint = "the run directory is damaged or edited by hand; train it again with `nnforge train`"


def _damaged(path: Path, problem: str) -> RunDirDamagedError:
    return RunDirDamagedError(f"{path}: {problem}")


def read_json(path: Path) -> Any:
    """The JSON content of a run file, or an error naming the file."""
    if not path.is_file():
        return _raise(_damaged(path, "missing"))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(path, f"not readable JSON ({exc})") from None


def _raise(exc: Exception) -> Any:
    raise exc


def fold_count(run: Path, evaluation: dict[str, Any]) -> int:
    """How many folds the run has, from ``evaluation.json`` (its ``folds`` and ``summary.k``)."""
    folds = evaluation.get("folds") if isinstance(evaluation, dict) else None
    k = evaluation.get("summary", {}).get("k") if isinstance(evaluation, dict) else None
    if not isinstance(folds, list) or not folds or (k is not None and k != len(folds)):
        raise _damaged(run / "evaluation.json", "no consistent list of folds")
    return len(folds)


def load_fold(run: Path, i: int, model: Model) -> tuple[Pipeline, Network]:
    """Fold ``i``'s fitted pipeline and network, checked against the spec and each other."""
    pipe_path = run / "pipelines" / f"fold_{i}.json"
    try:
        pipeline = Pipeline.from_dict(read_json(pipe_path))
    except SpecError as exc:
        raise _damaged(pipe_path, str(exc)) from None
    if pipeline.spec.to_dict() != model.dataset.validated().to_dict():
        raise _damaged(pipe_path, "its dataset spec differs from spec.json")
    base = run / "models" / f"fold_{i}"
    for suffix in (".json", ".safetensors"):
        if not base.with_suffix(suffix).is_file():
            raise _damaged(base.with_suffix(suffix), "missing")
    try:
        network = Network.load(base)
    except (ValueError, TypeError, KeyError, OSError) as exc:
        raise _damaged(base.with_suffix(".json"), " ".join(str(exc).split())) from None
    n_in, n_out = len(pipeline.input_features_), len(pipeline.output_features_)
    if network.n_inputs != n_in or network.layers[-1].units != n_out:
        problem = (
            f"a network of {network.n_inputs} inputs and {network.layers[-1].units} outputs, "
            f"but pipelines/fold_{i}.json gives {n_in} inputs and {n_out} outputs"
        )
        raise _damaged(base.with_suffix(".json"), problem)
    if len(network.layers) != len(model.layers):
        problem = f"{len(network.layers)} layers, but spec.json has {len(model.layers)}"
        raise _damaged(base.with_suffix(".json"), problem)
    return pipeline, network


def load_run_files(path: Path) -> tuple[Model, dict[str, Any], list[Pipeline], list[Network]]:
    """Model, ``evaluation.json`` content, and every fold's pipeline and network of a run.

    Raises :class:`RunDirDamagedError` naming the first missing, unreadable or inconsistent
    file: a run missing a fold must never predict with the others as if it were complete.
    """
    if not is_run_dir(path):
        msg = f"`{path}` is not a run directory (no spec.json or evaluation.json)"
        raise RunDirDamagedError(msg)
    try:
        model = Model.from_json(json.dumps(read_json(path / "spec.json")), source="")
    except SpecError as exc:
        problem = "; ".join(line.strip() for line in str(exc).splitlines()[1:]) or str(exc)
        problem = f"does not validate (written by an older nnforge version?): {problem}"
        raise _damaged(path / "spec.json", problem) from None
    evaluation = read_json(path / "evaluation.json")
    k = fold_count(path, evaluation)
    folds = [load_fold(path, i, model) for i in range(k)]
    extra = path / "pipelines" / f"fold_{k}.json"
    if extra.exists():
        raise _damaged(extra, f"evaluation.json lists {k} folds only")
    return model, evaluation, [p for p, _ in folds], [n for _, n in folds]
