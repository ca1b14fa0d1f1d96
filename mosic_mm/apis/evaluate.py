"""Frozen-feature evaluation of MoSiC backbones (``tools/evaluate.py``;
docs/evaluation.md).

Every evaluation is one protocol of :mod:`mosic_mm.evaluation` run by
:func:`~mosic_mm.evaluation.benchmarks.run_benchmark`:

- :func:`evaluate_protocols` -- the per-protocol subcommands (propagate,
  overcluster, hummingbird, linear, videoclust, all): each protocol's fast
  preset on the synthetic frame folders
  (:data:`~mosic_mm.evaluation.benchmarks.SYNTHETIC_BENCHMARKS`), one table
  with a column per MODEL (what ``make demo`` and the mini reproduction
  print);
- :func:`evaluate_benchmarks` -- ``bench NAME`` / ``all-paper``: the named
  paper benchmarks at the paper or fast preset, the paper's numbers beside
  ours, one Markdown + JSON table (rank 0 under torchrun).

MODEL: a training config (.py: its initialisation under its seed) or a
checkpoint (training checkpoint, or an exported backbone with ``config``).
"""
import ast
import json
import os
import os.path as osp
import sys
import time
from dataclasses import replace
from typing import Dict, List, Optional, Sequence

__all__ = ['TASKS', 'METRIC_NAMES', 'model_spec', 'protocol_overrides',
           'evaluate_protocols', 'print_table', 'data_roots', 'bench_table',
           'evaluate_benchmarks']

TASKS = ('propagate', 'overcluster', 'hummingbird', 'linear', 'videoclust')
#: the subcommands' metric names (the demo's and mini's table rows)
METRIC_NAMES = dict(
    propagate=lambda m: f'DAVIS {m}',
    overcluster=lambda m: f'overcluster {m.split()[1]} mIoU',
    hummingbird=lambda m: f'hummingbird {m.split()[1]} mIoU',
    linear=lambda m: 'linear probe mIoU',
    videoclust=lambda m: f'videoclust per-{m.split()[1]} mIoU' if ' ' in m
    else f'videoclust {m}')


def model_spec(model: str, config: Optional[str]) -> dict:
    """``build_backbone`` arguments of a MODEL argument."""
    if model.endswith('.py'):
        return dict(config=model, checkpoint=None)
    return dict(config=config, checkpoint=model)


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def protocol_overrides(task: str, args) -> dict:
    """The settings ``args`` replace in ``task``'s synthetic fast preset:
    ``input_size``, ``mask_size`` (overcluster; videoclust's
    ``eval_size``), ``ks``, the reader's ``frame_step`` / ``max_videos``,
    then each ``--set KEY=VALUE`` (a Python literal) whose KEY is one of
    ``task``'s settings (:func:`evaluate_protocols` refuses a KEY of no
    task)."""
    from mosic_mm.evaluation.benchmarks import SYNTHETIC_BENCHMARKS
    s = SYNTHETIC_BENCHMARKS[task].settings['fast']
    out = {}
    if args.input_size:
        out['input_size'] = args.input_size
    if args.mask_size and task in ('overcluster', 'videoclust'):
        out['mask_size' if task == 'overcluster' else 'eval_size'] = \
            args.mask_size
    if args.ks and task == 'overcluster':
        out['ks'] = tuple(args.ks)
    reader = dict(s['reader_args'])
    for key in ('frame_step', 'max_videos'):
        if key in reader and getattr(args, key) is not None:
            reader[key] = getattr(args, key)
    if reader != s['reader_args']:
        out['reader_args'] = reader
    for item in args.set or ():
        key, sep, value = item.partition('=')
        if not sep:
            raise ValueError(f'--set {item}: expected KEY=VALUE')
        if key in s:
            out[key] = _literal(value)
    return out


def _linear_unavailable() -> Optional[str]:
    """Why the linear protocol (an mmseg config) cannot run here, or
    None."""
    try:
        import mosic_mm.seg  # noqa: F401  (mmcv-lite: the stand-in first)

        import mmseg.evaluation  # noqa: F401
    except ImportError as e:
        return (f'the linear protocol runs an mmsegmentation config and '
                f'mmsegmentation cannot be imported ({e}): make setup-full')
    return None


