"""Time MoSiC training iterations, ours against the reference implementation.

    python tools/benchmark.py CONFIG [--batch B] [--frames T] [--points N]
        [--size S] [--iters I] [--mode ours|reference|both] [--data
        synthetic|config] [--out FILE.json] [--cfg-options k=v ...]
    python tools/benchmark.py [CONFIG] --input-only [tools/benchmark_input.py
        options]   # the input pipeline alone, on generated 720p data

Per mode it prints the median iteration time and clips/s, a breakdown
(data wait, tracking, teacher forward, student forward, sampling, projector,
Sinkhorn, loss, backward, optimizer, EMA), the peak memory (RSS on CPU, max
allocated on CUDA) and the achieved FLOP/s of the step as a fraction of this
device's dense-matmul peak, which the tool measures itself. ``both`` runs each
mode in its own process (so peak memory is per mode) and prints ours /
reference ratios.

- ours: the training path (`MoSiC.loss`), tracks given (as from the cache).
- reference: the official code's way with the same weights and inputs —
  student on all T frames, feature maps upsampled to the input resolution
  before sampling, tracks computed by the configured tracker every step.
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

STAGES = ('data_wait', 'tracking', 'preprocess', 'teacher', 'student',
          'sampling', 'projector', 'sinkhorn', 'loss', 'backward', 'optimizer',
          'ema')
PROFILED = ('teacher', 'student', 'sampling', 'projector', 'sinkhorn', 'loss')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--batch', type=int, default=2, help='clips per step')
    p.add_argument('--frames', type=int, help='T (default: config clip_len)')
    p.add_argument('--points', type=int, help='N (default: config tracks)')
    p.add_argument('--size', type=int, help='input px (default: backbone)')
    p.add_argument('--iters', type=int, default=5, help='timed iterations')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--mode', default='both',
                   choices=['ours', 'reference', 'both'])
    p.add_argument('--data', default='synthetic',
                   choices=['synthetic', 'config'],
                   help="synthetic: rendered clips held in memory; config: "
                   "the config's train dataloader (data wait measured)")
    p.add_argument('--device', default='cuda' if torch.cuda.is_available()
                   else 'cpu')
    p.add_argument('--out', help='write the results as JSON')
    p.add_argument('--markdown', help='append the table, with a machine '
                   'description and the command, to this Markdown file')
    p.add_argument('--pretrained', action='store_true',
                   help="load the config's backbone weights (default: "
                   'random init, which times the same)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


# --------------------------------------------------------------- measuring
def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def _timed(times: dict, key: str, device):
    _sync(device)
    start = time.perf_counter()
    yield
    _sync(device)
    times[key] = times.get(key, 0.0) + time.perf_counter() - start


def matmul_peak_gflops(device, dtype, n: int = 2048, reps: int = 5) -> float:
    """Dense n^3 matmul throughput of this device (best of ``reps``)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    runs = []
    for _ in range(reps):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        runs.append(time.perf_counter() - start)
    return 2 * n**3 / min(runs) / 1e9  # best of reps: the peak


