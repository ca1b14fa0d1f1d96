"""Named paper benchmarks (issue 12): each fixes its dataset, split, input
size, protocol function and settings, and holds the paper's reference
numbers, so ``tools/evaluate.py bench NAME MODEL`` gives a number that sits
beside the MoSiC paper's tables.

Two presets, never confused (docs/evaluation.md): ``'paper'`` = the
settings the MoSiC authors ran (every constant below), ``'fast'`` = the
same code at CPU/test sizes (tiny inputs, few probe iterations, no memory
cap). A result always carries the preset it used.

Reference numbers (mIoU x100) are the MoSiC (ICCV 2025, arXiv 2506.08694)
tables for ViT-S/14 (DINOv2 start vs MoSiC) and ViT-B/14 (MoSiC in-context VOC
only) as a secondary source reports them, not yet checked against the paper;
docs/evaluation.md lists them per table cell. A ``None`` is a number that
source does not give.

Datasets are read with :mod:`.paper_data` (real layouts, and the
synthetic frame folders); :mod:`.runners` holds one runner per protocol
(:func:`.hummingbird_paper.hummingbird_paper_miou`,
:func:`.overclustering.overcluster_paper`,
:func:`.video_clustering.video_clustering_paper` + ``timet_batches``,
:func:`.label_propagation.propagate_labels` + :mod:`.davis_metrics`, and the
mmseg linear configs run in-process by an mmengine Runner,
:mod:`.linear_benchmark`).

:data:`SYNTHETIC_BENCHMARKS` are the same protocols on the demo's synthetic
frame folders (``tools/evaluate.py`` per-protocol subcommands, the demo,
the mini reproduction): only the dataset reader and the fast settings
differ. Without a data root the fast preset of a paper benchmark runs on
synthetic data in its dataset's layout (:mod:`.synthetic_data`).
"""
import copy
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple, Union

import torch

from .features import detect_arch
from .runners import RUNNERS
from .synthetic_data import (DEFAULT_VIDEOS, FAST_LAYOUTS,
                             ensure_synthetic_videos, synthetic_layout)

__all__ = ['Benchmark', 'BENCHMARKS', 'SYNTHETIC_BENCHMARKS', 'PRESETS',
           'detect_arch', 'reference_numbers', 'run_benchmark',
           'settings_of', 'default_root']

PRESETS = ('paper', 'fast')

_S, _B = 'ViT-S/14', 'ViT-B/14'
_SRC = ('MoSiC paper tables as a secondary source reports them, not yet '
        'checked against the paper (docs/evaluation.md)')


@dataclass(frozen=True)
class Benchmark:
    """One named benchmark.

    Attributes:
        name: registry key, e.g. ``'voc-hummingbird'``.
        task: 'hummingbird' | 'linear' | 'overcluster' | 'videoclust' |
            'propagate'.
        dataset: reader of :mod:`.paper_data` ('voc2012', 'ade20k',
            'davis2017', 'ytvos2019', 'synthetic_frames',
            'synthetic_videos'), called with ``settings['reader_args']``.
        data_root: default root (``--data-root`` overrides).
        splits: {'train': split, 'val': split} passed to the reader.
        protocol: which paper / code the settings reproduce.
        settings: {'paper': {...}, 'fast': {...}} every constant of the run.
        metrics: metric names the run returns (fractions in [0, 1]).
        reference: {arch: {metric: {'DINOv2': x100 or None, 'MoSiC': ...}}}.
        deviations: where ours differs from the authors' code.
    """
    name: str
    task: str
    dataset: str
    data_root: str
    splits: Dict[str, str]
    protocol: str
    settings: Dict[str, dict]
    metrics: Tuple[str, ...]
    reference: Dict[str, Dict[str, Dict[str, Optional[float]]]] = field(
        default_factory=dict)
    reference_source: str = _SRC
    deviations: Tuple[str, ...] = ()


def _ref(s_dino, s_mosic, b_dino=None, b_mosic=None):
    return {_S: dict(DINOv2=s_dino, MoSiC=s_mosic),
            _B: dict(DINOv2=b_dino, MoSiC=b_mosic)}


def _by_metric(**per_metric):
    """{metric: {arch: {...}}} -> {arch: {metric: {...}}}."""
    out = {_S: {}, _B: {}}
    for metric, ref in per_metric.items():
        for arch, nums in ref.items():
            out[arch][metric.replace('__', ' ').replace('_', '/')] = nums
    return out


_HB_FAST = dict(input_size=56, memory_size=None, batch_size=8)
_HB_DEV = ('exact search instead of ScaNN (index="ivf" is the approximate '
           'option, recall measured)',
           'split files: the official trainaug_128_42.txt / '
           'training_128_42.txt when present under the data root, else a '
           'generated class-balanced split of the same size (logged, named '
           'in the result)')


