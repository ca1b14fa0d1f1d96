"""The linear segmentation protocol (NeCo's, which MoSiC reports) as an
mmsegmentation config run in-process by an mmengine Runner on the MODEL's
frozen backbone: ``configs/benchmarks/mmseg/linear_vit{s,b}14_{voc12aug,
ade20k}.py`` for the real datasets, ``linear_synthetic.py`` for the
synthetic frame folders. The fast presets (``settings['iters']``) run the
same config for a few iterations at small sizes."""
import copy
import os
import os.path as osp
import tempfile
import uuid

import torch

from .features import detect_arch, input_size

__all__ = ['linear_config', 'run_linear']

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: mmseg config of each dataset reader ({w}: 's' or 'b', the ViT width)
MMSEG_CONFIGS = {'voc2012': 'linear_vit{w}14_voc12aug.py',
                 'ade20k': 'linear_vit{w}14_ade20k.py',
                 'synthetic_frames': 'linear_synthetic.py'}


def linear_config(bench, vit, info, root, s, work_dir, backbone_cfg,
                ckpt_path):
    """The mmseg linear config for this benchmark and model."""
    from mmengine.config import Config
    if bench.dataset not in MMSEG_CONFIGS:
        raise ValueError(f'{bench.name}: no mmseg linear config for the '
                         f'{bench.dataset!r} data '
                         f'({", ".join(MMSEG_CONFIGS)})')
    width = {'ViT-S/14': 's', 'ViT-B/14': 'b'}.get(detect_arch(vit), 's')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'benchmarks', 'mmseg',
                                   MMSEG_CONFIGS[bench.dataset].format(
                                       w=width)))
    size = input_size(s, info)
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
    # experiment_name (default: config name + time in seconds), unless the
    # config names the visualizer ('visualizer' in seg_runtime.py): a
    # second probe in this process would log and draw into the first one's
    # instances, i.e. into its (maybe deleted) work_dir
    cfg.experiment_name = f'{bench.name}_{uuid.uuid4().hex[:12]}'
    if cfg.get('visualizer'):
        cfg.visualizer.name = cfg.experiment_name

    def set_pipeline(pipeline):
        for t in pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (size, size)
            if t['type'] == 'ResizeSegMap':
                t['size'] = s['score_size']

    def set_root(ds_cfg, split):
        if ds_cfg.get('type') == 'ConcatDataset':
            for d in ds_cfg['datasets']:
                set_root(d, split)
            return
        ds_cfg['data_root'] = root
        if ds_cfg.get('type') == 'SyntheticSegDataset':   # frame folders
            reader = s.get('reader_args', {})
            ds_cfg.update(split=split, frame_step=reader.get('frame_step', 1))
        set_pipeline(ds_cfg['pipeline'])

    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dl = cfg[name]
        set_root(dl.dataset, bench.splits['train' if name.startswith('train')
                                          else 'val'])
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


def run_linear(bench, vit, info, root, s, progress, work_dir=None,
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
        cfg = linear_config(bench, vit, info, root, s, work_dir,
                            backbone_cfg, ckpt)
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
