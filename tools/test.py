"""Evaluate a trained model with its config's test loop (mmengine / mmseg
conventions).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
    tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]

E.g. the mmsegmentation benchmark configs (configs/benchmarks/mmseg): the
checkpoint is the one tools/train.py / tools/dist_seg.sh wrote (backbone,
head and all), evaluated with ``test_dataloader`` + ``test_evaluator``
(mIoU). The checkpoint must fit the model exactly (keys and shapes), else
the error names the file and the mismatching keys. MoSiC training configs
define no test loop: evaluate their backbones with tools/evaluate.py or an
mmseg config. Prints one ``name: value`` line per metric at the end.
"""
import argparse
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, REPO)

from mmengine.config import Config  # noqa: E402

from mosic_mm.utils.cli import (add_runner_args,  # noqa: E402
                                apply_runner_args, parse_runner_args)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test (evaluate) a model with its config\'s test loop')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    add_runner_args(parser, example='test_dataloader.batch_size=1')
    return parse_runner_args(parser, argv)


TEST_KEYS = ('test_dataloader', 'test_cfg', 'test_evaluator')


def build_config(args) -> Config:
    """The config with the checkpoint as ``load_from`` (no resume), the
    launcher, work dir and overrides; ``SystemExit`` with a clear message if
    the checkpoint is missing or the config has no test loop."""
    from mosic_mm.utils.config import load_config
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
    import mosic_mm  # noqa: F401  registers CheckpointCheckHook
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if runner.rank == 0:
        lines = [f'{k}: {v}' for k, v in metrics.items()]
        runner.logger.info(f'test metrics of {cfg.load_from}:\n'
                           + '\n'.join(lines))
    return metrics


def main(argv=None):
    import torch
    from mosic_mm.utils.dist import cpu_ddp_config, distributed_session
    args = parse_args(argv)
    cfg = build_config(args)
    with distributed_session(args.launcher,
                             **cfg.get('env_cfg', {}).get('dist_cfg', {})) \
            as session:
        if session.distributed and not torch.cuda.is_available():
            cpu_ddp_config(cfg)
        test(cfg)


if __name__ == '__main__':
    main()
