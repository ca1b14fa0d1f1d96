"""Training with mmengine's Runner (``tools/train.py``)."""
import os.path as osp

from mmengine.config import Config
from mmengine.runner import Runner

from mosic_mm.engine import amp_optim_wrapper_type
from mosic_mm.utils.cli import apply_runner_args
from mosic_mm.utils.config import load_config


def build_config(args) -> Config:
    """The training config of ``args.config`` with the runner arguments
    (:func:`~mosic_mm.utils.cli.apply_runner_args`), ``args.amp`` (the AMP
    variant of ``optim_wrapper.type``, dynamic loss scale),
    ``args.auto_scale_lr`` and ``args.resume`` (``'auto'``: the latest
    checkpoint of the work dir; a path; or None)."""
    cfg = apply_runner_args(load_config(args.config), args)
    if args.amp:
        cfg.optim_wrapper.type = amp_optim_wrapper_type(
            cfg.optim_wrapper.get('type', 'OptimWrapper'))
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def train(cfg: Config) -> None:
    """Train ``cfg`` with a Runner on this process (inside the caller's
    ``distributed_session`` when distributed)."""
    runner = Runner.from_cfg(cfg)
    runner.train()
    if runner.rank == 0:
        runner.logger.info(
            f'done: checkpoints in {runner.work_dir}, logs and tensorboard '
            f'events in {osp.join(runner.log_dir, "vis_data")} '
            f'(tensorboard --logdir {runner.work_dir})')