def _hb_settings(fractions):
    from .hummingbird_paper import HUMMINGBIRD_PAPER as H
    paper = dict(input_size=H['input_size'], memory_size=H['memory_size'],
                 augmentation_epochs=H['augmentation_epochs'], k=H['k'],
                 temperature=H['temperature'], seed=H['seed'],
                 batch_size=H['batch_size'], index='exact',
                 fractions=tuple(fractions), split_seed=42)
    return dict(paper=paper, fast=dict(paper, **_HB_FAST))


_LINEAR = dict(input_size=448, score_size=100, optimizer='SGD', lr=0.01,
               momentum=0.9, epochs=25, batch_size=8, head='BN + 1x1 conv',
               config='configs/benchmarks/mmseg/'
               'linear_vit{s,b}14_{dataset}.py')
_LINEAR_FAST = dict(_LINEAR, input_size=56, score_size=28, epochs=None,
                    iters=20, batch_size=4, norm='BN')
_OC = dict(input_size=224, mask_size=224, num_images=500, ks=(21, 100, 300,
                                                              500),
           pca_dim=50, niter=20, seed=1234, standardize=True,
           # evaluation.py main_overclustering's Normalize (blue std 0.255,
           # the official typo); None = the backbone's own mean / std
           mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.255),
           nominal_k=False, pca_subsample='faiss', pca_max_points_per_dim=1000,
           upsample='bilinear features', matching='K=21 Hungarian, '
           'K>21 many-to-one (precision)', reported_k=500)
_VC = dict(input_size=224, eval_size=224, num_frames=4, batch_size=16,
           mode='frame', num_clusters=10, pca_dim=50, niter=50, nredo=5,
           kmeans_seed=1, clip_seed=0)
_PROP = dict(input_size='native (480p) rounded down to a multiple of the '
             'patch', n_context=7, radius=12, topk=5, temperature=0.1,
             resolution='480p', batch_size=8)


