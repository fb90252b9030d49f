"""Checks of a SQLite store file made around SQLite itself: its header (before SQLite is let near
a file that may be foreign, truncated or not a database at all), whether this process may write
it, and sqlite3's refusal to fetch text that is not UTF-8."""
from __future__ import annotations

import os

from ..errors import StoreError

_SQLITE_MAGIC = b"SQLite format 3\x00"


def _foreign(path: str, why: str) -> StoreError:
    return StoreError(f"{path}: not a fastcidr database ({why}); the file was left untouched")


def _inspect_header(path: str, shown: str = "") -> str:
    """Check the file's bytes without SQLite: 'new' (absent/empty) or 'sqlite'. Raises StoreError
    naming the store as ``shown`` (what the user typed)."""
    shown = shown or path
    try:
        with open(path, "rb") as f:
            header = f.read(100)
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        return "new"
    except IsADirectoryError:
        raise StoreError(f"{shown}: is a directory, not a fastcidr database") from None
    except OSError as e:
        raise StoreError(f"{shown}: cannot read the store file: {e.strerror or e}") from None
    if size == 0:
        return "new"
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise _foreign(shown, "not an SQLite file")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise _foreign(shown, "corrupt SQLite header")
    # The in-header page count is valid when its change counter matches (SQLite >= 3.7.0). Without
    # a WAL holding newer pages the file must be at least that long; shorter means truncated.
    pages = int.from_bytes(header[28:32], "big")
    counter_valid = header[24:28] == header[92:96]
    wal = path + "-wal"
    wal_empty = not os.path.exists(wal) or os.path.getsize(wal) == 0
    if counter_valid and wal_empty and pages * page_size > size:
        raise _foreign(shown, f"truncated: {size} bytes, header says {pages * page_size}")
    return "sqlite"


def _is_decode_error(e: BaseException) -> bool:
    """sqlite3's refusal to fetch TEXT that is not UTF-8."""
    return "decode" in str(e) and "UTF-8" in str(e)


def _writable(path: str) -> bool:
    """Whether this process may write the store file and create files beside it (``-wal``,
    ``-shm``, the journal). A file or directory that nobody may write (no write bit at all) is
    read-only for the superuser too, whom permissions do not stop: its owner made it so."""
    directory = os.path.dirname(path) or "."
    for target in (path, directory):
        try:
            if not os.access(target, os.W_OK) or not os.stat(target).st_mode & 0o222:
                return False
        except OSError:
            return False
    return True
