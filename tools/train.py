"""Train a mosic_mm model with mmengine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, REPO)

import torch  # noqa: E402

from mosic_mm.apis import build_train_config, train  # noqa: E402
from mosic_mm.utils.dist import cpu_ddp_config, distributed_session  # noqa: E402
from tools.cli import add_runner_args, parse_runner_args, runner_options  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train MoSiC')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or without a value from the latest '
        'checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (the AMP variant of '
                        'optim_wrapper.type)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale lr by the actual / base batch size')
    add_runner_args(parser)
    return parse_runner_args(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = build_train_config(args.config, amp=args.amp,
                             auto_scale_lr=args.auto_scale_lr,
                             resume=args.resume, **runner_options(args))
    # The process group is made here (gloo on hosts without CUDA: mmengine's
    # launcher would call torch.cuda.set_device) and destroyed on the way
    # out, after the ranks agree, so no rank dies in the group's teardown.
    with distributed_session(args.launcher,
                             **cfg.env_cfg.get('dist_cfg', {})) as session:
        if session.distributed and not torch.cuda.is_available():
            cpu_ddp_config(cfg)
        train(cfg)


if __name__ == '__main__':
    main()
