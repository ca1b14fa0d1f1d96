"""Training with mmengine's Runner (``tools/train.py``)."""
import os.path as osp
from typing import Optional, Union

from mmengine.config import Config

from mosic_mm.utils.config import load_config, registry_scope

__all__ = ['apply_runner_options', 'build_runner', 'build_train_config',
           'train']


def apply_runner_options(cfg: Config, work_dir: Optional[str] = None,
                         cfg_options: Optional[dict] = None,
                         launcher: str = 'none') -> Config:
    """The launcher, the ``--cfg-options`` overrides and the work dir
    (``work_dir``, else the config's, else ``work_dirs/<config name>``)."""
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs',
                                osp.splitext(osp.basename(cfg.filename))[0])
    return cfg


def build_train_config(config: str, *, work_dir: Optional[str] = None,
                       cfg_options: Optional[dict] = None,
                       launcher: str = 'none', amp: bool = False,
                       auto_scale_lr: bool = False,
                       resume: Optional[str] = None) -> Config:
    """The training config of ``config`` as ``tools/train.py`` runs it.

    Args:
        config: config path.
        work_dir, cfg_options, launcher: see :func:`apply_runner_options`.
        amp: the AMP variant of ``optim_wrapper.type`` (dynamic loss
            scale).
        auto_scale_lr: scale the learning rate by actual / base batch
            size (``auto_scale_lr.base_batch_size``).
        resume: ``'auto'`` (the latest checkpoint of the work dir), a
            checkpoint path, or None (start afresh).
    """
    from mosic_mm.engine import amp_optim_wrapper_type
    cfg = apply_runner_options(load_config(config), work_dir, cfg_options,
                               launcher)
    if amp:
        cfg.optim_wrapper.type = amp_optim_wrapper_type(
            cfg.optim_wrapper.get('type', 'OptimWrapper'))
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif resume is not None:
        cfg.resume, cfg.load_from = True, resume
    return cfg


def build_runner(cfg: Config):
    """mmengine's ``Runner``, or its ``FlexibleRunner`` when the config says
    ``runner_type='FlexibleRunner'`` (training through a ``strategy``, e.g.
    ``FSDPStrategy``: configs/_base_/strategies/fsdp.py)."""
    from mmengine.runner import FlexibleRunner, Runner
    runner_type = cfg.get('runner_type', 'Runner')
    runners = dict(Runner=Runner, FlexibleRunner=FlexibleRunner)
    if runner_type not in runners:
        raise ValueError(f'runner_type must be one of {sorted(runners)}, '
                         f'got {runner_type!r}')
    if runner_type == 'FlexibleRunner' and cfg.get('model_wrapper_cfg'):
        raise ValueError('a FlexibleRunner wraps the model through '
                         'strategy.model_wrapper; drop model_wrapper_cfg')
    return runners[runner_type].from_cfg(cfg)


def train(config: Union[str, Config], **options) -> None:
    """Train ``config`` (a :func:`build_train_config` result, or a path with
    its ``options``) with a Runner on this process (inside the caller's
    ``distributed_session`` when distributed)."""
    cfg = config if isinstance(config, Config) else build_train_config(
        config, **options)
    with registry_scope(cfg):
        runner = build_runner(cfg)
        runner.train()
    if runner.rank == 0:
        runner.logger.info(
            f'done: checkpoints in {runner.work_dir}, logs and tensorboard '
            f'events in {osp.join(runner.log_dir, "vis_data")} '
            f'(tensorboard --logdir {runner.work_dir})')
