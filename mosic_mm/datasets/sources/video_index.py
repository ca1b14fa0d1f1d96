"""A collection's videos and frame counts, indexed once into one file that
every process maps read-only (:class:`VideoIndex`).

At Kinetics scale (~650k videos) listing the collection and counting frames
at every start, on every rank, takes minutes, and a Python list of 650k
info dicts is copied page by page into every dataloader worker (reference
counts touch the pages). The index holds the same information as numpy
arrays in one file: strings packed into one utf-8 buffer plus end offsets,
frame counts as int32. ``np.memmap`` maps the file, so the pages are shared
by all processes of a machine (ranks and forked workers alike, through the
page cache) and nothing is copied.

File layout (little-endian): ``MAGIC``, a uint64 header length, a JSON
header (``meta`` and, per array, dtype / shape / byte offset; padded with
spaces so :meth:`VideoIndex.rewrite_meta` can update it in place), then the
arrays, each aligned to 64 bytes. Written atomically (temporary file,
fsync, rename).

Arrays (``V`` videos, ``F`` frame names in all):

- ``ids``: video ids (``video_id``), packed.
- ``sources``: per video, the video file, or the folder of its frames, as a
  path relative to the index's ``base`` folder (``''`` when the frames lie
  in several folders; their names are then relative to ``base``), packed.
- ``total_frames``: int32 ``[V]``.
- ``frame_starts``: int64 ``[V + 1]``, video ``i``'s frame names are
  ``frames[frame_starts[i]:frame_starts[i + 1]]``; none for a video file.
- ``frames``: frame file names, packed.
"""
import json
import os
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from mosic_mm.utils.atomic import atomic_open

MAGIC = b'MOSIC-VIDEO-INDEX\n'
VERSION = 1
_ALIGN = 64
_HEADER_SLACK = 1024
_INFO_KEYS = {'video_id', 'total_frames', 'video_path', 'frame_paths'}


class IndexMismatch(Exception):
    """The index file is missing, unreadable, or of another collection or
    state of it (the message says which)."""


