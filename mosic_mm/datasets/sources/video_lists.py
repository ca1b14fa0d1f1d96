"""Lists of training videos (the ``ann_file`` of
:class:`~mosic_mm.datasets.VideoTrajectoryDataset`) for the layouts of the
official code's training sets (docs/datasets.md).

A list names one video per line by its path relative to the dataset's image
folder (``data_root/data_prefix.img``): a frame folder at any depth (VSPW
``<video>/origin``, CO3D ``<category>/<sequence>/images``, EPIC-Kitchens
``P01/rgb_frames/P01_01``) or a video file (Kinetics
``<class>/<youtube_id>_<start>_<end>.mp4``). Blank lines and ``#`` comments
are ignored. The path is the video's ``video_id`` (its track-cache file is
``<cache_dir>/<video_id>.npz``).

:data:`LAYOUTS` says which entries of a layout are videos; :func:`list_videos`
finds them, :func:`select` keeps those a split file or the Kinetics CSV names
and :func:`write_video_list` writes the list (``tools/make_video_list.py``).
:func:`listed_frame_folders` reads the frame folders a list names (the
dataset's indexing of nested lists).
"""
import csv
import glob
import os
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from mosic_mm.utils.atomic import atomic_open

FRAME_EXTS = ('.jpg', '.jpeg', '.png')
VIDEO_EXTS = ('.mp4', '.avi', '.mkv', '.mov', '.webm')

#: layout -> (kind, pattern, key). ``kind``: 'frames' (a video is a folder
#: holding frames) or 'videos' (a video file). ``pattern``: glob of a video
#: relative to the listed folder; None: any depth (every folder holding
#: frames / every video file, the official ``get_file_path`` rule). ``key``:
#: the name a split file uses for an entry: 'path' (the entry), 'first' (its
#: first component: VSPW video, CO3D category) or 'stem' (its file or folder
#: name without extension: Kinetics ``<id>_<start>_<end>``, EPIC ``P01_01``).
LAYOUTS: Dict[str, Tuple[str, Optional[str], str]] = {
    'frames': ('frames', '*', 'path'),  # <video>/<frame>: YT-VOS, MOSE, LVOS
    'vspw': ('frames', '*/origin', 'first'),  # not <video>/mask
    'co3d': ('frames', '*/*/images', 'first'),  # not masks/, depths/
    'epic_kitchens': ('frames', '*/rgb_frames/*', 'stem'),
    'epic_kitchens_videos': ('videos', '*/videos/*', 'stem'),
    'kinetics': ('videos', None, 'stem'),
    'kinetics_frames': ('frames', None, 'stem'),
}


def has_ext(name: str, exts: Sequence[str]) -> bool:
    """``name`` is not hidden and ends with one of ``exts`` (any case)."""
    return not name.startswith('.') and name.lower().endswith(tuple(exts))


def list_frames(folder: str, exts: Sequence[str] = FRAME_EXTS) -> List[str]:
    """Paths of the frame files directly in ``folder``, sorted by name."""
    with os.scandir(folder) as it:
        names = sorted(e.name for e in it
                       if e.is_file() and has_ext(e.name, exts))
    return [osp.join(folder, n) for n in names]


def _layout(layout: str) -> Tuple[str, Optional[str], str]:
    if layout not in LAYOUTS:
        raise ValueError(f'unknown layout {layout!r}; one of '
                         f'{sorted(LAYOUTS)}')
    return LAYOUTS[layout]


def _rel(path: str, root: str) -> str:
    return osp.relpath(path, root).replace(os.sep, '/')


