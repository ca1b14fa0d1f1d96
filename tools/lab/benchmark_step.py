"""Time MoSiC training iterations, ours against the reference implementation.

    python tools/lab/benchmark_step.py CONFIG [--batch B] [--frames T] [--points N]
        [--size S] [--iters I] [--mode ours|reference|both] [--data
        synthetic|config] [--out FILE.json] [--cfg-options k=v ...]

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
import statistics
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from mosic_mm.utils.config import load_config, registry_scope  # noqa: E402
from tools.lab.lib.measure import (  # noqa: E402
    current_memory_mb,
    machine_description,
    matmul_peak_gflops,
    peak_memory_mb,
    timed,
)

STAGES = ('data_wait', 'tracking', 'preprocess', 'teacher', 'student',
          'sampling', 'projector', 'sinkhorn', 'loss', 'backward', 'optimizer',
          'ema')
PROFILED = ('teacher', 'student', 'sampling', 'projector', 'sinkhorn', 'loss')


def _pipeline_step(cfg, type_name):
    for step in cfg.train_dataloader.dataset.get('pipeline', []):
        if step.get('type') == type_name:
            return step
    return None


def resolve_shape(args, cfg) -> dict:
    """B, T, N and input size: ``args``' values, else the config's."""
    select = _pipeline_step(cfg, 'SelectTracks')
    sampler = _pipeline_step(cfg, 'SampleClip')
    img_size = cfg.model.backbone.get('img_size', 224)
    return dict(batch=args.batch,
                frames=args.frames or (sampler.clip_len if sampler else 12),
                points=args.points or (select.num_tracks if select else 256),
                size=args.size
                or (img_size if isinstance(img_size, int) else img_size[0]))


def build_tracker_and_grid(cfg):
    """The config's TrackPoints / LoadTracks tracker (built), its grid size
    and its config (DIS, 16 without such a step)."""
    from mosic_mm.tracks.trackers import build_tracker
    step = _pipeline_step(cfg, 'TrackPoints') or _pipeline_step(
        cfg, 'LoadTracks')
    tracker_cfg = dict(step.tracker) if step else dict(type='DISFlowTracker')
    grid = step.grid_size if step else 16
    return build_tracker(tracker_cfg), grid, tracker_cfg


def synthetic_clips(shape: dict) -> np.ndarray:
    """B rendered clips uint8 [B,T,S,S,3] with moving textured objects."""
    from mosic_mm.synthetic import render_video
    return np.stack([
        render_video(seed=i,
                     num_frames=shape['frames'],
                     size=(shape['size'], shape['size']))['frames']
        for i in range(shape['batch'])
    ])


def track_clips(tracker, clips: np.ndarray, grid: int, num_points: int):
    """Grid on frame 0, tracked -> tracks [B,T,N,2], visibility [B,T,N]."""
    from mosic_mm.datasets.transforms.selection import SelectTracks
    from mosic_mm.tracks.transforms import track_grid
    select = SelectTracks(num_points)
    tracks, vis = [], []
    for clip in clips:
        tr, v = track_grid(tracker, clip, grid)
        out = select.transform(
            dict(tracks=tr, visibility=v, img_shape=clip.shape[1:3]))
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


def benchmark_mode(args) -> dict:
    """Time ``args.mode`` ('ours' or 'reference') on this process with the
    options of this script (``args``: its parsed arguments).

    Returns:
        dict: the shape, median iteration time and clips/s, the per-stage
        breakdown (s), peak and per-step memory (MiB), GFLOP per iteration,
        achieved GFLOP/s, the matmul peaks and the losses.
    """
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.flop_counter import FlopCounterMode

    import mosic_mm  # noqa: F401
    from mosic_mm.registry import MODELS
    from tools.lab.lib.reference_loss import reference_loss
    cfg = load_config(args.config, args.cfg_options)
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
        with timed(times, 'data_wait', device):
            if loader is not None:
                batch = next(loader)
        if loader is None:
            if args.mode == 'reference':
                with timed(times, 'tracking', device):
                    tracks, vis = track_clips(tracker, clips_np, grid,
                                              shape['points'])
            else:
                tracks, vis = cached
            batch = make_batch(clips, tracks, vis)
        with timed(times, 'preprocess', device):
            data = model.data_preprocessor(batch, True)
        flops = FlopCounterMode(display=False) if count_flops else None
        with flops if flops else contextlib.nullcontext():
            with timed(times, 'forward', device):
                with optim.optim_context(model):
                    if args.mode == 'ours':
                        losses = model.loss(**data)
                    else:
                        s = data['data_samples']
                        losses = reference_loss(
                            model, data['inputs'],
                            torch.stack([x.tracks for x in s]).to(device),
                            torch.stack([x.visibility for x in s]).to(device))
            with timed(times, 'backward', device):
                optim.backward(losses['loss'])
        with timed(times, 'optimizer', device):
            optim.step()
            optim.zero_grad()
        with timed(times, 'ema', device):
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
    labelled = {
        e.key.split('/', 1)[1]: e.cpu_time_total / 1e6
        for e in prof.key_averages() if e.key.startswith('mosic/')
    }

    median = statistics.median(iter_times)
    breakdown = {
        k: statistics.median(t.get(k, 0.0) for t in stage_times)
        for k in ('data_wait', 'tracking', 'preprocess', 'forward', 'backward',
                  'optimizer', 'ema')
    }
    forward = breakdown.pop('forward')
    if args.mode == 'ours':
        # the profiler's stage split of the forward, scaled to its median
        total = sum(labelled.get(k, 0.0) for k in PROFILED) or 1.0
        for k in PROFILED:
            breakdown[k] = forward * labelled.get(k, 0.0) / total
    else:
        breakdown.update(teacher=0.0,
                         student=0.0,
                         sampling=0.0,
                         projector=0.0,
                         sinkhorn=0.0,
                         loss=0.0)
        # the reference forward interleaves both networks: all of it is
        # reported under 'student' (see the table's footnote)
        breakdown['student'] = forward
    peak32 = matmul_peak_gflops(device, torch.float32)
    peak16 = matmul_peak_gflops(device, torch.bfloat16)
    achieved = flops_per_iter / (median - breakdown['data_wait']
                                 - breakdown['tracking']) / 1e9
    return dict(mode=args.mode,
                device=str(device),
                threads=torch.get_num_threads(),
                shape=shape,
                tracker=tracker_cfg,
                data=args.data,
                median_iter_s=median,
                clips_per_s=shape['batch'] / median,
                median_iter_s_excl_tracking=median - breakdown['tracking'],
                breakdown_s=breakdown,
                peak_memory_mb=peak_memory_mb(device),
                step_memory_mb=peak_memory_mb(device) - baseline_mb,
                gflop_per_iter=flops_per_iter / 1e9,
                achieved_gflops=achieved,
                matmul_peak_gflops=dict(fp32=peak32, bf16=peak16),
                fraction_of_fp32_peak=achieved / peak32,
                losses=losses)


def format_table(results: list) -> str:
    """The text table of :func:`benchmark_mode` results, with ratios when
    both modes are there."""
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
        ('  excluding tracking (s)',
         lambda r: r['median_iter_s_excl_tracking']),
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
        out.append(
            f"  iteration excluding tracking: "
            f"{r['median_iter_s_excl_tracking'] / o['median_iter_s']:.2f}x "
            'faster')
        out.append(
            f"  iteration with on-the-fly tracking vs our cached tracks: "
            f"{r['median_iter_s'] / o['median_iter_s']:.2f}x faster")
        out.append(
            f"  peak memory: ours is {o['peak_memory_mb'] / r['peak_memory_mb']:.2f} "
            f"of the reference ({o['step_memory_mb'] / r['step_memory_mb']:.2f} "
            'counting only what the steps add above the set-up)')
        o_small = sum(o['breakdown_s'][k]
                      for k in ('sampling', 'sinkhorn', 'loss'))
        out.append(
            f"  ours: sampling + Sinkhorn + loss = "
            f"{100 * o_small / o['median_iter_s']:.1f}% of the iteration")
    return '\n'.join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--batch', type=int, default=2, help='clips per step')
    p.add_argument('--frames', type=int, help='T (default: config clip_len)')
    p.add_argument('--points', type=int, help='N (default: config tracks)')
    p.add_argument('--size', type=int, help='input px (default: backbone)')
    p.add_argument('--iters', type=int, default=5, help='timed iterations')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--mode',
                   default='both',
                   choices=['ours', 'reference', 'both'])
    p.add_argument('--data',
                   default='synthetic',
                   choices=['synthetic', 'config'],
                   help="synthetic: rendered clips held in memory; config: "
                   "the config's train dataloader (data wait measured)")
    p.add_argument('--device',
                   default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--out', help='write the results as JSON')
    p.add_argument('--markdown',
                   help='append the table, with a machine '
                   'description and the command, to this Markdown file')
    p.add_argument('--pretrained',
                   action='store_true',
                   help="load the config's backbone weights (default: "
                   'random init, which times the same)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.mode != 'both':
        with registry_scope():
            result = benchmark_mode(args)
        results = [result]
    else:
        results = []
        argv = list(sys.argv[1:] if argv is None else argv)
        for mode in ('ours', 'reference'):
            with tempfile.TemporaryDirectory() as tmp:
                out = osp.join(tmp, 'r.json')
                cmd = [
                    sys.executable,
                    osp.abspath(__file__), *argv, '--mode', mode, '--out', out
                ]
                proc = subprocess.run(cmd,
                                      env=dict(os.environ),
                                      capture_output=True,
                                      text=True)
                if proc.returncode != 0:
                    sys.exit(f'benchmark of mode {mode} failed:\n'
                             f'{proc.stdout[-3000:]}{proc.stderr[-5000:]}')
                with open(out) as f:
                    results.append(json.load(f))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results if len(results) > 1 else results[0], f, indent=1)
    if args.mode == 'both' or not args.out:
        table = format_table(results)
        print(table)
        if args.markdown:
            command = 'python tools/lab/benchmark_step.py ' + ' '.join(
                a for a in (sys.argv[1:] if argv is None else argv))
            with open(args.markdown, 'a') as f:
                f.write(f'\n### `{command}`\n\nMachine: '
                        f'{machine_description()}; '
                        f'{time.strftime("%Y-%m-%d")}\n\n```{table}\n```\n')


if __name__ == '__main__':
    main()
