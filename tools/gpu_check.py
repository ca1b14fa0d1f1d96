"""One short GPU check (tools/gpu_check.sh): training step time, data wait,
peak GPU memory and achieved TFLOP/s for ViT-S/14 and ViT-B/14, the input
pipeline's clips/s with all cores, and the resulting GPU utilisation.

    bash tools/gpu_check.sh [--archs vits vitb] [--iters 10] [--workers N]
    python tools/gpu_check.py --device cpu --tiny   # the CPU smoke test

The input is the training pipeline on generated 720p JPEG frame folders with
cached tracks, served from the raw frame cache (``LoadClip(frame_cache=
True)``), by a DataLoader with ``--workers`` processes (default: all cores),
pinned memory, persistent workers and prefetching; the model is the config's
(random weights, bf16 teacher as configured) at 8 clips x 12 frames x 256
points, 224 px by default. ``--tiny`` shrinks the ViT, the clips and the
source frames so that the whole check runs on a CPU in seconds.
"""
import argparse
import json
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from mosic_mm.apis.gpu_check import ARCHS, format_table, gpu_check  # noqa


def parse_args(argv=None):
    import torch
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available()
                   else 'cpu')
    p.add_argument('--archs', nargs='+', default=list(ARCHS),
                   choices=list(ARCHS))
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--frames', type=int, default=12)
    p.add_argument('--points', type=int, default=256)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--iters', type=int, default=10, help='timed steps')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--workers', type=int, default=os.cpu_count(),
                   help='DataLoader workers (default: all cores)')
    p.add_argument('--prefetch', type=int, default=4,
                   help='batches prefetched per worker')
    p.add_argument('--input-batches', type=int, default=20,
                   help='batches timed for the input-only clips/s')
    p.add_argument('--videos', type=int, default=8)
    p.add_argument('--video-frames', type=int, default=96)
    p.add_argument('--root', default=osp.join(REPO, '.cache',
                                              'input_benchmark', 'gpu_check'))
    p.add_argument('--tiny', action='store_true',
                   help='tiny ViT, 3x56px clips of 72x128 sources (CPU test)')
    p.add_argument('--out', help='write the results as JSON')
    args = p.parse_args(argv)
    if args.tiny:
        args.batch, args.frames, args.points, args.size = 2, 3, 16, 56
        args.videos, args.video_frames = 2, 12
        args.iters, args.warmup = min(args.iters, 3), 1
        args.input_batches = min(args.input_batches, 3)
    return args


def main(argv=None):
    args = parse_args(argv)
    res = gpu_check(args)
    print(format_table(res))
    print(f"(check took {res['seconds']:.0f} s)")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == '__main__':
    main()
