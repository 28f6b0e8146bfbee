"""Signing model files, so that no code from a run folder runs unless this machine's user made it.

A pickled model (``model.joblib``) runs code when it is loaded.  The sha256 recorded in run.json
only catches accidental damage: whoever can change the model can change run.json too.  So every
model digitclf saves is also signed with an HMAC key that lives outside the outputs folder
(``$DIGITCLF_KEY``, else ``$XDG_CONFIG_HOME/digitclf/signing.key``, else
``~/.config/digitclf/signing.key``; 32 random bytes, created with mode 0600 on first use).  A model
whose signature does not verify with that key -- copied from a colleague, downloaded, saved
before signing existed (or before signatures named the run's record), put into another run, or
altered -- is not unpickled unless the user says ``--trust``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from digitclf.errors import RunError

if TYPE_CHECKING:
    from digitclf.records import RunRecord

KEY_BYTES = 32


def key_path() -> Path:
    """Where this user's signing key lives (never inside an outputs folder)."""
    if os.environ.get("DIGITCLF_KEY"):
        return Path(os.environ["DIGITCLF_KEY"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "digitclf" / "signing.key"


def _key(create: bool) -> bytes | None:
    path = key_path()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile: use theirs
            return _key(create=False)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(KEY_BYTES))
        return _key(create=False)
    except OSError as exc:
        raise RunError(f"cannot read the signing key {path}: {exc.strerror or exc}; fix its permissions "
                       "or point DIGITCLF_KEY at a readable key file") from None
    if len(data) < KEY_BYTES:
        raise RunError(f"the signing key {path} is damaged ({len(data)} bytes); delete it (models signed "
                       "with it will then need --trust) or restore it")
    return data


def _message(parts: tuple[str, ...]) -> bytes:
    return b"\0".join(str(part).encode() for part in parts)


def sign(*parts: str) -> str:
    """The signature of ``parts`` (a purpose tag first, then what identifies the thing); creates the key if needed."""
    key = _key(create=True)
    assert key is not None
    return hmac.new(key, _message(parts), hashlib.sha256).hexdigest()


def verifies(signature: str | None, *parts: str) -> bool:
    """True when ``signature`` was made with this user's key for exactly these ``parts``."""
    key = _key(create=False)
    if key is None or not signature:
        return False
    return hmac.compare_digest(hmac.new(key, _message(parts), hashlib.sha256).hexdigest(), signature)


def model_parts(record: "RunRecord", name: str, sha256: str) -> tuple[str, ...]:
    """What a model file's signature covers: the run as its run.json names it (name, id and the random token
    drawn at its start), the file name and its content.  Not the folder's path: a run moved aside to
    ``.superseded/`` still verifies, while a model put into another run (even one of the same id, run
    again) does not."""
    return ("digitclf-model-v2", record.name, record.id, str(record.token), name, sha256)


def model_verifies(signature: str | None, record: "RunRecord", name: str, sha256: str) -> bool:
    """The signature verifies for this run; a run saved before run.json had a token (signed with
    ``digitclf-model-v1``: run id, file name, content) still verifies, so upgrading never asks for --trust."""
    if verifies(signature, *model_parts(record, name, sha256)):
        return True
    return record.token is None and verifies(signature, "digitclf-model-v1", record.id, name, sha256)
