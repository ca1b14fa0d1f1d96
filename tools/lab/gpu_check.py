"""One short GPU check (tools/lab/gpu_check.sh): training step time, data wait,
peak GPU memory and achieved TFLOP/s for ViT-S/14 and ViT-B/14, the input
pipeline's clips/s with all cores, and the resulting GPU utilisation; then
BootsTAPIR's frames/s and its half-precision error, and sharded training.

    bash tools/lab/gpu_check.sh [--archs vits vitb] [--iters 10] [--workers N]
        [--parts archs tracker sharded]
    python tools/lab/gpu_check.py --device cpu --tiny   # the CPU smoke test

``tracker``: offline and online (causal) BootsTAPIR (random weights,
``--tracker-frames`` frames at 256 x 256, 256 queries): frames/s in fp32,
and in bf16 and fp16 (as ``BootsTAPIR(dtype=...)`` runs them) the largest
and the median distance of the tracks from the fp32 tracks (px) and the
fraction of equal visibility decisions.

``sharded``: tools/train.py under torchrun (one process per GPU, at most
2; on a CPU two gloo ranks), a tiny MoSiC of configs/mosic_vits_synthetic.py
for 3 iterations: DDP; FSDP (``PortableFSDPStrategy`` + ``MoSiCFSDP``)
resumed from DDP's iteration 1, whose iteration-3 weights and optimizer
state must equal DDP's (the largest difference is printed); and, on CUDA
only, FSDP with ``cpu_offload`` and bf16 ``mixed_precision``.

The input is the training pipeline on generated 720p JPEG frame folders with
cached tracks, served from the raw frame cache (``LoadClip(frame_cache=
True)``), by a DataLoader with ``--workers`` processes (default: all cores),
pinned memory, persistent workers and prefetching; the model is the config's
(random weights, bf16 teacher as configured) at 8 clips x 12 frames x 256
points, 224 px by default. ``--tiny`` shrinks the ViT, the clips and the
source frames so that the whole check runs on a CPU in seconds.
"""
import argparse
import json
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
import os.path as osp
import statistics
import time

ARCHS = {
    'vits': ('ViT-S/14', 'configs/mosic_vits_ytvos.py'),
    'vitb': ('ViT-B/14', 'configs/mosic_vitb_ytvos.py')
}
PARTS = ('archs', 'tracker', 'sharded')
TINY_ARCH = dict(embed_dims=32,
                 num_layers=2,
                 num_heads=2,
                 feedforward_channels=64)


def build_loader(args, device):
    """The training input pipeline (frame cache) as a DataLoader."""
    from mmengine.dataset import default_collate
    from torch.utils.data import DataLoader, RandomSampler

    from mosic_mm.registry import DATASETS
    from tools.lab.lib.input_data import dataset_cfg, prepare_data
    from tools.lab.lib.input_pipeline import pipeline_cfg
    hw = (72, 128) if args.tiny else (720, 1280)
    stride, window = (2, 2) if args.tiny else (6, 12)
    grid = 8 if args.tiny else 32
    size = (args.size, args.size)
    ds, dirs = prepare_data(args.root + ('_tiny' if args.tiny else ''),
                            'jpeg',
                            args.videos,
                            args.video_frames,
                            90,
                            args.frames,
                            stride,
                            window,
                            size,
                            grid,
                            hw,
                            encodings=('raw', ))
    cfg = dataset_cfg(ds.data_root, 'jpeg', args.frames, stride, window)
    cfg['pipeline'] = cfg['pipeline'] + pipeline_cfg(
        'cache', size, grid, args.points, frame_cache_dir=dirs['raw'])
    from mosic_mm.utils.config import registry_scope
    with registry_scope():
        dataset = DATASETS.build(cfg)
    workers = max(0, int(args.workers))
    kwargs = dict(num_workers=workers,
                  collate_fn=default_collate,
                  pin_memory=device.type == 'cuda',
                  batch_size=args.batch,
                  sampler=RandomSampler(dataset,
                                        replacement=True,
                                        num_samples=10**7),
                  drop_last=True)
    if workers:
        kwargs.update(persistent_workers=True,
                      prefetch_factor=max(1, args.prefetch))
    return DataLoader(dataset, **kwargs)


def input_rate(loader, batches: int) -> float:
    """Clips/s of the loader alone (after one warm-up batch)."""
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    n = 0
    for _ in range(batches):
        n += len(next(it)['inputs'])
    return n / (time.perf_counter() - start)


