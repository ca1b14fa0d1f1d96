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

from tools.cli import add_runner_args, parse_runner_args, runner_options  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test (evaluate) a model with its config\'s test loop')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    add_runner_args(parser, example='test_dataloader.batch_size=1')
    return parse_runner_args(parser, argv)


def main(argv=None):
    import torch

    from mosic_mm.apis import build_test_config, test
    from mosic_mm.utils.dist import cpu_ddp_config, distributed_session
    args = parse_args(argv)
    cfg = build_test_config(args.config, args.checkpoint,
                            **runner_options(args))
    with distributed_session(args.launcher,
                             **cfg.get('env_cfg', {}).get('dist_cfg', {})) \
            as session:
        if session.distributed and not torch.cuda.is_available():
            cpu_ddp_config(cfg)
        test(cfg)


if __name__ == '__main__':
    main()
