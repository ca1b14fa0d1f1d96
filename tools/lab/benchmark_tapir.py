"""Speed and peak memory of mosic_mm.tracks.tapir's BootsTAPIR on this CPU.

Prints numbers, asserts nothing. Random weights (the model's own
initialisation, seeded), a synthetic moving video and a grid of queries on
frame 0.

* speed: frames/s of offline BootsTAPIR (one ``forward`` over the clip)
  and of online (causal) BootsTAPIR (``track_online``, one frame per
  step), ``--frames`` frames at ``--size`` x ``--size``, ``--grid``^2
  queries;
* memory: peak resident memory (VmHWM) of a fresh subprocess per case,
  for a ``--memory-frames`` clip: offline (the whole clip in memory, one
  ``forward``), online (frames made one at a time and streamed through
  ``online_step``: nothing grows with the clip), and a baseline process
  that only builds the model and one frame.

    python tools/lab/benchmark_tapir.py --threads 2
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from mosic_mm.tracks.tapir import build_tapir  # noqa: E402


def make_frame(t: int, size: int, base: torch.Tensor) -> torch.Tensor:
    """Frame ``t`` [size, size, 3] in [-1, 1]: ``base`` translated by
    (t, 2t) pixels."""
    return torch.roll(base, shifts=(t, 2 * t), dims=(0, 1))[:size, :size]


def base_image(size: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    low = torch.rand(1, 3, size // 8, size // 8, generator=gen) * 2 - 1
    img = torch.nn.functional.interpolate(low, size=(size, size),
                                          mode='bilinear',
                                          align_corners=False)
    return img[0].permute(1, 2, 0).contiguous()


def make_video(frames: int, size: int) -> torch.Tensor:
    base = base_image(size)
    return torch.stack([make_frame(t, size, base)
                        for t in range(frames)])[None]


def grid_queries(grid: int, size: int) -> torch.Tensor:
    """[1, grid^2, 3] (t=0, y, x) at the cell centres."""
    c = (torch.arange(grid, dtype=torch.float32) + 0.5) * size / grid
    y, x = torch.meshgrid(c, c, indexing='ij')
    return torch.stack([torch.zeros_like(y), y, x], -1).reshape(1, -1, 3)


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'cpu'


def build(variant: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_tapir(variant)


def peak_rss_kb() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_child(args) -> None:
    """One memory case in this (fresh) process; prints a JSON line."""
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    size, frames = args.size, args.memory_frames
    queries = grid_queries(args.grid, size)
    start = time.time()
    if args.child == 'baseline':
        model = build('causal_bootstapir')
        frame = make_frame(0, size, base_image(size))
        del model, frame
    elif args.child == 'offline':
        model = build('bootstapir')
        video = make_video(frames, size)
        model(video, queries)
    else:
        model = build('causal_bootstapir')
        base = base_image(size)
        first = make_frame(0, size, base)[None, None]
        state = model.init_online(model.get_query_features(first, queries))
        for t in range(frames):
            frame = make_frame(t, size, base)[None, None]
            _, state = model.online_step(frame, state)
    print(json.dumps(dict(case=args.child, frames=frames,
                          peak_rss_kb=peak_rss_kb(),
                          seconds=round(time.time() - start, 1))))


def memory_case(args, case: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), '--child', case,
           '--threads', str(args.threads), '--size', str(args.size),
           '--grid', str(args.grid), '--memory-frames',
           str(args.memory_frames)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def speed(args) -> None:
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    video = make_video(args.frames, args.size)
    queries = grid_queries(args.grid, args.size)
    for variant, label in (('bootstapir', 'offline'),
                           ('causal_bootstapir', 'online')):
        model = build(variant)
        warm = video[:, :2]
        if label == 'offline':
            model(warm, queries)
        else:
            model.track_online(warm, queries)
        times = []
        for _ in range(args.repeats):
            start = time.time()
            if label == 'offline':
                model(video, queries)
            else:
                model.track_online(video, queries, chunk_size=1)
            times.append(time.time() - start)
        best = min(times)
        print(f'{label:8s} {variant:18s} {args.frames} frames '
              f'{args.size}x{args.size}, {queries.shape[1]} queries: '
              f'{best:.1f} s, {args.frames / best:.2f} frames/s '
              f'(best of {args.repeats})', flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', type=int,
                        default=torch.get_num_threads())
    parser.add_argument('--frames', type=int, default=24)
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--grid', type=int, default=16,
                        help='queries: a grid x grid grid on frame 0')
    parser.add_argument('--repeats', type=int, default=1)
    parser.add_argument('--memory-frames', type=int, default=300)
    parser.add_argument('--skip-speed', action='store_true')
    parser.add_argument('--skip-memory', action='store_true')
    parser.add_argument('--child', choices=('baseline', 'offline', 'online'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return run_child(args)

    print(f'torch {torch.__version__}, {cpu_name()}, '
          f'{os.cpu_count()} cores, threads={args.threads}, load average '
          f'{os.getloadavg()[0]:.1f}', flush=True)
    if not args.skip_speed:
        speed(args)
    if not args.skip_memory:
        clip_mb = args.memory_frames * args.size**2 * 3 * 4 / 2**20
        print(f'peak memory, {args.memory_frames} frames {args.size}x'
              f'{args.size}, {args.grid**2} queries (the offline clip '
              f'itself is {clip_mb:.0f} MiB):', flush=True)
        for case in ('baseline', 'online', 'offline'):
            res = memory_case(args, case)
            print(f'  {case:8s} peak RSS {res["peak_rss_kb"] / 2**20:.2f} GiB'
                  f' ({res["seconds"]} s)', flush=True)
    print(f'load average at the end {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
    main()
