"""Input-pipeline benchmark on generated 720p data.

    python tools/lab/benchmark_input.py [--kinds jpeg video] [--modes ...]
        [--clips 16] [--videos 4] [--video-frames 96] [--batch 8]
        [--gpu-step-ms MS] [--node-cores 16] [--markdown FILE] [--out JSON]

Generates (once, under --root) 1280x720 JPEG frame folders (quality 90) and
720p .mp4 files of the project's synthetic videos upscaled with camera-like
texture, a track cache for them and the frame caches (raw and JPEG), then
times the training pipeline (LoadClip, ClipResize, LoadTracks,
ClipRandomResizedCrop, ClipFlip, SelectTracks, PackTrackInputs, collate) per
mode on one thread (one DataLoader worker core), modes interleaved clip by
clip. Prints clips/s per core, the decode / resize / crop / tracks / collate
breakdown, ratios to today's pipeline and the reference's way, the
difference of reduced decode and of the frame cache from today's frames,
the decoder settings that trade pixels for time (FFmpeg options such as
skip_loop_filter, against the exact reader; with video_h264 also their drift
along a --long-gop-frames H.264 GOP), and the cores needed to feed one GPU:
at --gpu-step-ms, or at the step time of ViT-S/14 and ViT-B/14 (8 clips x
12 frames x 256 points, bf16 teacher) projected from their FLOP count at
40 % of an H100's dense bf16 peak.
"""
import argparse
import json
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import os.path as osp
import time

import numpy as np

from tools.lab.lib.measure import machine_description  # noqa: E402

GPU_CONFIGS = (('ViT-S/14', 'configs/mosic_vits_ytvos.py'),
               ('ViT-B/14', 'configs/mosic_vitb_ytvos.py'))


def _single_thread():
    import cv2
    import torch
    torch.set_num_threads(1)  # as in a DataLoader worker
    cv2.setNumThreads(1)


def prepare(args, kind: str):
    """Dataset, track cache and frame caches of one kind."""
    from tools.lab.lib.input_data import prepare_data
    return prepare_data(osp.join(args.root,
                                 kind), kind, args.videos, args.video_frames,
                        args.quality, args.frames, args.stride,
                        args.window_step, (args.size, args.size), args.grid,
                        tuple(args.source_hw))


def fidelity(ds, pipes: dict, num: int = 3) -> dict:
    """Mean / max absolute difference (grey levels) of each mode's
    LoadClip output from today's (full decode + antialiased resize), over
    ``num`` clips."""
    out = {}
    for m, pipe in pipes.items():
        if m == 'today':
            continue
        diffs, peak = [], 0
        for c in range(num):
            info = ds.get_data_info(c % len(ds))
            info['frame_inds'] = ds.clip_sampler.sample(
                info['total_frames'], np.random.RandomState(c))
            info['data_root'] = ds.data_root
            ref = pipes['today'][1](pipes['today'][0](dict(info)))['imgs']
            got = pipe[1](pipe[0](dict(info)))['imgs']
            d = np.abs(ref.astype(np.int16) - got.astype(np.int16))
            diffs.append(d.mean())
            peak = max(peak, int(d.max()))
        out[m] = dict(mae=float(np.mean(diffs)), max=peak)
    return out


def video_profile(ds, size, num: int) -> dict:
    """Median over ``num`` training clips of
    :func:`profile_video_decode` (ms per clip)."""
    from tools.lab.lib.decode_profile import profile_video_decode
    rows = []
    for c in range(num):
        info = ds.get_data_info(c % len(ds))
        inds = ds.clip_sampler.sample(info['total_frames'],
                                      np.random.RandomState(100 + c))
        rows.append(profile_video_decode(info['video_path'], inds, size))
    return {k: float(np.median([r[k] for r in rows])) for k in rows[0]}


def decoder_settings(ds, size, num: int) -> dict:
    """:func:`profile_decoder_settings` on ``num`` training clips of the
    first video."""
    from tools.lab.lib.decode_profile import profile_decoder_settings
    info = ds.get_data_info(0)
    clips = [
        ds.clip_sampler.sample(info['total_frames'],
                               np.random.RandomState(200 + c))
        for c in range(num)
    ]
    return profile_decoder_settings(info['video_path'], clips, size)


LOOP_FILTER_SETTINGS = ('exact', 'skip_loop_filter=bidir',
                        'skip_loop_filter=all')


