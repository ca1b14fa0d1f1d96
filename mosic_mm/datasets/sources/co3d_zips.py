"""CO3D as distributed (zips per category) unpacked to the frame folders
training reads (``tools/unpack_co3d.py``, docs/datasets.md).

A CO3D (v2) zip holds ``<category>/<sequence>/images/frameNNNNNN.jpg``
beside ``masks/``, ``depths/``, ``depth_masks/``, point clouds and the
category's annotation files, and one category's sequences may be spread
over several zips. Only the ``images`` members are unpacked -- what the
official loader reads -- to ``<out_dir>/<member path>``, so a sequence is
the frame folder ``<category>/<sequence>/images`` whichever zips its frames
came from (the ``co3d`` layout of
:mod:`~mosic_mm.datasets.sources.video_lists`).

Each file is written to a temporary name and renamed (no partial file under
its final name); a file already there with the member's size is skipped, so
an interrupted run resumes. A zip that cannot be read (truncated download,
CRC error) is reported and the others are still unpacked.
"""
import os.path as osp
import re
import shutil
import zipfile
from typing import Iterable, List, Optional, Sequence

from mosic_mm.datasets.sources.video_lists import FRAME_EXTS, has_ext
from mosic_mm.utils.atomic import atomic_open

#: ``<category>/<sequence>/images/<frame>``
IMAGE_MEMBER = re.compile(r'^([^/]+)/([^/]+)/images/([^/]+)$')


def image_members(zf: zipfile.ZipFile,
                  categories: Optional[Iterable[str]] = None
                  ) -> List[zipfile.ZipInfo]:
    """The frame members ``<category>/<sequence>/images/<frame>`` of an
    open CO3D zip (of ``categories`` only, if given).

    Raises:
        ValueError: a member would leave the output folder (``..``).
    """
    wanted = None if categories is None else set(categories)
    out = []
    for info in zf.infolist():
        m = IMAGE_MEMBER.match(info.filename)
        if not m or info.is_dir() or not has_ext(m.group(3), FRAME_EXTS):
            continue
        if '..' in m.groups() or '\\' in info.filename:
            raise ValueError(f'{zf.filename}: member "{info.filename}" '
                             'would leave the output folder')
        if wanted is None or m.group(1) in wanted:
            out.append(info)
    return out


def unpack_zip(path: str, out_dir: str,
               categories: Optional[Iterable[str]] = None) -> dict:
    """Unpack the frames of one zip. Returns ``written``, ``skipped``
    (already there with the right size) and ``sequences`` (set of
    ``<category>/<sequence>``)."""
    written = skipped = 0
    sequences = set()
    with zipfile.ZipFile(path) as zf:
        for info in image_members(zf, categories):
            target = osp.join(out_dir, *info.filename.split('/'))
            sequences.add(info.filename.rsplit('/', 2)[0])
            if osp.isfile(target) and osp.getsize(target) == info.file_size:
                skipped += 1
                continue
            with zf.open(info) as src, atomic_open(
                    target, suffix=osp.splitext(target)[1],
                    fsync=False) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            written += 1
    return dict(written=written, skipped=skipped, sequences=sequences)


def unpack_co3d_images(zips: Sequence[str], out_dir: str,
                       categories: Optional[Iterable[str]] = None,
                       on_zip=None) -> dict:
    """Unpack the frames of every zip in ``zips`` into ``out_dir``.

    Args:
        zips: zip files, unpacked in the order given.
        out_dir: the CO3D data root the config reads.
        categories: unpack these categories only (None: all).
        on_zip: called as ``on_zip(path, result)`` after each zip, with
            :func:`unpack_zip`'s dict or ``dict(error=message)``.

    Returns:
        ``zips`` (count), ``written``, ``skipped``, ``sequences`` (count of
        distinct sequences with frames in the zips) and ``failed`` (list of
        ``(zip, error message)``).
    """
    categories = None if categories is None else list(categories)
    written = skipped = 0
    sequences, failed = set(), []
    for path in zips:
        try:
            res = unpack_zip(path, out_dir, categories)
        except (OSError, zipfile.BadZipFile, ValueError, EOFError) as e:
            failed.append((path, f'{type(e).__name__}: {e}'))
            res = dict(error=failed[-1][1])
        else:
            written += res['written']
            skipped += res['skipped']
            sequences |= res['sequences']
        if on_zip is not None:
            on_zip(path, res)
    return dict(zips=len(zips), written=written, skipped=skipped,
                sequences=len(sequences), failed=failed)
