"""Packing a clip and its tracks into model inputs."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpretrain.structures import DataSample

from mosic_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackTrackInputs(BaseTransform):
    """Pack ``imgs`` and tracks for the data preprocessor and the model.

    Required keys: ``imgs`` uint8 ``[T, H, W, 3]``. Optional: ``tracks``
    float32 ``[T, N, 2]`` and ``visibility`` bool ``[T, N]`` (both or
    neither).

    Returns ``dict(inputs, data_samples)``: ``inputs`` contiguous uint8 tensor
    ``[T, 3, H, W]``; ``data_samples`` a :class:`DataSample` with data fields
    ``tracks`` (float32 tensor ``[T, N, 2]``) and ``visibility`` (bool tensor
    ``[T, N]``) and metainfo from the ``meta_keys`` present in ``results``.
    """

    def __init__(self, meta_keys: Sequence[str] = ('video_id', 'frame_inds',
                                                   'img_shape', 'ori_shape',
                                                   'flip', 'crop_bbox')):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        imgs = results.get('imgs')
        if imgs is None or np.ndim(imgs) != 4:
            raise KeyError('PackTrackInputs needs results["imgs"] uint8 '
                           '[T, H, W, C]')
        inputs = torch.from_numpy(np.ascontiguousarray(imgs)).permute(
            0, 3, 1, 2).contiguous()

        sample = DataSample()
        has_tracks = results.get('tracks') is not None
        if has_tracks != (results.get('visibility') is not None):
            raise KeyError('PackTrackInputs needs both "tracks" and '
                           '"visibility" or neither')
        if has_tracks:
            tracks = torch.from_numpy(
                np.ascontiguousarray(results['tracks'], dtype=np.float32))
            vis = torch.from_numpy(
                np.ascontiguousarray(results['visibility'], dtype=bool))
            if tuple(vis.shape) != tuple(tracks.shape[:2]) or \
                    tracks.shape[0] != inputs.shape[0]:
                raise ValueError(
                    f'PackTrackInputs: imgs {tuple(imgs.shape)}, tracks '
                    f'{tuple(tracks.shape)} and visibility {tuple(vis.shape)}'
                    ' disagree (expected [T,H,W,3], [T,N,2], [T,N])')
            sample.set_field(tracks, 'tracks', dtype=torch.Tensor)
            sample.set_field(vis, 'visibility', dtype=torch.Tensor)
        sample.set_metainfo(
            {k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