def long_gop_drift(args, size) -> dict:
    """Error of the loop-filter settings on a clip at the start, middle
    and end of a ``--long-gop-frames`` H.264 video with one key frame
    (x264 defaults): ``{'first-last frame': settings table}``."""
    from tools.lab.lib.decode_profile import profile_decoder_settings
    from tools.lab.lib.input_data import make_dataset
    n = args.long_gop_frames
    span = (args.frames - 1) * args.stride + 1
    root = make_dataset(osp.join(args.root, 'video_h264_long'),
                        1,
                        n,
                        kind='video_h264',
                        hw=tuple(args.source_hw))
    path = osp.join(root, 'videos', 'video000.mp4')
    out = {}
    for start in (0, (n - span) // 2, n - span):
        inds = start + args.stride * np.arange(args.frames)
        out[f'{start}-{inds[-1]}'] = profile_decoder_settings(
            path, [inds], size, LOOP_FILTER_SETTINGS, repeats=1)
    return out


def benchmark_input(args) -> dict:
    """The input-pipeline benchmark with the options of
    ``tools/lab/benchmark_input.py`` (``args``: its parsed arguments): per video
    kind, the timing of each mode, fidelity, decode profile and decoder
    settings; the long-GOP drift (H.264); the GPU step times to feed.
    Single-threaded (torch, OpenCV), as a DataLoader worker."""
    _single_thread()
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    import mosic_mm  # noqa: F401
    from mosic_mm.datasets.sources.video_io import _pyav_available
    from tools.lab.lib.gpu_demand import (
        H100_BF16_DENSE_TFLOPS,
        count_step_flops,
    )
    from tools.lab.lib.input_pipeline import build_pipeline, run_modes
    init_default_scope('mmpretrain')
    MMLogger.get_instance('mosic_benchmark', log_level='ERROR')
    size = (args.size, args.size)
    span = (args.frames - 1) * args.stride + 1
    if args.long_gop_frames and args.long_gop_frames < span:
        raise ValueError(f'--long-gop-frames {args.long_gop_frames} is '
                         f'shorter than one clip ({span} frames)')
    results = dict(args=vars(args), kinds={})
    for kind in args.kinds:
        t0 = time.perf_counter()
        ds, dirs = prepare(args, kind)
        modes = [
            m for m in args.modes if not (m == 'reference' and kind != 'jpeg')
            and not (m == 'reduced_decord' and kind == 'jpeg')
        ]
        pipes = {}
        for m in modes:
            cache = dirs['jpeg' if m == 'cache_jpeg' else 'raw']
            pipes[m] = build_pipeline(m, size, args.grid, args.points,
                                      'DISFlowTracker', cache)
        timing = run_modes(ds, modes, pipes, args.clips, args.batch)
        fid = {} if args.no_fidelity or 'today' not in pipes else fidelity(
            ds, pipes)
        for m in modes:
            for k in ('cache', 'cache_jpeg'):
                if m == k and pipes[m][0].num_cache_misses:
                    raise RuntimeError(f'{m}: {pipes[m][0].num_cache_misses}'
                                       ' clips missed the frame cache')
        prof = ({} if kind == 'jpeg' or args.no_profile
                or not _pyav_available()  # the profile decodes with PyAV
                else video_profile(ds, size, args.profile_clips))
        knobs = ({} if not prof or args.settings_clips < 1 else
                 decoder_settings(ds, size, args.settings_clips))
        results['kinds'][kind] = dict(timing=timing,
                                      fidelity=fid,
                                      profile=prof,
                                      settings=knobs,
                                      prepare_s=time.perf_counter() - t0)
    if ('video_h264' in args.kinds and args.long_gop_frames
            and not args.no_profile and _pyav_available()):
        results['long_gop'] = long_gop_drift(args, size)
    # GPU demand
    if args.gpu_step_ms:
        steps = {f'{ms:g} ms step': ms / 1e3 for ms in args.gpu_step_ms}
        source = '--gpu-step-ms'
    else:
        tflops = args.gpu_tflops or 0.4 * H100_BF16_DENSE_TFLOPS
        steps, flops = {}, {}
        for name, cfg in GPU_CONFIGS:
            f = count_step_flops(osp.join(REPO, cfg), args.batch, args.frames,
                                 args.points, args.size)
            flops[name] = f
            steps[name] = f / (tflops * 1e12)
        results['step_tflop'] = {k: v / 1e12 for k, v in flops.items()}
        source = (f'FLOP count / {tflops:.0f} TFLOP/s (40 % of H100 dense '
                  f'bf16 peak {H100_BF16_DENSE_TFLOPS:.0f}); no GPU measured'
                  if args.gpu_tflops is None else
                  f'FLOP count / {tflops:.0f} TFLOP/s (--gpu-tflops)')
    results['gpu_steps_s'] = steps
    results['gpu_step_source'] = source
    return results


def _settings_table(label: str, tables: dict) -> list:
    """Markdown rows of :func:`profile_decoder_settings` results, one
    table per ``label`` value (video kind or clip position)."""
    rows = [
        f'| {label} | setting | ms per clip | x exact | MAE | '
        'worst frame MAE | max |', '|---|---|---|---|---|---|---|'
    ]
    for key, t in tables.items():
        for name, v in t.items():
            rows.append(f"| {key} | {name} | {v['ms']:.1f} | "
                        f"{v['x_exact']:.2f} | {v['mae']:.2f} | "
                        f"{v['frame_mae']:.2f} | {v['max']} |")
    return rows


def format_tables(res: dict) -> str:
    """The Markdown tables of a :func:`benchmark_input` result."""
    from tools.lab.lib.gpu_demand import cores_needed, data_wait_fraction
    from tools.lab.lib.input_pipeline import MODES, STAGES
    a = res['args']
    src = f"{a['source_hw'][1]}x{a['source_hw'][0]}"
    lines = [
        f"clips of T={a['frames']} frames (stride {a['stride']}) from "
        f"{src} sources to {a['size']}x{a['size']}, "
        f"{a['points']} tracks from a cached {a['grid']}x{a['grid']} "
        f"grid; {a['clips']} clips per mode, one thread, modes "
        'interleaved; median CPU time per clip (time.process_time)'
    ]
    for kind, r in res['kinds'].items():
        t = r['timing']
        ref = t.get('reference')
        lines.append('')
        lines.append({
            'jpeg':
            f'### {src} JPEG frame folders (quality {a["quality"]})',
            'video':
            f'### {src} .mp4 files (mp4v, cv2.VideoWriter, key '
            'frame every 12)',
            'video_h264':
            f'### {src} .mp4 files (H.264, x264 defaults: '
            'CRF 23, B-frames, one key frame per video)',
        }[kind])
        lines.append('')
        head = ('| mode | clips/s per core | x today | x reference | '
                + ' | '.join(f'{s} (ms)'
                             for s in STAGES) + ' | MAE vs today (max) |')
        lines.append(head)
        lines.append('|' + '---|' * (5 + len(STAGES)))
        for m, v in t.items():
            fid = r['fidelity'].get(m)
            fid_s = ('0 (reference)' if m == 'today' else
                     f"{fid['mae']:.2f} ({fid['max']})" if fid else '-')
            rate = v['clips_per_s_per_core']
            x_ref = (f"{rate / ref['clips_per_s_per_core']:.2f}"
                     if ref else '-')
            lines.append(f"| {m}: {MODES[m]} | {rate:.1f} | "
                         f"{rate / t['today']['clips_per_s_per_core']:.2f} | "
                         f'{x_ref} | '
                         + ' | '.join(f"{1e3 * v['stages_s'][s]:.2f}"
                                      for s in STAGES) + f' | {fid_s} |')
    prof = {
        k: r['profile']
        for k, r in res['kinds'].items() if r.get('profile')
    }
    if prof:
        lines.append('')
        lines.append('Where a video clip\'s decode time goes (PyAV, one '
                     'thread, median CPU ms per clip over '
                     f"{a['profile_clips']} clips):")
        lines.append('')
        lines.append('| video | open + demux | decode key..last '
                     '(packets) | decode needed only (packets) | to RGB | '
                     'resize | total (read_video pyav) | decode needed / '
                     'total |')
        lines.append('|---|---|---|---|---|---|---|---|')
        for kind, p in prof.items():
            lines.append(
                f"| {kind} | {p['open_demux']:.1f} | {p['decode_range']:.1f}"
                f" ({p['num_range']:.0f}) | {p['decode_needed']:.1f} "
                f"({p['num_needed']:.0f}) | {p['to_rgb']:.1f} | "
                f"{p['resize']:.1f} | {p['total']:.1f} | "
                f"{p['decode_needed'] / p['total']:.2f} |")
    knobs = {
        k: r['settings']
        for k, r in res['kinds'].items() if r.get('settings')
    }
    if knobs:
        lines.append('')
        lines.append('Decoder settings that trade pixels for time, against '
                     'the exact reader (same packets; median CPU ms per '
                     f"clip over {a['settings_clips']} clips x 3 repeats, "
                     'settings interleaved; difference from the exact '
                     f"{a['size']}x{a['size']} frames in grey levels):")
        lines.append('')
        lines += _settings_table('video', knobs)
    if res.get('long_gop'):
        lines.append('')
        lines.append('Drift of the loop-filter settings along one GOP: a '
                     f"{a['long_gop_frames']}-frame H.264 video (x264 "
                     'defaults, one key frame), one clip at its start, '
                     'middle and end (CPU ms of one read):')
        lines.append('')
        lines += _settings_table('frames', res['long_gop'])
    lines.append('')
    lines.append(f"GPU step times: {res['gpu_step_source']}.")
    if 'step_tflop' in res:
        lines.append('FLOP per step (B=%d): ' % a['batch']
                     + ', '.join(f'{k} {v:.2f} TFLOP'
                                 for k, v in res['step_tflop'].items()))
    lines.append('')
    lines.append('| data | mode | GPU step | step (ms) | cores to feed one '
                 f"GPU | data wait with {a['node_cores']} cores |")
    lines.append('|---|---|---|---|---|---|')
    for kind, r in res['kinds'].items():
        for m, v in r['timing'].items():
            rate = v['clips_per_s_per_core']
            for name, step in res['gpu_steps_s'].items():
                need = cores_needed(rate, a['batch'], step)
                wait = data_wait_fraction(rate, a['node_cores'], a['batch'],
                                          step)
                lines.append(f'| {kind} | {m} | {name} | {1e3 * step:.1f} | '
                             f'{need:.1f} | {100 * wait:.1f} % |')
    return '\n'.join(lines)


def parse_args(argv=None):
    from tools.lab.lib.input_pipeline import MODES
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--root',
                   default=osp.join(REPO, '.cache', 'input_benchmark'),
                   help='where the generated data sets live (reused)')
    p.add_argument('--kinds',
                   nargs='+',
                   default=['jpeg', 'video', 'video_h264'],
                   choices=['jpeg', 'video', 'video_h264'],
                   help='video: mp4v (OpenCV), a key frame every 12 frames; '
                   'video_h264: x264 defaults (B-frames, key frame every '
                   '250 frames / scene cut, needs PyAV)')
    p.add_argument('--modes',
                   nargs='+',
                   default=list(MODES),
                   choices=list(MODES))
    p.add_argument('--videos', type=int, default=4)
    p.add_argument('--video-frames',
                   type=int,
                   default=96,
                   help='frames per generated video (YT-VOS: ~30-180)')
    p.add_argument('--quality', type=int, default=90)
    p.add_argument('--source-hw',
                   type=int,
                   nargs=2,
                   default=[720, 1280],
                   metavar=('H', 'W'),
                   help='generated frame size')
    p.add_argument('--clips',
                   type=int,
                   default=16,
                   help='timed clips per mode (+1 warm-up)')
    p.add_argument('--frames', type=int, default=12, help='T')
    p.add_argument('--stride', type=int, default=6)
    p.add_argument('--window-step', type=int, default=12)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--points', type=int, default=256)
    p.add_argument('--grid', type=int, default=32)
    p.add_argument('--batch', type=int, default=8, help='clips per GPU step')
    p.add_argument('--gpu-step-ms',
                   type=float,
                   action='append',
                   help='GPU step time(s) to feed (default: projected from '
                   'the FLOP count of ViT-S/14 and ViT-B/14)')
    p.add_argument('--gpu-tflops',
                   type=float,
                   default=None,
                   help='sustained GPU TFLOP/s for the projection (default '
                   '40%% of H100 dense bf16 peak)')
    p.add_argument('--node-cores', type=int, default=16)
    p.add_argument('--profile-clips',
                   type=int,
                   default=3,
                   help='video clips profiled (demux / decode / colour '
                   'conversion / resize)')
    p.add_argument('--no-profile',
                   action='store_true',
                   help='skip the decode profile and the decoder settings')
    p.add_argument('--settings-clips',
                   type=int,
                   default=2,
                   help='clips per video kind for the decoder-settings '
                   'table (FFmpeg options that trade pixels for time)')
    p.add_argument('--long-gop-frames',
                   type=int,
                   default=250,
                   help='frames of the one-key-frame H.264 video on which '
                   'the error of the loop-filter settings is measured at '
                   'the start, middle and end of its GOP (0: skip)')
    p.add_argument('--no-fidelity',
                   action='store_true',
                   help='skip the pixel-difference measurement')
    p.add_argument('--out', help='write results as JSON')
    p.add_argument('--markdown', help='append the tables to this file')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    res = benchmark_input(args)
    table = format_tables(res)
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=1)
    if args.markdown:
        cmd = 'python tools/lab/benchmark_input.py ' + ' '.join(
            sys.argv[1:] if argv is None else argv)
        with open(args.markdown, 'a') as f:
            f.write(f'\nMachine: {machine_description()}\n\n'
                    f'Command: `{cmd}`\n\n{table}\n')


if __name__ == '__main__':
    main()