def check_arch(args, name: str, config: str, loader, device) -> dict:
    """``args.iters`` timed training steps of ``config``'s model (after
    ``args.warmup``) on ``loader``: median step and data wait, GPU
    utilisation, peak memory (GiB), TFLOP per step and TFLOP/s."""
    import torch
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper

    from mosic_mm.registry import MODELS
    from tools.lab.lib.gpu_demand import count_step_flops
    from tools.lab.lib.measure import peak_memory_mb, sync
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.model.backbone.init_cfg = None
    overrides = dict(img_size=args.size)
    if args.tiny:
        overrides['arch'] = TINY_ARCH
    cfg.model.backbone.update(overrides)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device).train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)

    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    it = iter(loader)
    waits, steps = [], []
    for i in range(args.warmup + args.iters):
        start = time.perf_counter()
        batch = next(it)
        waited = time.perf_counter() - start
        start = time.perf_counter()
        model.train_step(batch, optim)
        model.update_teacher(0.99)
        sync(device)
        if i >= args.warmup:
            waits.append(waited)
            steps.append(time.perf_counter() - start)
    flops = count_step_flops(osp.join(REPO, config), args.batch, args.frames,
                             args.points, args.size, overrides, str(device))
    step = statistics.median(steps)
    peak = peak_memory_mb(device) / 1024  # GiB: GPU, else RSS high-water
    return dict(arch=name,
                step_s=step,
                data_wait_s=statistics.median(waits),
                gpu_util=sum(steps) / (sum(steps) + sum(waits)),
                peak_gib=peak,
                tflop_per_step=flops / 1e12,
                tflops=flops / step / 1e12,
                teacher_dtype=cfg.model.get('teacher_dtype'))


def format_table(res: dict) -> str:
    """The Markdown table of a :func:`gpu_check` result."""
    a = res['args']
    lines = [
        f"device {res['device']}; B={a['batch']} clips x T={a['frames']}"
        f" frames x N={a['points']} points, {a['size']} px; input: "
        f"frame-cached {res['source']} JPEG pipeline, {a['workers']} "
        "DataLoader "
        f"workers -> {res['input_clips_per_s']:.1f} clips/s alone", '',
        '| model | teacher | step (ms) | data wait (ms) | GPU util | '
        f"peak {'GPU memory' if res['device'] != 'cpu' else 'RSS'} "
        '(GiB) | TFLOP/step | TFLOP/s |', '|---|---|---|---|---|---|---|---|'
    ]
    for r in res['archs']:
        lines.append(f"| {r['arch']} | {r['teacher_dtype']} | "
                     f"{1e3 * r['step_s']:.1f} | {1e3 * r['data_wait_s']:.1f}"
                     f" | {100 * r['gpu_util']:.0f} % | {r['peak_gib']:.2f} | "
                     f"{r['tflop_per_step']:.3g} | {r['tflops']:.3g} |")
    return '\n'.join(lines)


def check_tracker(args, device) -> list:
    """BootsTAPIR offline and online on ``device``: fp32 frames/s, and the
    half-precision tracks against the fp32 ones (module docstring)."""
    import copy

    import torch

    from mosic_mm.tracks.tapir import visible
    from tools.lab.benchmark_tapir import build, grid_queries, make_video
    from tools.lab.lib.measure import sync
    size, grid = (64, 4) if args.tiny else (256, 16)
    frames = args.tracker_frames
    video = make_video(frames, size).to(device)
    queries = grid_queries(grid, size).to(device)
    halves = ('bfloat16', 'float16') if device.type == 'cuda' else ()
    rows = []
    for variant, label in (('bootstapir', 'offline'),
                           ('causal_bootstapir', 'online')):
        model = build(variant).to(device).eval()

        def track(dtype):
            m = model if dtype == torch.float32 else copy.deepcopy(
                model).to(dtype)
            v, q = video.to(dtype), queries.to(dtype)
            with torch.no_grad():
                out = m(v, q) if label == 'offline' else m.track_online(v, q)
            return out['tracks'].float(), visible(out['occlusion'],
                                                  out['expected_dist'])

        track(torch.float32)  # warm-up
        sync(device)
        start = time.perf_counter()
        ref, ref_vis = track(torch.float32)
        sync(device)
        row = dict(model=label, variant=variant, frames=frames, size=size,
                   queries=queries.shape[1],
                   fp32_frames_per_s=frames / (time.perf_counter() - start))
        for name in halves:
            got, vis = track(getattr(torch, name))
            dist = (got - ref).norm(dim=-1)
            row[name] = dict(max_px=dist.max().item(),
                             median_px=dist.median().item(),
                             visibility_agree=(vis == ref_vis).float()
                             .mean().item())
        rows.append(row)
    return rows


