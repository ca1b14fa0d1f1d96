"""Score point trackers with the TAP-Vid metrics (AJ, <δ^x_avg, OA; "query
first") on the synthetic dataset's ground truth and on TAP-Vid pickles.

    python tools/eval_tracking.py [--trackers SPEC ...] [--synthetic ROOT]
        [--split val] [--tapvid tapvid_davis.pkl ...] [--size S]
        [--max-videos N] [--speed]

SPEC is a registered tracker type with optional arguments, e.g.
``DISFlowTracker:preset=fast`` or
``CoTracker3:checkpoint=checkpoints/scaled_offline.pth``. Default: the DIS
presets. The synthetic dataset (``data/synthetic``) is generated on first
use. TAP-Vid pickles (DAVIS: dict of videos; Kinetics: list of videos with
JPEG-encoded frames) are read with an unpickler that only accepts numpy
arrays, and resized to 256x256 (``--tapvid-size``) as in the benchmark.
``--speed`` also times each tracker on 12-frame 224x224 clips with a 16x16
query grid (256 points).
"""
import argparse
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from mosic_mm.apis.eval_tracking import DEFAULT_TRACKERS, eval_tracking  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='TAP-Vid metrics of trackers')
    p.add_argument('--trackers', nargs='+', default=list(DEFAULT_TRACKERS))
    p.add_argument('--synthetic', default='data/synthetic',
                   help="synthetic data root ('' to skip)")
    p.add_argument('--split', default='val', choices=['train', 'val'])
    p.add_argument('--tapvid', nargs='*', default=[],
                   help='TAP-Vid pickle files (DAVIS / Kinetics format)')
    p.add_argument('--size', type=int, default=None,
                   help='resize synthetic frames to SxS (default: native)')
    p.add_argument('--tapvid-size', type=int, default=256)
    p.add_argument('--max-videos', type=int, default=None)
    p.add_argument('--speed', action='store_true',
                   help='time trackers at 256 points on 224x224 clips')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    return eval_tracking(args.trackers, args.synthetic, args.split,
                         args.tapvid, args.size, args.tapvid_size,
                         args.max_videos, args.speed)


if __name__ == '__main__':
    main()
