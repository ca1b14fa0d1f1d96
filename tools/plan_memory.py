"""Plan the per-rank GPU memory of a training run before starting it.

    python tools/plan_memory.py CONFIG [--gpus N] [--gpu-mem GB]
        [--cfg-options k=v ...] [--no-suggest]

Builds the model on the meta device and runs one fake training step at the
config's batch (nothing of real size is allocated), then prints per rank:
weights, gradients, optimizer states, the activation peak and the step's
peak against the GPU's memory and, when it does not fit, settings that do.
"""
import argparse
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, REPO)


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--gpus', type=int, default=1,
                        help='ranks (GPUs) the run uses (default 1)')
    parser.add_argument('--gpu-mem', type=float, default=None,
                        help='memory of one GPU in GiB (e.g. 80); without '
                        'it no fit check')
    parser.add_argument('--reserve', type=float, default=0.1,
                        help='fraction of the GPU kept free (CUDA context, '
                        'fragmentation, NCCL; default 0.1)')
    parser.add_argument('--no-suggest', action='store_true',
                        help='do not try settings when it does not fit')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. '
                        'model.frozen_dtype=bfloat16')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mosic_mm.apis import plan_memory
    plan = plan_memory(args.config, gpus=args.gpus, gpu_mem_gb=args.gpu_mem,
                       cfg_options=args.cfg_options,
                       suggest=not args.no_suggest, reserve=args.reserve)
    print(plan.format())
    return 0


if __name__ == '__main__':
    sys.exit(main())