#: what configs/_base_/strategies/fsdp.py sets, as --cfg-options
FSDP_OPTIONS = ('runner_type=FlexibleRunner',
                'strategy.type=PortableFSDPStrategy',
                'strategy.model_wrapper.type=MoSiCFSDP')
FSDP_OFFLOAD_BF16 = ('strategy.model_wrapper.cpu_offload=True',
                     'strategy.model_wrapper.mixed_precision.param_dtype='
                     'bfloat16',
                     'strategy.model_wrapper.mixed_precision.reduce_dtype='
                     'bfloat16',
                     'strategy.model_wrapper.mixed_precision.buffer_dtype='
                     'bfloat16')


def check_sharded(args, device) -> dict:
    """DDP, FSDP resumed from DDP, and on CUDA FSDP with cpu_offload and
    bf16 mixed precision (module docstring); raises if a run fails."""
    import shutil
    import subprocess
    import tempfile

    import torch

    from tools.lab import stress_dist
    from tools.lab.lib.processes import torchrun_command
    nproc = (max(1, min(2, torch.cuda.device_count()))
             if device.type == 'cuda' else 2)
    out = tempfile.mkdtemp(prefix='gpu_check_sharded_')
    root, cache = stress_dist.prepare(argparse.Namespace(out=out))
    base = stress_dist.train_options(root, cache, 3) + [
        'default_hooks.checkpoint.interval=1']

    def train(name, *options, resume=None):
        work = osp.join(out, name)
        cmd = torchrun_command(nproc) + [
            osp.join(REPO, 'tools', 'train.py'), stress_dist.CONFIG,
            '--launcher', 'pytorch', '--work-dir', work]
        if resume:
            os.makedirs(work, exist_ok=True)
            shutil.copy(resume, osp.join(work, 'start.pth'))
            cmd += ['--resume', osp.join(work, 'start.pth')]
        start = time.perf_counter()
        proc = subprocess.run(cmd + ['--cfg-options', *base, *options],
                              cwd=REPO, capture_output=True, text=True,
                              timeout=600)
        if proc.returncode:
            raise RuntimeError(f'sharded check, {name}: exit status '
                               f'{proc.returncode}\n'
                               f'{(proc.stdout + proc.stderr)[-3000:]}')
        return work, time.perf_counter() - start

    def load(work, it):
        return torch.load(osp.join(work, f'iter_{it}.pth'),
                          map_location='cpu')

    ddp, ddp_s = train('ddp')
    fsdp, fsdp_s = train('fsdp', *FSDP_OPTIONS,
                         resume=osp.join(ddp, 'iter_1.pth'))
    a, b = load(ddp, 3), load(fsdp, 3)
    weights = max((a['state_dict'][k].float() - v.float()).abs().max().item()
                  for k, v in b['state_dict'].items())
    moments = max((a['optimizer']['state'][i][m] - s[m]).abs().max().item()
                  for i, s in b['optimizer']['state'].items()
                  for m in ('exp_avg', 'exp_avg_sq'))
    res = dict(ranks=nproc, ddp_s=ddp_s, fsdp_s=fsdp_s,
               fsdp_vs_ddp_max_weight_diff=weights,
               fsdp_vs_ddp_max_moment_diff=moments)
    if device.type == 'cuda':
        _, res['fsdp_offload_bf16_s'] = train('fsdp_offload_bf16',
                                              *FSDP_OPTIONS,
                                              *FSDP_OFFLOAD_BF16)
    shutil.rmtree(out, ignore_errors=True)
    return res


