"""Fill the frame cache of a training config (docs/benchmarks.md, "Input
pipeline").

    python tools/extract_frames.py CONFIG [--size H W] [--encoding raw|jpeg]
        [--quality Q] [--all-frames] [--cache-dir DIR] [--shard I/N]
        [--overwrite] [--cfg-options k=v ...]

What it does: :func:`mosic_mm.apis.extract_frames` (one file per video,
resumable; ``--all-frames`` caches every frame, not only those clips can
use; ``--size`` when the config does not tell; ``--shard I/N`` splits the
videos over N processes). Training reads the cache with
``LoadClip(decode_size=(H, W), frame_cache=True)``. Exit code 1 if any video
failed.
"""
import argparse
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from mmengine.config import DictAction  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Extract the frame cache')
    p.add_argument('config', help='training config')
    p.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'),
                   help="cached frame size; default LoadClip's decode_size "
                   'or the ClipResize after it')
    p.add_argument('--encoding', default='raw', choices=['raw', 'jpeg'],
                   help='raw: exact uint8, memory-mapped (default); jpeg: '
                   '~10x smaller, re-encoding error')
    p.add_argument('--quality', type=int, default=95, help='JPEG quality')
    p.add_argument('--all-frames', action='store_true',
                   help='cache every frame, not only those clips can use')
    p.add_argument('--cache-dir', help="default: LoadClip's frame_cache_dir "
                   'or <data_root>/frame_cache/<H>x<W>')
    p.add_argument('--shard', default='0/1', help='I/N: this process does '
                   'videos I, I+N, ...')
    p.add_argument('--overwrite', action='store_true',
                   help='rewrite files extracted with other settings')
    p.add_argument('--limit', type=int, help='only the first N videos')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def run(args) -> int:
    from mosic_mm.apis import extract_frames
    try:
        index, count = (int(v) for v in args.shard.split('/'))
        assert 0 <= index < count
    except (ValueError, AssertionError):
        sys.exit(f'--shard must be I/N with 0 <= I < N, got {args.shard!r}')
    return extract_frames(args.config, size=args.size,
                          encoding=args.encoding, quality=args.quality,
                          all_frames=args.all_frames,
                          cache_dir=args.cache_dir, shard=(index, count),
                          overwrite=args.overwrite, limit=args.limit,
                          cfg_options=args.cfg_options)


def main(argv=None):
    sys.exit(run(parse_args(argv)))


if __name__ == '__main__':
    main()