def evaluate_protocols(args) -> Dict[str, Dict[str, float]]:
    """The per-protocol subcommands: ``args.task`` (a protocol or 'all')
    for every MODEL on the synthetic frame folders ``args.data_root``;
    prints the table, writes ``args.json``. -> {column: {metric: value}}.
    """
    from mosic_mm.evaluation.benchmarks import (SYNTHETIC_BENCHMARKS,
                                                run_benchmark)
    from mosic_mm.evaluation.features import build_backbone
    tasks = TASKS if args.task == 'all' else (args.task, )
    if 'linear' in tasks:
        why = _linear_unavailable()
        if why and args.task == 'linear':
            raise SystemExit(f'tools/evaluate.py linear: {why}')
        if why:
            print(f'linear: skipped; {why}', file=sys.stderr)
            tasks = tuple(t for t in tasks if t != 'linear')
    known = {k for t in tasks for k in SYNTHETIC_BENCHMARKS[t].settings[
        'fast']}
    for item in args.set or ():
        if item.partition('=')[0] not in known:
            raise SystemExit(f'tools/evaluate.py --set {item}: no setting of '
                             f'{", ".join(tasks)} is called so; they are '
                             f'{", ".join(sorted(known))}')
    benches = {t: replace(SYNTHETIC_BENCHMARKS[t], splits=dict(
        train=args.train_split, val=args.split)) for t in tasks}
    overrides = {t: protocol_overrides(t, args) for t in tasks}
    results: Dict[str, Dict[str, float]] = {}
    for model in args.models:
        start = time.time()
        vit, info = build_backbone(**model_spec(model, args.config),
                                   which=args.which)
        res = {}
        for t in tasks:
            r = run_benchmark(benches[t], vit, info, args.data_root, 'fast',
                              progress=not args.no_progress,
                              overrides=overrides[t])
            res.update({METRIC_NAMES[t](m): v
                        for m, v in r['metrics'].items()})
        col = info['source']
        while col in results:
            col += "'"
        results[col] = res
        size = args.input_size or info['img_size']
        print(f'{col}: evaluated at {size} px in {time.time() - start:.0f} s',
              file=sys.stderr)
    print()
    print(f'{args.task} on {args.data_root} ({args.split}), fast presets of '
          'the paper protocols; scores x100')
    print_table(list(results), results)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return results


def print_table(columns: Sequence[str], results: dict) -> None:
    """results: {column: {metric: value}} -> aligned table (values x100)."""
    metrics = list(dict.fromkeys(m for r in results.values() for m in r))
    w0 = max(len('metric'), *(len(m) for m in metrics))
    widths = [max(8, len(c)) for c in columns]
    line = ' | '.join(['metric'.ljust(w0)] +
                      [c.rjust(w) for c, w in zip(columns, widths)])
    print(line)
    print('-' * len(line))
    for m in metrics:
        cells = [f'{100 * results[c][m]:.2f}' if m in results[c] else '-'
                 for c in columns]
        print(' | '.join([m.ljust(w0)] +
                         [s.rjust(w) for s, w in zip(cells, widths)]))


# ------------------------------------------------------------- benchmarks
def data_roots(entries: Sequence[str], names: Sequence[str],
               preset: str = 'paper') -> Dict[str, Optional[str]]:
    """{benchmark name: root} from ``--data-root`` entries (later entries
    win; a benchmark name beats its dataset name beats a bare path). A
    benchmark without one gets its default root under the paper preset
    and None (synthetic data in its layout) under the fast preset."""
    from mosic_mm.evaluation.benchmarks import BENCHMARKS
    bare, by_key = None, {}
    known = {b.dataset for b in BENCHMARKS.values()} | set(BENCHMARKS)
    for e in entries:
        key, sep, path = e.partition('=')
        if not sep:
            bare = e
            continue
        if key not in known:
            raise ValueError(f'--data-root {e}: {key!r} is neither a dataset '
                             f'nor a benchmark ({", ".join(sorted(known))})')
        by_key[key] = path
    default = (lambda b: b.data_root) if preset == 'paper' else \
        (lambda b: None)
    return {n: by_key.get(n) or by_key.get(BENCHMARKS[n].dataset) or bare or
            default(BENCHMARKS[n]) for n in names}


def _fmt(v, source: Optional[str] = None) -> str:
    """A reference number x100; ``*`` marks one whose source is not a
    primary one (:func:`mosic_mm.evaluation.benchmarks.is_verified`)."""
    from mosic_mm.evaluation.benchmarks import is_verified
    if v is None:
        return '-'
    return f'{v:.1f}' + ('' if is_verified(source) else '*')


