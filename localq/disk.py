"""A full disk under the data folder: telling it from other errors, and how much room is left.

SQLite says "database or disk is full" (SQLITE_FULL), a file write ENOSPC, PostgreSQL
SQLSTATE 53100 (disk_full). All mean the same to a user: a temporary condition; nothing
committed is lost; free some space. localq names it DiskFull everywhere, rather than the
error that happens to surface (a failed rollback, a generic 500).
"""
import errno
import shutil

LOW_BYTES = 100 * 1024 * 1024      # /healthcheck warns below this
FULL_BYTES = 1024 * 1024           # ... and answers 507 below this: writes are about to fail


def is_disk_full(exc, data_dir=None):
    """True if exc (or an exception it was raised from) is a disk-full error. With data_dir, a
    generic "disk I/O error" counts too when that folder's disk is (almost) full: SQLite says so
    when a full disk stops it opening or growing its WAL files."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and getattr(exc, 'errno', None) in (errno.ENOSPC, errno.EDQUOT):
            return True
        if getattr(exc, 'pgcode', None) == '53100' or getattr(getattr(exc, 'orig', None), 'pgcode', None) == '53100':
            return True
        text = str(exc).lower()
        if 'database or disk is full' in text or 'no space left on device' in text:
            return True
        if 'disk i/o error' in text and data_dir is not None and (free_bytes(data_dir) or 0) < FULL_BYTES:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def free_bytes(path):
    """Bytes free for this user on the file system holding path (None if it cannot be read)."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def describe(path):
    free = free_bytes(path)
    return ("the data folder's disk is full (%s free in %s): free some space; nothing saved before is lost"
            % ('%.1f MiB' % (free / 1048576.0) if free is not None else 'unknown', path))