def _registry() -> Dict[str, Benchmark]:
    from .video_clustering import TIMET_VIDEO_CLUSTERING as T
    vc = dict(_VC, mean=tuple(T['mean']), std=tuple(T['std']))
    b = [
        Benchmark(
            'voc-hummingbird', 'hummingbird', 'voc2012',
            'data/VOCdevkit/VOC2012',
            dict(train='trainaug', val='val'),
            'Hummingbird in-context segmentation as MoSiC hummingbird_eval.sh '
            '/ open-hummingbird-eval (Balazevic et al. 2023)',
            _hb_settings((128, 1)), ('mIoU 1/128', 'mIoU 1/1'),
            _by_metric(mIoU__1_128=_ref(56.0, 62.5, None, 65.5),
                       mIoU__1_1=_ref(77.0, 78.2, None, 80.5)),
            deviations=_HB_DEV),
        Benchmark(
            'ade-hummingbird', 'hummingbird', 'ade20k',
            'data/ade/ADEChallengeData2016',
            dict(train='training', val='validation'),
            'Hummingbird in-context segmentation (ADE20K, label 0 ignored) '
            'as MoSiC hummingbird_eval.sh / open-hummingbird-eval',
            _hb_settings((1, )), ('mIoU 1/1', ),
            _by_metric(mIoU__1_1=_ref(38.8, 40.7)), deviations=_HB_DEV),
        Benchmark(
            'voc-linear', 'linear', 'voc2012', 'data/VOCdevkit/VOC2012',
            dict(train='train + aug', val='val'),
            'NeCo linear segmentation (vpariza/NeCo), which MoSiC reports; '
            'configs/benchmarks/mmseg/linear_vit{s,b}14_voc12aug.py',
            dict(paper=dict(_LINEAR), fast=dict(_LINEAR_FAST)), ('mIoU', ),
            _by_metric(mIoU=_ref(78.9, 79.7)),
            deviations=('mmseg Runner + BNLinearHead instead of NeCo\'s '
                        'Lightning module (same 448 px input, 100x100 '
                        'scoring, SGD 0.01, 25 epochs)', )),
        Benchmark(
            'ade-linear', 'linear', 'ade20k', 'data/ade/ADEChallengeData2016',
            dict(train='training', val='validation'),
            'NeCo linear segmentation (ADE20K, 150 classes, 0 ignored); '
            'configs/benchmarks/mmseg/linear_vit{s,b}14_ade20k.py',
            dict(paper=dict(_LINEAR), fast=dict(_LINEAR_FAST)), ('mIoU', ),
            _by_metric(mIoU=_ref(37.9, 39.6)),
            deviations=('mmseg Runner + BNLinearHead instead of NeCo\'s '
                        'Lightning module', )),
        Benchmark(
            'voc-overcluster', 'overcluster', 'voc2012',
            'data/VOCdevkit/VOC2012', dict(val='val'),
            'Overclustering as MoSiC utils/clustering.py + eval_metrics.py '
            'PredsmIoU (Leopart / NeCo): first 500 VOC val images at 224 px',
            dict(paper=dict(_OC), fast=dict(_OC, input_size=56, mask_size=56,
                                            num_images=None)),
            ('mIoU K=21', 'mIoU K=100', 'mIoU K=300', 'mIoU K=500'),
            {_S: {'mIoU K=500': dict(DINOv2=58.6, MoSiC=60.2)},
             _B: {'mIoU K=500': dict(DINOv2=None, MoSiC=None)}},
            deviations=('K = 100/300/500 cluster with 50/100/200 faiss '
                        'centroids as the official code does '
                        '(OFFICIAL_KMEANS_CENTROIDS)', )),
        Benchmark(
            'davis-videoclust', 'videoclust', 'davis2017', 'data/DAVIS',
            dict(val='val'),
            "TimeT's video clustering (SMSD75/Timetuning evaluation.py, "
            'frame-wise, K=10), which MoSiC reports',
            dict(paper=dict(vc), fast=dict(vc, input_size=56, eval_size=56)),
            ('mIoU', ), _by_metric(mIoU=_ref(57.4, 58.9)),
            deviations=('seeded frame sampling (TimeT: unseeded '
                        'random.sample)', )),
        Benchmark(
            'ytvos-videoclust', 'videoclust', 'ytvos2019', 'data/youtube_vos',
            dict(val='valid'),
            "TimeT's video clustering on YouTube-VOS 2019 (category labels "
            'from meta.json), frame-wise, K=10',
            dict(paper=dict(vc), fast=dict(vc, input_size=56, eval_size=56)),
            ('mIoU', ), _by_metric(mIoU=_ref(56.3, 60.6)),
            deviations=("TimeT evaluates its unseeded 20 % held-out train "
                        "videos (val1/); this benchmark reads <root>/valid: "
                        "to follow TimeT, pass --data-root ytvos2019=ROOT "
                        "whose valid/ holds those videos (e.g. a link to "
                        "TimeT's val1/)", )),
        Benchmark(
            'davis-propagate', 'propagate', 'davis2017', 'data/DAVIS',
            dict(val='val'),
            "DINO's eval_video_segmentation.py label propagation, scored "
            'with the davis2017-evaluation J&F (not in the MoSiC tables)',
            dict(paper=dict(_PROP), fast=dict(_PROP, input_size=56)),
            ('J&F', 'J', 'F'), {},
            deviations=('frames resized to a multiple of the patch (14) '
                        'instead of DINO\'s /8 or /16', )),
    ]
    return {x.name: x for x in b}


BENCHMARKS: Dict[str, Benchmark] = _registry()


def settings_of(name: str, preset: str = 'paper') -> dict:
    """The constants a benchmark runs with under ``preset``."""
    if name not in BENCHMARKS:
        raise KeyError(f'unknown benchmark {name!r}; known: '
                       f'{", ".join(BENCHMARKS)}')
    if preset not in PRESETS:
        raise ValueError(f'preset must be one of {PRESETS}, got {preset!r}')
    return copy.deepcopy(BENCHMARKS[name].settings[preset])


def reference_numbers(name: str, arch: Optional[str]
                      ) -> Dict[str, Dict[str, Optional[float]]]:
    """{metric: {'DINOv2': x100 | None, 'MoSiC': x100 | None}} of the paper
    for ``arch``; {} when the arch has no reference."""
    if name not in BENCHMARKS:
        raise KeyError(f'unknown benchmark {name!r}')
    if arch is None:
        return {}
    return copy.deepcopy(BENCHMARKS[name].reference.get(arch, {}))


# ------------------------------------------------ the synthetic frame folders
def _on_frames(task: str, base: str, reader: str, metrics: Tuple[str, ...],
               reader_args: dict, **fast) -> Benchmark:
    """``base``'s protocol on the demo's synthetic videos: its settings with
    ``reader_args``, and ``fast`` on top of its fast preset."""
    b = BENCHMARKS[base]
    paper = dict(b.settings['paper'], reader_args=reader_args)
    return Benchmark(
        f'synthetic-{task}', b.task, reader, DEFAULT_VIDEOS,
        dict(train='train', val='val'),
        f'{b.protocol}; on the synthetic videos (fast preset, not comparable '
        'with the paper)',
        dict(paper=paper, fast=dict(b.settings['fast'],
                                    reader_args=reader_args, **fast)),
        metrics, deviations=b.deviations)


