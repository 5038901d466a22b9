"""The output folder: never where an input is, and always one complete run.

A command first plans its folder (`plan_out`): every path it reads must lie outside every path it
writes, the folder must be a writable folder holding nothing but an earlier run's outputs, and the
default folder comes from a sanitised project name under ./maps/. The run then writes into a
staging folder beside the target (`staged`) while holding a lock beside it; only when everything is
written does the staging folder take the target's place, in one rename. A run that fails, is
interrupted or killed leaves the previous outputs as they were; the next run clears what it left.

Beside the target `maps/x/` live, while a run is going: `.x.lock` (the lock), `.x.staging-<run id>/`
(the new outputs) and `x.parts/` (finished parts of a partitioned run, kept when it is interrupted so
the next run resumes, removed once the outputs are in place).
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import fnmatch
import logging
import os
import re
import shutil
import signal
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from healthreach._errors import UsageError
from healthreach.maps.outputs import new_run_id, output_names

try:  # POSIX; Windows locks with msvcrt
    import fcntl
except ImportError:  # pragma: no cover - exercised on Windows only
    fcntl = None  # type: ignore[assignment]
    import msvcrt

log = logging.getLogger(__name__)

MAX_NAME_BYTES = 120
"""Longest folder name made from a project name (UTF-8 bytes; file systems allow 255)."""
COMMAND_FILES = ("optimized.yml", "optimize.csv", "validation.csv", "parts")
"""Files the commands add to an output folder (`parts/` is where earlier versions kept parts)."""
SIDECARS = ("*.gpkg-wal", "*.gpkg-shm", "*.gpkg-journal", "*.aux.xml", ".DS_Store", "._*", "Thumbs.db",
            "desktop.ini", "~$*", ".~lock.*#")
"""What GIS programs, spreadsheets and file browsers add beside outputs they open; replaced with them."""
_INTERRUPTED: list[int] = []
"""Signals received; put_in_place refuses once one arrived even when Python swallowed the
KeyboardInterrupt (it does when the signal lands inside a weakref callback or __del__)."""
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def folder_name(project_name: str) -> str:
    """A safe folder name from a project name: one path component, never '.' or '..', no separators
    or control characters, at most MAX_NAME_BYTES; Chinese kept."""
    text = _UNSAFE.sub("_", unicodedata.normalize("NFC", str(project_name))).strip().strip(".").strip()
    while len(text.encode("utf-8")) > MAX_NAME_BYTES:
        text = text[:-1]
    if not text or text.upper() in _RESERVED:
        text = f"project_{text}" if text else "project"
    return text


def default_out(project_name: str) -> Path:
    """maps/<sanitised project name>/ under the current folder."""
    return Path("maps") / folder_name(project_name)


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


@dataclass(frozen=True)
class OutPlan:
    """Where a run writes: the target folder and its siblings (all absolute, symlinks resolved)."""

    given: Path
    """The folder as the user named it (for messages)."""
    target: Path
    run_id: str

    @property
    def lock(self) -> Path:
        return self.target.parent / f".{self.target.name}.lock"

    @property
    def staging(self) -> Path:
        return self.target.parent / f".{self.target.name}.staging-{self.run_id}"

    @property
    def parts(self) -> Path:
        """Finished parts of a partitioned run (kept for resume until the outputs are in place)."""
        return self.target.parent / f"{self.target.name}.parts"

    def staged_path(self, path: Path) -> Path:
        """Where `path` (inside the staging folder) will be once the run is in place."""
        path = Path(path)
        return self.target / path.relative_to(self.staging) if self.staging in path.parents else path


def check_overlap(given: Path, reads: Iterable[Path], writes: Iterable[Path]) -> None:
    """Refuse (exit 2) when a path read lies at or inside a path written: the run would replace it."""
    writes = [_real(w) for w in writes]
    for read in dict.fromkeys(_real(Path(r)) for r in reads):
        for write in writes:
            if read == write or write in read.parents:
                raise UsageError(f"--out {given}: writing {write} would replace the input {read}; expected an "
                                 "output folder that holds no input")


def _check_writable_folder(given: Path, folder: Path) -> None:
    """The folder, if it exists, is a writable folder; else its parent can be created and written."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {given}: {folder} is a file (expected a folder, new or of an earlier run)")
    parent = folder.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"--out {given}: a part of {parent} is a file (expected folders)") from None
    except OSError as exc:
        raise UsageError(f"--out {given}: cannot create {parent} ({exc.strerror}); expected a folder this user "
                         "can write") from None
    for place in ((parent, folder) if folder.exists() else (parent,)):
        if not os.access(place, os.W_OK | os.X_OK):
            raise UsageError(f"--out {given}: {place} is read-only (expected a folder this user can write)")


