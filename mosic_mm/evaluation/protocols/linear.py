"""The linear segmentation protocol (NeCo's, which MoSiC reports) as an
mmsegmentation config run in-process by an mmengine Runner on the MODEL's
frozen backbone: ``configs/benchmarks/mmseg/linear_vit{s,b}14_{voc12aug,
ade20k}.py`` for the real datasets, ``linear_synthetic.py`` for the
synthetic frame folders. The settings are written into the config (input
and scoring size, batch, SGD lr and momentum, epochs); the fast preset
(``iters``) runs the same config for a few iterations at small sizes."""
import copy
import os
import os.path as osp
import tempfile
import uuid
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch

from ..features import detect_arch
from ..protocol import (
    EvalData,
    Protocol,
    ProtocolSettings,
    resolve_input_size,
    setting,
)

__all__ = ['LinearSettings', 'LinearProbe', 'linear_config']

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
_NECO = 'vpariza/NeCo@3932160 experiments/linear_segmentation'


@dataclass(frozen=True)
class LinearSettings(ProtocolSettings):
    """NeCo's linear segmentation (paper values where ours follows it;
    docs/reproduction.md names where it does not)."""
    input_size: Optional[int] = setting(
        448, f'{_NECO}/configs/pascal/dinov2.yml:10 (None: the backbone\'s '
        'img_size)', size=True)
    score_size: int = setting(100, f'{_NECO}/linear_finetune.py:264-265',
                              size=True)
    batch_size: int = setting(
        8, f'ours (NeCo: 128, {_NECO}/configs/pascal/dinov2.yml:17)',
        size=True)
    lr: float = setting(0.01, f'{_NECO}/configs/pascal/dinov2.yml:22')
    momentum: float = setting(0.9, f'{_NECO}/linear_finetune.py:274')
    epochs: int = setting(25, f'{_NECO}/configs/pascal/dinov2.yml:24')
    iters: Optional[int] = setting(
        None, 'ours: None trains epochs; an int trains that many '
        'iterations (cosine to 0, no validation) instead', size=True)

    FAST = dict(input_size=56, score_size=28, iters=20, batch_size=4)
#: mmseg config of each dataset reader ({w}: 's' or 'b', the ViT width)
MMSEG_CONFIGS = {'voc2012': 'linear_vit{w}14_voc12aug.py',
                 'ade20k': 'linear_vit{w}14_ade20k.py',
                 'synthetic_frames': 'linear_synthetic.py'}


def linear_config(data: EvalData, vit, info, s: LinearSettings,
                  work_dir: str, backbone_cfg: dict, ckpt_path: str):
    """The mmseg linear config for this data and model."""
    from mmengine.config import Config
    if data.dataset not in MMSEG_CONFIGS:
        raise ValueError(f'no mmseg linear config for the {data.dataset!r} '
                         f'data ({", ".join(MMSEG_CONFIGS)})')
    width = {'ViT-S/14': 's', 'ViT-B/14': 'b'}.get(detect_arch(vit), 's')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'benchmarks', 'mmseg',
                                   MMSEG_CONFIGS[data.dataset].format(
                                       w=width)))
    size = resolve_input_size(s.input_size, info)
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
    cfg.experiment_name = f'linear_{data.dataset}_{uuid.uuid4().hex[:12]}'
    if cfg.get('visualizer'):
        cfg.visualizer.name = cfg.experiment_name

    def set_pipeline(pipeline):
        for t in pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (size, size)
            if t['type'] == 'ResizeSegMap':
                t['size'] = s.score_size

    def set_root(ds_cfg, split):
        if ds_cfg.get('type') == 'ConcatDataset':
            for d in ds_cfg['datasets']:
                set_root(d, split)
            return
        ds_cfg['data_root'] = data.root
        if ds_cfg.get('type') == 'SyntheticSegDataset':   # frame folders
            ds_cfg.update(split=split,
                          frame_step=data.reader_args.get('frame_step', 1))
        set_pipeline(ds_cfg['pipeline'])

    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dl = cfg[name]
        set_root(dl.dataset, data.splits['train' if name.startswith('train')
                                          else 'val'])
        set_pipeline(dl.dataset.get('pipeline', []))
    cfg.train_dataloader.batch_size = s.batch_size
    cfg.optim_wrapper.optimizer.update(lr=s.lr, momentum=s.momentum)
    if not s.iters:
        cfg.train_cfg.max_epochs = s.epochs
        for sched in cfg.param_scheduler:
            if sched.get('by_epoch') and 'T_max' in sched:
                sched.T_max = s.epochs
    else:                                    # fast preset
        cfg.model.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
        for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[name].num_workers = 0
            cfg[name].persistent_workers = False
        cfg.train_dataloader.sampler = dict(type='InfiniteSampler',
                                            shuffle=True)
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=s.iters,
                             val_interval=10 ** 9)
        cfg.param_scheduler = [dict(type='CosineAnnealingLR',
                                    T_max=s.iters, eta_min=0.0,
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


class LinearProbe(Protocol):
    """A BN + 1x1 conv head trained on the frozen backbone (mmseg config,
    in-process Runner; the backbone's weights go to a temporary file);
    metric ``mIoU`` of the config's test loop."""
    name = 'linear'
    Settings = LinearSettings

    def run(self, vit, info: dict, data: EvalData, progress: bool = True,
            work_dir: Optional[str] = None
            ) -> Tuple[Dict[str, float], List[str]]:
        from mmengine import dist
        from mmengine.runner import Runner

        from mosic_mm.utils.config import registry_scope
        backbone_cfg = info.get('backbone_cfg')
        if backbone_cfg is None:
            raise ValueError('the linear probe needs the model\'s backbone '
                             'config (info["backbone_cfg"] from '
                             'build_backbone)')
        tmp = None
        if work_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix='linear-')
            work_dir = tmp.name
        os.makedirs(work_dir, exist_ok=True)
        ckpt = osp.join(work_dir, 'backbone.pth')
        if dist.get_rank() == 0:
            torch.save({'state_dict': {f'backbone.{k}': v.detach().cpu()
                                       for k, v in vit.state_dict().items()}},
                       ckpt)
        dist.barrier()
        try:
            cfg = linear_config(data, vit, info, self.settings, work_dir,
                                backbone_cfg, ckpt)
            with registry_scope(cfg):
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
