"""A JSON file of values computed from files, each valid while its files are unchanged.

Work done at parse time (code fingerprints, config checks) depends only on some
files. Each result is remembered with the content digest of every file it was
computed from; while they all hold the same bytes (an edit keeping a file's size and
modification time counts too), the next parse (a dry run, a cluster job, a stage
starting) reuses it instead of computing it again. Standard library only: the
Snakefile imports it at parse time.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["FileCache", "file_digest"]


def file_digest(path: str | Path) -> str | None:
    """Hex sha256 of a file's bytes.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    digest
        The digest, or None if the file cannot be read.

    """
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


class FileCache:
    """Values by key in a JSON file, each with the digests of the files it came from.

    Parameters
    ----------
    path
        The JSON file (created on the first :meth:`put`; an unreadable one counts as
        empty).
    max_entries
        Entries kept (the least recently stored are dropped first); None keeps all.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from pipeline.file_cache import FileCache
    >>> directory = Path(tempfile.mkdtemp())
    >>> source = directory / "source.txt"
    >>> _ = source.write_text("a")
    >>> FileCache(directory / "cache.json").put("key", 42, [source])
    >>> FileCache(directory / "cache.json").get("key")
    42
    >>> _ = source.write_text("b")
    >>> FileCache(directory / "cache.json").get("key") is None
    True

    """

    def __init__(self, path: str | Path, max_entries: int | None = None) -> None:
        self.path = Path(path)
        self.max_entries = max_entries
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entries = {}
        self._entries: dict[str, Any] = entries if isinstance(entries, dict) else {}

    def get(self, key: str) -> Any:
        """Return the value stored under ``key`` if its files are unchanged, else None.

        An entry recorded with no files is never reused.

        Parameters
        ----------
        key
            What the value was stored under.

        Returns
        -------
        value
            The stored value, or None.

        """
        entry = self._entries.get(key)
        if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
            return None
        files = entry["files"]
        if files and all(file_digest(f) == digest for f, digest in files.items()):
            return entry.get("value")
        return None

    def put(self, key: str, value: Any, files: Iterable[str | Path]) -> None:
        """Store ``value`` under ``key`` with the digests of ``files``; write the file.

        The file is replaced atomically, so concurrent parses (cluster jobs) never
        read a partial one; a value that is not JSON-able, or a file that cannot be
        written, is skipped (the value is then computed again next time).

        Parameters
        ----------
        key
            What to store it under.
        value
            A JSON-able value.
        files
            The files ``value`` was computed from.

        """
        entries = {k: v for k, v in self._entries.items() if k != key}
        digests = {str(path): file_digest(path) for path in files}
        entries[key] = {"value": value, "files": digests}
        while self.max_entries is not None and len(entries) > self.max_entries:
            del entries[next(iter(entries))]
        try:
            text = json.dumps(entries)
        except (TypeError, ValueError):
            return
        self._entries = entries
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError:
            temporary.unlink(missing_ok=True)
