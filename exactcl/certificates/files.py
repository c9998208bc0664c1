"""Files written whole or not at all: an output path checked before any
work (a regular file or a new name, in a folder this process can write),
and a file replaced by renaming a new one over it, never a folder, a device
or a pipe. Certificates, sweep folders, tables and pictures are written
this way; the kernel only reads files."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator

from ..kernel.errors import InputError

__all__ = ["atomic_path", "check_output", "write_atomic"]


#: What ``os.stat`` says a path is, for messages.
_KINDS = ((stat.S_ISDIR, "folder"), (stat.S_ISCHR, "character device"),
          (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "named pipe"),
          (stat.S_ISSOCK, "socket"))


def _not_a_file(path: str) -> str | None:
    """What ``path`` is when it exists and is not a regular file (following
    symbolic links), else None."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # missing, a dangling link, unreadable, a NUL byte
        return None
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "special file")


def _probe(folder: str) -> str | None:
    """Why no file can be created in ``folder``, or None when one can (a
    temporary file is created and removed: permission bits say nothing for
    root or on a read-only mount)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".exactcl-", suffix=".tmp", dir=folder)
    except OSError as err:
        return err.strerror or type(err).__name__
    os.close(fd)
    os.unlink(tmp)
    return None


def check_output(path: object, argument: str = "path", *, folder: bool = False) -> str:
    """Refuse, before any work, an output path that cannot be written.

    A file output must be a regular file or a new name, in an existing
    folder where this process can create files; a folder output
    (``folder=True``, e.g. a sweep) must be an existing folder or a new
    name below one, writable. Files are written by renaming a new file
    over the target (:func:`atomic_path`), so devices, pipes and folders
    are refused rather than replaced.

    Returns the path as a string; raises :class:`InputError` naming
    ``argument``, what was expected and what came.

    Examples
    --------
    >>> check_output("/dev/null", "-o")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument '-o' must be a regular file or a new file name, not the character device '/dev/null' (exactcl replaces files by renaming a new one over them).
    >>> check_output("", "--out", folder=True)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument '--out' must name a folder, not ''.
    """
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    what = "folder" if folder else "file"
    if not isinstance(path, str) or not path or "\0" in path:
        raise InputError(f"Argument {argument!r} must name a {what}, not {path!r}.")
    kind = _not_a_file(path)
    if folder:
        if kind is None and os.path.exists(path):
            raise InputError(f"Argument {argument!r} must be a folder, not the file {path!r}.")
        if kind not in (None, "folder"):
            raise InputError(f"Argument {argument!r} must be a folder, not the {kind} {path!r}.")
        where = os.path.abspath(path)
        while not os.path.isdir(where):  # the nearest existing folder, where one is created
            parent = os.path.dirname(where)
            if parent == where or os.path.lexists(where):
                raise InputError(f"Argument {argument!r} must be a folder that can be created, "
                                 f"not {path!r} ({where!r} is not a folder).")
            where = parent
    else:
        if path.endswith(("/", os.sep)) or (os.altsep and path.endswith(os.altsep)):
            raise InputError(f"Argument {argument!r} must name a file, not the folder path "
                             f"{path!r}.")
        if kind == "folder":
            raise InputError(f"Argument {argument!r} must name a file, not the folder {path!r}.")
        if kind is not None:
            raise InputError(f"Argument {argument!r} must be a regular file or a new file name, "
                             f"not the {kind} {path!r} (exactcl replaces files by renaming a "
                             f"new one over them).")
        where = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(where):
            raise InputError(f"Argument {argument!r} must be a file in an existing folder, not "
                             f"{path!r}.")
    problem = _probe(where)
    if problem is not None:
        raise InputError(f"Argument {argument!r} must be in a folder this process can write, "
                         f"not {path!r} (creating a file in {where!r}: {problem}).")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """A temporary path in the folder of ``path`` for the caller to write;
    when the block ends, the file is synced and renamed over ``path``
    (on an error it is removed and ``path`` is untouched).

    Only a regular file (or a missing path) is ever replaced: a folder, a
    device such as ``/dev/null``, a pipe or a socket at ``path`` raises
    :class:`InputError`, checked before the temporary file is made and
    again just before the rename.
    """
    path = os.fspath(path)
    _refuse_special(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".exactcl-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        _refuse_special(path)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _refuse_special(path: str) -> None:
    kind = _not_a_file(path)
    if kind is not None:
        raise InputError(f"{path!r} is a {kind}, not a regular file: exactcl writes files by "
                         f"renaming a new file over them and never replaces a {kind}.")


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file in the same
    folder, flushed and synced, then renamed over the target."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


# -- strict decoding ------------------------------------------------------------