def bench_table(results: dict, columns: List[str], preset: str) -> str:
    """Markdown table: one row per (benchmark, metric); ours x100 per
    model, then the reference DINOv2 / MoSiC numbers per backbone size
    (``*``: unverified), and below it the source of each of them."""
    archs = list(dict.fromkeys(
        results[n][c]['arch'] for n in results for c in columns
        if results[n][c]['arch']))
    head = ['benchmark', 'metric', *columns]
    for a in archs:
        head += [f'ref DINOv2 {a}', f'ref MoSiC {a}']
    lines = [f'Preset: **{preset}** '
             + ('(the paper protocols)' if preset == 'paper' else
                '(fast CPU preset, NOT the paper protocols: numbers are not '
                'comparable with the reference columns)'),
             '', '| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    sources = []
    for n, per_model in results.items():
        first = per_model[columns[0]]
        for m in first['metrics']:
            row = [n, m] + [f'{100 * per_model[c]["metrics"][m]:.2f}'
                            for c in columns]
            for a in archs:
                r = next((per_model[c] for c in columns
                          if per_model[c]['arch'] == a), {})
                ref = r.get('reference', {}).get(m) or {}
                src = (r.get('reference_source') or {}).get(m) or {}
                for model in ('DINOv2', 'MoSiC'):
                    v, s = ref.get(model), src.get(model)
                    row.append(_fmt(v, s))
                    if v is not None or s:
                        sources.append(f'- `{n}` {m}, {model} {a} = '
                                       f'{_fmt(v, s)}: {s or "NO SOURCE"}')
            lines.append('| ' + ' | '.join(row) + ' |')
    lines += ['', 'Protocols:']
    for n, per_model in results.items():
        r = per_model[columns[0]]
        lines.append(f'- `{n}` on `{r["data_root"]}`: {r["protocol"]}; '
                     + '; '.join(r['notes']))
    if sources:
        lines += ['', 'Reference numbers (`*` = unverified: not read from '
                  'the MoSiC paper, arXiv 2506.08694, or its README; '
                  '`-` = not given) and their sources:', *sources]
    return '\n'.join(lines) + '\n'


def evaluate_benchmarks(args) -> dict:
    """``bench`` / ``all-paper``: ``args.names`` x ``args.models`` under a
    process group when torchrun started several processes; rank 0 writes
    ``<out_dir>/<name>_<preset>.md / .json`` and prints the table."""
    from mosic_mm.utils.dist import distributed_session
    launcher = 'pytorch' if int(os.environ.get('WORLD_SIZE', '1')) > 1 \
        else 'none'
    with distributed_session(launcher):   # gloo without CUDA
        return _bench(args)


def _bench(args) -> dict:
    import torch
    from mmengine import dist
    from tqdm import tqdm

    from mosic_mm.evaluation.benchmarks import run_benchmark
    from mosic_mm.evaluation.features import build_backbone
    rank, ws = dist.get_rank(), dist.get_world_size()
    roots = data_roots(args.data_root, args.names, args.preset)
    dev = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if dev == 'cuda' and ws > 1:
        dev = f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}'
    progress = not args.no_progress and rank == 0
    results = {n: {} for n in args.names}
    columns = []
    for model in args.models:
        vit, info = build_backbone(**model_spec(model, args.config),
                                   which=args.which)
        vit.to(dev)
        col = info['source']
        while col in columns:
            col += "'"
        columns.append(col)
        bar = tqdm(args.names, desc=f'{col}', unit='benchmark',
                   disable=not progress)
        for n in bar:
            bar.set_postfix_str(n)
            start = time.time()
            wd = osp.join(args.work_dir, n, f'model{len(columns) - 1}') \
                if args.work_dir else None
            r = run_benchmark(n, vit, info, roots[n], args.preset,
                              progress=progress, work_dir=wd)
            r['seconds'] = time.time() - start
            r['model'] = model
            results[n][col] = r
        del vit
    if rank != 0:
        return results
    table = bench_table(results, columns, args.preset)
    name = args.names[0] if args.command == 'bench' else 'all-paper'
    stem = f'{name}_{args.preset}'
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, stem + '.md'), 'w') as f:
        f.write(table)
    with open(osp.join(args.out_dir, stem + '.json'), 'w') as f:
        json.dump(dict(preset=args.preset, columns=columns, world_size=ws,
                       results=results), f, indent=1, default=str)
    print()
    print(table)
    print(f'wrote {osp.join(args.out_dir, stem)}.md / .json',
          file=sys.stderr)
    return results