def list_videos(root: str, layout: str) -> Tuple[List[str], List[str]]:
    """The videos of ``layout`` under ``root`` (the folder a config's
    ``data_prefix.img`` points at).

    Returns:
        ``(videos, empty)``: sorted relative paths of the videos, and of the
        folders the layout's pattern matches that hold no frame (left out).
    """
    kind, pattern, _ = _layout(layout)
    if not osp.isdir(root):
        raise FileNotFoundError(f'{root} is not a directory (the {layout} '
                                'layout is listed from its image folder)')
    exts = FRAME_EXTS if kind == 'frames' else VIDEO_EXTS
    videos, empty = [], []
    if pattern is None:
        for folder, dirs, files in os.walk(root, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
            hits = [f for f in files if has_ext(f, exts)]
            if kind == 'frames' and hits:
                videos.append(_rel(folder, root))
            elif kind == 'videos':
                videos += [_rel(osp.join(folder, f), root) for f in hits]
    else:
        for path in glob.glob(osp.join(glob.escape(root), pattern)):
            if kind == 'videos':
                if osp.isfile(path) and has_ext(osp.basename(path), exts):
                    videos.append(_rel(path, root))
            elif osp.isdir(path):
                (videos if list_frames(path, exts) else empty).append(
                    _rel(path, root))
    return sorted(videos), sorted(empty)


def entry_key(entry: str, layout: str) -> str:
    """The name a split file uses for the list entry ``entry``."""
    key = _layout(layout)[2]
    if key == 'first':
        return entry.split('/', 1)[0]
    if key == 'stem':
        base = entry.rsplit('/', 1)[-1]
        stem, ext = osp.splitext(base)
        return stem if ext.lower() in VIDEO_EXTS else base
    return entry


def select(videos: Sequence[str], layout: str,
           keys: Iterable[str]) -> Tuple[List[str], List[str]]:
    """The ``videos`` whose :func:`entry_key` is in ``keys`` (in the order
    of ``videos``), and the keys no video has (e.g. Kinetics videos that
    failed to download), in the order given."""
    keys = list(dict.fromkeys(keys))
    wanted = set(keys)
    kept = [v for v in videos if entry_key(v, layout) in wanted]
    found = {entry_key(v, layout) for v in kept}
    return kept, [k for k in keys if k not in found]


def read_keys(path: str) -> List[str]:
    """One name per line (VSPW's ``train.txt``, a list of categories or
    videos); blank lines and ``#`` comments ignored."""
    with open(path, encoding='utf-8') as f:
        keys = [ln.split('#', 1)[0].strip() for ln in f]
    keys = [k for k in keys if k]
    if not keys:
        raise ValueError(f'{path} names nothing (one name per line)')
    return keys


def kinetics_csv_keys(path: str) -> List[str]:
    """``<youtube_id>_<time_start:06d>_<time_end:06d>`` of every row of a
    Kinetics annotation CSV (columns ``youtube_id``, ``time_start``,
    ``time_end``; Kinetics-400/600/700), the name of its clip file."""
    with open(path, newline='', encoding='utf-8') as f:
        rows = list(csv.DictReader(f))
    need = ('youtube_id', 'time_start', 'time_end')
    if not rows or any(c not in rows[0] for c in need):
        raise ValueError(f'{path} is not a Kinetics annotation CSV: it needs '
                         f'a header with the columns {", ".join(need)}')
    try:
        return [f'{r["youtube_id"]}_{int(float(r["time_start"])):06d}_'
                f'{int(float(r["time_end"])):06d}' for r in rows]
    except (TypeError, ValueError) as e:
        raise ValueError(f'{path}: a time_start/time_end is not a number '
                         f'({e})') from e


def write_video_list(path: str, videos: Sequence[str], note: str = '') -> None:
    """Write ``videos`` one per line (atomically), after a ``#`` comment
    line ``note`` if given."""
    if not videos:
        raise ValueError(f'no videos to write to {path}')
    text = (f'# {note}\n' if note else '') + ''.join(v + '\n' for v in videos)
    with atomic_open(path, suffix='.txt') as f:
        f.write(text.encode('utf-8'))


def listed_frame_folders(img_dir: str, names: Sequence[str],
                         frame_exts: Sequence[str],
                         ann_file: str) -> Optional[List[dict]]:
    """Data infos (``video_id``, ``frame_paths``, ``total_frames``) of the
    frame folders a list names by path relative to ``img_dir``, in list
    order; None if its first entry is not a folder (a list of video files).

    Raises:
        FileNotFoundError: an entry is not a folder or holds no frame.
        ValueError: an entry leaves ``img_dir`` (``..``).
    """
    if not osp.isdir(osp.join(img_dir, names[0])):
        return None
    infos = []
    for name in names:
        if '..' in name.split('/'):
            raise ValueError(f'ann_file "{ann_file}": entry "{name}" leaves '
                             f'the image folder "{img_dir}"')
        folder = osp.join(img_dir, *name.split('/'))
        frames = list_frames(folder, frame_exts) if osp.isdir(folder) else []
        if not frames:
            raise FileNotFoundError(
                f'ann_file "{ann_file}" names "{name}", but "{folder}" '
                + ('holds no frame ' + str(tuple(frame_exts))
                   if osp.isdir(folder) else 'is not a folder'))
        infos.append(dict(video_id=name, frame_paths=frames,
                          total_frames=len(frames)))
    return infos
