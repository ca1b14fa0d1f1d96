"""Frozen-feature evaluations of MoSiC backbones (docs/evaluation.md).

    python tools/evaluate.py SUBCOMMAND MODEL [MODEL ...] [options]

SUBCOMMAND: propagate (label propagation, J&F), overcluster (K = C and
4C), hummingbird (in-context retrieval mIoU), linear (mmseg linear probe),
videoclust (per-frame / per-clip clustering), all (the five): the paper
protocols at their fast presets on the synthetic frame folders (default
data/synthetic, written on first use) -- the demo's tables.

Every benchmark of the one table (mosic_mm/evaluation/benchmarks.py; the
subcommands above are its synthetic-* benchmarks):

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


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument('--set', nargs='+', metavar='KEY=VALUE', default=[],
                   help='any setting of the protocol (a Python literal), e.g. '
                   '--set k=10 fractions=(128,1); a key the protocol does '
                   'not read is an error listing the settings '
                   '(mosic_mm/evaluation/protocols/)')


def _literal(text: str):
    import ast
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_settings(items) -> dict:
    """``--set KEY=VALUE ...`` -> {key: Python literal}."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise SystemExit(f'tools/evaluate.py --set {item}: expected '
                             'KEY=VALUE')
        out[key] = _literal(value)
    return out


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
    _add_set(p)
    p.add_argument('--json', help='also write the results here')
    return p.parse_args(argv)


def parse_bench_args(argv):
    from mosic_mm.evaluation.benchmarks import BENCHMARKS, PRESETS
    paper = [n for n in BENCHMARKS if not n.startswith('synthetic-')]
    p = argparse.ArgumentParser(
        prog='evaluate.py bench|all-paper',
        description='named paper benchmarks (docs/evaluation.md)')
    p.add_argument('command', choices=BENCH_COMMANDS)
    p.add_argument('names_and_models', nargs='+', metavar='[NAME] MODEL',
                   help='bench: NAME then MODELs; all-paper: MODELs')
    p.add_argument('--benchmarks', nargs='+', choices=list(BENCHMARKS),
                   help='all-paper: run only these (default: every paper '
                   'benchmark, in table order)')
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
    _add_set(p)
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
        args.names = args.benchmarks or paper
        args.models = args.names_and_models
    return args


def _linear_unavailable():
    """Why the linear protocol (an mmseg config) cannot run here, or
    None."""
    try:
        import mmseg.evaluation  # noqa: F401

        import mosic_mm.seg  # noqa: F401  (mmcv-lite: the stand-in first)
    except ImportError as e:
        return (f'the linear protocol runs an mmsegmentation config and '
                f'mmsegmentation cannot be imported ({e}): make setup-full')
    return None


def run_protocols(args) -> dict:
    """The per-protocol subcommands: the synthetic benchmarks at the fast
    preset, one table with a column per MODEL; ``--json`` writes it."""
    import json

    from mosic_mm.apis.evaluate import (
        SYNTHETIC,
        evaluate_models,
        print_table,
        protocol_results,
    )
    tasks = list(SYNTHETIC) if args.task == 'all' else [args.task]
    if 'linear' in tasks:
        why = _linear_unavailable()
        if why and args.task == 'linear':
            raise SystemExit(f'tools/evaluate.py linear: {why}')
        if why:
            print(f'linear: skipped; {why}', file=sys.stderr)
            tasks.remove('linear')
    names = [SYNTHETIC[t] for t in tasks]
    settings = parse_settings(args.set)
    if args.input_size:
        settings['input_size'] = args.input_size
    if args.mask_size:
        if args.task not in ('overcluster', 'videoclust', 'all'):
            raise SystemExit('tools/evaluate.py --mask-size: overcluster and '
                             'videoclust only')
        for t in ('overcluster', 'videoclust'):
            if t in tasks:
                settings['mask_size' if t == 'overcluster' else
                         'eval_size'] = args.mask_size
    if args.ks:
        settings['ks'] = tuple(args.ks)
    reader = {k: getattr(args, k) for k in ('frame_step', 'max_videos')
              if getattr(args, k) is not None}
    try:
        results = evaluate_models(
            args.models, names, preset='fast',
            data_roots={n: args.data_root for n in names},
            config=args.config, which=args.which,
            progress=not args.no_progress, settings=settings,
            splits=dict(train=args.train_split, val=args.split),
            reader_args=reader)
    except KeyError as e:
        raise SystemExit(f'tools/evaluate.py: {e.args[0]}') from None
    table = protocol_results(results)
    for col, r in next(iter(results.values())).items():
        size = args.input_size or r['img_size']
        print(f'{col}: evaluated at {size} px in '
              f'{sum(results[n][col]["seconds"] for n in names):.0f} s',
              file=sys.stderr)
    print()
    print(f'{args.task} on {args.data_root} ({args.split}), fast presets of '
          'the paper protocols; scores x100')
    print_table(list(table), table)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(table, f, indent=1)
    return table


def run_benchmarks(args) -> dict:
    """``bench`` / ``all-paper``: the benchmarks x models, under one
    process group when torchrun started several processes (kept up until
    the table is written, so that only rank 0 writes ``<out_dir>/<name>_
    <preset>.md / .json`` and prints it)."""
    import os
    import os.path as osp

    from mmengine import dist

    from mosic_mm.apis.evaluate import (
        data_roots,
        evaluate_models,
        write_bench_table,
    )
    from mosic_mm.utils.dist import distributed_session
    launcher = 'pytorch' if int(os.environ.get('WORLD_SIZE', '1')) > 1 \
        else 'none'
    name = args.names[0] if args.command == 'bench' else 'all-paper'
    stem = f'{name}_{args.preset}'
    with distributed_session(launcher):   # gloo without CUDA
        try:
            results = evaluate_models(
                args.models, args.names, preset=args.preset,
                data_roots=data_roots(args.data_root, args.names,
                                      args.preset),
                config=args.config, which=args.which, device=args.device,
                progress=not args.no_progress, work_dir=args.work_dir,
                settings=parse_settings(args.set))
        except KeyError as e:
            raise SystemExit(f'tools/evaluate.py: {e.args[0]}') from None
        table = write_bench_table(results, args.out_dir, stem, args.preset)
        if dist.get_rank() == 0:
            print()
            print(table)
            print(f'wrote {osp.join(args.out_dir, stem)}.md / .json',
                  file=sys.stderr)
    return results


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in BENCH_COMMANDS:
        return run_benchmarks(parse_bench_args(argv))
    return run_protocols(parse_args(argv))


if __name__ == '__main__':
    main()
