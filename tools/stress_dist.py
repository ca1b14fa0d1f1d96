"""Stress the distributed entry points' start-up and teardown on CPU.

    python tools/stress_dist.py [--runs 20] [--nproc 2] [--out DIR]
        [--jobs extract train] [--timeout 600]

Runs ``torchrun --nproc_per_node NPROC`` on tools/extract_tracks.py (a fresh
cache each run) and on tools/train.py (through tools/dist_train.sh, a few
iterations of a tiny model) ``--runs`` times each, on a small synthetic
dataset written once under ``--out``, and counts failures: a non-zero exit
status, a timeout, or a run whose log lacks its success line. Every failed
run's log is kept under ``--out/failed``; the last line is the summary
(``stress: F failures of N runs``), the exit status 1 if F > 0.

Not a test (it takes minutes): the proof that a run never dies in the
process group's teardown (``terminate called without an active exception``,
SIGABRT at exit), see mosic_mm/utils/dist.py.
"""
import argparse
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from mosic_mm.apis.stress_dist import stress_dist  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--runs', type=int, default=20, help='runs per job')
    p.add_argument('--nproc', type=int, default=2, help='processes per run')
    p.add_argument('--iters', type=int, default=2,
                   help='training iterations per run')
    p.add_argument('--out', default='work_dirs/stress_dist',
                   help='data, caches, work dirs and failed logs')
    p.add_argument('--jobs', nargs='+', default=['extract', 'train'],
                   choices=['extract', 'train'])
    p.add_argument('--timeout', type=float, default=600,
                   help='seconds per run before it counts as failed')
    return p.parse_args(argv)


def main(argv=None) -> int:
    return stress_dist(parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
