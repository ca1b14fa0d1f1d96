"""The one table of benchmarks: each names a protocol, an evaluation
dataset with its splits and default root, the settings that define it
beside the protocol's paper values, and its metrics; the paper's numbers
are :mod:`.references`.

Two presets of every benchmark, never confused (docs/evaluation.md):
``'paper'`` runs the protocol's paper settings (with the benchmark's own),
``'fast'`` the same code at CPU sizes (the protocol's size-only ``FAST``,
then the benchmark's). A result always carries the preset it used. The
``synthetic-*`` benchmarks are the protocols on the demo's synthetic frame
folders (the demo's and the mini reproduction's tables); without a data
root the fast preset of a paper benchmark runs on synthetic data in its
dataset's layout (:func:`~.data.default_root`).
"""
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch

from .data import (
    DEFAULT_VIDEOS,
    FAST_LAYOUTS,
    default_root,
    ensure_synthetic_videos,
)
from .features import detect_arch
from .protocol import EvalData, ProtocolSettings
from .protocols import PROTOCOLS
from .references import reference_numbers, reference_sources

__all__ = ['Benchmark', 'BENCHMARKS', 'PRESETS', 'benchmark_settings',
           'run_benchmark', 'get_benchmark']

PRESETS = ('paper', 'fast')


