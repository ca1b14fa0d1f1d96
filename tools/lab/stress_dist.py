"""Stress the distributed entry points' start-up and teardown on CPU.

    python tools/lab/stress_dist.py [--runs 20] [--nproc 2] [--out DIR]
        [--jobs extract train] [--timeout 600]

Runs ``torchrun --nproc_per_node NPROC`` on tools/extract_tracks.py (a fresh
cache each run) and on tools/train.py (through tools/dist_train.sh, a few
iterations of a tiny model) ``--runs`` times each, on a small synthetic
dataset written once under ``--out``, and counts failures: a non-zero exit
status, a timeout, or a run whose log lacks its success line. Every failed
run's log is kept under ``--out/failed``; the last line is the summary
(``stress: F failures of N runs``), the exit status 1 if F > 0.

Not a test (it takes minutes): the proof that a run never dies in the
process group's teardown (``terminate called without an active exception``,
SIGABRT at exit), see mosic_mm/utils/dist.py.
"""
import argparse
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

from tools.lab.lib.processes import torchrun_command

CONFIG = osp.join(REPO, 'configs', 'mosic_vits_synthetic.py')

DATA = dict(num_train=4,
            num_val=2,
            num_frames=8,
            size=[64, 64],
            clip_len=3,
            frame_stride=2)


def data_options(root: str) -> list:
    ds = 'train_dataloader.dataset'
    return [
        f'{ds}.data_root={root}', f'{ds}.num_train={DATA["num_train"]}',
        f'{ds}.num_val={DATA["num_val"]}',
        f'{ds}.num_frames={DATA["num_frames"]}',
        f'{ds}.size=[{DATA["size"][0]},{DATA["size"][1]}]',
        f'{ds}.pipeline.0.clip_len={DATA["clip_len"]}',
        f'{ds}.pipeline.0.frame_stride={DATA["frame_stride"]}'
    ]


def train_options(root: str, cache: str, iters: int) -> list:
    """A tiny model and a few iterations on the cached tracks."""
    return data_options(root) + [
        f'train_dataloader.dataset.pipeline.2.cache_dir={cache}',
        'train_dataloader.dataset.pipeline.3.size=56',
        'train_dataloader.dataset.pipeline.5.num_tracks=16',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'model.backbone.arch.embed_dims=32',
        'model.backbone.arch.num_layers=2', 'model.backbone.arch.num_heads=2',
        'model.backbone.arch.feedforward_channels=64',
        'model.backbone.img_size=56', 'model.head.hidden_channels=[48]',
        'model.head.out_channels=16', 'model.head.num_prototypes=8',
        f'train_cfg.max_iters={iters}', f'param_scheduler.0.T_max={iters}',
        f'default_hooks.checkpoint.interval={iters}',
        'default_hooks.logger.interval=1'
    ]


def command(job: str, args, run_dir: str, root: str, cache: str) -> list:
    torchrun = torchrun_command(args.nproc)
    if job == 'extract':
        return torchrun + [
            osp.join(REPO, 'tools', 'extract_tracks.py'), CONFIG, '--launcher',
            'pytorch', '--cache-dir',
            osp.join(run_dir, 'cache'), '--cfg-options', *data_options(root)
        ]
    return torchrun + [
        osp.join(REPO, 'tools',
                 'train.py'), CONFIG, '--launcher', 'pytorch', '--work-dir',
        osp.join(run_dir, 'work'), '--cfg-options',
        *train_options(root, cache, args.iters)
    ]


def success_line(job: str, args) -> str:
    n = DATA['num_train']
    if job == 'extract':
        return f'{n} done, 0 skipped (already there), 0 failed, of {n} videos'
    return f'Iter(train) [{args.iters}/{args.iters}]'


def prepare(args) -> tuple:
    """Write the dataset and a track cache once (single process)."""
    root, cache = osp.join(args.out, 'data'), osp.join(args.out, 'cache')
    cmd = [
        sys.executable,
        osp.join(REPO, 'tools', 'extract_tracks.py'), CONFIG, '--cache-dir',
        cache, '--cfg-options', *data_options(root)
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit('stress: preparing the data failed:\n'
                 + (proc.stdout + proc.stderr)[-3000:])
    return root, cache


def stress_dist(args) -> int:
    """Run each job of ``args.jobs`` ('extract', 'train') ``args.runs``
    times under torchrun with ``args.nproc`` processes (``args.iters``
    training iterations, ``args.timeout`` s per run), data and logs under
    ``args.out``; prints one line per run and the summary.

    Returns:
        int: 1 if any run failed, else 0.
    """
    args.out = osp.abspath(args.out)
    os.makedirs(osp.join(args.out, 'failed'), exist_ok=True)
    root, cache = prepare(args)
    env = dict(os.environ,
               OMP_NUM_THREADS='1',
               PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    failures = {job: 0 for job in args.jobs}
    total = 0
    for i in range(args.runs):
        for job in args.jobs:
            run_dir = osp.join(args.out, 'runs', f'{job}_{i:03d}')
            shutil.rmtree(run_dir, ignore_errors=True)
            os.makedirs(run_dir)
            start = time.perf_counter()
            try:
                proc = subprocess.run(command(job, args, run_dir, root, cache),
                                      cwd=REPO,
                                      env=env,
                                      capture_output=True,
                                      text=True,
                                      timeout=args.timeout)
                code, log = proc.returncode, proc.stdout + proc.stderr
            except subprocess.TimeoutExpired as e:
                code = 'timeout'
                log = f'{e.stdout or ""}{e.stderr or ""}'
            seconds = time.perf_counter() - start
            total += 1
            ok = code == 0 and success_line(job, args) in log
            if ok:
                shutil.rmtree(run_dir, ignore_errors=True)
            else:
                failures[job] += 1
                path = osp.join(args.out, 'failed', f'{job}_{i:03d}.log')
                with open(path, 'w') as f:
                    f.write(log)
                reason = 'terminate called' if 'terminate called' in log \
                    else f'exit status {code}'
            print(
                f'stress: {job} run {i + 1}/{args.runs}: '
                f'{"ok" if ok else "FAILED (" + reason + ", log " + path + ")"}'
                f' in {seconds:.1f} s',
                flush=True)
    bad = sum(failures.values())
    detail = ', '.join(f'{job} {n}/{args.runs}' for job, n in failures.items())
    print(
        f'stress: {bad} failures of {total} runs ({detail}; '
        f'{args.nproc} processes each)',
        flush=True)
    return 1 if bad else 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--runs', type=int, default=20, help='runs per job')
    p.add_argument('--nproc', type=int, default=2, help='processes per run')
    p.add_argument('--iters',
                   type=int,
                   default=2,
                   help='training iterations per run')
    p.add_argument('--out',
                   default='work_dirs/stress_dist',
                   help='data, caches, work dirs and failed logs')
    p.add_argument('--jobs',
                   nargs='+',
                   default=['extract', 'train'],
                   choices=['extract', 'train'])
    p.add_argument('--timeout',
                   type=float,
                   default=600,
                   help='seconds per run before it counts as failed')
    return p.parse_args(argv)


def main(argv=None) -> int:
    return stress_dist(parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
