"""Frozen-feature evaluation of MoSiC backbones (``tools/evaluate.py``;
docs/evaluation.md): the benchmarks of
:data:`~mosic_mm.evaluation.benchmarks.BENCHMARKS` run on models.

MODEL: a training config (.py: its initialisation under its seed, the
start of training) or a checkpoint (a training checkpoint, whose config it
holds, or an exported backbone with ``config``).
"""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

__all__ = ['evaluate', 'evaluate_models', 'load_model', 'data_roots',
           'split_settings', 'metric_label', 'print_table', 'bench_table',
           'write_bench_table']

#: the protocol benchmarks on the synthetic frame folders, by protocol
SYNTHETIC = {p: f'synthetic-{p}' for p in ('propagate', 'overcluster',
                                            'hummingbird', 'linear',
                                            'videoclust')}


def load_model(model: str, config: Optional[str] = None,
               which: str = 'student', device: Optional[str] = None):
    """(frozen backbone in eval mode on ``device``, info) of a MODEL
    argument (:func:`~mosic_mm.evaluation.features.build_backbone`)."""
    import torch

    from mosic_mm.evaluation.features import build_backbone
    spec = dict(config=model, checkpoint=None) if model.endswith('.py') \
        else dict(config=config, checkpoint=model)
    vit, info = build_backbone(**spec, which=which)
    dev = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if dev == 'cuda' and int(os.environ.get('WORLD_SIZE', '1')) > 1:
        dev = f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}'
    return vit.to(dev), info


def evaluate(model, benchmark: str, *, preset: str = 'paper',
             data_root: Optional[str] = None, config: Optional[str] = None,
             which: str = 'student', device: Optional[str] = None,
             progress: bool = True, work_dir: Optional[str] = None,
             splits: Optional[Mapping[str, str]] = None,
             reader_args: Optional[Mapping[str, Any]] = None,
             **settings) -> dict:
    """Run one benchmark on one model.

    Args:
        model: a MODEL path (see the module docstring), or a built
            ``(backbone, info)`` pair.
        benchmark: a key of :data:`~mosic_mm.evaluation.BENCHMARKS`.
        preset: 'paper' (the paper protocol) or 'fast' (CPU sizes).
        data_root: the dataset root (default: the benchmark's, or synthetic
            data in its layout under the fast preset).
        config, which, device: how a MODEL path is loaded
            (:func:`load_model`).
        splits, reader_args: replace the benchmark's splits / update its
            reader arguments.
        **settings: protocol settings on top of the preset; a key the
            protocol does not read is an error naming it and the valid ones.

    Returns:
        the result of :func:`~mosic_mm.evaluation.run_benchmark` (metrics
        in [0, 1], the paper's numbers for the backbone, the settings).
    """
    from mosic_mm.evaluation.benchmarks import get_benchmark, run_benchmark
    bench = get_benchmark(benchmark)
    bench.settings_for(preset, settings)  # a bad key fails before loading
    vit, info = model if isinstance(model, tuple) else load_model(
        model, config, which, device)
    return run_benchmark(bench, vit, info, data_root, preset, progress,
                         work_dir, settings, splits, reader_args)


def split_settings(settings: Mapping[str, Any], benchmarks: Sequence[str],
                   preset: str = 'paper') -> Dict[str, dict]:
    """{benchmark: the ``settings`` its protocol reads}: a key read by none
    of ``benchmarks`` is an error naming it and the settings they have."""
    from mosic_mm.evaluation.benchmarks import get_benchmark
    names = {b: set(get_benchmark(b).Settings.names()) for b in benchmarks}
    known = sorted(set().union(*names.values()))
    bad = [k for k in settings if k not in known]
    if bad:
        raise KeyError(
            f'{", ".join(map(repr, bad))} is not a setting of '
            f'{", ".join(benchmarks)}; their settings are {", ".join(known)}')
    out = {b: {k: v for k, v in settings.items() if k in names[b]}
           for b in benchmarks}
    for b, s in out.items():
        get_benchmark(b).settings_for(preset, s)  # types / values
    return out