def _foreign(folder: Path, extra: Iterable[str]) -> list[str]:
    """Entries of an existing output folder that no healthreach run writes."""
    known = (*output_names(), *COMMAND_FILES, *SIDECARS, *extra)
    return sorted(entry.name for entry in folder.iterdir()
                  if not any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in known)
                  and not _is_temporary(entry.name))


def _is_temporary(name: str) -> bool:
    """A temporary file of an earlier, killed write (`.<name>.<hex>.tmp...`, `.<name>.<hex>.tmpdir`)."""
    return name.startswith(".") and ".tmp" in name


def plan_out(out: Path, reads: Iterable[Path], *, run_id: str | None = None, whole_folder: bool = True,
             files: Iterable[str] = ()) -> OutPlan:
    """Check an output folder before any analysis and return where the run will write.

    `whole_folder`: the run replaces the folder (run, compare, optimize); otherwise it writes only
    `files` into it (validate). Usage errors (exit 2): an input at or inside a path written, a file or
    read-only folder, and (for a whole folder) an existing folder holding files healthreach did not write.
    """
    given = Path(out)
    target = _real(given)
    if target == target.parent:
        raise UsageError(f"--out {given}: the root folder cannot be an output folder (expected a folder of its own)")
    plan = OutPlan(given=given, target=target, run_id=run_id or new_run_id())
    names = list(files)
    writes = [plan.target, plan.staging, plan.lock, plan.parts] if whole_folder else \
        [plan.lock, *(plan.target / n for n in names)]
    check_overlap(given, reads, writes)
    if whole_folder and target.is_dir():
        foreign = _foreign(target, names)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise UsageError(f"--out {given}: {target} holds files healthreach did not write ({shown}); a run "
                             "replaces its whole output folder, so expected a new or empty folder, or one of "
                             "an earlier run")
    _check_writable_folder(given, target)
    return plan


# --------------------------------------------------------------------------- the lock


@contextlib.contextmanager
def locked(plan: OutPlan) -> Iterator[None]:
    """Hold the folder's lock: a second run into the same folder fails at once (exit 2).

    The lock is an OS lock on `.name.lock` (released when the process ends, however it ends); the
    file is removed on the way out, and a run that finds it replaced meanwhile locks the new one.
    """
    while True:
        try:
            fd = os.open(plan.lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"--out {plan.given}: cannot create the lock file {plan.lock} ({exc.strerror}); expected "
                             "a folder this user can write") from None
        if not _try_lock(fd):
            os.close(fd)
            raise UsageError(f"--out {plan.given}: another healthreach run is writing {plan.target} (it holds "
                             f"{plan.lock}); expected a folder no other run is writing: wait for it to finish "
                             "or choose another output folder")
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(plan.lock))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder removed the file between our open and lock
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(plan.lock)
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


# --------------------------------------------------------------------------- staging and the swap


