"""Finding the videos of a collection: frame folders or video files, all of
a folder or those an ``ann_file`` lists, with their frame counts.

:func:`scan_videos` is what :class:`~mosic_mm.datasets.VideoTrajectoryDataset`
lists (and what a :class:`~.video_index.VideoIndex` stores); what it leaves
out is reported, never dropped silently.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from .video_index import count_all
from .video_lists import has_ext, list_frames, listed_frame_folders

__all__ = ['read_ann_file', 'scan_videos', 'count_video_frames']


def read_ann_file(ann_file: str) -> Optional[List[str]]:
    """The videos a list file names (one relative path per line; blank
    lines and ``#`` comments ignored); None without a list file."""
    if not ann_file:
        return None
    if not osp.isfile(ann_file):
        raise FileNotFoundError(
            f'VideoTrajectoryDataset: ann_file "{ann_file}" does not exist '
            '(expected a text file with one video per line)')
    names = []
    with open(ann_file, encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                names.append(line.replace('\\', '/').strip('/'))
    if not names:
        raise ValueError(f'VideoTrajectoryDataset: ann_file "{ann_file}" '
                         'lists no videos')
    return names


def count_video_frames(path: str) -> int:
    """Frames of a video file (decord's count)."""
    import decord
    return len(decord.VideoReader(path, num_threads=1))


def _missing(ann_file: str, name: str, where: str) -> FileNotFoundError:
    return FileNotFoundError(
        f'VideoTrajectoryDataset: ann_file "{ann_file}" names video '
        f'"{name}", which is not in {where}')


def _frame_folders(img_dir: str, names: Optional[List[str]],
                   frame_exts: Sequence[str], ann_file: str
                   ) -> Tuple[Optional[List[dict]], List[str]]:
    """``(frame-folder infos, names of folders without frames)``; infos
    None if ``img_dir`` holds no folder with frames."""
    if not osp.isdir(img_dir):
        return None, []
    if names is not None and any('/' in n for n in names):
        # a list of nested paths (VSPW, CO3D, EPIC; video_lists.py)
        return listed_frame_folders(img_dir, names, frame_exts, ann_file), []
    with os.scandir(img_dir) as it:
        subdirs = sorted(e.name for e in it
                         if e.is_dir() and not e.name.startswith('.'))
    infos, empty = {}, []
    for name in subdirs:
        frames = list_frames(osp.join(img_dir, name), frame_exts)
        if frames:
            infos[name] = dict(video_id=name, frame_paths=frames,
                               total_frames=len(frames))
        elif names is None:
            empty.append(name)
    if not infos:
        return None, []
    if names is None:
        return list(infos.values()), empty
    out = []
    for name in names:
        if name not in infos:
            raise _missing(ann_file, name,
                           f'the frame folders of "{img_dir}"'
                           + (' (it has no frames)' if name in subdirs
                              else ''))
        out.append(infos[name])
    return out, empty


def _video_files(video_dir: str, names: Optional[List[str]],
                 frame_exts: Sequence[str], video_exts: Sequence[str],
                 ann_file: str) -> Tuple[List[dict], List[str]]:
    """``(video-file infos, unreadable 'path (error)')``."""
    paths = {}
    for root, dirs, files in os.walk(video_dir, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        for f in sorted(files):
            if has_ext(f, video_exts):
                rel = osp.relpath(osp.join(root, f), video_dir)
                paths[rel.replace(os.sep, '/')] = osp.join(root, f)
    if not paths:
        raise ValueError(
            f'VideoTrajectoryDataset: no videos found under "{video_dir}";'
            f' expected frame folders <video>/<frame>{tuple(frame_exts)} or '
            f'video files {tuple(video_exts)}')
    if names is not None:
        by_id = {osp.splitext(r)[0]: r for r in paths}
        chosen = []
        for name in names:
            rel = name if name in paths else by_id.get(name)
            if rel is None:
                raise _missing(ann_file, name, f'the videos under '
                               f'"{video_dir}"')
            chosen.append((rel, paths[rel]))
    else:
        chosen = list(paths.items())
    infos, unreadable = [], []
    counts = count_all([path for _, path in chosen], count_video_frames)
    for (rel, path), n in zip(chosen, counts):
        if isinstance(n, str):  # the error's type name
            unreadable.append(f'{rel} ({n})')
        else:
            infos.append(dict(video_id=osp.splitext(rel)[0],
                              video_path=path, total_frames=n))
    return infos, unreadable


def scan_videos(img_dir: str, data_root: str, ann_file: str = '',
                frame_exts: Sequence[str] = ('.jpg', '.jpeg', '.png'),
                video_exts: Sequence[str] = ('.mp4', '.avi', '.mkv', '.mov',
                                             '.webm')
                ) -> Tuple[List[dict], Dict[str, dict]]:
    """Every video of a collection, short ones included.

    Frame folders ``<img_dir>/<video>/<frame>`` first; if there are none,
    video files anywhere under ``img_dir`` (or ``data_root`` when
    ``img_dir`` does not exist), counted with decord on a thread pool.

    Returns:
        ``(infos, skipped)``: data infos (``video_id``, ``frame_paths`` or
        ``video_path``, ``total_frames``) and what the listing left out,
        ``{reason: dict(count=n, shown=[first five])}`` with reasons
        ``'unreadable'`` (video files decord cannot open, empty ones too)
        and ``'empty'`` (folders without frames).
    """
    if not img_dir:
        raise ValueError('VideoTrajectoryDataset: data_root is empty; set '
                         'it to the folder holding the videos')
    if data_root and not osp.isdir(data_root):
        raise FileNotFoundError(
            f'VideoTrajectoryDataset: data_root "{data_root}" is not a '
            'directory; expected <data_root>/'
            f'{osp.basename(img_dir) or "JPEGImages"}/<video>/<frames> or '
            'video files under it')
    names = read_ann_file(ann_file)
    infos, empty = _frame_folders(img_dir, names, frame_exts, ann_file)
    skipped = dict(empty=empty)
    if infos is None:
        video_dir = img_dir if osp.isdir(img_dir) else data_root
        infos, unreadable = _video_files(video_dir, names, frame_exts,
                                         video_exts, ann_file)
        skipped = dict(unreadable=unreadable)
    return infos, {k: dict(count=len(v), shown=v[:5])
                   for k, v in skipped.items() if v}
