"""MoSiC's claim in miniature, on a CPU (docs/mini_reproduction.md).

    python tools/lab/reproduce_mini.py [--seeds 0 1 2] [--iters N] [--out DIR]

1. an image-pretrained start: mmpretrain's MoCoV3 (configs/mini/imgssl_pretrain.py)
   on the synthetic train frames as independent images, made on first use and
   cached (a second run reuses it; a changed config makes a new one);
2. per seed, with the same number of steps: (b) MoCoV3 continued
   (imgssl_continue.py), (a) MoSiC on static tracks (mosic_static.py),
   MoSiC on DIS tracks (mosic_from_imgssl.py) and MoSiC on exact tracks
   (mosic_gt_tracks.py: the synthetic ground truth, standing in for the
   paper's CoTracker3);
3. every metric of tools/evaluate.py on the synthetic val split for the start
   and each run, J&F and video clustering also at --temporal-size px (224);
   one table: mean +- std over the seeds.
"""
import argparse
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tools.lab.mini.reproduction import (  # noqa: E402
    ARM_KEYS,
    DEMO_CFG,
    DEMO_REFERENCE,
    START_ASSET,
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--demo',
                   action='store_true',
                   help='`make demo`: only MoSiC on exact tracks '
                   f'({DEMO_CFG}) from the committed start ({START_ASSET}); '
                   'start vs MoSiC beside the 3-seed reference '
                   f'({DEMO_REFERENCE})')
    p.add_argument('--write-reference',
                   action='store_true',
                   help=f'--demo with several --seeds: record the run as '
                   f'{DEMO_REFERENCE}')
    p.add_argument('--seeds',
                   type=int,
                   nargs='+',
                   help='default: 0 1 2 (--demo: 0)')
    p.add_argument('--iters',
                   type=int,
                   help='steps of every arm '
                   '(default: mini_iters of the configs)')
    p.add_argument('--out',
                   help='default: work_dirs/mini (--demo: '
                   'work_dirs/mini_demo)')
    p.add_argument('--start',
                   help='image-SSL start (default: '
                   f'work_dirs/mini/imgssl_start.pth; --demo: {START_ASSET})')
    p.add_argument('--python', default=sys.executable)
    p.add_argument('--jobs',
                   type=int,
                   default=2,
                   help='trainings / evaluations run side by side (separate '
                   'processes; the table keeps the model order)')
    p.add_argument('--arms',
                   nargs='+',
                   choices=[k for k, _ in ARM_KEYS],
                   default=[k for k, _ in ARM_KEYS],
                   help='which arms to train (default: all four)')
    p.add_argument('--temporal-size',
                   type=int,
                   default=224,
                   help='also evaluate J&F and video clustering at this '
                   'input size (0: not)')
    p.add_argument('--eval-args',
                   nargs=argparse.REMAINDER,
                   default=[],
                   help='passed to every tools/evaluate.py call (last '
                   'option)')
    args = p.parse_args(argv)
    if args.write_reference and not (args.demo and args.seeds
                                     and len(args.seeds) > 1):
        p.error('--write-reference needs --demo and several --seeds')
    args.seeds = args.seeds or ([0] if args.demo else [0, 1, 2])
    args.out = args.out or ('work_dirs/mini_demo'
                            if args.demo else 'work_dirs/mini')
    args.start = args.start or (START_ASSET if args.demo else
                                'work_dirs/mini/imgssl_start.pth')
    return args


def main(argv=None):
    from tools.lab.mini.demo import demo, run
    args = parse_args(argv)
    return demo(args) if args.demo else run(args)


if __name__ == '__main__':
    main()
