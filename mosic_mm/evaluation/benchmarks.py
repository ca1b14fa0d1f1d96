"""Named paper benchmarks (issue 12): each fixes its dataset, split, input
size, protocol function and settings, and holds the paper's reference
numbers, so ``tools/evaluate.py bench NAME MODEL`` gives a number that sits
beside the MoSiC paper's tables.

Two presets, never confused (docs/evaluation.md): ``'paper'`` = the settings the
MoSiC authors ran (every constant below), ``'fast'`` = the same pipeline at
CPU/test sizes (tiny inputs, few probe iterations, no memory cap). A result
always carries the preset it used.

Reference numbers (mIoU x100) are the MoSiC (ICCV 2025, arXiv 2506.08694)
tables for ViT-S/14 (DINOv2 start vs MoSiC) and ViT-B/14 (MoSiC in-context VOC
only) as a secondary source reports them, not yet checked against the paper;
docs/evaluation.md lists them per table cell. A ``None`` is a number that
source does not give.

Datasets are read with :mod:`.paper_data` (real layouts); the protocol code
lives in its own modules: :func:`.hummingbird_paper.hummingbird_paper_miou`,
:func:`.overclustering.overcluster_paper`,
:func:`.video_clustering.video_clustering_paper` + ``timet_batches``,
:func:`.label_propagation.propagate_labels` + :mod:`.davis_metrics`, and the
mmseg linear configs ``configs/benchmarks/mmseg/linear_vit{s,b}14_*.py``
(NeCo's protocol) run in-process by an mmengine Runner.
"""
import copy
import os
import os.path as osp
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

__all__ = ['Benchmark', 'BENCHMARKS', 'PRESETS', 'detect_arch',
           'reference_numbers', 'run_benchmark', 'settings_of']

PRESETS = ('paper', 'fast')
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

_S, _B = 'ViT-S/14', 'ViT-B/14'
_SRC = ('MoSiC paper tables as a secondary source reports them, not yet '
        'checked against the paper (docs/evaluation.md)')