def clean_stale(plan: OutPlan, files: Iterable[str] | None = None) -> None:
    """Remove what killed runs left (staging folders, half-renamed old folders, temporary files);
    put back an old folder a run was killed between its two renames. Call with the lock held.

    `files`: the folder is not the run's own (validate), so only these files' temporaries go."""
    parent, name = plan.target.parent, plan.target.name
    olds = sorted(parent.glob(f".{_glob_escape(name)}.old-*"))
    if olds and not plan.target.exists():
        os.rename(olds.pop(), plan.target)
        log.warning("%s: put back the outputs of the run before an interrupted one", plan.target)
    for leftover in [*parent.glob(f".{_glob_escape(name)}.staging-*"), *olds]:
        shutil.rmtree(leftover, ignore_errors=True)
    if files is not None:
        for name in files:
            for entry in plan.target.glob(f".{_glob_escape(name)}.*") if plan.target.is_dir() else []:
                if _is_temporary(entry.name):
                    _remove(entry)
        return
    for folder in (plan.target, plan.parts):
        if folder.is_dir():
            for entry in folder.rglob(".*"):
                if _is_temporary(entry.name):
                    _remove(entry)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux renameat2 RENAME_EXCHANGE); False when unsupported."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(a))


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def interrupt(signum: int, _frame: object) -> None:
    """Signal handler for SIGINT and SIGTERM: remember the signal and end the run as Ctrl-C does (the
    staging folder is removed, the lock released)."""
    _INTERRUPTED.append(signum)
    raise KeyboardInterrupt


def _unraisable(hook: object) -> None:
    """A KeyboardInterrupt that Python could not raise is already remembered: no traceback for it."""
    if not isinstance(getattr(hook, "exc_value", None), KeyboardInterrupt):
        sys.__unraisablehook__(hook)  # type: ignore[arg-type]


def handle_interrupts() -> None:
    """Install `interrupt` for SIGINT and SIGTERM (call from the main thread)."""
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    sys.unraisablehook = _unraisable


def check_interrupted() -> None:
    """Raise KeyboardInterrupt when a signal arrived whose KeyboardInterrupt Python swallowed."""
    if _INTERRUPTED:
        raise KeyboardInterrupt


def put_in_place(plan: OutPlan) -> None:
    """Make the staging folder the target: one atomic swap (or rename when there was none), then
    remove the previous outputs and the parts kept for resume. Refused once the run was interrupted."""
    check_interrupted()
    if not plan.target.exists():
        os.rename(plan.staging, plan.target)
    elif _exchange(plan.staging, plan.target):
        pass  # the staging path now holds the previous outputs
    else:  # two renames; a run killed between them gets the old folder back from clean_stale
        old = plan.target.parent / f".{plan.target.name}.old-{plan.run_id}"
        os.rename(plan.target, old)
        os.rename(plan.staging, plan.target)
        os.rename(old, plan.staging)
    _fsync_folder(plan.target.parent)
    shutil.rmtree(plan.staging, ignore_errors=True)
    shutil.rmtree(plan.parts, ignore_errors=True)


@contextlib.contextmanager
def staged(plan: OutPlan) -> Iterator[Path]:
    """Lock the target, clear stale leftovers, and yield an empty staging folder to write into; when
    the block ends without error the staging folder replaces the target, otherwise it is removed."""
    with locked(plan):
        clean_stale(plan)
        try:
            plan.staging.mkdir()
        except OSError as exc:
            raise UsageError(f"--out {plan.given}: cannot create {plan.staging} ({exc.strerror}); expected a folder "
                             "this user can write") from None
        try:
            yield plan.staging
            put_in_place(plan)
        finally:
            if plan.staging.exists():
                shutil.rmtree(plan.staging, ignore_errors=True)


@contextlib.contextmanager
def writing_files(plan: OutPlan, files: Iterable[str]) -> Iterator[Path]:
    """For a command that writes single `files` into the folder (each atomically): the lock, stale
    temporary files of those files cleared, and the folder itself."""
    with locked(plan):
        clean_stale(plan, files)
        plan.target.mkdir(parents=True, exist_ok=True)
        yield plan.target