def peak_memory_mb(device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_memory_mb(device) -> float:
    if device.type == 'cuda':
        return torch.cuda.memory_allocated(device) / 2**20
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


# -------------------------------------------------------------- set-up
def _pipeline_step(cfg, type_name):
    for step in cfg.train_dataloader.dataset.get('pipeline', []):
        if step.get('type') == type_name:
            return step
    return None


def resolve_shape(args, cfg) -> dict:
    ds = cfg.train_dataloader.dataset
    select = _pipeline_step(cfg, 'SelectTracks')
    img_size = cfg.model.backbone.get('img_size', 224)
    return dict(
        batch=args.batch,
        frames=args.frames or ds.get('clip_len', 12),
        points=args.points or (select.num_tracks if select else 256),
        size=args.size or (img_size if isinstance(img_size, int)
                           else img_size[0]))


def build_tracker_and_grid(cfg):
    from mosic_mm.trackers import build_tracker
    step = _pipeline_step(cfg, 'TrackPoints') or _pipeline_step(
        cfg, 'LoadTracks')
    tracker_cfg = dict(step.tracker) if step else dict(type='DISFlowTracker')
    grid = step.grid_size if step else 16
    return build_tracker(tracker_cfg), grid, tracker_cfg


def synthetic_clips(shape: dict) -> np.ndarray:
    """B rendered clips uint8 [B,T,S,S,3] with moving textured objects."""
    from mosic_mm.synthetic import render_video
    return np.stack([
        render_video(seed=i, num_frames=shape['frames'],
                     size=(shape['size'], shape['size']))['frames']
        for i in range(shape['batch'])
    ])


def track_clips(tracker, clips: np.ndarray, grid: int, num_points: int):
    """Grid on frame 0, tracked -> tracks [B,T,N,2], visibility [B,T,N]."""
    from mosic_mm.datasets.transforms.selection import SelectTracks
    from mosic_mm.datasets.transforms.tracking import track_grid
    select = SelectTracks(num_points)
    tracks, vis = [], []
    for clip in clips:
        tr, v = track_grid(tracker, clip, grid)
        out = select.transform(dict(tracks=tr, visibility=v,
                                    img_shape=clip.shape[1:3]))
        tracks.append(out['tracks'])
        vis.append(out['visibility'])
    return (torch.from_numpy(np.stack(tracks)).float(),
            torch.from_numpy(np.stack(vis)))


def make_batch(clips: torch.Tensor, tracks, vis):
    from mmpretrain.structures import DataSample
    samples = []
    for t, v in zip(tracks, vis):
        s = DataSample()
        s.set_field(t, 'tracks')
        s.set_field(v, 'visibility')
        samples.append(s)
    return dict(inputs=list(clips), data_samples=samples)


# ------------------------------------------------------------------ run
def run_mode(args) -> dict:
    import mosic_mm  # noqa: F401
    from mmengine.optim import build_optim_wrapper
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.flop_counter import FlopCounterMode

    from mosic_mm.benchmark import reference_loss
    from mosic_mm.registry import MODELS

    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    MMLogger.get_instance('mosic_benchmark', log_level='WARNING')
    if not args.pretrained:
        cfg.model.backbone.init_cfg = None
    device = torch.device(args.device)
    shape = resolve_shape(args, cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device).train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    tracker, grid, tracker_cfg = build_tracker_and_grid(cfg)

    loader = None
    if args.data == 'config':
        from mmengine.runner import Runner
        loader = iter(Runner.build_dataloader(cfg.train_dataloader))
        shape['batch'] = cfg.train_dataloader.batch_size
    else:
        clips_np = synthetic_clips(shape)
        clips = torch.from_numpy(clips_np).permute(0, 1, 4, 2, 3).contiguous()
        cached = track_clips(tracker, clips_np, grid, shape['points'])

    def step(times: dict, count_flops: bool = False):
        with _timed(times, 'data_wait', device):
            if loader is not None:
                batch = next(loader)
        if loader is None:
            if args.mode == 'reference':
                with _timed(times, 'tracking', device):
                    tracks, vis = track_clips(tracker, clips_np, grid,
                                              shape['points'])
            else:
                tracks, vis = cached
            batch = make_batch(clips, tracks, vis)
        with _timed(times, 'preprocess', device):
            data = model.data_preprocessor(batch, True)
        flops = FlopCounterMode(display=False) if count_flops else None
        with flops if flops else contextlib.nullcontext():
            with _timed(times, 'forward', device):
                with optim.optim_context(model):
                    if args.mode == 'ours':
                        losses = model.loss(**data)
                    else:
                        s = data['data_samples']
                        losses = reference_loss(
                            model, data['inputs'],
                            torch.stack([x.tracks for x in s]).to(device),
                            torch.stack([x.visibility for x in s]).to(device))
            with _timed(times, 'backward', device):
                optim.backward(losses['loss'])
        with _timed(times, 'optimizer', device):
            optim.step()
            optim.zero_grad()
        with _timed(times, 'ema', device):
            model.update_teacher(0.99)
        return losses['loss'].item(), (flops.get_total_flops()
                                       if flops else None)

    baseline_mb = current_memory_mb(device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        step({})
    _, flops_per_iter = step({}, count_flops=True)
    iter_times, stage_times, losses = [], [], []
    for _ in range(args.iters):
        times = {}
        start = time.perf_counter()
        loss, _ = step(times)
        iter_times.append(time.perf_counter() - start)
        stage_times.append(times)
        losses.append(loss)
    # Inner stages from the profiler labels of one more iteration.
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        times = {}
        step(times)
    labelled = {e.key.split('/', 1)[1]: e.cpu_time_total / 1e6
                for e in prof.key_averages() if e.key.startswith('mosic/')}

    median = statistics.median(iter_times)
    breakdown = {k: statistics.median(t.get(k, 0.0) for t in stage_times)
                 for k in ('data_wait', 'tracking', 'preprocess', 'forward',
                           'backward', 'optimizer', 'ema')}
    forward = breakdown.pop('forward')
    if args.mode == 'ours':
        # the profiler's stage split of the forward, scaled to its median
        total = sum(labelled.get(k, 0.0) for k in PROFILED) or 1.0
        for k in PROFILED:
            breakdown[k] = forward * labelled.get(k, 0.0) / total
    else:
        breakdown.update(teacher=0.0, student=0.0, sampling=0.0,
                         projector=0.0, sinkhorn=0.0, loss=0.0)
        # the reference forward interleaves both networks: all of it is
        # reported under 'student' (see the table's footnote)
        breakdown['student'] = forward
    peak32 = matmul_peak_gflops(device, torch.float32)
    peak16 = matmul_peak_gflops(device, torch.bfloat16)
    achieved = flops_per_iter / (median - breakdown['data_wait'] -
                                 breakdown['tracking']) / 1e9
    return dict(
        mode=args.mode, device=str(device), threads=torch.get_num_threads(),
        shape=shape, tracker=tracker_cfg, data=args.data,
        median_iter_s=median, clips_per_s=shape['batch'] / median,
        median_iter_s_excl_tracking=median - breakdown['tracking'],
        breakdown_s=breakdown, peak_memory_mb=peak_memory_mb(device),
        step_memory_mb=peak_memory_mb(device) - baseline_mb,
        gflop_per_iter=flops_per_iter / 1e9, achieved_gflops=achieved,
        matmul_peak_gflops=dict(fp32=peak32, bf16=peak16),
        fraction_of_fp32_peak=achieved / peak32, losses=losses)


# ----------------------------------------------------------------- print
def machine_description() -> str:
    cpu = 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f
                       if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    gpu = (torch.cuda.get_device_name(0) if torch.cuda.is_available()
           else 'no GPU')
    return (f'{cpu}, {os.cpu_count()} cores, {gpu}; torch {torch.__version__}'
            f', {torch.get_num_threads()} threads')


def format_table(results: list) -> str:
    out = []
    shape = results[0]['shape']
    out.append(f"\nshape: B={shape['batch']} T={shape['frames']} "
               f"N={shape['points']} {shape['size']}px, device "
               f"{results[0]['device']} ({results[0]['threads']} threads), "
               f"data: {results[0]['data']}")
    head = f"{'':28}" + ''.join(f"{r['mode']:>14}" for r in results)
    out.append(head)
    rows = [
        ('iteration (s, median)', lambda r: r['median_iter_s']),
        ('  excluding tracking (s)', lambda r: r['median_iter_s_excl_tracking']),
        ('clips/s', lambda r: r['clips_per_s']),
        *[(f'  {k} (s)', lambda r, k=k: r['breakdown_s'].get(k, 0.0))
          for k in STAGES],
        ('peak memory (MB)', lambda r: r['peak_memory_mb']),
        ('  above set-up (MB)', lambda r: r['step_memory_mb']),
        ('GFLOP / iteration', lambda r: r['gflop_per_iter']),
        ('achieved GFLOP/s', lambda r: r['achieved_gflops']),
        ('fraction of fp32 peak', lambda r: r['fraction_of_fp32_peak']),
        ('loss (first timed iter)', lambda r: r['losses'][0]),
    ]
    for name, get in rows:
        out.append(f'{name:28}' + ''.join(f'{get(r):14.4g}' for r in results))
    if any(r['mode'] == 'reference' for r in results):
        out.append("reference: teacher and student forward are not separable "
                   "there; both are counted under 'student'.")
    peak = results[0]['matmul_peak_gflops']
    out.append(f"matmul peak (2048^3): fp32 {peak['fp32']:.1f} GFLOP/s, bf16 "
               f"{peak['bf16']:.1f} GFLOP/s")
    by_mode = {r['mode']: r for r in results}
    if {'ours', 'reference'} <= set(by_mode):
        o, r = by_mode['ours'], by_mode['reference']
        out.append('\nratios (reference / ours):')
        out.append(f"  iteration excluding tracking: "
                   f"{r['median_iter_s_excl_tracking'] / o['median_iter_s']:.2f}x "
                   'faster')
        out.append(f"  iteration with on-the-fly tracking vs our cached tracks: "
                   f"{r['median_iter_s'] / o['median_iter_s']:.2f}x faster")
        out.append(f"  peak memory: ours is {o['peak_memory_mb'] / r['peak_memory_mb']:.2f} "
                   f"of the reference ({o['step_memory_mb'] / r['step_memory_mb']:.2f} "
                   'counting only what the steps add above the set-up)')
        o_small = sum(o['breakdown_s'][k] for k in
                      ('sampling', 'sinkhorn', 'loss'))
        out.append(f"  ours: sampling + Sinkhorn + loss = "
                   f"{100 * o_small / o['median_iter_s']:.1f}% of the iteration")
    return '\n'.join(out)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if '--input-only' in argv:
        # the input-pipeline benchmark (tools/benchmark_input.py); a config
        # argument is accepted and ignored (it generates its own 720p data)
        sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
        from benchmark_input import main as input_main
        rest = [a for a in argv if a != '--input-only']
        if rest and rest[0].endswith('.py'):
            rest = rest[1:]
        return input_main(rest)
    args = parse_args(argv)
    if args.mode != 'both':
        result = run_mode(args)
        results = [result]
    else:
        results = []
        argv = list(sys.argv[1:] if argv is None else argv)
        for mode in ('ours', 'reference'):
            with tempfile.TemporaryDirectory() as tmp:
                out = osp.join(tmp, 'r.json')
                cmd = [sys.executable, osp.abspath(__file__), *argv,
                       '--mode', mode, '--out', out]
                proc = subprocess.run(cmd, env=dict(os.environ),
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    sys.exit(f'benchmark of mode {mode} failed:\n'
                             f'{proc.stdout[-3000:]}{proc.stderr[-5000:]}')
                with open(out) as f:
                    results.append(json.load(f))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results if len(results) > 1 else results[0], f,
                      indent=1)
    if args.mode == 'both' or not args.out:
        table = format_table(results)
        print(table)
        if args.markdown:
            command = 'python tools/benchmark.py ' + ' '.join(
                a for a in (sys.argv[1:] if argv is None else argv))
            with open(args.markdown, 'a') as f:
                f.write(f'\n### `{command}`\n\nMachine: '
                        f'{machine_description()}; '
                        f'{time.strftime("%Y-%m-%d")}\n\n```{table}\n```\n')


if __name__ == '__main__':
    main()
