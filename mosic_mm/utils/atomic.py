"""Atomic file writes for the per-video caches (tracks, frames)."""
import contextlib
import os
import os.path as osp
import tempfile
from typing import BinaryIO, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str, suffix: str = '',
                fsync: bool = True) -> Iterator[BinaryIO]:
    """Write ``path`` atomically: yields a binary file ``.tmp_*<suffix>``
    beside it; on success the file is fsynced, given the umask's permissions
    (mkstemp makes it 0600) and renamed to ``path``; on any error it is
    removed and an existing ``path`` is unchanged. Interrupted runs leave
    only ``.tmp_*`` files, which the extraction tools clean up.
    ``fsync=False`` skips the sync (a crash may then leave ``path`` short;
    for writers that check the size on resume, e.g. unpacking millions of
    frames, where a sync per file dominates)."""
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp_', suffix=suffix)
    try:
        with os.fdopen(fd, 'wb') as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
