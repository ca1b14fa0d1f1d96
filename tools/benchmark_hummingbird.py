#!/usr/bin/env python
"""Measure the per-image cost of the official Hummingbird evaluation on this
machine and extrapolate full VOC / ADE20K runs (memory bytes and hours).

Measured here (random-init backbones, synthetic 500x375 images, nothing
downloaded): ViT-S/14 and ViT-B/14 patch tokens at 518 px; the memory
pipeline per training image (colour jitter, random resized crop, patch
label counts, class-frequency sampling); exact search per query against a
memory of ``--keys`` fp16 keys (cost scales with keys x dim); a faiss IVF
index (build, search, recall@30 against exact). The GPU column is an
estimate from FLOP counts at ``--gpu-tflops`` effective throughput (an
assumption, printed as such), not a measurement.

    python tools/benchmark_hummingbird.py [--keys 131072] [--threads 2]
"""
import argparse

from mosic_mm.apis.benchmark_hummingbird import benchmark_hummingbird


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size', type=int, default=518)
    ap.add_argument('--keys', type=int, default=131072,
                    help='memory keys for the search timing')
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--gpu-tflops', type=float, default=100.0,
                    help='ASSUMED effective GPU throughput for the estimate')
    ap.add_argument('--json', default=None, help='write the numbers here')
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    return benchmark_hummingbird(args.size, args.keys, args.repeats,
                                 args.threads, args.gpu_tflops, args.json)


if __name__ == '__main__':
    main()