def pack_strings(strings: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """``(data uint8 [sum of utf-8 lengths], ends int64 [n])``: string ``i``
    is ``data[ends[i - 1]:ends[i]]`` (``ends[-1]`` = 0)."""
    encoded = [s.encode('utf-8') for s in strings]
    ends = np.cumsum([len(b) for b in encoded], dtype=np.int64)
    return np.frombuffer(b''.join(encoded), np.uint8), ends


class PackedStrings:
    """Read-only sequence over :func:`pack_strings` arrays."""

    def __init__(self, data: np.ndarray, ends: np.ndarray):
        self.data, self.ends = data, ends

    def __len__(self) -> int:
        return len(self.ends)

    def span(self, i: int, j: int) -> List[str]:
        """Strings ``i .. j - 1`` (one read of their bytes)."""
        if j <= i:
            return []
        start = int(self.ends[i - 1]) if i > 0 else 0
        raw = bytes(self.data[start:int(self.ends[j - 1])])
        cuts = (self.ends[i:j] - start).tolist()
        return [raw[a:b].decode('utf-8')
                for a, b in zip([0] + cuts[:-1], cuts)]

    def __getitem__(self, i: int) -> str:
        return self.span(i, i + 1)[0]


def _relative_frames(paths: Sequence[str], base: str) -> Tuple[str, List[str]]:
    """``(source, names)`` with ``osp.join(base, source, name) == path``
    for every frame path (one folder), else ``('', relative paths)``."""
    folder = osp.dirname(paths[0])
    names = [osp.basename(p) for p in paths]
    if all(osp.join(folder, n) == p for n, p in zip(names, paths)):
        source = osp.relpath(folder, base)
        if osp.join(base, source, names[0]) == paths[0]:
            return source, names
    rel = [osp.relpath(p, base) for p in paths]
    if any(osp.join(base, r) != p for r, p in zip(rel, paths)):
        raise ValueError(f'frame paths of {paths[0]!r} are not under the '
                         f'index base {base!r}')
    return '', rel


class VideoIndex:
    """The videos of one collection (see the module docstring).

    Args:
        arrays (dict): the arrays named in the module docstring.
        meta (dict): JSON-able facts (``base``, ``key``, ``stamp``,
            ``skipped``).
        path (str, optional): the file the arrays are mapped from.
    """

    def __init__(self, arrays: Dict[str, np.ndarray], meta: dict,
                 path: Optional[str] = None):
        self.arrays, self.meta, self.path = arrays, meta, path
        self.ids = PackedStrings(arrays['ids_data'], arrays['ids_ends'])
        self.sources = PackedStrings(arrays['sources_data'],
                                     arrays['sources_ends'])
        self.frames = PackedStrings(arrays['frames_data'],
                                    arrays['frames_ends'])
        self.total_frames = arrays['total_frames']
        self.frame_starts = arrays['frame_starts']
        self.base = meta['base']

    def __len__(self) -> int:
        return len(self.total_frames)

    def __reduce__(self):  # spawn workers map the file, never copy it
        if self.path is None:
            return VideoIndex, (self.arrays, self.meta, None)
        return VideoIndex.load, (self.path, )

    def video_id(self, i: int) -> str:
        return self.ids[i]

    def info(self, i: int) -> dict:
        """The data info of video ``i``: ``video_id``, ``total_frames`` and
        ``frame_paths`` (list[str]) or ``video_path`` (str), as the scan
        that built the index gave them."""
        info = dict(video_id=self.ids[i],
                    total_frames=int(self.total_frames[i]))
        source = self.sources[i]
        a, b = int(self.frame_starts[i]), int(self.frame_starts[i + 1])
        if b > a:
            folder = osp.join(self.base, source) if source else self.base
            info['frame_paths'] = [osp.join(folder, n)
                                   for n in self.frames.span(a, b)]
        else:
            info['video_path'] = osp.join(self.base, source)
        return info

    @classmethod
    def from_infos(cls, infos: Sequence[dict], base: str,
                   meta: Optional[dict] = None) -> 'VideoIndex':
        """Index the data infos of a scan; paths are stored relative to
        ``base`` and rebuilt with ``osp.join`` exactly as given."""
        ids, sources, frames, starts, totals = [], [], [], [0], []
        for info in infos:
            extra = set(info) - _INFO_KEYS
            if extra or ('video_path' in info) == ('frame_paths' in info):
                raise ValueError(
                    f'cannot index the data info of {info.get("video_id")!r}'
                    f': keys {sorted(info)}; an index holds video_id, '
                    'total_frames and either video_path or frame_paths')
            ids.append(str(info['video_id']))
            totals.append(int(info['total_frames']))
            if 'video_path' in info:
                rel = osp.relpath(info['video_path'], base)
                if osp.join(base, rel) != info['video_path']:
                    raise ValueError(f'{info["video_path"]!r} is not under '
                                     f'the index base {base!r}')
                sources.append(rel)
            else:
                source, names = _relative_frames(info['frame_paths'], base)
                sources.append(source)
                frames.extend(names)
            starts.append(len(frames))
        arrays = {}
        for name, strings in (('ids', ids), ('sources', sources),
                              ('frames', frames)):
            arrays[name + '_data'], arrays[name + '_ends'] = \
                pack_strings(strings)
        arrays['total_frames'] = np.asarray(totals, dtype=np.int32)
        arrays['frame_starts'] = np.asarray(starts, dtype=np.int64)
        return cls(arrays, dict(meta or {}, base=base))

    # ------------------------------------------------------------- file I/O
    def save(self, path: str) -> None:
        """Write the index to ``path`` atomically."""
        specs, offset = {}, 0
        for name, arr in self.arrays.items():
            arr = np.ascontiguousarray(arr)
            specs[name] = dict(dtype=arr.dtype.str, shape=list(arr.shape),
                               offset=offset)
            offset += -(-arr.nbytes // _ALIGN) * _ALIGN
        header = json.dumps(dict(version=VERSION, meta=self.meta,
                                 arrays=specs)).encode('utf-8')
        header += b' ' * _HEADER_SLACK  # room for rewrite_meta
        start = -(-(len(MAGIC) + 8 + len(header)) // _ALIGN) * _ALIGN
        with atomic_open(path, suffix='.idx') as f:
            f.write(MAGIC + np.uint64(len(header)).tobytes() + header)
            f.write(b'\0' * (start - len(MAGIC) - 8 - len(header)))
            for arr in self.arrays.values():
                data = np.ascontiguousarray(arr).tobytes()
                f.write(data + b'\0' * (-len(data) % _ALIGN))

    @classmethod
    def read_meta(cls, path: str) -> Tuple[dict, int]:
        """``(header, byte offset of the arrays)``; :class:`IndexMismatch`
        if the file is missing or not an index of this version."""
        try:
            with open(path, 'rb') as f:
                magic = f.read(len(MAGIC))
                size = np.frombuffer(f.read(8), np.uint64)
                if magic != MAGIC or size.size != 1:
                    raise IndexMismatch(f'{path} is not a video index file')
                header = json.loads(f.read(int(size[0])).decode('utf-8'))
        except FileNotFoundError:
            raise IndexMismatch(f'{path} does not exist') from None
        except (OSError, ValueError) as e:
            raise IndexMismatch(f'{path} is unreadable: {e}') from None
        if header.get('version') != VERSION:
            raise IndexMismatch(f'{path} has format version '
                                f'{header.get("version")}, not {VERSION}')
        start = -(-(len(MAGIC) + 8 + int(size[0])) // _ALIGN) * _ALIGN
        return header, start

    @classmethod
    def rewrite_meta(cls, path: str, meta: dict) -> None:
        """Replace the ``meta`` of the index file ``path`` in place (no
        rename, so the folder's mtime stays); it may grow by up to
        ``_HEADER_SLACK`` bytes."""
        header, _ = cls.read_meta(path)
        text = json.dumps(dict(header, meta=meta)).encode('utf-8')
        with open(path, 'r+b') as f:
            f.seek(len(MAGIC))
            room = int(np.frombuffer(f.read(8), np.uint64)[0])
            if len(text) > room:
                raise ValueError(f'{path}: new meta needs {len(text)} bytes,'
                                 f' the header has {room}')
            f.write(text + b' ' * (room - len(text)))
            f.flush()
            os.fsync(f.fileno())

    @classmethod
    def load(cls, path: str) -> 'VideoIndex':
        """Map ``path`` read-only (the arrays are views of the mapping)."""
        header, start = cls.read_meta(path)
        specs = header['arrays']
        end = max((start + s['offset'] + int(np.dtype(s['dtype']).itemsize *
                                             np.prod(s['shape'], dtype=int))
                   for s in specs.values()), default=start)
        if osp.getsize(path) < end:
            raise IndexMismatch(f'{path} is truncated ({osp.getsize(path)} '
                                f'bytes, the header needs {end})')
        mm = np.memmap(path, dtype=np.uint8, mode='r')
        arrays = {}
        for name, s in specs.items():
            count = int(np.prod(s['shape'], dtype=int))
            arrays[name] = np.frombuffer(
                mm, dtype=np.dtype(s['dtype']), count=count,
                offset=start + s['offset']).reshape(s['shape'])
        return cls(arrays, header['meta'], path)


def count_all(paths: Sequence[str], count: Callable[[str], int],
              threads: Optional[int] = None,
              block: int = 4096) -> List[Union[int, str]]:
    """``count(path)`` for every path on a thread pool (decord releases the
    GIL while it opens a video: 2.3x on 2 cores), in order; a path whose
    count raises gives the exception's type name instead. ``threads``:
    default ``min(16, cpu count)``; ``block``: paths submitted at a time
    (bounds the futures held at Kinetics scale)."""
    def one(path):
        try:
            return int(count(path))
        except Exception as e:  # decord raises several error types
            return type(e).__name__
    threads = threads or min(16, os.cpu_count() or 1)
    out: List[Union[int, str]] = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for i in range(0, len(paths), block):
            out.extend(pool.map(one, paths[i:i + block]))
    return out


# ------------------------------------------------------------- validity
def path_stamp(paths: Sequence[Optional[str]]) -> Dict[str, list]:
    """``{path: [mtime_ns, size]}`` (``None`` for a missing path) of the
    files and folders whose change invalidates an index."""
    out = {}
    for p in paths:
        if not p:
            continue
        try:
            st = os.stat(p)
            out[osp.abspath(p)] = [st.st_mtime_ns, st.st_size]
        except FileNotFoundError:
            out[osp.abspath(p)] = None
    return out


def stale_reason(meta: dict, key: dict, stamp: dict) -> Optional[str]:
    """Why an index with ``meta`` does not describe the collection ``key``
    in state ``stamp``, or None if it does."""
    old_key = meta.get('key') or {}
    if old_key != key:
        diff = sorted(k for k in set(key) | set(old_key)
                      if key.get(k) != old_key.get(k))
        return f'built for another collection (differs in {diff})'
    old = meta.get('stamp') or {}
    changed = sorted(p for p in set(stamp) | set(old)
                     if stamp.get(p) != old.get(p))
    if changed:
        return f'{", ".join(changed)} changed since it was built'
    return None


def _builds_here() -> bool:
    """This process checks and builds the index: local rank 0 (the
    ``LOCAL_RANK`` the launchers set), rank 0 when that is unknown, or a
    process outside a process group."""
    from mmengine.dist import get_rank, is_distributed
    if not is_distributed():
        return True
    local = os.environ.get('LOCAL_RANK')
    return int(local) == 0 if local is not None else get_rank() == 0


def load_or_build(path: str, key: dict, stamp_paths: Sequence[str],
                  scan: Callable[[], Tuple[List[dict], dict]], base: str,
                  logger=None) -> VideoIndex:
    """The index at ``path`` if it describes collection ``key`` as it is now
    (:func:`path_stamp` of ``stamp_paths``), else a new one from ``scan()``
    (``(infos, skipped)``, ``skipped`` a JSON-able record of what the scan
    left out), written to ``path``.

    Distributed: local rank 0 of every machine checks and builds, the other
    ranks wait (barrier) and map the file it wrote.
    """
    from mmengine.dist import barrier
    index = None
    if _builds_here():
        stamp = path_stamp(stamp_paths)
        try:
            index = VideoIndex.load(path)
            reason = stale_reason(index.meta, key, stamp)
        except IndexMismatch as e:
            reason = str(e)
        if reason is not None:
            if logger is not None:
                logger.info(f'video index {path}: {reason}; indexing the '
                            'collection')
            infos, skipped = scan()
            index = VideoIndex.from_infos(infos, base, dict(
                key=key, stamp=stamp, skipped=skipped))
            index.save(path)
            # renaming the file into its folder changed the folder's mtime:
            # stamp it now, in place (a crash leaves the older, stale stamp)
            own = osp.dirname(osp.abspath(path))
            if own in stamp:
                stamp.update(path_stamp([own]))
                VideoIndex.rewrite_meta(path, dict(index.meta, stamp=stamp))
            index = None
    barrier()
    if index is None:
        index = VideoIndex.load(path)
        reason = stale_reason(index.meta, key, index.meta.get('stamp'))
        if reason is not None:
            raise IndexMismatch(
                f'video index {path} ({reason}) was not rebuilt for this '
                'rank: is index_file on a filesystem every rank of this '
                'machine sees?')
    return index
