"""One short GPU check (tools/lab/gpu_check.sh): training step time, data wait,
peak GPU memory and achieved TFLOP/s for ViT-S/14 and ViT-B/14, the input
pipeline's clips/s with all cores, and the resulting GPU utilisation.

    bash tools/lab/gpu_check.sh [--archs vits vitb] [--iters 10] [--workers N]
    python tools/lab/gpu_check.py --device cpu --tiny   # the CPU smoke test

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
    loader = build_loader(args, device)
    rate = input_rate(loader, args.input_batches)
    archs = [check_arch(args, *ARCHS[a], loader, device) for a in args.archs]
    return dict(device=(torch.cuda.get_device_name(device)
                        if device.type == 'cuda' else 'cpu'),
                source='72x128' if args.tiny else '1280x720',
                args=vars(args),
                input_clips_per_s=rate,
                archs=archs,
                seconds=time.perf_counter() - t0)


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
    p.add_argument('--out', help='write the results as JSON')
    args = p.parse_args(argv)
    if args.tiny:
        args.batch, args.frames, args.points, args.size = 2, 3, 16, 56
        args.videos, args.video_frames = 2, 12
        args.iters, args.warmup = min(args.iters, 3), 1
        args.input_batches = min(args.input_batches, 3)
    return args


def main(argv=None):
    args = parse_args(argv)
    res = gpu_check(args)
    print(format_table(res))
    print(f"(check took {res['seconds']:.0f} s)")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == '__main__':
    main()
