"""The memory plan (``tools/plan_memory.py``) against measured peaks.

Prints numbers, asserts nothing. For each case (a config with overrides;
random weights, a small batch) the plan of :func:`mosic_mm.apis.
plan_memory` for one CPU rank is set beside the peak of one real training
step on this CPU, each measured in a fresh subprocess:

* **allocator peak** (compared): the most bytes held by PyTorch's CPU
  allocator during the second training step (the first creates the
  optimizer states), from the allocation and free events that the
  allocator reports to ``torch.profiler`` (``profile_memory=True``),
  counted from before the model is built. It sees every tensor byte, the
  kernels' own workspaces included, and shares nothing with the plan's
  ``MemTracker`` (a dispatch mode over fake tensors).
* **VmHWM** (for reference): the process's peak resident memory minus
  that of a baseline process that imported the same modules and built
  nothing; it adds the allocator's and glibc's caching, the code the step
  loads (oneDNN kernels) and Python objects, so it reads higher.

The step is mmengine's ``model.train_step`` with the config's optimizer
wrapper: data preprocessor, loss, backward, optimizer step, zero_grad.

``--large``: the largest backbones (DINOv3 ViT-7B/16 and ViT-H+/16,
DINOv2 ViT-g/14; frozen weights built in bf16, the last block or LoRA
trains) at one clip of two frames. The allocator is not profiled (too many
events); each case reports VmHWM minus the baseline, the seconds of the
first step (it creates the optimizer states) and of the second, the plan
of the same run, and the plan of the run with today's full-copy fp32
teacher (``model.share_frozen_weights=False, model.frozen_dtype=None``),
which need not fit in this machine's memory. Run it alone: the 7B's
bf16 weights are 12.5 GiB.

    python tools/lab/benchmark_memory_plan.py --threads 2
    python tools/lab/benchmark_memory_plan.py --cases vits14_fp32 --batch 1
    python tools/lab/benchmark_memory_plan.py --large --threads 2
"""
import argparse
import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

VITS = 'configs/mosic_vits_ytvos.py'
DINOV3 = 'configs/mosic_dinov3_vits16_ytvos.py'
FP32 = {'model.teacher_dtype': None}
BF16_FROZEN = {'model.frozen_dtype': 'bfloat16'}
LORA = {'model.lora': {}, 'model.num_trainable_blocks': 0}

#: name -> (config, overrides on top of the small batch and random init)
CASES: Dict[str, Tuple[str, dict]] = {
    'vits14_fp32': (VITS, FP32),
    'vits14_bf16_teacher': (VITS, {}),
    'vits14_frozen_bf16': (VITS, BF16_FROZEN),
    'vits14_lora': (VITS, LORA),
    'vits14_full_copy_fp32': (VITS, {**FP32,
                                     'model.share_frozen_weights': False}),
    'vits14_checkpointing': (VITS, {**FP32,
                                    'model.activation_checkpointing': True}),
    'vits14_full_finetune_fp32': (VITS, {
        **FP32, 'model.num_trainable_blocks': None}),
    'dinov3_s16_fp32': (DINOV3, FP32),
    'dinov3_s16_frozen_bf16': (DINOV3, BF16_FROZEN),
    'dinov3_s16_lora': (DINOV3, LORA),
}

LAST_BLOCK = {'model.num_trainable_blocks': 1}
#: --large: name -> (config, overrides); frozen weights in bf16 for all
LARGE_CASES: Dict[str, Tuple[str, dict]] = {
    f'{name}_{mode}': (config, {**BF16_FROZEN, **extra})
    for name, config in (
        ('dinov3_7b16', 'configs/mosic_dinov3_vit7b16_ytvos.py'),
        ('dinov3_hplus16', 'configs/mosic_dinov3_vith16plus_ytvos.py'),
        ('dinov2_g14', 'configs/mosic_vitg_ytvos.py'))
    for mode, extra in (('last_block', LAST_BLOCK), ('lora', LORA))
}
FULL_COPY_FP32 = {'model.share_frozen_weights': False,
                  'model.frozen_dtype': None}


