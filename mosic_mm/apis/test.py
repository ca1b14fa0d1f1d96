"""Evaluation of a trained model with its config's test loop
(``tools/test.py``; mmengine / mmseg conventions)."""
import os.path as osp

from mmengine.config import Config

from mosic_mm.utils.cli import apply_runner_args
from mosic_mm.utils.config import load_config

TEST_KEYS = ('test_dataloader', 'test_cfg', 'test_evaluator')


def build_config(args) -> Config:
    """The config of ``args.config`` with ``args.checkpoint`` as
    ``load_from`` (no resume), the runner arguments and a
    ``CheckpointCheckHook``; ``SystemExit`` with a clear message if the
    checkpoint is missing or the config has no test loop."""
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'tools/test.py: checkpoint {args.checkpoint} does '
                         'not exist')
    cfg = apply_runner_args(load_config(args.config), args)
    missing = [k for k in TEST_KEYS if not cfg.get(k)]
    if missing:
        raise SystemExit(
            f'tools/test.py: {args.config} defines no test loop (no '
            f'{", ".join(missing)}). MoSiC training configs have none: '
            'evaluate the backbone with tools/evaluate.py or train and test '
            'an mmsegmentation config of configs/benchmarks/mmseg; or add '
            'test_dataloader, test_cfg and test_evaluator to the config.')
    cfg.load_from, cfg.resume = args.checkpoint, False
    # refuse a checkpoint that does not fit the model (mmengine loads with
    # strict=False and would test a half-random model)
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(str(h.get('type', '')).endswith('CheckpointCheckHook')
               for h in hooks):
        hooks.append(dict(type='mmpretrain.CheckpointCheckHook'))
    cfg.custom_hooks = hooks
    return cfg


def test(cfg: Config) -> dict:
    """Run ``cfg``'s test loop on this process; logs and returns the
    metrics."""
    from mmengine.runner import Runner

    import mosic_mm  # noqa: F401  registers CheckpointCheckHook
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if runner.rank == 0:
        lines = [f'{k}: {v}' for k, v in metrics.items()]
        runner.logger.info(f'test metrics of {cfg.load_from}:\n'
                           + '\n'.join(lines))
    return metrics
