"""Safe outputs: every folder or file a command writes is checked before any work, locked
against a concurrent run, staged in a hidden sibling and moved into place only when complete.

Nothing but an earlier output of ours is ever replaced, and that only with ``overwrite``: a
folder output is ours when it holds `MARKER` (written when it is moved into place). Staged
names are ``.<name>.tmp-<pid>-<token>``; the ones a killed run left are removed by the next run
into the same place (while it holds the lock, so never those of a live run). Modes follow the
umask. `atomic_file` is the plain building block for files inside a staged folder or a cache.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from cookie.errors import ConfigError, DataError

MARKER = ".cookie-output.json"
FORMAT = "cookie-output"
# errors of the disk rather than of the program: one line, not a traceback
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


def resolve_path(path: str | Path, what: str = "path") -> Path:
    """``path`` made absolute with symlinks resolved; a symlink loop is a `ConfigError`."""
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError: "Symlink loop from ..."
        reason = "symlink loop" if isinstance(exc, RuntimeError) or getattr(
            exc, "errno", None) == errno.ELOOP else exc.strerror or type(exc).__name__
        raise ConfigError(f"{path}: cannot use this {what} ({reason})") from None


def output_target(path: str | Path) -> Path:
    """The resolved path an output will take; refuses '.', '..', '/' and the current folder
    or one above it (an output replaces its target as a whole)."""
    if Path(path).name in ("", ".", ".."):
        raise ConfigError(f"--out {path}: name a new folder or file, not '.' or '..'")
    target = resolve_path(path, "output path")
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise ConfigError(f"--out {path}: is the current folder or one above it; name a new "
                          "folder")
    return target


def is_our_output(folder: Path) -> bool:
    """Whether ``folder`` is a finished output of ours (it holds our marker)."""
    try:
        return json.loads((folder / MARKER).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _check_folder_target(target: Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise DataError(f"{target}: exists and is not a folder; --out must name a new folder "
                        "(nothing was changed)")
    if not target.is_dir() or not any(target.iterdir()):
        return
    if not is_our_output(target):
        raise DataError(f"{target}: folder exists and is not a cookie output; choose a new "
                        "--out (nothing was changed)")
    if not overwrite:
        raise DataError(f"{target}: holds an earlier cookie output; pass --overwrite to "
                        "replace it")


def _check_file_target(target: Path, overwrite: bool) -> None:
    if target.is_dir():
        raise DataError(f"{target}: is a folder; --out must name a file (nothing was changed)")
    if target.exists() and not overwrite:
        raise DataError(f"{target}: exists; pass --overwrite to replace it")


def _check_inputs_outside(target: Path, inputs: Iterable[str | Path | None]) -> None:
    """An output replaces its target as a whole: it must not hold what the run reads (None:
    an input without a file, e.g. a config built in code)."""
    if not target.exists():
        return
    for item in inputs:
        if item is None:
            continue
        path = resolve_path(item, "input path")
        if path == target or target in path.parents:
            raise DataError(f"{target}: holds {item}, an input of this run; choose another "
                            "--out (nothing was changed)")


def _make_parent(target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{target.parent}: cannot create the output's folder "
                        f"({exc.strerror or type(exc).__name__})") from None
    if not target.parent.is_dir():
        raise DataError(f"{target.parent}: is not a folder")


class OutputLock:
    """An exclusive `flock` on ``.<name>.lock`` beside an output, held by one run at a time.

    The kernel drops the lock when its holder dies, so a killed run never blocks the next
    one. The file holds the holder's pid (for the error message) and is removed on release.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = target.parent / f".{target.name}.lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise DataError(f"{self.target.parent}: cannot write here "
                                f"({exc.strerror or type(exc).__name__})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise DataError(f"{self.target}: another cookie run (pid {self.holder()}) is "
                                "writing this output; wait for it to end") from None
            try:  # the file may have been removed by the run that held it just before
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def holder(self) -> str:
        for _ in range(20):  # the holder writes its pid right after locking
            try:
                text = self.path.read_text().strip()
            except OSError:
                text = ""
            if text:
                return text
            time.sleep(0.01)
        return "unknown"

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _stage_name(target: Path, kind: str = "tmp") -> Path:
    return target.with_name(f".{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"
                            f"{target.suffix if kind == 'tmp' else ''}")


