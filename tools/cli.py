"""Command-line arguments shared by the tools that build an mmengine Runner
(tools/train.py, tools/test.py), with the mmengine / OpenMMLab meanings."""
import argparse
import os


def add_runner_args(parser: argparse.ArgumentParser,
                    example: str = 'train_cfg.max_iters=10') -> None:
    """``--work-dir``, ``--cfg-options``, ``--launcher`` and
    ``--local-rank`` (``--local_rank``, as torch.distributed.launch passes
    it)."""
    from mmengine.config import DictAction
    parser.add_argument('--work-dir', help='where to save logs, models and '
                        'metrics (default work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help=f'override config settings, e.g. {example}')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser, argv=None):
    """Parse, and export ``LOCAL_RANK`` for launchers that pass it as an
    argument only."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def runner_options(args) -> dict:
    """The keyword arguments of ``mosic_mm.apis.build_train_config`` /
    ``build_test_config`` that :func:`add_runner_args` parsed."""
    return dict(work_dir=args.work_dir, cfg_options=args.cfg_options,
                launcher=args.launcher)
