"""Unpack the frames of CO3D's zips into the frame folders the CO3D config
reads (docs/datasets.md).

    python tools/unpack_co3d.py ZIP_OR_FOLDER [...] --out data/co3d
        [--categories apple ball ...]

Only ``<category>/<sequence>/images/*`` is unpacked (not masks, depth maps
or point clouds), to ``OUT/<category>/<sequence>/images/``. Resumable: a
frame already there with its size in the zip is skipped. Then write the
list: ``python tools/make_video_list.py co3d data/co3d
data/co3d/video_list.txt``.

What it does: :func:`mosic_mm.apis.prepare_videos.unpack_co3d`. Exit code 1
if a zip could not be read (the others are unpacked).
"""
import argparse
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Unpack CO3D's frames")
    p.add_argument('zips', nargs='+', help='zip files or folders of *.zip')
    p.add_argument('--out', required=True, help='the CO3D data root')
    p.add_argument('--categories', nargs='+', help='only these categories')
    return p.parse_args(argv)


def main(argv=None):
    from mosic_mm.apis.prepare_videos import unpack_co3d
    args = parse_args(argv)
    sys.exit(unpack_co3d(args.zips, args.out, args.categories))


if __name__ == '__main__':
    main()
