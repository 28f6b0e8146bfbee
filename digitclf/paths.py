"""What a path the user gave really is, and where digitclf may write.

Every file digitclf reads on a user's word must be a regular file (a FIFO would block for
ever, a device never ends), and every file it writes stays where it belongs: never inside a
run folder by ``--out``, never through a link out of the outputs folder.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def kind(path: str | Path) -> str:
    """``missing``, ``file``, ``folder``, ``broken link``, ``link loop``, ``FIFO``, ``socket``, ``device``
    or ``unreadable`` (the OS refused to look)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "broken link" if os.path.islink(path) else "missing"
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
