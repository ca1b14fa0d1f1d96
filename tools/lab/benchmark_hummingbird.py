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

    python tools/lab/benchmark_hummingbird.py [--keys 131072] [--threads 2]
"""
import argparse
import json
import time
from typing import Optional

import numpy as np
import torch

from mosic_mm.evaluation.metrics.retrieval import (
    IVFIndex,
    exact_knn,
    knn_recall,
    patch_label_counts,
)
from mosic_mm.evaluation.protocols.hummingbird import (
    HummingbirdSettings,
    augment_pair,
    class_frequency_sample,
    patch_rows,
    patches_per_image,
)

#: the official run's datasets: VOC trainaug / val and ADE20K training /
#: validation images, classes (MoSiC dataset/data_loader.py:1087, :1666)
DATASET_SIZES = dict(train_images={
    'voc': 10_582,
    'ade20k': 20_210
},
                     val_images={
                         'voc': 1_449,
                         'ade20k': 2_000
                     },
                     num_classes={
                         'voc': 21,
                         'ade20k': 151
                     })
PATCH = 14  # DINOv2's, hummingbird_eval.sh --patch-size 14


ARCHS = {  # DINOv2 ViT-S/14 and ViT-B/14 shapes
    'vits14': dict(embed_dims=384, num_layers=12, num_heads=6,
                   feedforward_channels=1536),
    'vitb14': dict(embed_dims=768, num_layers=12, num_heads=12,
                   feedforward_channels=3072),
}
DATASETS = {'voc': 'VOC trainaug/val', 'ade20k': 'ADE20K training/validation'}


def timed(fn, repeats):
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    return (time.perf_counter() - t) / repeats, out


def vit_flops(arch, tokens):
    """Multiply-adds x 2 of one forward (linear layers + attention)."""
    C, L, F = arch['embed_dims'], arch['num_layers'], \
        arch['feedforward_channels']
    per_layer = 2 * tokens * (4 * C * C + 2 * C * F) + 4 * tokens**2 * C
    return L * per_layer


def benchmark_hummingbird(size: int = 518,
                          keys: int = 131072,
                          repeats: int = 2,
                          threads: Optional[int] = None,
                          gpu_tflops: float = 100.0,
                          json_path: Optional[str] = None) -> dict:
    """Measure the per-image costs at ``size`` px (``repeats`` timed runs,
    ``threads`` torch threads), exact and IVF search against ``keys``
    random fp16 keys, and extrapolate full VOC / ADE20K runs (GPU at the
    ASSUMED ``gpu_tflops``); prints the numbers, writes them to
    ``json_path`` when given and returns them."""
    if threads:
        torch.set_num_threads(threads)
    from mmpretrain.models import VisionTransformer
    s = HummingbirdSettings()
    p = PATCH
    g = size // p
    rng = np.random.default_rng(0)
    res = dict(threads=torch.get_num_threads(), size=size, keys=keys)

    img = rng.integers(0, 255, (375, 500, 3), dtype=np.uint8)
    mask = rng.integers(0, 21, (375, 500))

    def pipeline():
        r = np.random.default_rng(1)
        x, m = augment_pair(img, mask, size, r)
        m[m == 255] = 0
        cnt = patch_label_counts(m[None], (g, g), 21, None)[0].reshape(-1, 21)
        return class_frequency_sample(cnt, 483, r)

    res['pipeline_s'], _ = timed(pipeline, repeats)
    print(f'memory pipeline (jitter+crop+counts+sampling) per image: '
          f'{res["pipeline_s"]:.3f} s')

    for name, arch in ARCHS.items():
        torch.manual_seed(0)
        vit = VisionTransformer(arch=dict(arch),
                                img_size=size,
                                patch_size=p,
                                out_type='featmap')
        vit.eval()
        x = [rng.uniform(0, 255, (size, size, 3)).astype(np.float32)]
        t, f = timed(
            lambda: patch_rows(vit, x, (123.675, 116.28, 103.53),
                               (58.395, 57.12, 65.025)), repeats)
        assert f.shape == (1, g * g, arch['embed_dims'])
        res[f'{name}_features_s'] = t
        res[f'{name}_gflops'] = vit_flops(arch, g * g + 1) / 1e9
        print(f'{name} features at {size} px: {t:.2f} s/image '
              f'({res[f"{name}_gflops"]:.0f} GFLOP)')
        C = arch['embed_dims']
        memory = torch.nn.functional.normalize(torch.randn(keys, C),
                                               dim=1).half()
        q = torch.randn(g * g, C)
        t, (_, exact) = timed(lambda: exact_knn(q, memory, s.k), 1)
        res[f'{name}_search_s_per_query_key'] = t / (g * g * keys)
        print(f'{name} exact search: {t:.2f} s for {g * g} queries x '
              f'{keys} keys = {res[f"{name}_search_s_per_query_key"]:.2e}'
              ' s per query-key')
        t0 = time.perf_counter()
        ivf = IVFIndex.build(memory, nprobe=64)
        build = time.perf_counter() - t0
        t, (_, approx) = timed(lambda: ivf.search(q, s.k), 1)
        rec = knn_recall(approx, exact)
        res[f'{name}_ivf'] = dict(nlist=ivf.index.nlist,
                                  nprobe=64,
                                  build_s=build,
                                  search_s_per_query=t / len(q),
                                  recall_at_30=rec)
        print(f'{name} IVF nlist={ivf.index.nlist} nprobe=64: build '
              f'{build:.1f} s, {t / len(q) * 1e3:.2f} ms/query, recall@30 '
              f'{rec:.3f} (random keys: a worst case)')

    print('\nExtrapolated full runs (memory 10,240,000, 2 passes, 518 px; '
          'CPU = this machine at the threads above; GPU = FLOPs at '
          f'{gpu_tflops:.0f} TFLOP/s ASSUMED):')
    table = []
    for ds in DATASETS:
        n_tr, n_va = DATASET_SIZES['train_images'][ds], DATASET_SIZES[
            'val_images'][ds]
        K = DATASET_SIZES['num_classes'][ds]
        keep = patches_per_image(s.memory_size, n_tr, 2, g * g)
        M = keep * n_tr * 2
        for name, arch in ARCHS.items():
            C = arch['embed_dims']
            fwd = 2 * n_tr + n_va
            nq = n_va * g * g
            ivf = res[f'{name}_ivf']
            nlist = int(4 * np.sqrt(M))  # IVFIndex.build default
            # per query: list scan ~ nprobe * M / nlist keys; build: k-means
            # on 64 * nlist keys + assigning all M keys, both ~ keys x nlist
            scan = (M / nlist) / (keys / ivf['nlist'])
            build = (64 * nlist + M) * nlist / (
                (min(keys, 64 * ivf['nlist']) + keys) * ivf['nlist'])
            row = dict(
                dataset=ds,
                arch=name,
                memory_rows=M,
                keys_gb=M * C * 2 / 1e9,
                counts_gb=M * K / 1e9,
                queries_gb=nq * C * 2 / 1e9,
                topk_gb=nq * s.k * 12 / 1e9,
                features_pflop=fwd * res[f'{name}_gflops'] / 1e6,
                search_pflop=2 * nq * M * C / 1e15,
                cpu_features_h=fwd * res[f'{name}_features_s'] / 3600,
                cpu_pipeline_h=2 * n_tr * res['pipeline_s'] / 3600,
                cpu_exact_search_h=nq * M
                * res[f'{name}_search_s_per_query_key'] / 3600,
                cpu_ivf_build_h=ivf['build_s'] * build / 3600,
                cpu_ivf_search_h=nq * ivf['search_s_per_query'] * scan / 3600,
                gpu_features_h=fwd * res[f'{name}_gflops'] * 1e9 /
                (gpu_tflops * 1e12) / 3600,
                gpu_exact_search_h=2 * nq * M * C / (gpu_tflops * 1e12) / 3600)
            table.append(row)
            print(f'{ds:6s} {name}: memory {M:,} rows = keys '
                  f'{row["keys_gb"]:.1f} GB fp16 + counts '
                  f'{row["counts_gb"]:.2f} GB; queries {row["queries_gb"]:.1f}'
                  f' GB + top-k {row["topk_gb"]:.1f} GB | CPU: features '
                  f'{row["cpu_features_h"]:.1f} h, pipeline '
                  f'{row["cpu_pipeline_h"]:.1f} h, exact search '
                  f'{row["cpu_exact_search_h"]:.0f} h or IVF build '
                  f'{row["cpu_ivf_build_h"]:.1f} h + search '
                  f'{row["cpu_ivf_search_h"]:.1f} h | '
                  f'{row["features_pflop"]:.1f} + {row["search_pflop"]:.1f} '
                  f'PFLOP -> GPU est. {row["gpu_features_h"] * 60:.1f} + '
                  f'{row["gpu_exact_search_h"] * 60:.1f} min')
    res['extrapolation'] = table
    if json_path:
        with open(json_path, 'w') as f:
            json.dump(res, f, indent=1)
    return res


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size', type=int, default=518)
    ap.add_argument('--keys',
                    type=int,
                    default=131072,
                    help='memory keys for the search timing')
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--gpu-tflops',
                    type=float,
                    default=100.0,
                    help='ASSUMED effective GPU throughput for the estimate')
    ap.add_argument('--json', default=None, help='write the numbers here')
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    return benchmark_hummingbird(args.size, args.keys, args.repeats,
                                 args.threads, args.gpu_tflops, args.json)


if __name__ == '__main__':
    main()