def format_parts(res: dict) -> str:
    """Lines for the tracker and sharded parts of a :func:`gpu_check`
    result."""
    lines = []
    for r in res.get('tracker', []):
        line = (f"BootsTAPIR {r['model']}: {r['frames']} frames {r['size']}"
                f" px, {r['queries']} queries: fp32 "
                f"{r['fp32_frames_per_s']:.1f} frames/s")
        for name in ('bfloat16', 'float16'):
            if name in r:
                h = r[name]
                line += (f"; {name} vs fp32: max {h['max_px']:.3g} px, "
                         f"median {h['median_px']:.3g} px, visibility "
                         f"{100 * h['visibility_agree']:.2f} % equal")
        lines.append(line)
    if 'sharded' in res:
        r = res['sharded']
        line = (f"sharded ({r['ranks']} ranks): DDP 3 it {r['ddp_s']:.0f} s,"
                f" FSDP from DDP it 1 {r['fsdp_s']:.0f} s, FSDP vs DDP at "
                f"it 3: weights {r['fsdp_vs_ddp_max_weight_diff']:.2g}, Adam"
                f" moments {r['fsdp_vs_ddp_max_moment_diff']:.2g}")
        if 'fsdp_offload_bf16_s' in r:
            line += (f"; FSDP cpu_offload + bf16 mixed precision 3 it "
                     f"{r['fsdp_offload_bf16_s']:.0f} s")
        lines.append(line)
    return '\n'.join(lines)


def gpu_check(args) -> dict:
    """The check with the options of ``tools/lab/gpu_check.py`` (``args``: its
    parsed arguments, ``--tiny`` already applied): the input pipeline's
    clips/s alone, then a timed training step per arch of ``args.archs``.

    Returns:
        dict: ``device``, ``source`` (generated frame size), ``args``,
        ``input_clips_per_s``, ``archs`` (one :func:`check_arch` result
        each) and ``seconds``.
    """
    import cv2
    import torch
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    import mosic_mm  # noqa: F401
    init_default_scope('mmpretrain')
    MMLogger.get_instance('mosic_gpu_check', log_level='ERROR')
    cv2.setNumThreads(1)
    device = torch.device(args.device)
    t0 = time.perf_counter()
    res = dict(device=(torch.cuda.get_device_name(device)
                       if device.type == 'cuda' else 'cpu'),
               source='72x128' if args.tiny else '1280x720',
               args=vars(args))
    if 'archs' in args.parts:
        loader = build_loader(args, device)
        res['input_clips_per_s'] = input_rate(loader, args.input_batches)
        res['archs'] = [check_arch(args, *ARCHS[a], loader, device)
                        for a in args.archs]
    if 'tracker' in args.parts:
        res['tracker'] = check_tracker(args, device)
    if 'sharded' in args.parts:
        res['sharded'] = check_sharded(args, device)
    res['seconds'] = time.perf_counter() - t0
    return res


def parse_args(argv=None):
    import torch
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device',
                   default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--archs',
                   nargs='+',
                   default=list(ARCHS),
                   choices=list(ARCHS))
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--frames', type=int, default=12)
    p.add_argument('--points', type=int, default=256)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--iters', type=int, default=10, help='timed steps')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--workers',
                   type=int,
                   default=os.cpu_count(),
                   help='DataLoader workers (default: all cores)')
    p.add_argument('--prefetch',
                   type=int,
                   default=4,
                   help='batches prefetched per worker')
    p.add_argument('--input-batches',
                   type=int,
                   default=20,
                   help='batches timed for the input-only clips/s')
    p.add_argument('--videos', type=int, default=8)
    p.add_argument('--video-frames', type=int, default=96)
    p.add_argument('--root',
                   default=osp.join(REPO, '.cache', 'input_benchmark',
                                    'gpu_check'))
    p.add_argument('--tiny',
                   action='store_true',
                   help='tiny ViT, 3x56px clips of 72x128 sources (CPU test)')
    p.add_argument('--parts',
                   nargs='+',
                   default=list(PARTS),
                   choices=list(PARTS),
                   help='what to check (default: all)')
    p.add_argument('--tracker-frames', type=int, default=24)
    p.add_argument('--out', help='write the results as JSON')
    args = p.parse_args(argv)
    if args.tiny:
        args.tracker_frames = min(args.tracker_frames, 4)
        args.batch, args.frames, args.points, args.size = 2, 3, 16, 56
        args.videos, args.video_frames = 2, 12
        args.iters, args.warmup = min(args.iters, 3), 1
        args.input_batches = min(args.input_batches, 3)
    return args


def main(argv=None):
    args = parse_args(argv)
    res = gpu_check(args)
    if 'archs' in res:
        print(format_table(res))
    print(format_parts(res))
    print(f"(check took {res['seconds']:.0f} s)")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == '__main__':
    main()
