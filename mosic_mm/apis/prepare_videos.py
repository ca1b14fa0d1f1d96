"""Preparing a training set's videos: the list file a config reads
(``tools/make_video_list.py``) and CO3D's zips unpacked to frame folders
(``tools/unpack_co3d.py``); the layouts are in docs/datasets.md.
"""
import glob
import os.path as osp
from typing import Optional, Sequence

from mosic_mm.apis.common import job_logger


def make_video_list(layout: str,
                    root: str,
                    out: str,
                    select: Optional[str] = None,
                    kinetics_csv: Optional[str] = None) -> int:
    """Write the list of the videos of ``layout`` under ``root`` (the
    folder a config's ``data_prefix.img`` points at) to ``out``.

    Args:
        layout: a key of :data:`~mosic_mm.datasets.sources.video_lists.LAYOUTS`.
        root: the image folder.
        out: the list file (a config's ``ann_file``).
        select: a file naming the entries to keep, one name per line
            (VSPW ``train.txt``: videos; CO3D: categories; EPIC: videos
            ``P01_01``; see :func:`~mosic_mm.datasets.sources.video_lists.entry_key`).
        kinetics_csv: a Kinetics annotation CSV: keep the clips it names.

    Returns:
        int: 0, or 1 if nothing was found (no list is written). Names of
        ``select`` / the CSV that have no video (e.g. failed downloads) are
        reported and left out.
    """
    from mosic_mm.datasets.sources.video_lists import (
        kinetics_csv_keys,
        list_videos,
        read_keys,
        write_video_list,
    )
    from mosic_mm.datasets.sources.video_lists import select as keep
    if select and kinetics_csv:
        raise ValueError('give select or kinetics_csv, not both')
    logger = job_logger('make_video_list')
    videos, empty = list_videos(root, layout)
    found = len(videos)
    missing = []
    source = select or kinetics_csv
    if source:
        keys = read_keys(select) if select else kinetics_csv_keys(kinetics_csv)
        videos, missing = keep(videos, layout, keys)
    lines = [f'{layout} layout under {root}: {found} videos found']
    if empty:
        lines.append(f'  left out {len(empty)} folders without frames: '
                     + ', '.join(empty[:5])
                     + (', ...' if len(empty) > 5 else ''))
    if source:
        lines.append(
            f'  {len(videos)} of them named by {source}; '
            f'{len(missing)} of its names have no video'
            + (': ' + ', '.join(missing[:5])
               + (', ...' if len(missing) > 5 else '') if missing else ''))
    if not videos:
        logger.error('\n'.join(lines
                               + ['  nothing to list; no file '
                                  'written']))
        return 1
    note = f'{layout} layout of {root}' + (f', named by {source}'
                                           if source else '')
    write_video_list(out, videos, note)
    (logger.warning if missing or empty else logger.info)(
        '\n'.join(lines + [f'  wrote {len(videos)} videos to {out}']))
    return 0


def unpack_co3d(zips: Sequence[str],
                out_dir: str,
                categories: Optional[Sequence[str]] = None) -> int:
    """Unpack the frames of CO3D zips (files, or folders holding ``*.zip``)
    into ``out_dir`` (:mod:`mosic_mm.datasets.sources.co3d_zips`).

    Returns:
        int: 0, or 1 if a zip failed (the others are still unpacked).
    """
    from mosic_mm.datasets.sources.co3d_zips import unpack_co3d_images
    logger = job_logger('unpack_co3d')
    paths = []
    for z in zips:
        paths += (sorted(glob.glob(osp.join(glob.escape(z), '*.zip')))
                  if osp.isdir(z) else [z])
    if not paths:
        logger.error(f'no zip files in {", ".join(zips)}')
        return 1

    def on_zip(path, res):
        logger.info(f'{path}: '
                    + (res['error'] if 'error' in
                       res else f'{res["written"]} frames written, '
                       f'{res["skipped"]} already there'))

    res = unpack_co3d_images(paths, out_dir, categories, on_zip)
    lines = [
        f'{res["zips"]} zips: {res["written"]} frames written, '
        f'{res["skipped"]} already there, {res["sequences"]} sequences '
        f'in {out_dir}'
    ]
    lines += [f'  FAILED {z}: {e}' for z, e in res['failed']]
    (logger.error if res['failed'] else logger.info)('\n'.join(lines))
    return 1 if res['failed'] else 0
