"""Tensorboard pictures of training: tracks, PCA-RGB features, clusters."""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mosic_mm.registry import HOOKS
from mosic_mm.visualization import clip_outputs, clip_panels, panel_grid


@HOOKS.register_module()
class MoSiCVisualizationHook(Hook):
    """Every ``interval`` iterations, draws the first clip of the training
    batch and adds three images to ``runner.visualizer`` (tensorboard,
    ``vis_data/vis_image``): ``train_tracks`` (tracks coloured by the
    teacher's Sinkhorn cluster, the training target), ``train_pca_features``
    (PCA-RGB of the student's patch features) and ``train_clusters`` (the
    teacher's cluster of every patch).

    Runs on every rank (Sinkhorn all-reduces over ranks); only rank 0
    writes. Uses no random numbers, so it does not change the run.

    Args:
        interval (int): iterations between pictures. Defaults to 50.
        max_frames (int): frames shown per clip. Defaults to 6.
        scale (int): integer upscaling of the pictures. Defaults to 2.
        assign (str): 'sinkhorn' or 'argmax' cluster assignment.
    """
    priority = 'LOW'

    def __init__(self, interval: int = 50, max_frames: int = 6,
                 scale: int = 2, assign: str = 'sinkhorn'):
        if int(interval) != interval or interval < 1:
            raise ValueError('MoSiCVisualizationHook: interval must be a '
                             f'positive int, got {interval!r}')
        if assign not in ('sinkhorn', 'argmax'):
            raise ValueError("MoSiCVisualizationHook: assign must be "
                             f"'sinkhorn' or 'argmax', got {assign!r}")
        self.interval = int(interval)
        self.max_frames = max_frames
        self.scale = scale
        self.assign = assign

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs=None) -> None:
        if data_batch is None or not self.every_n_train_iters(
                runner, self.interval):
            return
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        sample = data_batch['data_samples'][0]
        if 'tracks' not in sample:
            return
        raw = data_batch['inputs'][0]  # uint8 [T,3,H,W]
        with torch.no_grad():
            inputs = model.data_preprocessor(
                dict(inputs=[raw], data_samples=[sample]), False)['inputs'][0]
            out = clip_outputs(model, inputs, sample.tracks.to(inputs.device),
                               assign=self.assign)
        panels = clip_panels(raw.permute(0, 2, 3, 1).cpu().numpy(),
                             sample.tracks.cpu().numpy(),
                             sample.visibility.cpu().numpy(), out,
                             scale=self.scale, max_frames=self.max_frames)
        grids = panel_grid(panels)
        step = runner.iter + 1
        runner.visualizer.add_image('train_tracks', grids['tracks'], step)
        runner.visualizer.add_image('train_pca_features', grids['pca'], step)
        runner.visualizer.add_image('train_clusters', grids['clusters'], step)
