"""Draw what a MoSiC checkpoint sees in a video.

    python tools/visualize.py --config C --checkpoint CKPT --video DIR_OR_FILE
        --out DIR [--num-frames 8] [--stride 2] [--start 0] [--size 224]
        [--assign sinkhorn|argmax] [--device cpu]

Writes to DIR: ``tracks.png`` (point tracks coloured by the teacher's cluster
of the point in each frame), ``pca_features.png`` (PCA-RGB of the student's
patch features, one PCA over the clip), ``clusters.png`` (the teacher's
cluster of every patch over the frames), ``frames.png`` (the input) and
``tracks_clusters.gif`` (animation: tracks | cluster map | PCA-RGB).
"""
import argparse
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from mosic_mm.apis.visualize import visualize  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', required=True)
    p.add_argument('--checkpoint', required=True)
    p.add_argument('--video', required=True,
                   help='a frame folder or a video file')
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--num-frames', type=int, default=8)
    p.add_argument('--stride', type=int, default=1)
    p.add_argument('--start', type=int, default=0)
    p.add_argument('--size', type=int, default=None,
                   help='square network input; default: the backbone '
                   'img_size of the config')
    p.add_argument('--grid-size', type=int, default=None,
                   help='query grid per side; default: the config\'s '
                   'TrackPoints grid_size, else 16')
    p.add_argument('--assign', choices=['sinkhorn', 'argmax'],
                   default='sinkhorn')
    p.add_argument('--scale', type=int, default=2)
    p.add_argument('--fps', type=float, default=3.0)
    p.add_argument('--device', default='cpu')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    return visualize(args.config, args.checkpoint, args.video, args.out,
                     args.num_frames, args.stride, args.start, args.size,
                     args.grid_size, args.assign, args.scale, args.fps,
                     args.device)


if __name__ == '__main__':
    main()
