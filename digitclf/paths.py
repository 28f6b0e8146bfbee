"""What a path the user gave really is, and where digitclf may write.

Every file digitclf reads on a user's word must be a regular file (a FIFO would block for
ever, a device never ends), and every file it writes stays where it belongs: never inside a
run folder by ``--out``, never through a link out of the outputs folder.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any


def kind(path: str | Path) -> str:
    """``missing``, ``file``, ``folder``, ``broken link``, ``link loop``, ``FIFO``, ``socket``, ``device``
    or ``unreadable`` (the OS refused to look)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "broken link" if os.path.islink(path) else "missing"
    except NotADirectoryError:  # a file stands where a folder of the path would be
        return "missing"
    except OSError as exc:
        return "link loop" if exc.errno == 40 else "unreadable"  # ELOOP
    except (ValueError, RuntimeError):  # a NUL byte, ~unknownuser
        return "missing"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device"


def article(what: str) -> str:
    """``a FIFO``, ``a folder``, ``an unreadable path``."""
    noun = {"missing": "missing", "broken link": "a link to nothing", "link loop": "a loop of symbolic links",
            "unreadable": "a path the OS cannot look at (permissions?)"}.get(what)
    return noun or f"a {what}"


def inside(path: str | Path, root: str | Path) -> bool:
    """True when ``path``, with every link resolved, is ``root`` or lies below it."""
    real, top = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    return real == top or top in real.parents


def run_folder_of(path: str | Path) -> Path | None:
    """The run folder (a folder holding run.json) that ``path`` would be written into, if any."""
    here = Path(os.path.realpath(Path(path).parent))
    for folder in (here, *here.parents):
        if (folder / "run.json").is_file():
            return folder
    return None


# what digitclf's own files hold near their start: its PNGs are drawn by matplotlib, which names itself in a
# tEXt chunk before the pixels (a photo or someone's other PNG does not, and is never written over)
_SIGNATURES = {"png": (b"Software\x00Matplotlib version", "a PNG"), "html": (b'<meta name="generator" content="digitclf">',
                                                              "a digitclf report")}


def check_output(path: str | Path, fmt: str) -> Path:
    """``path`` if digitclf may write a ``fmt`` file (png, html) there; an InputError saying why not otherwise.

    Its folder must exist; it must not lie inside a run folder (those hold what ``train`` wrote,
    checked by sha256); and a file already there is replaced only if it is what digitclf writes
    under that name (a PNG matplotlib drew, a digitclf report), never a folder, a FIFO or someone's other file.
    """
    from digitclf.errors import InputError

    path = Path(path)
    marker, what = _SIGNATURES[fmt]
    found = kind(path)
    if found == "folder":
        raise InputError(f"cannot write {path}: it is a folder; give a file name, e.g. {path / ('out.' + fmt)}")
    if found not in ("missing", "file"):
        raise InputError(f"cannot write {path}: it is {article(found)}; give a regular file name")
    if kind(path.parent if str(path.parent) else ".") != "folder":
        raise InputError(f"cannot write {path}: the folder {path.parent} does not exist; create it first")
    run = run_folder_of(path)
    if run is not None:
        raise InputError(f"cannot write {path}: it is inside the run folder {run}, which holds only what the "
                         "run saved; write somewhere else")
    if found == "file":
        try:
            with open(path, "rb") as fh:
                head = fh.read(4096)
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
        if marker not in head:
            raise InputError(f"{path} exists and is not {what} digitclf wrote; choose another --out or move it away")
    return path


def check_outputs(outputs: str | Path) -> None:
    """The outputs folder is a folder, or can be made one: its nearest existing ancestor is a folder.

    Raises a DigitclfError (exit 1) naming what is in the way.
    """
    from digitclf.errors import DigitclfError

    path = Path(outputs)
    run = run_folder_of(path / "run")
    if run is not None:  # runs nested in a run folder would change what it holds
        raise DigitclfError(f"outputs folder {path} is inside the run folder {run}, which holds only what that run "
                            "saved; give another folder with --outputs or output.dir")
    for candidate in (path, *path.parents):
        found = kind(candidate)
        if found == "missing":
            continue
        if found != "folder":
            where = "" if candidate == path else f" ({candidate} is in the way)"
            raise DigitclfError(f"outputs folder {path} cannot be a folder{where}: {candidate} is {article(found)}; "
                                "give a folder with --outputs or output.dir (it is created if missing)")
        return


def open_lock_file(path: str | Path) -> Any:
    """Open (creating it) a lock file digitclf keeps beside runs, for flock.

    Never follows a link (a planted ``.run-ids.lock -> elsewhere`` would create or hold a file there) and never
    waits on a FIFO; anything but a regular file is a RunError naming it.
    """
    from digitclf.errors import RunError

    path = Path(path)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | \
        getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError:
        fd = None
    if fd is not None and not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        fd = None
    if fd is None:
        what = "a link" if os.path.islink(path) else article(kind(path))
        raise RunError(f"{path} is {what}, not the lock file digitclf keeps there; remove it and run again")
    return os.fdopen(fd, "r+b", buffering=0)
