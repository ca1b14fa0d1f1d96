"""Frozen-feature evaluations of MoSiC backbones (docs/evaluation.md).

    python tools/evaluate.py SUBCOMMAND MODEL [MODEL ...] [options]

SUBCOMMAND: propagate (label propagation, J&F), overcluster (K = C and
4C), hummingbird (in-context retrieval mIoU), linear (mmseg linear probe),
videoclust (per-frame / per-clip clustering), all (the five): the paper
protocols at their fast presets on the synthetic frame folders (default
data/synthetic, written on first use) -- the demo's tables.

Named paper benchmarks (mosic_mm/evaluation/benchmarks.py):

    python tools/evaluate.py bench NAME MODEL [MODEL ...] [--preset paper|fast]
    python tools/evaluate.py all-paper MODEL [MODEL ...] [--out-dir DIR]

print ours beside the reference DINOv2 / MoSiC numbers (ViT-S/14, ViT-B/14;
each with its source, ``*`` = unverified) and write one Markdown + JSON
table; ``--preset fast`` without ``--data-root`` runs on synthetic data in
each benchmark's layout (written on first use under
.cache/synthetic_layouts). Under torchrun
(tools/dist_evaluate.sh) the feature extraction is sharded over ranks; only
rank 0 prints and writes.
MODEL: a training config (.py: its initialisation under its seed, i.e. the
untrained start) or a checkpoint (training checkpoint, whose config is read
from it, or an exported backbone with --config). Several MODELs are printed
side by side.
"""
import argparse
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, REPO)

SUBCOMMANDS = ('propagate', 'overcluster', 'hummingbird', 'linear',
               'videoclust', 'all')
BENCH_COMMANDS = ('bench', 'all-paper')


def _add_model_args(p: argparse.ArgumentParser) -> None:
    """``--config`` for exported backbones and ``--which`` weights of a
    training checkpoint."""
    p.add_argument('--config', help='training config for checkpoints '
                   'without one (exported backbones)')
    p.add_argument('--which', default='student',
                   choices=['student', 'teacher'])
    p.add_argument('--no-progress', action='store_true')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('task', choices=SUBCOMMANDS)
    p.add_argument('models', nargs='+', metavar='MODEL',
                   help='training config (.py) or checkpoint (.pth)')
    _add_model_args(p)
    p.add_argument('--data-root', default='data/synthetic',
                   help='synthetic frame folders (tools/make_synthetic.py)')
    p.add_argument('--split', default='val')
    p.add_argument('--train-split', default='train',
                   help='memory (hummingbird) / probe training split')
    p.add_argument('--input-size', type=int,
                   help='network input (square, multiple of the patch); '
                   'default: the backbone img_size')
    p.add_argument('--mask-size', type=int,
                   help='overcluster / videoclust scoring size (default: '
                   'the input size)')
    p.add_argument('--frame-step', type=int,
                   help='every n-th frame for the image protocols '
                   '(default 4)')
    p.add_argument('--max-videos', type=int)
    p.add_argument('--ks', type=int, nargs='+',
                   help='overcluster K (default: C and 4C for C classes)')
    p.add_argument('--set', nargs='+', metavar='KEY=VALUE',
                   help='any other setting of the protocol (a Python '
                   'literal), e.g. --set k=10 fractions=(128,1); the '
                   "settings: SYNTHETIC_BENCHMARKS[task].settings['fast']")
    p.add_argument('--json', help='also write the results here')
    return p.parse_args(argv)


def parse_bench_args(argv):
    from mosic_mm.evaluation.benchmarks import BENCHMARKS, PRESETS
    p = argparse.ArgumentParser(
        prog='evaluate.py bench|all-paper',
        description='named paper benchmarks (docs/evaluation.md)')
    p.add_argument('command', choices=BENCH_COMMANDS)
    p.add_argument('names_and_models', nargs='+', metavar='[NAME] MODEL',
                   help='bench: NAME then MODELs; all-paper: MODELs')
    p.add_argument('--benchmarks', nargs='+', choices=list(BENCHMARKS),
                   help='all-paper: run only these (default: all, in '
                   'registry order)')
    p.add_argument('--preset', default='paper', choices=PRESETS,
                   help="'paper' = the authors' settings; 'fast' = CPU "
                   'sizes for tests and the demo (the table says which)')
    p.add_argument('--data-root', action='append', default=[],
                   metavar='[DATASET=]PATH',
                   help='dataset root; DATASET = voc2012 | ade20k | '
                   'davis2017 | ytvos2019 or a benchmark name; a bare PATH '
                   'applies to every benchmark; repeatable. Without one '
                   'the fast preset runs on synthetic data in the layout')
    _add_model_args(p)
    p.add_argument('--device', default=None,
                   help="default: cuda (this rank's GPU) if available")
    p.add_argument('--out-dir', default='work_dirs/bench',
                   help='writes <table>.md and <table>.json here')
    p.add_argument('--work-dir', help='linear benchmarks: mmseg work dir '
                   '(default: a temporary one)')
    args = p.parse_args(argv)
    if args.command == 'bench':
        if len(args.names_and_models) < 2:
            p.error('bench needs NAME and at least one MODEL')
        name, *models = args.names_and_models
        if name not in BENCHMARKS:
            p.error(f'unknown benchmark {name!r}; choose from '
                    f'{", ".join(BENCHMARKS)}')
        args.names, args.models = [name], models
    else:
        args.names = args.benchmarks or list(BENCHMARKS)
        args.models = args.names_and_models
    return args


def main(argv=None):
    from mosic_mm.apis.evaluate import evaluate_benchmarks, evaluate_protocols
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in BENCH_COMMANDS:
        return evaluate_benchmarks(parse_bench_args(argv))
    return evaluate_protocols(parse_args(argv))


if __name__ == '__main__':
    main()
