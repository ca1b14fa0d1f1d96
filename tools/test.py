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
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, REPO)

from mmengine.config import Config, DictAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test (evaluate) a model with its config\'s test loop')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where to save the logs and '
                        'metrics (default work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. test_dataloader.batch_size=1')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


TEST_KEYS = ('test_dataloader', 'test_cfg', 'test_evaluator')


def build_config(args) -> Config:
    """The config with the checkpoint as ``load_from`` (no resume), the
    launcher, work dir and overrides; ``SystemExit`` with a clear message if
    the checkpoint is missing or the config has no test loop."""
    from mosic_mm.utils.config import load_config
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'tools/test.py: checkpoint {args.checkpoint} does '
                         'not exist')
    cfg = load_config(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    missing = [k for k in TEST_KEYS if not cfg.get(k)]
    if missing:
        raise SystemExit(
            f'tools/test.py: {args.config} defines no test loop (no '
            f'{", ".join(missing)}). MoSiC training configs have none: '
            'evaluate the backbone with tools/evaluate.py or train and test '
            'an mmsegmentation config of configs/benchmarks/mmseg; or add '
            'test_dataloader, test_cfg and test_evaluator to the config.')
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
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
