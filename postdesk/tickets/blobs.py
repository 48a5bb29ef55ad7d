"""Attachment bytes on disk, addressed by their SHA-256.

Files are written to a temporary name, fsynced and renamed into place, so a crash never
leaves a half-written file under a valid name. A file written for a transaction that then
rolled back is an orphan, not a corruption: the same content will reuse it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from django.conf import settings


def root() -> Path:
    return Path(settings.ATTACHMENTS_DIR)


def path_for(sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 digest: {sha256!r}")
    return root() / sha256[:2] / sha256[2:4] / sha256


def store(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    target = path_for(digest)
    if target.exists():
        return digest
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return digest


def read(sha256: str) -> bytes:
    return path_for(sha256).read_bytes()
