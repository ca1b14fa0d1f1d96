"""Write the project's synthetic videos (YouTube-VOS / DAVIS layout).

    python tools/make_synthetic.py --out data/synthetic [--num-train 32 --num-val 8
        --frames 24 --size 128 --seed 0]
"""
import argparse
import json
import os.path as osp
import sys

try:
    import mosic_mm  # noqa: F401
except ImportError:  # run as a script from a checkout that is not installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mosic_mm.synthetic import write_dataset  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='data/synthetic', help='dataset root')
    p.add_argument('--num-train', type=int, default=32, help='training videos')
    p.add_argument('--num-val', type=int, default=8, help='validation videos')
    p.add_argument('--frames', type=int, default=24, help='frames per video')
    p.add_argument('--size',
                   type=int,
                   nargs='+',
                   default=[128],
                   metavar='N',
                   help='frame size: one int (square) or H W')
    p.add_argument('--seed', type=int, default=0, help='dataset seed')
    p.add_argument('--objects',
                   type=int,
                   nargs=2,
                   default=[2, 4],
                   metavar=('MIN', 'MAX'),
                   help='objects per video (inclusive range)')
    p.add_argument('--num-points',
                   type=int,
                   default=256,
                   help='ground-truth point tracks per video')
    p.add_argument(
        '--overwrite',
        action='store_true',
        help='regenerate a synthetic dataset written with other settings')
    p.add_argument('--no-progress',
                   action='store_true',
                   help='no progress bar')
    args = p.parse_args(argv)
    if len(args.size) not in (1, 2):
        p.error('--size takes one int (square) or two ints H W')
    return args


def main(argv=None):
    args = parse_args(argv)
    size = (args.size[0], args.size[-1])
    try:
        summary = write_dataset(args.out,
                                num_train=args.num_train,
                                num_val=args.num_val,
                                num_frames=args.frames,
                                size=size,
                                seed=args.seed,
                                progress=not args.no_progress,
                                num_objects=tuple(args.objects),
                                num_points=args.num_points,
                                overwrite=args.overwrite)
    except (ValueError, TypeError, FileExistsError) as e:
        sys.exit(f'make_synthetic: error: {e}')
    print(json.dumps(summary, indent=1))


if __name__ == '__main__':
    main()
