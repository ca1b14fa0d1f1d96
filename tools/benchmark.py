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
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from mosic_mm.apis.benchmark import benchmark_mode, format_table  # noqa: E402
from mosic_mm.benchmark.measure import machine_description  # noqa: E402


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
        result = benchmark_mode(args)
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
