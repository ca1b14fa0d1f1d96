"""Input-pipeline benchmark on generated 720p data (also
``tools/benchmark.py --input-only``).

    python tools/benchmark_input.py [--kinds jpeg video] [--modes ...]
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

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from mosic_mm.apis.benchmark_input import (benchmark_input,  # noqa: E402
                                           format_tables)
from mosic_mm.benchmark.measure import machine_description  # noqa: E402


def parse_args(argv=None):
    from mosic_mm.benchmark.input_pipeline import MODES
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--root', default=osp.join(REPO, '.cache',
                                              'input_benchmark'),
                   help='where the generated data sets live (reused)')
    p.add_argument('--kinds', nargs='+',
                   default=['jpeg', 'video', 'video_h264'],
                   choices=['jpeg', 'video', 'video_h264'],
                   help='video: mp4v (OpenCV), a key frame every 12 frames; '
                   'video_h264: x264 defaults (B-frames, key frame every '
                   '250 frames / scene cut, needs PyAV)')
    p.add_argument('--modes', nargs='+', default=list(MODES),
                   choices=list(MODES))
    p.add_argument('--videos', type=int, default=4)
    p.add_argument('--video-frames', type=int, default=96,
                   help='frames per generated video (YT-VOS: ~30-180)')
    p.add_argument('--quality', type=int, default=90)
    p.add_argument('--source-hw', type=int, nargs=2, default=[720, 1280],
                   metavar=('H', 'W'), help='generated frame size')
    p.add_argument('--clips', type=int, default=16,
                   help='timed clips per mode (+1 warm-up)')
    p.add_argument('--frames', type=int, default=12, help='T')
    p.add_argument('--stride', type=int, default=6)
    p.add_argument('--window-step', type=int, default=12)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--points', type=int, default=256)
    p.add_argument('--grid', type=int, default=32)
    p.add_argument('--batch', type=int, default=8, help='clips per GPU step')
    p.add_argument('--gpu-step-ms', type=float, action='append',
                   help='GPU step time(s) to feed (default: projected from '
                   'the FLOP count of ViT-S/14 and ViT-B/14)')
    p.add_argument('--gpu-tflops', type=float, default=None,
                   help='sustained GPU TFLOP/s for the projection (default '
                   '40%% of H100 dense bf16 peak)')
    p.add_argument('--node-cores', type=int, default=16)
    p.add_argument('--profile-clips', type=int, default=3,
                   help='video clips profiled (demux / decode / colour '
                   'conversion / resize)')
    p.add_argument('--no-profile', action='store_true',
                   help='skip the decode profile and the decoder settings')
    p.add_argument('--settings-clips', type=int, default=2,
                   help='clips per video kind for the decoder-settings '
                   'table (FFmpeg options that trade pixels for time)')
    p.add_argument('--long-gop-frames', type=int, default=250,
                   help='frames of the one-key-frame H.264 video on which '
                   'the error of the loop-filter settings is measured at '
                   'the start, middle and end of its GOP (0: skip)')
    p.add_argument('--no-fidelity', action='store_true',
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
        cmd = 'python tools/benchmark_input.py ' + ' '.join(
            sys.argv[1:] if argv is None else argv)
        with open(args.markdown, 'a') as f:
            f.write(f'\nMachine: {machine_description()}\n\n'
                    f'Command: `{cmd}`\n\n{table}\n')


if __name__ == '__main__':
    main()
