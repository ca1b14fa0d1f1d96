"""Kinetics-scale collection benchmark (docs/benchmarks.md, "A collection of
650,000 videos").

    python tools/benchmark_collection.py [--root /tmp/collection650k]
        [--videos 650000] [--classes 700] [--workers 4] [--remaining 2000]
        [--repeats 3] [--skip-extraction] [--markdown FILE] [--out JSON]

Generates (once, under --root) a Kinetics-like collection of hard-linked
tiny .mp4 files with its list file, then measures the dataset's cold and
warm start with the video index, the memory of the rank and of each
DataLoader worker (index vs mmengine's data list) and track extraction on 2
ranks with the manifest: :mod:`mosic_mm.apis.benchmark_collection`.
"""
import argparse
import json
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from mosic_mm.apis.benchmark_collection import (  # noqa: E402
    benchmark_collection, format_markdown)
from mosic_mm.benchmark.measure import machine_description  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--root', default='/tmp/collection650k')
    p.add_argument('--videos', type=int, default=650000)
    p.add_argument('--classes', type=int, default=700)
    p.add_argument('--workers', type=int, default=4,
                   help='DataLoader workers whose memory is measured')
    p.add_argument('--remaining', type=int, default=2000,
                   help='videos left to extract in the extraction run')
    p.add_argument('--repeats', type=int, default=3,
                   help='warm starts timed (the median is reported)')
    p.add_argument('--skip-extraction', action='store_true')
    p.add_argument('--markdown', help='append the tables to this file')
    p.add_argument('--out', help='write the numbers as JSON')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    result = benchmark_collection(args.root, args.videos, args.classes,
                                  args.workers, args.remaining, args.repeats,
                                  args.skip_extraction)
    text = format_markdown(result)
    print(machine_description())
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    if args.markdown:
        with open(args.markdown, 'a') as f:
            f.write(f'\n{machine_description()}\n\n{text}\n')


if __name__ == '__main__':
    main()
