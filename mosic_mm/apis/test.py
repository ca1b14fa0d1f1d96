"""Evaluation of a trained model with its config's test loop
(``tools/test.py``; mmengine / mmseg conventions)."""
import os.path as osp
from typing import Optional, Union

from mmengine.config import Config

from mosic_mm.utils.config import load_config, registry_scope

from .train import apply_runner_options

__all__ = ['build_test_config', 'test']

TEST_KEYS = ('test_dataloader', 'test_cfg', 'test_evaluator')


def build_test_config(config: str, checkpoint: str, *,
                      work_dir: Optional[str] = None,
                      cfg_options: Optional[dict] = None,
                      launcher: str = 'none') -> Config:
    """The config of ``config`` with ``checkpoint`` as ``load_from`` (no
    resume), the runner options (:func:`~.train.apply_runner_options`) and
    a ``CheckpointCheckHook`` (a checkpoint that does not fit the model is
    refused: mmengine would load it with strict=False). ``SystemExit`` with
    a clear message if the checkpoint is missing or the config has no test
    loop."""
    if not osp.isfile(checkpoint):
        raise SystemExit(f'tools/test.py: checkpoint {checkpoint} does not '
                         'exist')
    cfg = apply_runner_options(load_config(config), work_dir, cfg_options,
                               launcher)
    missing = [k for k in TEST_KEYS if not cfg.get(k)]
    if missing:
        raise SystemExit(
            f'tools/test.py: {config} defines no test loop (no '
            f'{", ".join(missing)}). MoSiC training configs have none: '
            'evaluate the backbone with tools/evaluate.py or train and test '
            'an mmsegmentation config of configs/benchmarks/mmseg; or add '
            'test_dataloader, test_cfg and test_evaluator to the config.')
    cfg.load_from, cfg.resume = checkpoint, False
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(str(h.get('type', '')).endswith('CheckpointCheckHook')
               for h in hooks):
        hooks.append(dict(type='mmpretrain.CheckpointCheckHook'))
    cfg.custom_hooks = hooks
    return cfg


def test(config: Union[str, Config], checkpoint: Optional[str] = None,
         **options) -> dict:
    """Run the test loop of ``config`` (a :func:`build_test_config` result,
    or a path with ``checkpoint`` and ``options``) on this process; logs
    and returns the metrics."""
    from mmengine.runner import Runner

    import mosic_mm  # noqa: F401  registers CheckpointCheckHook
    cfg = config if isinstance(config, Config) else build_test_config(
        config, checkpoint, **options)
    with registry_scope(cfg):
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
    if runner.rank == 0:
        lines = [f'{k}: {v}' for k, v in metrics.items()]
        runner.logger.info(f'test metrics of {cfg.load_from}:\n'
                           + '\n'.join(lines))
    return metrics