def remove_stale(target: Path) -> list[Path]:
    """Remove what killed runs left beside ``target`` (staged ``.tmp-`` and replaced ``.old-``
    copies, and the temporary files of writers into a staged file). Call it only while
    holding the target's `OutputLock`: no live run has any."""
    pattern = re.compile(rf"\.+{re.escape(target.name)}\.(tmp|old)-\d+-[0-9a-f]{{8}}")
    removed = []
    for path in target.parent.iterdir():
        if pattern.match(path.name):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def restore_orphan(target: Path) -> Path | None:
    """Put back an earlier output of ours that a run killed mid-replacement left as
    ``.<name>.old-*`` with no ``target`` (call it holding the lock, before `remove_stale`)."""
    if target.exists():
        return None
    pattern = re.compile(rf"\.{re.escape(target.name)}\.old-\d+-[0-9a-f]{{8}}")
    olds = [p for p in target.parent.iterdir() if pattern.fullmatch(p.name) and p.is_dir()
            and is_our_output(p)]
    if not olds:
        return None
    newest = max(olds, key=lambda p: p.stat().st_mtime)
    os.replace(newest, target)
    return target


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while outputs are moved into place (a handler raising
    between two renames would leave neither the old output nor the new one in place)."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError):  # not POSIX
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _disk_error(exc: BaseException, target: Path) -> DataError | None:
    """One line for a full or read-only disk met while a run writes (None for other errors)."""
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRORS:
        where = exc.filename or target.parent
        return DataError(f"{where}: {os.strerror(exc.errno).lower()} while writing {target} "
                         "(nothing was written)")
    return None


def _make_stage_dir(target: Path) -> Path:
    tmp = _stage_name(target)
    try:
        os.mkdir(tmp, 0o777)  # the umask applies
    except OSError as exc:
        raise DataError(f"{target.parent}: cannot write the output here "
                        f"({exc.strerror or type(exc).__name__})") from None
    return tmp


class Staging:
    """The staging folder of an `output_dir`, created when first asked for (a long run has
    nothing staged until it writes)."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self._path: Path | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = _make_stage_dir(self.target)
        return self._path

    @property
    def staged(self) -> bool:
        return self._path is not None


def _discard(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def output_dir(target: str | Path, overwrite: bool = False,
               inputs: Iterable[str | Path | None] = (),
               what: str = "output") -> Iterator[Staging]:
    """Yield a `Staging` whose folder (``.path``, empty, created on first use) becomes
    ``target`` when the block succeeds.

    Checked at entry, before any work: the path (not '.', '..', a symlink loop), the target
    (absent, an empty folder, or, with ``overwrite``, an earlier output of ours; never a file
    or someone else's folder), that it holds none of ``inputs``, that its parent is writable,
    and that no other run writes it (`OutputLock`). On any exception the staging folder is
    removed and ``target`` is left untouched; a full disk is one `DataError` line.
    """
    target = output_target(target)
    _check_folder_target(target, overwrite)
    _check_inputs_outside(target, inputs)
    _make_parent(target)
    with OutputLock(target):  # creating its file also proves that the parent is writable
        restore_orphan(target)
        _check_folder_target(target, overwrite)  # again, now that no other run can write it
        remove_stale(target)
        staging = Staging(target)
        try:
            yield staging
            tmp = staging.path
            (tmp / MARKER).write_text(json.dumps(
                {"format": FORMAT, "version": 1, "what": what,
                 "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n")
            with _signals_held():
                _replace_folder(tmp, target)
        except BaseException as exc:
            if staging.staged:
                _discard(staging.path)
            error = _disk_error(exc, target)
            if error is not None:
                raise error from None
            raise


def _replace_folder(tmp: Path, target: Path) -> None:
    if target.is_dir() and any(target.iterdir()):  # an earlier output of ours (checked)
        old = _stage_name(target, "old")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:  # absent or empty (a file appearing in it since makes this fail, not vanish)
        os.replace(tmp, target)


@contextlib.contextmanager
def output_files(targets: Sequence[str | Path], overwrite: bool = False,
                 inputs: Iterable[str | Path | None] = ()) -> Iterator[list[Path]]:
    """Yield one staging path per target file (same suffix; the block writes each), each
    moved onto its target when the block succeeds. Checked at entry like `output_dir`; an
    existing file is replaced only with ``overwrite``, a folder never."""
    paths = [output_target(t) for t in targets]
    for path in paths:
        _check_file_target(path, overwrite)
        _check_inputs_outside(path, inputs)
        _make_parent(path)
    with contextlib.ExitStack() as stack:
        for path in paths:
            stack.enter_context(OutputLock(path))
        staged: list[Path] = []
        try:
            for path in paths:
                _check_file_target(path, overwrite)
                remove_stale(path)
                staged.append(_stage_name(path))
            yield list(staged)
            with _signals_held():
                for tmp, path in zip(staged, paths, strict=True):
                    os.replace(tmp, path)
        except BaseException as exc:
            for tmp in staged:
                _discard(tmp)
            error = _disk_error(exc, paths[0])
            if error is not None:
                raise error from None
            raise


@contextlib.contextmanager
def atomic_file(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``, renamed to it when the block succeeds (for
    files inside a staged folder, caches and resumable state; outputs a user names go through
    `output_files`). The file's mode follows the umask."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _stage_name(target)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
