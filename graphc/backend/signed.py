"""Saved simplified graphs, authenticated with a per-user key kept outside the cache.

Why: a saved graph (`graphs/<key>.pickle`, graphc/api.py `_simplified`) is
unpickled, and a checksum stored beside its payload proves nothing: anyone
who can write the file can recompute it, and a forged graph would give
silently wrong results (or run code while unpickling). Each entry is
`MAGIC + HMAC-SHA256(user key, name + payload) + payload`, and the tag is
checked *before* the payload is unpickled, so only entries this user's
processes wrote are ever loaded, each only under its own name (two entries
swapped fail too). The key is 32 random bytes in
$XDG_CONFIG_HOME/graphc/cache-key (default ~/.config/graphc/cache-key),
created once with O_EXCL and mode 0600, and read only if it is a regular
file of the user's that nobody else can read or write. Without a usable
key, simplified graphs are neither saved nor loaded (compiling simplifies
again: slower, never wrong). Imports: the standard library, errors, trust,
cache (layer L4). Entry points: `load_graph(key)`, `save_graph(key, payload)`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import time
from pathlib import Path

from . import cache, trust

MAGIC = b"graphc saved graph, HMAC-SHA256 v1\n"
KEY_BYTES = 32
# Per-process: the HMAC key read from each cache directory, read once.
_keys: dict[str, bytes | None] = {}


def key_path() -> Path:
    """Where the per-user key lives: the user's config directory, never the cache."""
    if os.name == "nt":
        root = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    else:
        root = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return root / "graphc" / "cache-key"


def user_key() -> bytes | None:
    """This user's key (made on first use), or None (with one warning) if it cannot be had."""
    path = key_path()
    if str(path) not in _keys:
        try:
            _keys[str(path)] = _read_or_create(path)
        except (OSError, ValueError) as exc:
            _keys[str(path)] = None
            trust.warn_once(
                f"graphc cannot use the key that authenticates saved graphs ({path}): {exc}. "
                f"Simplified graphs are not saved or loaded from the disk cache until it is "
                f"fixed (remove the file to make a new one; it must be yours, mode 0600).")
    return _keys[str(path)]


def _read_or_create(path: Path) -> bytes:
    trust.make_private_directory(path.parent)
    problem = trust.check(path.parent, entries=())
    if problem is not None:
        raise ValueError(f"its directory {path.parent} {problem[0]}")
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    except FileExistsError:
        return _read(path)
    try:
        key = secrets.token_bytes(KEY_BYTES)
        os.write(descriptor, key)
        os.fsync(descriptor)
    except OSError:
        os.close(descriptor)
        os.unlink(path)  # a short key would be refused by every later process
        raise
    os.close(descriptor)
    return key


def _read(path: Path) -> bytes:
    """Read an existing key; another process may be writing it this instant (retry briefly)."""
    for _ in range(50):
        descriptor = os.open(path, os.O_RDONLY | _NOFOLLOW)
        try:
            status = os.fstat(descriptor)
            if trust.POSIX:
                if not stat.S_ISREG(status.st_mode):
                    raise ValueError("it is not a regular file")
                if status.st_uid != os.geteuid():
                    raise ValueError(f"it is owned by uid {status.st_uid}, not by you")
                if status.st_mode & 0o077:
                    raise ValueError(f"others can read or write it "
                                     f"(mode {stat.S_IMODE(status.st_mode):04o})")
            key = os.read(descriptor, KEY_BYTES + 1)
        finally:
            os.close(descriptor)
        if len(key) == KEY_BYTES:
            return key
        time.sleep(0.002)
    raise ValueError(f"it holds {len(key)} bytes, not {KEY_BYTES}")


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a symlink planted at the key's path is refused


def seal(name: str, payload: bytes, key: bytes) -> bytes:
    return MAGIC + _tag(name, payload, key) + payload


def unseal(name: str, data: bytes, key: bytes) -> bytes | None:
    """The payload if `data` was sealed under `name` with `key`; None otherwise."""
    if not data.startswith(MAGIC):
        return None
    tag = data[len(MAGIC):len(MAGIC) + 32]
    payload = data[len(MAGIC) + 32:]
    return payload if hmac.compare_digest(tag, _tag(name, payload, key)) else None


def _tag(name: str, payload: bytes, key: bytes) -> bytes:
    message = name.encode() + b"\0" + payload
    return hmac.new(key, message, hashlib.sha256).digest()


def graph_path(name: str) -> Path | None:
    """graphs/<name>.pickle in the cache directory in use (None: no disk cache)."""
    directory = trust.directory(cache.cache_dir())
    return None if directory is None else directory / "graphs" / (name + ".pickle")


def load_graph(name: str) -> bytes | None:
    """The saved payload under `name` if it is there and authentic, else None (verified
    before anything is unpickled; a forged, foreign or torn entry is just a miss)."""
    key = user_key()
    path = graph_path(name)
    if key is None or path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return unseal(name, data, key)


def save_graph(name: str, payload: bytes) -> None:
    """Seal and write the payload atomically; a full or unwritable disk only costs time."""
    key = user_key()
    path = graph_path(name)
    if key is None or path is None:
        return
    try:
        cache.write_atomic(path, seal(name, payload, key))
    except OSError:
        pass
