"""Named paper benchmarks (issue 12): each fixes its dataset, split, input
size, protocol function and settings, and holds the paper's reference
numbers, so ``tools/evaluate.py bench NAME MODEL`` gives a number that sits
beside the MoSiC paper's tables.

Two presets, never confused (docs/evaluation.md): ``'paper'`` = the
settings the MoSiC authors ran (every constant below), ``'fast'`` = the
same code at CPU/test sizes (tiny inputs, few probe iterations, no memory
cap). A result always carries the preset it used.

Reference numbers (mIoU x100, DINOv2 start vs MoSiC, ViT-S/14 and ViT-B/14)
each carry their own source (:data:`_REFERENCES`, :func:`reference_sources`),
printed beside them. A source that starts with :data:`UNVERIFIED` was not
read from a primary source (the MoSiC paper, arXiv 2506.08694, or the
SMSD75/MoSiC README); such a number is never printed as the paper's.
docs/evaluation.md lists them per table cell. A ``None`` is a number no
source gives.

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
           'detect_arch', 'reference_numbers', 'reference_sources',
           'is_verified', 'UNVERIFIED', 'run_benchmark', 'settings_of',
           'default_root']

PRESETS = ('paper', 'fast')

_S, _B = 'ViT-S/14', 'ViT-B/14'

#: the prefix of the source of every number not read from a primary source
UNVERIFIED = 'unverified: secondary summary'
#: the secondary summary all reference numbers were taken from; the MoSiC
#: paper's tables could not be read here and SMSD75/MoSiC README@fed4637
#: gives no numbers (docs/evaluation.md)
SUMMARY = ('en.papernotes.org/ICCV2025/self_supervised/mosic_optimal-'
           'transport_motion_trajectory_for_dense_self-supervised_learning')


def _summary(row: str, col: str) -> str:
    """Source of a number that only :data:`SUMMARY` gives."""
    return f'{UNVERIFIED} ({SUMMARY}, table "Main Results", row "{row}", ' \
        f'column "{col}")'


def _summary_b14(what: str) -> str:
    """Source of a ViT-B/14 number, which :data:`SUMMARY` gives in its text
    below the table."""
    return f'{UNVERIFIED} ({SUMMARY}, "Main Results" text: "MoSiC-B14 ' \
        f'... {what}")'


_ICL, _VSS = 'In-context Scene Understanding', \
    'Unsupervised Video Semantic Seg.'
_NECO_78_9 = (
    'not given: the 78.9 the secondary summary puts here is, in '
    'vpariza/NeCo README@fccbdfd (and earlier; table "some of our results '
    'on Pascal VOC 2012 based on DINOv2 backbone", row "DINOv2 | ViT-S/14", '
    'column "linear"), NeCo post-trained from DINOv2 ViT-S/14, not DINOv2 '
    '(README@3932160 now gives 81.4 there); the MoSiC paper\'s DINOv2 '
    'number was not found')


def _s14(metric: str, row: str, dino: float, mosic: float) -> list:
    """The ViT-S/14 DINOv2 and MoSiC rows of one row of :data:`SUMMARY`."""
    return [(metric, _S, 'DINOv2', dino, _summary(row, 'DINOv2-S14')),
            (metric, _S, 'MoSiC', mosic, _summary(row, 'MoSiC-S14'))]


#: benchmark -> rows (metric, arch, model, value x100 or None, source): the
#: one home of the reference numbers and where each comes from.
_REFERENCES = {
    'voc-hummingbird': [
        *_s14('mIoU 1/128', f'{_ICL} | Pascal VOC (1/128)', 56.0, 62.5),
        *_s14('mIoU 1/1', f'{_ICL} | Pascal VOC (1/1)', 77.0, 78.2),
        ('mIoU 1/128', _B, 'MoSiC', 65.5,
         _summary_b14('Pascal VOC in-context (1/128) reaches 65.5')),
        ('mIoU 1/1', _B, 'MoSiC', 80.5,
         _summary_b14('and (1/1) reaches 80.5'))],
    'ade-hummingbird': _s14('mIoU 1/1', f'{_ICL} | ADE20K (1/1)', 38.8,
                            40.7),
    'voc-linear': [
        ('mIoU', _S, 'DINOv2', None, _NECO_78_9),
        ('mIoU', _S, 'MoSiC', 79.7,
         _summary('Linear Segmentation | Pascal VOC', 'MoSiC-S14'))],
    'ade-linear': _s14('mIoU', 'Linear Segmentation | ADE20K', 37.9, 39.6),
    'voc-overcluster': _s14('mIoU K=500',
                            'Frozen Clustering | Pascal VOC (K=500)', 58.6,
                            60.2),
    'davis-videoclust': _s14('mIoU', f'{_VSS} | DAVIS (F-Clustering)', 57.4,
                             58.9),
    'ytvos-videoclust': _s14('mIoU', f'{_VSS} | YTVOS (F-Clustering)', 56.3,
                             60.6),
}


#: how a primary source starts: a table of the paper, or the official
#: README at a commit (e.g. "arXiv 2506.08694v2 Table 1, row '...', column
#: '...'")
PRIMARY = ('arXiv 2506.08694', 'SMSD75/MoSiC README@')


def is_verified(source: Optional[str]) -> bool:
    """Whether a reference number's ``source`` is a primary one (None, no
    source, is not)."""
    return bool(source) and source.startswith(PRIMARY)


def _refs(name: str) -> dict:
    """reference / reference_source of benchmark ``name`` from
    :data:`_REFERENCES`: {arch: {metric: {'DINOv2', 'MoSiC'}}}, every model
    of a listed metric present for both archs (None / no source where no
    row gives it)."""
    rows = _REFERENCES.get(name, [])
    metrics = list(dict.fromkeys(r[0] for r in rows))
    ref = {a: {m: dict(DINOv2=None, MoSiC=None) for m in metrics}
           for a in (_S, _B)} if rows else {}
    src = {a: {m: {} for m in metrics} for a in (_S, _B)} if rows else {}
    for metric, arch, model, value, source in rows:
        ref[arch][metric][model] = value
        src[arch][metric][model] = source
    return dict(reference=ref, reference_source=src)


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
        reference_source: the same keys -> where each number comes from
            (:func:`is_verified`); both from :func:`_refs`.
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
    reference_source: Dict[str, Dict[str, Dict[str, str]]] = field(
        default_factory=dict)
    deviations: Tuple[str, ...] = ()


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
            **_refs('voc-hummingbird'), deviations=_HB_DEV),
        Benchmark(
            'ade-hummingbird', 'hummingbird', 'ade20k',
            'data/ade/ADEChallengeData2016',
            dict(train='training', val='validation'),
            'Hummingbird in-context segmentation (ADE20K, label 0 ignored) '
            'as MoSiC hummingbird_eval.sh / open-hummingbird-eval',
            _hb_settings((1, )), ('mIoU 1/1', ),
            **_refs('ade-hummingbird'), deviations=_HB_DEV),
        Benchmark(
            'voc-linear', 'linear', 'voc2012', 'data/VOCdevkit/VOC2012',
            dict(train='train + aug', val='val'),
            'NeCo linear segmentation (vpariza/NeCo), which MoSiC reports; '
            'configs/benchmarks/mmseg/linear_vit{s,b}14_voc12aug.py',
            dict(paper=dict(_LINEAR), fast=dict(_LINEAR_FAST)), ('mIoU', ),
            **_refs('voc-linear'),
            deviations=('mmseg Runner + BNLinearHead instead of NeCo\'s '
                        'Lightning module (same 448 px input, 100x100 '
                        'scoring, SGD 0.01, 25 epochs)', )),
        Benchmark(
            'ade-linear', 'linear', 'ade20k', 'data/ade/ADEChallengeData2016',
            dict(train='training', val='validation'),
            'NeCo linear segmentation (ADE20K, 150 classes, 0 ignored); '
            'configs/benchmarks/mmseg/linear_vit{s,b}14_ade20k.py',
            dict(paper=dict(_LINEAR), fast=dict(_LINEAR_FAST)), ('mIoU', ),
            **_refs('ade-linear'),
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
            **_refs('voc-overcluster'),
            deviations=('K = 100/300/500 cluster with 50/100/200 faiss '
                        'centroids as the official code does '
                        '(OFFICIAL_KMEANS_CENTROIDS)', )),
        Benchmark(
            'davis-videoclust', 'videoclust', 'davis2017', 'data/DAVIS',
            dict(val='val'),
            "TimeT's video clustering (SMSD75/Timetuning evaluation.py, "
            'frame-wise, K=10), which MoSiC reports',
            dict(paper=dict(vc), fast=dict(vc, input_size=56, eval_size=56)),
            ('mIoU', ), **_refs('davis-videoclust'),
            deviations=('seeded frame sampling (TimeT: unseeded '
                        'random.sample)', )),
        Benchmark(
            'ytvos-videoclust', 'videoclust', 'ytvos2019', 'data/youtube_vos',
            dict(val='valid'),
            "TimeT's video clustering on YouTube-VOS 2019 (category labels "
            'from meta.json), frame-wise, K=10',
            dict(paper=dict(vc), fast=dict(vc, input_size=56, eval_size=56)),
            ('mIoU', ), **_refs('ytvos-videoclust'),
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
            ('J&F', 'J', 'F'),
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


def reference_sources(name: str, arch: Optional[str]
                      ) -> Dict[str, Dict[str, str]]:
    """{metric: {'DINOv2': source, 'MoSiC': source}} of the numbers of
    :func:`reference_numbers` (a model without a number may lack one)."""
    if name not in BENCHMARKS:
        raise KeyError(f'unknown benchmark {name!r}')
    if arch is None:
        return {}
    return copy.deepcopy(BENCHMARKS[name].reference_source.get(arch, {}))


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
        {metric: {'DINOv2', 'MoSiC'}} (x100), reference_source (the same
        keys: each number's source), settings, notes, protocol).
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
    known = bench.name in BENCHMARKS
    ref = reference_numbers(bench.name, arch) if known else {}
    src = reference_sources(bench.name, arch) if known else {}
    return dict(benchmark=bench.name, preset=preset, arch=arch,
                data_root=root, metrics=metrics, reference=ref,
                reference_source=src,
                protocol=bench.protocol, settings=s, notes=notes,
                deviations=list(bench.deviations))
