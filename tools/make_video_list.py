"""Write the list of training videos a dataset config reads (its
``ann_file``; layouts and commands in docs/datasets.md).

    python tools/make_video_list.py LAYOUT ROOT OUT [--select FILE]
        [--kinetics-csv CSV]

LAYOUT is one of ``frames`` (``<video>/<frame>``), ``vspw``
(``<video>/origin``), ``co3d`` (``<category>/<sequence>/images``),
``epic_kitchens`` (``P01/rgb_frames/P01_01``), ``epic_kitchens_videos``
(``P01/videos/P01_01.MP4``), ``kinetics`` (video files at any depth) and
``kinetics_frames`` (frame folders at any depth). ROOT is the folder the
config's ``data_prefix.img`` points at; entries are written relative to it.
``--select`` keeps the entries a file names (VSPW ``train.txt``, CO3D
categories, EPIC videos), ``--kinetics-csv`` the clips of a Kinetics
annotation CSV (names without a video are reported and left out).

What it does: :func:`mosic_mm.apis.prepare_videos.make_video_list`. Exit
code 1 if no video was found.
"""
import argparse
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def parse_args(argv=None):
    from mosic_mm.datasets.sources.video_lists import LAYOUTS
    p = argparse.ArgumentParser(description='Write a list of training videos')
    p.add_argument('layout', choices=sorted(LAYOUTS))
    p.add_argument('root', help="the config's image folder "
                   '(data_root/data_prefix.img)')
    p.add_argument('out', help="the list file (the config's ann_file)")
    src = p.add_mutually_exclusive_group()
    src.add_argument('--select', help='keep the entries this file names, '
                     'one per line')
    src.add_argument('--kinetics-csv', help='keep the clips of this Kinetics '
                     'annotation CSV')
    return p.parse_args(argv)


def main(argv=None):
    from mosic_mm.apis.prepare_videos import make_video_list
    args = parse_args(argv)
    try:
        rc = make_video_list(args.layout, args.root, args.out, args.select,
                             args.kinetics_csv)
    except (OSError, ValueError) as e:  # a missing folder, a bad CSV
        sys.exit(f'make_video_list: {e}')
    sys.exit(rc)


if __name__ == '__main__':
    main()