@dataclass(frozen=True)
class Benchmark:
    """One named benchmark.

    Attributes:
        name: table key, e.g. ``'voc-hummingbird'``.
        protocol: a key of :data:`~.protocols.PROTOCOLS`.
        dataset: a key of :data:`~.data.EVAL_DATASETS`.
        data_root: default root (``data_root=`` / ``--data-root``
            overrides).
        splits: {'train': split, 'val': split} passed to the reader.
        description: which paper / code the benchmark reproduces.
        metrics: the result keys (fractions in [0, 1]).
        settings: settings of the protocol that define this benchmark,
            under both presets (e.g. ADE20K's single 1/1 fraction).
        fast: size settings of the fast preset beyond the protocol's.
        reader_args: arguments of the dataset reader.
        deviations: where ours differs from the authors' code.
    """
    name: str
    protocol: str
    dataset: str
    data_root: str
    splits: Mapping[str, str]
    description: str
    metrics: Tuple[str, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    fast: Mapping[str, Any] = field(default_factory=dict)
    reader_args: Mapping[str, Any] = field(default_factory=dict)
    deviations: Tuple[str, ...] = ()

    @property
    def Settings(self) -> type:
        return PROTOCOLS[self.protocol].Settings

    def settings_for(self, preset: str = 'paper',
                     overrides: Optional[Mapping[str, Any]] = None
                     ) -> ProtocolSettings:
        """The settings this benchmark runs with under ``preset``, with
        ``overrides`` on top (an unknown key is an error naming it)."""
        if preset not in PRESETS:
            raise ValueError(f'preset must be one of {PRESETS}, got '
                             f'{preset!r}')
        s = self.Settings().replace(self.settings, f'benchmark {self.name}')
        if preset == 'fast':
            self.Settings.check_keys(self.fast, f'benchmark {self.name} fast',
                                     sizes_only=True)
            s = dataclasses.replace(s.fast(), **self.fast)
        return s.replace(overrides, f'benchmark {self.name}')


_HB_DEV = ('exact search instead of ScaNN (index="ivf" is the approximate '
           'option, recall measured)',
           'split files: the official trainaug_128_42.txt / '
           'training_128_42.txt when present under the data root, else a '
           'generated class-balanced split of the same size (logged, named '
           'in the result)')
_LINEAR_DEV = (
    'mmseg Runner + BNLinearHead (BatchNorm, then a 1x1 conv) instead of '
    "NeCo's Lightning module, whose head is a 1x1 conv only "
    '(linear_finetune.py:251)',
    'batch 8 instead of NeCo\'s 128 (configs/pascal/dinov2.yml:17), no '
    'weight decay instead of 1e-4 (linear_finetune.py:273), cosine '
    'schedule instead of StepLR x0.1 at epoch 20 (dinov2.yml:25)')


def _table() -> Dict[str, Benchmark]:
    frames = dict(frame_step=4, max_videos=None)
    videos = dict(max_videos=None)
    synthetic = ' on the synthetic videos (not comparable with the paper)'
    b = [
        Benchmark(
            'voc-hummingbird', 'hummingbird', 'voc2012',
            'data/VOCdevkit/VOC2012', dict(train='trainaug', val='val'),
            'Hummingbird in-context segmentation as MoSiC hummingbird_eval.sh '
            '/ open-hummingbird-eval (Balazevic et al. 2023)',
            ('mIoU 1/128', 'mIoU 1/1'), deviations=_HB_DEV),
        Benchmark(
            'ade-hummingbird', 'hummingbird', 'ade20k',
            'data/ade/ADEChallengeData2016',
            dict(train='training', val='validation'),
            'Hummingbird in-context segmentation (ADE20K, label 0 ignored) '
            'as MoSiC hummingbird_eval.sh / open-hummingbird-eval',
            ('mIoU 1/1', ), settings=dict(fractions=(1, )),
            deviations=_HB_DEV),
        Benchmark(
            'voc-linear', 'linear', 'voc2012', 'data/VOCdevkit/VOC2012',
            dict(train='train + aug', val='val'),
            'NeCo linear segmentation (vpariza/NeCo), which MoSiC reports; '
            'configs/benchmarks/mmseg/linear_vit{s,b}14_voc12aug.py',
            ('mIoU', ), deviations=_LINEAR_DEV),
        Benchmark(
            'ade-linear', 'linear', 'ade20k', 'data/ade/ADEChallengeData2016',
            dict(train='training', val='validation'),
            'NeCo linear segmentation (ADE20K, 150 classes, 0 ignored); '
            'configs/benchmarks/mmseg/linear_vit{s,b}14_ade20k.py',
            ('mIoU', ), deviations=_LINEAR_DEV),
        Benchmark(
            'voc-overcluster', 'overcluster', 'voc2012',
            'data/VOCdevkit/VOC2012', dict(val='val'),
            'Overclustering as MoSiC utils/clustering.py + eval_metrics.py '
            'PredsmIoU (Leopart / NeCo): first 500 VOC val images at 224 px',
            ('mIoU K=21', 'mIoU K=100', 'mIoU K=300', 'mIoU K=500'),
            deviations=('K = 100/300/500 cluster with 50/100/200 faiss '
                        'centroids as the official code does '
                        '(OFFICIAL_KMEANS_CENTROIDS)',
                        'the first 500 val images; the official loader '
                        'draws 500 shuffled ones (evaluation.py:433, '
                        'data_loader.py:1160)')),
        Benchmark(
            'davis-videoclust', 'videoclust', 'davis2017', 'data/DAVIS',
            dict(val='val'),
            "TimeT's video clustering (SMSD75/Timetuning evaluation.py, "
            'frame-wise, K=10), which MoSiC reports', ('mIoU', ),
            deviations=('seeded numpy frame sampling (TimeT: random.sample '
                        'after random.seed(1))', )),
        Benchmark(
            'ytvos-videoclust', 'videoclust', 'ytvos2019', 'data/youtube_vos',
            dict(val='valid'),
            "TimeT's video clustering on YouTube-VOS 2019 (category labels "
            'from meta.json), frame-wise, K=10', ('mIoU', ),
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
            ('J&F', 'J', 'F'), reader_args=dict(resolution='480p'),
            deviations=('frames resized to a multiple of the patch (14) '
                        'instead of DINO\'s /8 or /16', )),
        # the protocols on the demo's synthetic frame folders: the
        # backbone's own input size (None) at the fast preset
        Benchmark(
            'synthetic-hummingbird', 'hummingbird', 'synthetic_frames',
            DEFAULT_VIDEOS, dict(train='train', val='val'),
            'Hummingbird in-context segmentation' + synthetic,
            ('mIoU 1/1', ), settings=dict(fractions=(1, )),
            fast=dict(input_size=None), reader_args=frames,
            deviations=_HB_DEV),
        Benchmark(
            'synthetic-linear', 'linear', 'synthetic_frames', DEFAULT_VIDEOS,
            dict(train='train', val='val'),
            'linear segmentation (configs/benchmarks/mmseg/'
            'linear_synthetic.py)' + synthetic, ('mIoU', ),
            settings=dict(lr=0.05),
            fast=dict(input_size=None, iters=200, batch_size=8),
            reader_args=dict(frame_step=4), deviations=_LINEAR_DEV),
        # the backbone's normalisation and numpy PCA rows: the settings of
        # the measured mini / demo numbers (docs/mini_reproduction.md)
        Benchmark(
            'synthetic-overcluster', 'overcluster', 'synthetic_frames',
            DEFAULT_VIDEOS, dict(train='train', val='val'),
            'overclustering (K = C and 4C for C classes)' + synthetic,
            ('mIoU K=C', 'mIoU K=4C'),
            settings=dict(ks=None, mean=None, std=None,
                          pca_subsample='numpy'),
            fast=dict(input_size=None, mask_size=None), reader_args=frames),
        Benchmark(
            'synthetic-videoclust', 'videoclust', 'synthetic_videos',
            DEFAULT_VIDEOS, dict(train='train', val='val'),
            'video clustering per frame and per clip' + synthetic,
            ('mIoU frame', 'mIoU clip'), settings=dict(mode=('frame', 'clip')),
            fast=dict(input_size=None, eval_size=None), reader_args=videos),
        Benchmark(
            'synthetic-propagate', 'propagate', 'synthetic_videos',
            DEFAULT_VIDEOS, dict(train='train', val='val'),
            'label propagation J&F' + synthetic, ('J&F', 'J', 'F'),
            fast=dict(input_size=None), reader_args=videos),
    ]
    return {x.name: x for x in b}


#: name -> benchmark
BENCHMARKS: Dict[str, Benchmark] = _table()


def get_benchmark(name: Union[str, Benchmark]) -> Benchmark:
    if isinstance(name, Benchmark):
        return name
    if name not in BENCHMARKS:
        raise KeyError(f'unknown benchmark {name!r}; known: '
                       f'{", ".join(BENCHMARKS)}')
    return BENCHMARKS[name]


def benchmark_settings(name: Union[str, Benchmark], preset: str = 'paper',
                       overrides: Optional[Mapping[str, Any]] = None
                       ) -> ProtocolSettings:
    """The settings a benchmark runs with under ``preset``."""
    return get_benchmark(name).settings_for(preset, overrides)


def run_benchmark(name: Union[str, Benchmark], vit: torch.nn.Module,
                  info: dict, data_root: Optional[str] = None,
                  preset: str = 'paper', progress: bool = True,
                  work_dir: Optional[str] = None,
                  overrides: Optional[Mapping[str, Any]] = None,
                  splits: Optional[Mapping[str, str]] = None,
                  reader_args: Optional[Mapping[str, Any]] = None) -> dict:
    """Run one benchmark on a frozen backbone.

    Args:
        name: a key of :data:`BENCHMARKS` (or a :class:`Benchmark`).
        vit, info: from :func:`.features.build_backbone` (``info`` needs
            mean, std, img_size, and for the linear probe ``backbone_cfg``).
        data_root: dataset root (default: :func:`~.data.default_root`).
        preset: 'paper' | 'fast'.
        overrides: settings replaced on top of the preset (an unknown key,
            or one the protocol does not read, is an error naming it).
        splits: replace the benchmark's splits.
        reader_args: new values of the benchmark's reader arguments (keys
            its reader does not take are left out: ``frame_step`` concerns
            the frame readers only).

    Returns:
        dict(benchmark, preset, arch, data_root, metrics {name: [0, 1]},
        reference {metric: {'DINOv2', 'MoSiC'}} (x100), reference_source
        (the same keys: each number's source), settings, notes, protocol,
        deviations).
    """
    bench = get_benchmark(name)
    s = bench.settings_for(preset, overrides)
    root = data_root or default_root(bench.dataset, preset, bench.data_root)
    if bench.dataset.startswith('synthetic'):
        root = ensure_synthetic_videos(root)  # the demo's root: written
    reader = dict(bench.reader_args)
    reader.update({k: v for k, v in (reader_args or {}).items()
                   if k in reader})
    data = EvalData(bench.dataset, root, dict(splits or bench.splits),
                    reader)
    metrics, notes = PROTOCOLS[bench.protocol](s).run(
        vit, info, data, progress=progress, work_dir=work_dir)
    if not data_root and preset == 'fast' and bench.dataset in FAST_LAYOUTS:
        notes.append(f'synthetic {bench.dataset} layout (no data root given)')
    arch = detect_arch(vit)
    return dict(benchmark=bench.name, preset=preset, arch=arch,
                data_root=root, metrics=metrics,
                reference=reference_numbers(bench.name, arch),
                reference_source=reference_sources(bench.name, arch),
                protocol=bench.description, settings=s.to_dict(),
                notes=notes, deviations=list(bench.deviations))