# ImageNet normalisation on the 0..255 scale
_IMNET_MEAN = (123.675, 116.28, 103.53)
_IMNET_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class Benchmark:
    """One named benchmark.

    Attributes:
        name: registry key, e.g. ``'voc-hummingbird'``.
        task: 'hummingbird' | 'linear' | 'overcluster' | 'videoclust' |
            'propagate'.
        dataset: reader of :mod:`.paper_data` ('voc2012', 'ade20k',
            'davis2017', 'ytvos2019').
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


def detect_arch(vit: torch.nn.Module) -> Optional[str]:
    """'ViT-S/14' (width 384), 'ViT-B/14' (768) for a patch-14 ViT, else
    None (no paper reference applies)."""
    from mosic_mm.models.utils import vit_patch_size
    width = getattr(vit, 'embed_dims', None) or getattr(vit, 'embed_dim',
                                                        None)
    try:
        patch = vit_patch_size(vit)
    except Exception:  # noqa: BLE001  (not a ViT we know: no reference)
        return None
    patch = patch[0] if isinstance(patch, (tuple, list)) else patch
    if patch != 14:
        return None
    return {384: _S, 768: _B}.get(int(width) if width else -1)


def reference_numbers(name: str, arch: Optional[str]
                      ) -> Dict[str, Dict[str, Optional[float]]]:
    """{metric: {'DINOv2': x100 | None, 'MoSiC': x100 | None}} of the paper
    for ``arch``; {} when the arch has no reference."""
    if name not in BENCHMARKS:
        raise KeyError(f'unknown benchmark {name!r}')
    if arch is None:
        return {}
    return copy.deepcopy(BENCHMARKS[name].reference.get(arch, {}))


# ------------------------------------------------------------------ runners
def _reader(bench: Benchmark, root: str, split: str):
    from . import paper_data
    return getattr(paper_data, bench.dataset)(root, split)


def _load_all(image_set, indices, size: int, progress: bool, desc: str
              ) -> Tuple[List[np.ndarray], np.ndarray]:
    """Images (original size) and masks resized (PIL nearest) to size."""
    from tqdm import tqdm

    from .data import resize_masks
    imgs, masks = [], []
    for i in tqdm(indices, desc=desc, unit='img', leave=False,
                  disable=not progress):
        img, m = image_set.load(i)
        imgs.append(img)
        masks.append(resize_masks(m[None], size)[0])
    return imgs, np.stack(masks)


def _split_file(root: str, name: str) -> Optional[str]:
    for sub in ('sets', osp.join('ImageSets', 'Segmentation')):
        p = osp.join(root, sub, name + '.txt')
        if osp.isfile(p):
            return p
    return None


def _run_hummingbird(bench, vit, info, root, s, progress, **_):
    from .hummingbird_paper import hummingbird_paper_miou, split_subset
    train = _reader(bench, root, bench.splits['train'])
    val = _reader(bench, root, bench.splits['val'])
    out, notes = {}, []
    for d in s['fractions']:
        name = f'{bench.splits["train"]}_{d}_{s["split_seed"]}'
        sub, desc = split_subset(train, _split_file(root, name),
                                 None if d == 1 else d, s['split_seed'])
        notes.append(f'1/{d}: {desc}')
        r = hummingbird_paper_miou(
            vit, info, sub, val, input_size=s['input_size'],
            memory_size=s['memory_size'],
            augmentation_epochs=s['augmentation_epochs'], k=s['k'],
            temperature=s['temperature'], seed=s['seed'], index=s['index'],
            batch_size=s['batch_size'], progress=progress)
        out[f'mIoU 1/{d}'] = float(r['mIoU'])
    return out, notes


def _run_overcluster(bench, vit, info, root, s, progress, **_):
    from .features import extract_features
    from .overclustering import overcluster_paper
    val = _reader(bench, root, bench.splits['val'])
    n = len(val) if s['num_images'] is None else min(s['num_images'],
                                                     len(val))
    imgs, masks = _load_all(val, range(n), s['mask_size'], progress,
                            'overcluster: images')
    feats = extract_features(vit, imgs, s['input_size'], info['mean'],
                             info['std'], progress=progress,
                             distributed=True)
    res = overcluster_paper(feats, masks, val.num_classes, ks=s['ks'],
                            pca_dim=s['pca_dim'], niter=s['niter'],
                            seed=s['seed'], ignore_index=val.ignore_index)
    return ({f'mIoU K={k}': r['mIoU'] for k, r in res.items()},
            [f'{n} val images'])


def _run_videoclust(bench, vit, info, root, s, progress, **_):
    from .features import extract_features
    from .video_clustering import timet_batches, video_clustering_paper
    vs = _reader(bench, root, bench.splits['val'])
    mean = tuple(255 * m for m in s['mean'])
    std = tuple(255 * x for x in s['std'])

    def extract(frames):
        return extract_features(vit, frames, s['input_size'], mean, std)
    from tqdm import tqdm
    batches = timet_batches(vs, extract, batch_size=s['batch_size'],
                            num_frames=s['num_frames'], seed=s['clip_seed'],
                            eval_size=s['eval_size'])
    total = -(-len(vs) // s['batch_size'])
    batches = tqdm(batches, total=total, desc=f'{bench.name}: batches',
                   leave=False, disable=not progress)
    r = video_clustering_paper(batches, mode=s['mode'],
                               num_clusters=s['num_clusters'],
                               pca_dim=s['pca_dim'], niter=s['niter'],
                               nredo=s['nredo'], seed=s['kmeans_seed'])
    return {'mIoU': float(r['mIoU'])}, [f'{len(vs)} videos, '
                                        f'{r["units"]} units']


def _run_propagate(bench, vit, info, root, s, progress, **_):
    from tqdm import tqdm

    from mosic_mm.models.utils import vit_patch_size

    from .davis_metrics import evaluate_video, jf_summary
    from .features import extract_features
    from .label_propagation import propagate_labels
    vs = _reader(bench, root, bench.splits['val'])
    p = vit_patch_size(vit)
    p = p[0] if isinstance(p, (tuple, list)) else p
    per_video = {}
    for v in tqdm(vs.videos, desc=f'{bench.name}: videos', unit='video',
                  leave=False, disable=not progress):
        frames, masks = vs.load(v)
        if isinstance(s['input_size'], int):
            size = s['input_size']
        else:                              # native, multiple of the patch
            H, W = frames.shape[1:3]
            size = (max(p, H // p * p), max(p, W // p * p))
        feats = extract_features(vit, frames, size, info['mean'],
                                 info['std'], s['batch_size'])
        pred = propagate_labels(feats, masks[0], s['n_context'], s['radius'],
                                s['topk'], s['temperature'])
        per_video[v] = evaluate_video(masks, pred)
    js = jf_summary(per_video)
    return {'J&F': js['J&F'], 'J': js['J'], 'F': js['F']}, [
        f'{len(vs)} videos']


def _linear_cfg(bench, vit, info, root, s, work_dir, backbone_cfg,
                ckpt_path):
    """The mmseg linear config for this benchmark and model."""
    from mmengine.config import Config
    ds = {'voc2012': 'voc12aug', 'ade20k': 'ade20k'}[bench.dataset]
    width = {_S: 's', _B: 'b'}.get(detect_arch(vit), 's')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'benchmarks', 'mmseg',
                                   f'linear_vit{width}14_{ds}.py'))
    size = s['input_size']
    bb = copy.deepcopy(dict(backbone_cfg))
    if '.' not in bb.get('type', 'VisionTransformer'):
        bb['type'] = 'mmpretrain.' + bb.get('type', 'VisionTransformer')
    depth = len(vit.layers) if hasattr(vit, 'layers') else None
    bb.update(img_size=size, out_type='featmap', final_norm=True,
              init_cfg=dict(type='Pretrained', checkpoint=ckpt_path,
                            prefix='backbone.'))
    if depth is not None:
        bb['frozen_stages'] = depth
    cfg.model.backbone = bb
    cfg.model.data_preprocessor.size = (size, size)
    cfg.model.data_preprocessor.mean = list(info['mean'])
    cfg.model.data_preprocessor.std = list(info['std'])
    cfg.model.decode_head.in_channels = int(
        getattr(vit, 'embed_dims', cfg.model.decode_head.in_channels))
    cfg.work_dir = work_dir
    # mmengine names the run's logger and visualizer instances after
    # experiment_name (default: config name + time in seconds): a second
    # probe started within the same second would log and draw into the
    # first one's instances, i.e. into its work_dir
    cfg.experiment_name = f'{bench.name}_{uuid.uuid4().hex[:12]}'

    def set_pipeline(pipeline):
        for t in pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (size, size)
            if t['type'] == 'ResizeSegMap':
                t['size'] = s['score_size']

    def set_root(ds_cfg):
        if ds_cfg.get('type') == 'ConcatDataset':
            for d in ds_cfg['datasets']:
                set_root(d)
            return
        ds_cfg['data_root'] = root
        set_pipeline(ds_cfg['pipeline'])

    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dl = cfg[name]
        set_root(dl.dataset)
        set_pipeline(dl.dataset.get('pipeline', []))
    cfg.train_dataloader.batch_size = s['batch_size']
    if s.get('iters'):                       # fast preset
        cfg.model.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
        for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[name].num_workers = 0
            cfg[name].persistent_workers = False
        cfg.train_dataloader.sampler = dict(type='InfiniteSampler',
                                            shuffle=True)
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=s['iters'],
                             val_interval=10 ** 9)
        cfg.param_scheduler = [dict(type='CosineAnnealingLR',
                                    T_max=s['iters'], eta_min=0.0,
                                    by_epoch=False)]
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                            by_epoch=False,
                                            interval=10 ** 9)
        cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
        cfg.log_processor = dict(by_epoch=False)
        cfg.env_cfg = dict(cudnn_benchmark=False,
                           mp_cfg=dict(mp_start_method='fork',
                                       opencv_num_threads=0),
                           dist_cfg=dict(backend='gloo'))
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook',
                                           draw=False)
    cfg.launcher = 'pytorch' if _dist_on() else 'none'
    if _dist_on() and not torch.cuda.is_available():
        from mosic_mm.utils.dist import cpu_ddp_config
        cpu_ddp_config(cfg)
    return cfg


def _dist_on() -> bool:
    return torch.distributed.is_available() and \
        torch.distributed.is_initialized()


def _run_linear(bench, vit, info, root, s, progress, work_dir=None,
                backbone_cfg=None, **_):
    """Train + test the mmseg linear probe on the MODEL's frozen backbone
    (its weights are written to a temporary backbone file)."""
    from mmengine.runner import Runner
    if backbone_cfg is None:
        raise ValueError(f'{bench.name} needs the model\'s backbone config '
                         '(info["backbone_cfg"] from build_backbone)')
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix=f'{bench.name}-')
        work_dir = tmp.name
    os.makedirs(work_dir, exist_ok=True)
    ckpt = osp.join(work_dir, 'backbone.pth')
    from mmengine import dist
    if dist.get_rank() == 0:
        torch.save({'state_dict': {f'backbone.{k}': v.detach().cpu()
                                   for k, v in vit.state_dict().items()}},
                   ckpt)
    dist.barrier()
    try:
        cfg = _linear_cfg(bench, vit, info, root, s, work_dir, backbone_cfg,
                          ckpt)
        runner = Runner.from_cfg(cfg)
        runner.train()
        metrics = runner.test()
    finally:
        if tmp is not None:
            dist.barrier()
            if dist.get_rank() == 0:
                tmp.cleanup()
    return {'mIoU': float(metrics['mIoU']) / 100.0}, [
        f'mmseg {osp.basename(cfg.filename)}']


_RUNNERS: Dict[str, Callable] = dict(
    hummingbird=_run_hummingbird, overcluster=_run_overcluster,
    videoclust=_run_videoclust, propagate=_run_propagate, linear=_run_linear)


def run_benchmark(name: str, vit: torch.nn.Module, info: dict,
                  data_root: Optional[str] = None, preset: str = 'paper',
                  progress: bool = True, work_dir: Optional[str] = None,
                  overrides: Optional[dict] = None) -> dict:
    """Run one named benchmark on a frozen backbone.

    Args:
        vit, info: from :func:`.features.build_backbone` (``info`` needs
            mean, std, and for the linear benchmarks ``backbone_cfg``).
        data_root: dataset root (default: the benchmark's).
        preset: 'paper' | 'fast'.
        overrides: settings replaced on top of the preset (named in the
            result's ``settings``).

    Returns:
        dict(benchmark, preset, arch, metrics {name: [0, 1]}, reference
        {metric: {'DINOv2', 'MoSiC'}} (x100), settings, notes, protocol).
    """
    s = settings_of(name, preset)      # (unknown name / preset: errors)
    bench = BENCHMARKS[name]
    s.update(overrides or {})
    root = data_root or bench.data_root
    arch = detect_arch(vit)
    metrics, notes = _RUNNERS[bench.task](
        bench, vit, info, root, s, progress, work_dir=work_dir,
        backbone_cfg=info.get('backbone_cfg'))
    return dict(benchmark=name, preset=preset, arch=arch, data_root=root,
                metrics=metrics, reference=reference_numbers(name, arch),
                reference_source=bench.reference_source,
                protocol=bench.protocol, settings=s, notes=notes,
                deviations=list(bench.deviations))