def small_options(config: str, batch: int, frames: int, size: int,
                  tracks: int) -> dict:
    """Random weights and a small batch for ``config``: ``batch`` clips of
    ``frames`` frames, ``size`` px crops, ``tracks`` tracks (the pipeline
    steps found by type)."""
    from mosic_mm.utils.config import load_config
    cfg = load_config(os.path.join(ROOT, config))
    key = 'train_dataloader.dataset.pipeline'
    out = {'model.backbone.init_cfg': None,
           'train_dataloader.batch_size': batch}
    for i, step in enumerate(cfg.train_dataloader.dataset.pipeline):
        if step.type == 'SampleClip':
            out[f'{key}.{i}.clip_len'] = frames
        elif 'Crop' in step.type:
            out[f'{key}.{i}.size'] = size
        elif step.type == 'SelectTracks':
            out[f'{key}.{i}.num_tracks'] = tracks
    return out


def _vmhwm_kib() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


def _imports():
    import torch  # noqa: F401
    from mmengine.optim import build_optim_wrapper  # noqa: F401
    from mmpretrain.structures import DataSample  # noqa: F401

    import mosic_mm  # noqa: F401
    from mosic_mm.registry import MODELS  # noqa: F401
    from mosic_mm.utils.config import load_config  # noqa: F401


def real_batch(B: int, T: int, H: int, W: int, N: int) -> dict:
    """Random uint8 clips [T,3,H,W] x B with tracks [T,N,2] inside the
    frame and visibility [T,N], as the dataloader gives."""
    import torch
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(B):
        s = DataSample()
        s.set_field(torch.rand(T, N, 2, generator=g)
                    * torch.tensor([W - 1, H - 1]), 'tracks')
        s.set_field(torch.rand(T, N, generator=g) > 0.3, 'visibility')
        samples.append(s)
    clips = torch.randint(0, 256, (B, T, 3, H, W), generator=g,
                          dtype=torch.uint8)
    return dict(inputs=list(clips), data_samples=samples)


def build_step(config: str, options: dict) -> tuple:
    """``(model, optim_wrapper, batch)`` of ``config`` with ``options``:
    the model built and initialised in its registry scope, in train mode,
    and one random batch of the config's step shape."""
    from mmengine.optim import build_optim_wrapper

    from mosic_mm.registry import MODELS
    from mosic_mm.utils.config import load_config, registry_scope
    from mosic_mm.utils.memory_plan import step_shape
    cfg = load_config(os.path.join(ROOT, config), options)
    shape = step_shape(cfg)
    with registry_scope(cfg):
        model = MODELS.build(cfg.model)
        model.init_weights()
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    return model, optim, real_batch(shape.clips, shape.frames, shape.height,
                                    shape.width, shape.tracks)


def measure(config: str, options: dict) -> dict:
    """One real step's allocator peak (bytes) and VmHWM (KiB), in this
    process (run it in a fresh one)."""
    from torch.profiler import ProfilerActivity, profile, record_function
    with profile(activities=[ProfilerActivity.CPU],
                 profile_memory=True) as prof:
        model, optim, batch = build_step(config, options)
        model.train_step(batch, optim)  # creates the optimizer states
        with record_function('plan/step2'):
            model.train_step(batch, optim)
    events = prof.profiler.kineto_results.events()
    window = [e for e in events if e.name() == 'plan/step2'][0]
    mem = sorted((e.start_ns(), e.nbytes()) for e in events
                 if e.name() == '[memory]')
    held = start = peak = 0
    for t, n in mem:
        if t < window.start_ns():
            held += n
            start = held
            continue
        if t > window.end_ns():
            break
        held += n
        peak = max(peak, held)
    return dict(peak=max(peak, start), start=start,
                vmhwm_kib=_vmhwm_kib())