def _synthetic_registry() -> Dict[str, Benchmark]:
    frames = dict(frame_step=4, max_videos=None)
    videos = dict(max_videos=None)
    b = [
        _on_frames('hummingbird', 'voc-hummingbird', 'synthetic_frames',
                   ('mIoU 1/1', ), frames, fractions=(1, ), input_size=None),
        _on_frames('linear', 'voc-linear', 'synthetic_frames', ('mIoU', ),
                   dict(frame_step=4), input_size=None, iters=200,
                   batch_size=8, lr=0.05,
                   config='configs/benchmarks/mmseg/linear_synthetic.py'),
        # the backbone's normalisation and numpy PCA rows: the settings of
        # the measured mini / demo numbers (docs/mini_reproduction.md)
        _on_frames('overcluster', 'voc-overcluster', 'synthetic_frames',
                   ('mIoU K=C', 'mIoU K=4C'), frames, input_size=None,
                   mask_size=None, ks=None, mean=None, std=None,
                   pca_subsample='numpy'),
        _on_frames('videoclust', 'davis-videoclust', 'synthetic_videos',
                   ('mIoU frame', 'mIoU clip'), videos, input_size=None,
                   eval_size=None, mode=('frame', 'clip')),
        _on_frames('propagate', 'davis-propagate', 'synthetic_videos',
                   ('J&F', 'J', 'F'), videos, input_size=None),
    ]
    return {x.task: x for x in b}


#: task -> the protocol on the demo's synthetic frame folders. Settings of
#: None: input_size = the backbone's img_size, a mask / eval size = the
#: input size, ks = (C, 4C) for C classes.
SYNTHETIC_BENCHMARKS: Dict[str, Benchmark] = _synthetic_registry()


def default_root(bench: Benchmark, preset: str) -> str:
    """The data root when none is given: the benchmark's own for the paper
    preset; for the fast preset synthetic data in the dataset's layout
    (written on first use) or the demo's synthetic videos."""
    if preset == 'fast' and bench.dataset in FAST_LAYOUTS:
        return synthetic_layout(bench.dataset)
    if bench.dataset.startswith('synthetic'):
        return ensure_synthetic_videos(bench.data_root)
    return bench.data_root


def run_benchmark(name: Union[str, Benchmark], vit: torch.nn.Module,
                  info: dict, data_root: Optional[str] = None,
                  preset: str = 'paper', progress: bool = True,
                  work_dir: Optional[str] = None,
                  overrides: Optional[dict] = None) -> dict:
    """Run one benchmark on a frozen backbone.

    Args:
        name: a key of :data:`BENCHMARKS` or a :class:`Benchmark` (e.g. of
            :data:`SYNTHETIC_BENCHMARKS`).
        vit, info: from :func:`.features.build_backbone` (``info`` needs
            mean, std, img_size, and for the linear benchmarks
            ``backbone_cfg``).
        data_root: dataset root (default: :func:`default_root`).
        preset: 'paper' | 'fast'.
        overrides: settings replaced on top of the preset (named in the
            result's ``settings``).

    Returns:
        dict(benchmark, preset, arch, metrics {name: [0, 1]}, reference
        {metric: {'DINOv2', 'MoSiC'}} (x100), settings, notes, protocol).
    """
    if isinstance(name, Benchmark):
        bench = name
        if preset not in bench.settings:
            raise ValueError(f'preset must be one of '
                             f'{tuple(bench.settings)}, got {preset!r}')
        s = copy.deepcopy(bench.settings[preset])
    else:
        s = settings_of(name, preset)  # (unknown name / preset: errors)
        bench = BENCHMARKS[name]
    s.update(overrides or {})
    root = data_root or default_root(bench, preset)
    arch = detect_arch(vit)
    metrics, notes = RUNNERS[bench.task](
        bench, vit, info, root, s, progress, work_dir=work_dir,
        backbone_cfg=info.get('backbone_cfg'))
    if not data_root and preset == 'fast' and bench.dataset in FAST_LAYOUTS:
        notes.append(f'synthetic {bench.dataset} layout (no data root given)')
    ref = reference_numbers(bench.name, arch) if bench.name in BENCHMARKS \
        else {}
    return dict(benchmark=bench.name, preset=preset, arch=arch,
                data_root=root, metrics=metrics, reference=ref,
                reference_source=bench.reference_source,
                protocol=bench.protocol, settings=s, notes=notes,
                deviations=list(bench.deviations))
