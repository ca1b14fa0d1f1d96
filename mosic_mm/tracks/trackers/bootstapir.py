"""BootsTAPIR (and TAPIR): a learned point tracker with Apache-2.0 code and
weights (google-deepmind/tapnet), run by the project's own PyTorch port
(:mod:`mosic_mm.tracks.tapir`)."""
import os.path as osp
from typing import Optional, Tuple

import numpy as np

from mosic_mm.registry import TRACKERS

from .base import BaseTracker

__all__ = ['BootsTAPIR', 'TAPIR_WEIGHTS']

#: where the released weights are (docs/tracks.md)
TAPIR_WEIGHTS = (
    'the Apache-2.0 checkpoints of google-deepmind/tapnet (its README): '
    'https://storage.googleapis.com/dm-tapnet/bootstap/'
    'bootstapir_checkpoint_v2.pt (offline), https://storage.googleapis.com/'
    'dm-tapnet/bootstap/causal_bootstapir_checkpoint.pt (online), '
    'https://storage.googleapis.com/dm-tapnet/tapir_checkpoint_panning.pt '
    '(TAPIR); download one into checkpoints/ and pass checkpoint=PATH '
    '(docs/tracks.md)')
_DTYPES = ('float32', 'bfloat16', 'float16')


@TRACKERS.register_module()
class BootsTAPIR(BaseTracker):
    """BootsTAPIR (Doersch et al. 2024) behind the project's tracker
    interface.

    Queries ``(t, x, y)`` with pixel centres at integers (docs/conventions
    .md) become TAPIR's ``(t, y, x)`` with the origin at the top-left
    pixel's corner, in the model's ``resolution``; frames are resized to it
    (antialiased bilinear, ``[-1, 1]``) and the tracks mapped back:
    ``x_model = (x + 0.5) * w / W`` and ``x = x_model * W / w - 0.5``.
    Visible where TAPIR's own rule holds, ``(1 - sigmoid(occlusion)) * (1 -
    sigmoid(expected_dist)) > 0.5``; with ``pin_query_frame`` a point is
    also visible at its query frame and lies exactly at its query there
    (what ``track_grid`` does for frame 0 anyway).

    Args:
        checkpoint (str): the released PyTorch checkpoint of ``variant``,
            loaded strictly (a missing file or a key / shape mismatch is an
            error naming the file and the first differing keys).
        variant (str): 'bootstapir' (offline, default), 'causal_bootstapir'
            (online: frame by frame with memory independent of the clip
            length; tracks every query from frame 0) or 'tapir'.
        resolution (tuple[int, int]): the model's input (H, W), 256 x 256
            as the released models were trained; larger inputs refine at
            log-spaced sizes up to it.
        query_chunk_size (int): queries per model call (memory bound).
        pin_query_frame (bool): see above. Defaults to True.
        device (str, optional): None -> 'cuda' when available, else 'cpu'.
        dtype (str): 'float32' (default); 'bfloat16' / 'float16' run the
            model (and the query coordinates) in half precision, on CUDA
            only (refused on the CPU); tools/lab/gpu_check.sh measures
            their distance from the fp32 tracks.
        random_weights_seed (int, optional): instead of a checkpoint, the
            model's own random initialisation under this seed (tests and
            benchmarks; the tracks mean nothing). The caller's random state
            is left as it was.
    """

    def __init__(self,
                 checkpoint: Optional[str] = None,
                 variant: str = 'bootstapir',
                 resolution: Tuple[int, int] = (256, 256),
                 query_chunk_size: int = 64,
                 pin_query_frame: bool = True,
                 device: Optional[str] = None,
                 dtype: str = 'float32',
                 random_weights_seed: Optional[int] = None):
        self.check_cfg(dict(checkpoint=checkpoint, variant=variant,
                            dtype=dtype, device=device,
                            random_weights_seed=random_weights_seed))
        if len(resolution) != 2 or any(int(s) != s or s < 8 or s % 8
                                       for s in resolution):
            raise ValueError('BootsTAPIR: resolution must be (H, W), '
                             f'multiples of 8, got {resolution!r}')
        if int(query_chunk_size) != query_chunk_size or query_chunk_size < 1:
            raise ValueError('BootsTAPIR: query_chunk_size must be a '
                             f'positive int, got {query_chunk_size!r}')
        self.checkpoint = checkpoint
        self.variant = variant
        self.resolution = (int(resolution[0]), int(resolution[1]))
        self.query_chunk_size = int(query_chunk_size)
        self.pin_query_frame = bool(pin_query_frame)
        self.device = device
        self.dtype = dtype
        self.random_weights_seed = random_weights_seed
        self._model = None

    @staticmethod
    def check_cfg(cfg) -> None:
        """Raise, saying how to get the weights, when no checkpoint (and no
        ``random_weights_seed``) is given or the file is missing; refuse
        half precision on the CPU (cheap; called when a pipeline is
        built)."""
        from mosic_mm.tracks.tapir import TAPIR_VARIANTS
        variant = cfg.get('variant', 'bootstapir')
        if variant not in TAPIR_VARIANTS:
            raise ValueError(f'BootsTAPIR: variant must be one of '
                             f'{sorted(TAPIR_VARIANTS)}, got {variant!r}')
        dtype = cfg.get('dtype', 'float32')
        if dtype not in _DTYPES:
            raise ValueError(f'BootsTAPIR: dtype must be one of {_DTYPES}, '
                             f'got {dtype!r}')
        if dtype != 'float32':
            import torch
            device = cfg.get('device') or ('cuda' if torch.cuda.is_available()
                                           else 'cpu')
            if not str(device).startswith('cuda'):
                raise ValueError(f'BootsTAPIR: dtype={dtype!r} runs on CUDA '
                                 'only (on the CPU the tracks drift beyond '
                                 "the tolerance): use dtype='float32'")
        if cfg.get('random_weights_seed') is not None:
            return
        ckpt = cfg.get('checkpoint')
        if ckpt is None:
            raise FileNotFoundError(f'BootsTAPIR needs checkpoint=PATH: '
                                    f'{TAPIR_WEIGHTS}')
        if not osp.isfile(ckpt):
            raise FileNotFoundError(f'BootsTAPIR checkpoint {ckpt} does not '
                                    f'exist: {TAPIR_WEIGHTS}')

    def _device(self):
        import torch
        if self.device is not None:
            return torch.device(self.device)
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')

    @property
    def model(self):
        """The TAPIR model, built on first use on ``device`` in ``dtype``,
        in eval mode."""
        if self._model is None:
            import torch

            from mosic_mm.tracks.tapir import build_tapir
            if self.random_weights_seed is not None:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(self.random_weights_seed)
                    model = build_tapir(self.variant)
            else:
                model = build_tapir(self.variant, self.checkpoint)
            self._model = model.to(self._device(),
                                   getattr(torch, self.dtype)).eval()
        return self._model

    def __getstate__(self):
        state = self.__dict__.copy()
        state['_model'] = None  # rebuilt lazily in each worker
        return state

    def _video(self, frames: np.ndarray):
        """uint8 [T,H,W,3] -> float [1,T,h,w,3] in [-1, 1] at the model's
        resolution, on its device and dtype."""
        import torch

        from mosic_mm.datasets.resize import resize_frames
        h, w = self.resolution
        if frames.shape[1:3] != (h, w):
            frames = resize_frames(frames, (h, w), 'bilinear')
        video = torch.from_numpy(np.ascontiguousarray(frames)).to(
            self._device())
        return (video.float() / 127.5 - 1.0).to(
            getattr(torch, self.dtype))[None]

    def _track(self, frames: np.ndarray,
               queries: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        import torch

        from mosic_mm.tracks.tapir import visible
        T, H, W = frames.shape[:3]
        N = queries.shape[0]
        tracks = np.zeros((T, N, 2), np.float32)
        visibility = np.zeros((T, N), bool)
        if N == 0:
            return tracks, visibility
        h, w = self.resolution
        sx, sy = w / W, h / H
        q = np.stack([queries[:, 0], (queries[:, 2] + 0.5) * sy,
                      (queries[:, 1] + 0.5) * sx], 1)  # (t, y, x) corner
        model = self.model
        video = self._video(frames)
        points = torch.from_numpy(q.astype(np.float32)).to(
            video.device, video.dtype)[None]
        with torch.no_grad():
            if self.variant == 'causal_bootstapir':
                out = model.track_online(
                    video, points, query_chunk_size=self.query_chunk_size)
            else:
                out = model(video, points,
                            query_chunk_size=self.query_chunk_size)
        xy = out['tracks'][0].float().cpu().numpy()  # [N, T, 2] (x, y)
        vis = visible(out['occlusion'][0], out['expected_dist'][0])
        tracks[..., 0] = xy[..., 0].T / sx - 0.5
        tracks[..., 1] = xy[..., 1].T / sy - 0.5
        visibility[:] = vis.cpu().numpy().T
        if self.pin_query_frame:
            t = queries[:, 0].astype(np.int64)
            n = np.arange(N)
            tracks[t, n] = queries[:, 1:3]
            visibility[t, n] = True
        return tracks, visibility

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(checkpoint={self.checkpoint!r}, '
                f'variant={self.variant!r}, resolution={self.resolution}, '
                f'query_chunk_size={self.query_chunk_size}, '
                f'pin_query_frame={self.pin_query_frame}, '
                f'device={self.device!r}, dtype={self.dtype!r})')
