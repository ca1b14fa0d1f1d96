"""Fill the track cache of a training config (docs/tracks.md).

    python tools/extract_tracks.py CONFIG [--tracker NAME] [--checkpoint PATH]
        [--cache-dir DIR] [--overwrite] [--cfg-options k=v ...]
    torchrun --nproc_per_node N tools/extract_tracks.py CONFIG --launcher pytorch

What it does: :mod:`mosic_mm.tracks.extraction` (one file per video,
resumable; files extracted with other settings need ``--overwrite``; videos
are split over ranks, gloo on CPU hosts). Exit code 1 if any video failed.
"""
import argparse
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from mmengine.config import DictAction  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Extract the track cache')
    p.add_argument('config', help='training config')
    p.add_argument('--tracker',
                   help='tracker type (TRACKERS registry), '
                   "default: the config's LoadTracks/TrackPoints tracker")
    p.add_argument('--checkpoint', help='tracker checkpoint (CoTracker3)')
    p.add_argument('--cache-dir',
                   help='default: LoadTracks.cache_dir or '
                   '<data_root>/track_cache/<tracker type>')
    p.add_argument('--overwrite',
                   action='store_true',
                   help='re-extract files written with other settings '
                   '(default: report them as failed)')
    p.add_argument('--limit',
                   type=int,
                   default=None,
                   help='only the first N videos (smoke tests)')
    p.add_argument('--cfg-options',
                   nargs='+',
                   action=DictAction,
                   help='override config settings')
    p.add_argument('--launcher', default='none', choices=['none', 'pytorch'])
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def run(args) -> int:
    """Extract on this rank (the process group, if any, exists already);
    returns the exit status: 1 if any video of any rank failed."""
    from mosic_mm.apis import extract_tracks
    return extract_tracks(args.config,
                          tracker=args.tracker,
                          checkpoint=args.checkpoint,
                          cache_dir=args.cache_dir,
                          overwrite=args.overwrite,
                          limit=args.limit,
                          cfg_options=args.cfg_options)


def main(argv=None):
    from mosic_mm.utils.dist import distributed_session
    args = parse_args(argv)
    with distributed_session(args.launcher) as session:
        session.status = run(args)
    sys.exit(session.status)


if __name__ == '__main__':
    main()
