"""Command-line arguments shared by the tools that build an mmengine Runner
(tools/train.py, tools/test.py), with the mmengine / OpenMMLab meanings."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction


def add_runner_args(parser: argparse.ArgumentParser,
                    example: str = 'train_cfg.max_iters=10') -> None:
    """``--work-dir``, ``--cfg-options``, ``--launcher`` and
    ``--local-rank`` (``--local_rank``, as torch.distributed.launch passes
    it)."""
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


def apply_runner_args(cfg: Config, args) -> Config:
    """The launcher, the ``--cfg-options`` overrides, and the work dir
    (``--work-dir``, else the config's, else work_dirs/<config name>)."""
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg
