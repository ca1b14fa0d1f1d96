"""MoSiC's claim in miniature, on a CPU (docs/mini_reproduction.md): the
mini reproduction's arms and table (:func:`run`) and ``make demo``
(:func:`demo`: MoSiC on exact tracks from the committed start beside the
seed spread of its reference)."""
import json
import os
import os.path as osp
import time

from tools.lab.mini.reproduction import (
    ARM_KEYS,
    CONTROL_B_CFG,
    DEMO_CFG,
    DEMO_REFERENCE,
    MOSIC_CFG,
    RANDOM_CFG,
    _arm_options,
    _evaluate,
    _run,
    _run_all,
    check_start_asset,
    config_digest,
    data_root_of,
    ensure_data,
    ensure_start,
    mean_colour_baseline,
    recorded_digest,
    refresh_start_asset,
    start_model_config,
)


def summarise(results: dict, seeds) -> dict:
    """{column: [per-seed {metric: value}]} -> {column: {metric: (mean,
    std, n)}} (population std over the seeds, x100 later)."""
    import numpy as np
    out = {}
    for col, runs in results.items():
        metrics = list(dict.fromkeys(m for r in runs for m in r))
        out[col] = {
            m: (float(np.mean([r[m] for r in runs])),
                float(np.std([r[m] for r in runs])), len(runs))
            for m in metrics
        }
    return out


def format_table(summary: dict, header: str) -> str:
    cols = list(summary)
    metrics = list(dict.fromkeys(m for c in cols for m in summary[c]))
    w0 = max(len('metric'), *(len(m) for m in metrics))
    w = [max(15, len(c)) for c in cols]
    lines = [
        header, ' | '.join(['metric'.ljust(w0)]
                           + [c.rjust(x) for c, x in zip(cols, w)])
    ]
    lines.append('-' * len(lines[-1]))
    for m in metrics:
        cells = []
        for c in cols:
            if m not in summary[c]:
                cells.append('-')
                continue
            mean, std, n = summary[c][m]
            cells.append(f'{100 * mean:.2f}' if n ==
                         1 else f'{100 * mean:.2f} +- {100 * std:.2f}')
        lines.append(' | '.join([m.ljust(w0)]
                                + [s.rjust(x) for s, x in zip(cells, w)]))
    return '\n'.join(lines)


def extract_arm_tracks(arms, args) -> None:
    """Fill the track caches of the MoSiC ``arms`` ((name, config) pairs);
    a second run skips every cached video."""
    for _, cfg in arms:
        if cfg != CONTROL_B_CFG:
            _run([args.python, 'tools/extract_tracks.py', cfg],
                 osp.join(args.out,
                          f'extract_{osp.basename(cfg)[:-3]}.log.txt'))


def train_arms(arms, args):
    """Train every arm ((name, config) pairs) for every seed of ``args``,
    ``args.jobs`` side by side, from ``args.start``. Returns ({name: [last
    checkpoint per seed]}, steps per run)."""
    jobs, n_iters = [], None
    for seed in args.seeds:
        for name, cfg in arms:
            opts, n_iters = _arm_options(cfg, seed, args.iters, args.start)
            wd = osp.join(args.out, f'{osp.basename(cfg)[:-3]}_seed{seed}')
            jobs.append((name, wd, [
                args.python, 'tools/train.py', cfg, '--work-dir', wd,
                '--cfg-options', *opts
            ]))
    _run_all([(cmd, wd + '.log.txt') for _, wd, cmd in jobs], args.jobs)
    ckpts = {name: [] for name, _ in arms}
    for name, wd, _ in jobs:
        with open(osp.join(wd, 'last_checkpoint')) as f:
            ckpts[name].append(f.read().strip())
    return ckpts, n_iters


# The demo's verdict: the families of the mini reproduction and the metrics
# of each (tools/evaluate.py all; K=6 and 24 are 1x and 4x the 6 classes of
# the synthetic data). A family improves when every one of its metrics does.
FAMILIES = (('J&F', ('DAVIS J&F', )), ('overclustering',
                                       ('overcluster K=6 mIoU',
                                        'overcluster K=24 mIoU')),
            ('Hummingbird',
             ('hummingbird 1/1 mIoU', )), ('linear', ('linear probe mIoU', )),
            ('video clustering', ('videoclust per-frame mIoU',
                                  'videoclust per-clip mIoU')))


def family_verdicts(start: dict, trained: dict, families=FAMILIES) -> dict:
    """{family: 'better' | 'mixed' | 'worse' | 'not evaluated'} of
    ``trained`` against ``start`` (each {metric: value}): better when every
    metric of the family is above the start, worse when none is; not
    evaluated when neither has any of its metrics (tools/evaluate.py skips
    a protocol it cannot run here, and says why)."""
    out = {}
    for family, metrics in families:
        if not any(m in start or m in trained for m in metrics):
            out[family] = 'not evaluated'
            continue
        missing = [m for m in metrics if m not in start or m not in trained]
        if missing:
            raise KeyError(f'family {family!r}: {missing} not among the '
                           f'results ({sorted(trained)})')
        up = sum(trained[m] > start[m] for m in metrics)
        out[family] = ('better'
                       if up == len(metrics) else 'mixed' if up else 'worse')
    return out


def gains(start: dict, runs: list) -> dict:
    """{metric: (mean, std, n)} of ``run[m] - start[m]`` over ``runs``
    (one {metric: value} per seed): the trained model's gain over its
    start and the gain's spread over the seeds (population std)."""
    import numpy as np
    out = {}
    for m in start:
        d = [r[m] - start[m] for r in runs if m in r]
        if d:
            out[m] = (float(np.mean(d)), float(np.std(d)), len(d))
    return out


def demo_settings(start: str, iters: int, eval_args) -> dict:
    """What the demo's numbers depend on besides the code: the resolved
    DEMO_CFG and start (their config digests), the steps and the
    evaluation options. A reference measured under other settings does
    not apply."""
    return dict(config=DEMO_CFG,
                config_digest=config_digest(DEMO_CFG),
                start_digest=recorded_digest(start),
                iters=iters,
                eval_args=list(eval_args))


def load_reference(path: str, settings: dict):
    """(the reference recorded at ``path``, None) when it was measured under
    ``settings``; otherwise (None, why not)."""
    if not osp.isfile(path):
        return None, f'{path} not found'
    with open(path) as f:
        ref = json.load(f)
    diff = [k for k, v in settings.items() if ref['settings'].get(k) != v]
    if diff:
        return None, (f'{path} was measured under other settings '
                      f'({", ".join(diff)} differ)')
    return ref, None


def _count(verdicts: dict) -> str:
    """'better on N of M families' (+ which were not evaluated)."""
    skipped = [f for f, v in verdicts.items() if v == 'not evaluated']
    n = sum(v == 'better' for v in verdicts.values())
    return (f'better on {n} of {len(verdicts) - len(skipped)} families' +
            (f' (not evaluated: {", ".join(skipped)})' if skipped else ''))


def demo_table(start: dict, runs: list, seeds, reference) -> str:
    """Start vs MoSiC (mean +- std over ``seeds`` when several), the gain,
    and the reference's gain over its seeds (its spread: the seed noise),
    followed by the per-family verdicts."""
    import numpy as np
    name = f'+MoSiC (seed{"s" * (len(seeds) > 1)} ' \
        f'{" ".join(map(str, seeds))})'
    cols = {
        'start (MoCoV3)': {
            m: (v, 0.0, 1)
            for m, v in start.items()
        },
        name: summarise({name: runs}, seeds)[name],
        'gain': gains(start, runs)
    }
    if reference:
        cols[f'reference gain, {len(reference["seeds"])} seeds'] = gains(
            reference['start'], reference['runs'])
    mean = {m: float(np.mean([r[m] for r in runs])) for m in start}
    lines = [
        format_table(cols, 'scores x100'), '',
        'MoSiC vs its start by family (better: every metric of the '
        'family above the start):'
    ]
    verdicts = family_verdicts(start, mean)
    ref_verdicts = reference and family_verdicts(
        reference['start'], {
            m: float(np.mean([r[m] for r in reference['runs']]))
            for m in reference['start']
        })
    for family, v in verdicts.items():
        lines.append(f'  {family:<17} {v}' + (
            f' (reference: {ref_verdicts[family]})' if reference else ''))
    lines.append(f'  {_count(verdicts)}'
                 + (f' (reference, mean of {len(reference["seeds"])} seeds: '
                    f'{_count(ref_verdicts)})' if reference else ''))
    return '\n'.join(lines)


def demo(args) -> dict:
    """``make demo``: the paper's regime in minutes. MoSiC on exact tracks
    (DEMO_CFG) trained from the committed image-SSL start for each of
    ``args.seeds``, then start vs MoSiC on every family of the mini
    reproduction, beside the seed spread of DEMO_REFERENCE."""
    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    check_start_asset(args.start)
    data_root = data_root_of(DEMO_CFG)
    ensure_data(data_root, DEMO_CFG)
    print(f'data: {data_root} ready at {time.time() - t0:.0f} s', flush=True)
    name, arms = '+MoSiC exact tracks', [('+MoSiC exact tracks', DEMO_CFG)]
    # the start is evaluated while the tracks are extracted (one core each;
    # extraction renders the videos' scenes again, single-threaded), then
    # the training has both cores
    from concurrent.futures import ThreadPoolExecutor
    start_model = start_model_config(args.start, args.out, DEMO_CFG)
    with ThreadPoolExecutor(1) as pool:
        start_eval = pool.submit(_evaluate,
                                 'all', [start_model],
                                 data_root,
                                 args,
                                 label='start',
                                 share=2)
        extract_arm_tracks(arms, args)
        start = start_eval.result()[0]
    print(f'tracks and start evaluation done at {time.time() - t0:.0f} s',
          flush=True)
    ckpts, n_iters = train_arms(arms, args)
    print(f'training done at {time.time() - t0:.0f} s', flush=True)
    runs = _evaluate('all', ckpts[name], data_root, args, label='mosic')
    settings = demo_settings(args.start, n_iters, args.eval_args)
    record = dict(settings=settings,
                  seeds=args.seeds,
                  start=start,
                  runs=runs,
                  checkpoints=ckpts[name],
                  data_root=data_root,
                  seconds=round(time.time() - t0),
                  cpus=os.cpu_count())
    if args.write_reference:
        with open(DEMO_REFERENCE, 'w') as f:
            json.dump(record, f, indent=1)
            f.write('\n')
        print(f'wrote {DEMO_REFERENCE}; commit it', flush=True)
    reference, why = load_reference(DEMO_REFERENCE, settings)
    table = demo_table(start, runs, args.seeds, reference)
    header = (f'Demo: MoSiC on exact tracks ({DEMO_CFG}, {n_iters} steps) '
              f'from the image-SSL start {args.start}, on the synthetic val '
              f'split of {data_root}; tools/evaluate.py (the paper '
              'protocols at their fast presets, docs/evaluation.md). '
              'gain = MoSiC - start; reference ' +
              (f'gain = the same run for seeds {reference["seeds"]} '
               f'({DEMO_REFERENCE}, {reference["cpus"]} CPUs), mean +- '
               'std: a gain beyond that spread is more than seed noise'
               if reference else f'spreads not shown: {why}')
              + f'; {time.time() - t0:.0f} s in all')
    print()
    print(header)
    print(table)
    with open(osp.join(args.out, 'table.txt'), 'w') as f:
        f.write(header + '\n' + table + '\n')
    with open(osp.join(args.out, 'results.json'), 'w') as f:
        json.dump(record, f, indent=1)
    print(f'\ncheckpoints: {", ".join(ckpts[name])}')
    print(f'tensorboard: tensorboard --logdir {args.out}')
    return record


def run(args) -> dict:
    """``make reproduce-mini``: the start, every arm of ``args.arms`` for
    each of ``args.seeds``, and one table of the families (mean +- std)."""
    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    py = args.python
    ensure_start(args.start, python=py)
    refresh_start_asset(args.start)  # the committed start, if stale
    data_root = data_root_of(MOSIC_CFG)
    ensure_data(data_root)  # also when the start was cached
    base = mean_colour_baseline(data_root)
    print(
        f'appearance baseline on {data_root}: nearest class-mean colour '
        f'of 8x8 patches: {100 * base["acc"]:.1f}% patch accuracy, '
        f'{100 * base["miou"]:.1f} mIoU',
        flush=True)
    arms = [arm for k, arm in ARM_KEYS if k in args.arms]
    extract_arm_tracks(arms, args)
    ckpts, n_iters = train_arms(arms, args)
    # one evaluation call: a random-init ViT (reference: what appearance
    # gets without learning), the start (MOSIC_CFG initialised from
    # args.start) and every checkpoint, side by side
    models = [RANDOM_CFG, start_model_config(args.start, args.out)
              ] + [c for name, _ in arms for c in ckpts[name]]
    cols = _evaluate('all', models, data_root, args)
    # J&F and video clustering again at a larger input: at 112 px (8x8
    # tokens) propagation is near its floor with 8-11 instances per clip
    if args.temporal_size:
        for task in ('propagate', 'videoclust'):
            extra = _evaluate(
                task, models, data_root, args,
                ['--input-size', str(args.temporal_size)])
            for col, more in zip(cols, extra):
                col.update({
                    f'{k} @{args.temporal_size}px': v
                    for k, v in more.items()
                })
    results = {'random init': [cols[0]], 'start (MoCoV3)': [cols[1]]}
    i = 2
    for name, _ in arms:
        results[name] = cols[i:i + len(args.seeds)]
        i += len(args.seeds)
    summary = summarise(results, args.seeds)
    header = (
        f'Mini reproduction on the synthetic val split of {data_root}: '
        f'tools/evaluate.py (the paper protocols at their fast '
        f'presets, docs/evaluation.md), '
        f'scores x100, mean +- std over {len(args.seeds)} training '
        f'seeds {args.seeds} of {n_iters} steps per arm (start: one '
        f'MoCoV3 checkpoint; random init: seed 0); appearance '
        f'baseline (nearest class-mean colour, 8x8 patches): '
        f'{100 * base["miou"]:.1f} mIoU; {time.time() - t0:.0f} s in all')
    table = format_table(summary, header)
    print()
    print(table)
    with open(osp.join(args.out, 'table.txt'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(args.out, 'results.json'), 'w') as f:
        json.dump(dict(seeds=args.seeds,
                       iters=n_iters,
                       runs=results,
                       checkpoints=ckpts,
                       data_root=data_root,
                       mean_colour_baseline=dict(acc=base['acc'],
                                                 miou=base['miou'])),
                  f,
                  indent=1)
    return summary