def evaluate_models(models: Sequence[str], benchmarks: Sequence[str], *,
                    preset: str = 'paper',
                    data_roots: Optional[Mapping[str, Optional[str]]] = None,
                    config: Optional[str] = None, which: str = 'student',
                    device: Optional[str] = None, progress: bool = True,
                    work_dir: Optional[str] = None,
                    settings: Optional[Mapping[str, Any]] = None,
                    splits: Optional[Mapping[str, str]] = None,
                    reader_args: Optional[Mapping[str, Any]] = None
                    ) -> Dict[str, Dict[str, dict]]:
    """Every benchmark on every model, under a process group when torchrun
    started several processes (features sharded over ranks): the caller's
    when it has one (it then stays up, e.g. for rank 0 to write the
    table), else one made and destroyed here.

    ``settings`` go to each benchmark whose protocol reads them
    (:func:`split_settings`); ``data_roots``: {benchmark: root}.

    Returns:
        {benchmark: {column: result}}, columns in model order (a model
        given twice gets a ``'`` suffix), each result with ``seconds`` and
        ``model``.
    """
    import contextlib
    import time

    import torch.distributed as torch_dist
    from tqdm import tqdm

    from mosic_mm.evaluation.benchmarks import run_benchmark
    from mosic_mm.utils.dist import distributed_session
    per_bench = split_settings(settings or {}, benchmarks, preset)
    launcher = 'pytorch' if int(os.environ.get('WORLD_SIZE', '1')) > 1 \
        else 'none'
    results: Dict[str, Dict[str, dict]] = {b: {} for b in benchmarks}
    caller_group = torch_dist.is_available() and \
        torch_dist.is_initialized()
    with contextlib.nullcontext() if caller_group else \
            distributed_session(launcher):   # gloo without CUDA
        from mmengine import dist
        show = progress and dist.get_rank() == 0
        columns: List[str] = []
        for i, model in enumerate(models):
            vit, info = load_model(model, config, which, device)
            col = info['source']
            while col in columns:
                col += "'"
            columns.append(col)
            bar = tqdm(benchmarks, desc=col, unit='benchmark',
                       disable=not show or len(benchmarks) == 1)
            for b in bar:
                start = time.time()
                wd = osp.join(work_dir, b, f'model{i}') if work_dir else None
                r = run_benchmark(b, vit, info, (data_roots or {}).get(b),
                                  preset, show, wd, per_bench[b], splits,
                                  reader_args)
                r.update(seconds=time.time() - start, model=model,
                         img_size=info['img_size'])
                results[b][col] = r
            del vit
    return results


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
    return {n: by_key.get(n) or by_key.get(BENCHMARKS[n].dataset) or bare or
            (BENCHMARKS[n].data_root if preset == 'paper' else None)
            for n in names}


# ------------------------------------------------------------- tables
def metric_label(protocol: str, metric: str) -> str:
    """The row label of a protocol benchmark's metric in the protocol
    tables (the demo's and the mini reproduction's rows)."""
    if protocol == 'propagate':
        return f'DAVIS {metric}'
    if protocol in ('overcluster', 'hummingbird'):
        return f'{protocol} {metric.split()[1]} mIoU'
    if protocol == 'linear':
        return 'linear probe mIoU'
    return f'videoclust per-{metric.split()[1]} mIoU' if ' ' in metric \
        else f'videoclust {metric}'


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


def _fmt(v, source: Optional[str] = None) -> str:
    """A reference number x100; ``*`` marks one whose source is not a
    primary one (:func:`mosic_mm.evaluation.references.is_verified`)."""
    from mosic_mm.evaluation.references import is_verified
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


def write_bench_table(results: dict, out_dir: str, stem: str,
                      preset: str) -> str:
    """Write ``<out_dir>/<stem>.md`` (:func:`bench_table`) and ``.json``
    on rank 0; returns the table."""
    from mmengine import dist
    columns = list(next(iter(results.values())))
    table = bench_table(results, columns, preset)
    if dist.get_rank() == 0:
        os.makedirs(out_dir, exist_ok=True)
        with open(osp.join(out_dir, stem + '.md'), 'w') as f:
            f.write(table)
        with open(osp.join(out_dir, stem + '.json'), 'w') as f:
            json.dump(dict(preset=preset, columns=columns,
                           world_size=dist.get_world_size(),
                           results=results), f, indent=1, default=str)
    return table


def protocol_results(results: Dict[str, Dict[str, dict]]
                     ) -> Dict[str, Dict[str, float]]:
    """{column: {row label: value}} of protocol benchmarks' results (the
    protocol tables)."""
    from mosic_mm.evaluation.benchmarks import get_benchmark
    out: Dict[str, Dict[str, float]] = {}
    for b, per_model in results.items():
        protocol = get_benchmark(b).protocol
        for col, r in per_model.items():
            out.setdefault(col, {}).update(
                {metric_label(protocol, m): v
                 for m, v in r['metrics'].items()})
    return out


Json = Union[dict, list, str, float, int, None]