def measure_timed(config: str, options: dict, steps: int = 2) -> dict:
    """VmHWM (KiB), the seconds of the build and of each of ``steps`` real
    steps (``train_step`` and the teacher's EMA), in this process."""
    t0 = time.perf_counter()
    model, optim, batch = build_step(config, options)
    build_s = time.perf_counter() - t0
    seconds, losses = [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        out = model.train_step(batch, optim)
        model.update_teacher(0.99)
        seconds.append(time.perf_counter() - t0)
        losses.append(float(out['loss']))
    return dict(build_s=build_s, step_s=seconds, losses=losses,
                vmhwm_kib=_vmhwm_kib())


def small(args, base: int) -> List[dict]:
    """The default table (see the module docstring)."""
    from mosic_mm.apis import plan_memory
    print(f'batch {args.batch} clips x {args.frames} frames, {args.size} px,'
          f' {args.tracks} tracks; {args.threads} threads; MiB')
    header = (f'{"case":24s} {"plan":>8s} {"weights":>8s} {"act":>8s} '
              f'{"measured":>8s} {"plan/meas":>9s} {"VmHWM-base":>10s} '
              f'{"plan s":>6s}')
    print(header)
    rows = []
    for name in args.cases:
        config, extra = CASES[name]
        options = {**small_options(config, args.batch, args.frames,
                                   args.size, args.tracks), **extra}
        t0 = time.perf_counter()
        plan = plan_memory(os.path.join(ROOT, config), cfg_options=options,
                           suggest=False, device='cpu')
        seconds = time.perf_counter() - t0
        got = run_child(['--child', json.dumps([config, options]),
                         '--threads', str(args.threads)])
        rss = got['vmhwm_kib'] * 1024 - base
        row = dict(case=name, plan=plan.peak, weights=plan.weights,
                   activations=plan.activations, measured=got['peak'],
                   ratio=plan.peak / got['peak'], vmhwm_minus_base=rss,
                   plan_seconds=seconds)
        rows.append(row)
        mib = 1 << 20
        print(f'{name:24s} {plan.peak / mib:8.1f} {plan.weights / mib:8.1f} '
              f'{plan.activations / mib:8.1f} {got["peak"] / mib:8.1f} '
              f'{row["ratio"]:9.3f} {rss / mib:10.1f} {seconds:6.1f}',
              flush=True)
    return rows


def large(args, base: int) -> List[dict]:
    """The ``--large`` table (see the module docstring)."""
    from mosic_mm.apis import plan_memory
    gib = 1 << 30
    print(f'{args.batch} clip x {args.frames} frames, {args.size} px, '
          f'{args.tracks} tracks; {args.threads} threads; GiB, s')
    print(f'{"case":26s} {"VmHWM-base":>10s} {"plan":>6s} {"step 1":>7s} '
          f'{"step 2":>7s} {"build":>6s} {"plan, full fp32 copy":>20s}',
          flush=True)
    rows = []
    for name in args.cases:
        config, extra = LARGE_CASES[name]
        options = {**small_options(config, args.batch, args.frames,
                                   args.size, args.tracks), **extra}
        plans = [plan_memory(os.path.join(ROOT, config),
                             cfg_options={**options, **o}, suggest=False,
                             device='cpu').peak
                 for o in ({}, FULL_COPY_FP32)]
        got = run_child(['--child', json.dumps([config, options]),
                         '--threads', str(args.threads), '--timed'])
        rss = got['vmhwm_kib'] * 1024 - base
        row = dict(case=name, config=config, options=options,
                   vmhwm_minus_base=rss, plan=plans[0],
                   plan_full_copy_fp32=plans[1], **got)
        rows.append(row)
        print(f'{name:26s} {rss / gib:10.2f} {plans[0] / gib:6.2f} '
              f'{got["step_s"][0]:7.1f} {got["step_s"][-1]:7.1f} '
              f'{got["build_s"]:6.1f} {plans[1] / gib:20.2f}', flush=True)
    return rows


def run_child(args: List[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args],
                         capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONWARNINGS='ignore'))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cases', nargs='+',
                        choices=list(CASES) + list(LARGE_CASES),
                        help='default: every case (of --large: every large '
                        'one)')
    parser.add_argument('--large', action='store_true',
                        help='the largest backbones, timed, RSS only')
    parser.add_argument('--batch', type=int)
    parser.add_argument('--frames', type=int)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--tracks', type=int, default=256)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--json', help='also write the rows here')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    parser.add_argument('--timed', action='store_true',
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    table = LARGE_CASES if args.large else CASES
    args.cases = args.cases or list(table)
    if set(args.cases) - set(table):
        parser.error(f'{sorted(set(args.cases) - set(table))} are '
                     f'{"not " if args.large else ""}--large cases')
    args.batch = args.batch or (1 if args.large else 2)
    args.frames = args.frames or (2 if args.large else 4)
    os.environ['OMP_NUM_THREADS'] = str(args.threads)
    if args.child == 'baseline':
        _imports()
        print(json.dumps(dict(vmhwm_kib=_vmhwm_kib())))
        return
    if args.child:
        import torch
        torch.set_num_threads(args.threads)
        config, options = json.loads(args.child)
        print(json.dumps((measure_timed if args.timed else measure)(
            config, options)))
        return

    base = run_child(['--child', 'baseline'])['vmhwm_kib'] * 1024
    rows = large(args, base) if args.large else small(args, base)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)


if __name__ == '__main__':
    main()
