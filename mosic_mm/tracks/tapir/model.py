"""The TAPIR point tracker (TAPIR, BootsTAPIR and causal BootsTAPIR).

Conventions (all methods):

* ``video``: float ``[B, T, H, W, 3]``, RGB scaled to ``[-1, 1]``.
* ``query_points``: ``[B, N, 3]`` rows ``(t, y, x)``: frame index, then
  row and column in pixels of the video, origin at the top-left corner of
  the top-left pixel (pixel centres at ``+0.5``).
* ``tracks``: ``[B, N, T, 2]`` ``(x, y)`` in the same pixel frame.
* ``occlusion`` / ``expected_dist``: logits ``[B, N, T]``; higher means
  more likely occluded / farther than a few pixels from the truth.
  ``(1 - sigmoid(occlusion)) * (1 - sigmoid(expected_dist)) > 0.5`` is the
  usual visibility decision (:func:`visible`).

The first estimate is made at ``initial_resolution`` (256 x 256, the
training size); it is then refined ``refinement_iterations`` times at each
refinement resolution (by default: see
:func:`~.ops.default_refinement_resolutions`).
"""
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn

from . import ops
from .nets import CostVolumeHead, ExtraConvs, PipsMixer, ResNet

__all__ = ['FeatureGrids', 'QueryFeatures', 'OnlineState', 'TAPIR', 'visible']


def visible(occlusion: torch.Tensor,
            expected_dist: torch.Tensor) -> torch.Tensor:
    """TAPIR's visibility decision from its logits (any equal shapes, e.g.
    ``[B, N, T]``): ``(1 - sigmoid(occlusion)) * (1 - sigmoid(
    expected_dist)) > 0.5``, computed in fp32."""
    return ((1 - torch.sigmoid(occlusion.float()))
            * (1 - torch.sigmoid(expected_dist.float())) > 0.5)

Resolution = Tuple[int, int]
Context = Dict[str, torch.Tensor]


class FeatureGrids(NamedTuple):
    """Unit-norm feature maps of a video, one entry per resolution used
    (the initial one first, then each refinement resolution).

    ``lowres[i]``: [B, T, h/8, w/8, 256]; ``hires[i]``: [B, T, h/4, w/4,
    128]; ``resolutions[i]``: the (h, w) the video was resized to.
    """
    lowres: Tuple[torch.Tensor, ...]
    hires: Tuple[torch.Tensor, ...]
    resolutions: Tuple[Resolution, ...]


class QueryFeatures(NamedTuple):
    """Features of the query points, one entry per resolution as in
    :class:`FeatureGrids`: ``lowres[i]`` [B, N, 256], ``hires[i]``
    [B, N, 128]."""
    lowres: Tuple[torch.Tensor, ...]
    hires: Tuple[torch.Tensor, ...]
    resolutions: Tuple[Resolution, ...]


@dataclass
class OnlineState:
    """What the causal model carries from one chunk of frames to the next.

    ``context[i]`` belongs to refinement iteration ``i`` and maps
    ``'block_{j}_causal_{1,2}'`` to [B, N, kernel - 1, C] (the last inputs
    of mixer block ``j``'s two temporal convs). Its size does not grow
    with the number of frames seen.
    """
    query_features: QueryFeatures
    context: List[Context]
    frames_seen: int = 0


class TAPIR(nn.Module):
    """TAPIR / BootsTAPIR point tracker.

    Released configurations (see :data:`~.weights.TAPIR_VARIANTS`):
    TAPIR ``TAPIR(pyramid_level=0, extra_convs=False)``, BootsTAPIR
    ``TAPIR()`` (= ``pyramid_level=1, extra_convs=True``), online
    BootsTAPIR ``TAPIR(causal=True)``.

    Args:
        pyramid_level: extra 2x-pooled levels of the low-resolution grid
            correlated during refinement (0 for TAPIR, 1 for BootsTAPIR).
        extra_convs: BootsTAPIR's five extra conv blocks on the
            low-resolution features.
        causal: refinement convolutions only look at past frames, so the
            model can track online (:meth:`online_step`).
        refinement_iterations: refinement steps per resolution.
        softmax_temperature: scale of the heatmap logits before the
            softmax of the initial estimate (20, as in tapnet's PyTorch
            port; tapnet's JAX BootsTAPIR configs use 10).
        initial_resolution: (h, w) of the initial estimate.
        feature_chunk_size: frames encoded at once (memory only; 0 or
            None: all).
        normalize_x_by_height: reproduce tapnet's PyTorch port, which
            scales x by the grid height when sampling refinement
            neighbourhoods; only differs on non-square refinement
            resolutions, where it is wrong. Off by default.
    """

    highres_dim = 128
    lowres_dim = 256
    neighbourhood_radius = 3
    soft_argmax_radius = 5.0

    def __init__(self,
                 pyramid_level: int = 1,
                 extra_convs: bool = True,
                 causal: bool = False,
                 refinement_iterations: int = 4,
                 softmax_temperature: float = 20.0,
                 initial_resolution: Sequence[int] = (256, 256),
                 feature_chunk_size: Optional[int] = 10,
                 normalize_x_by_height: bool = False):
        super().__init__()
        if any(int(s) % 8 for s in initial_resolution):
            raise ValueError('initial_resolution must be multiples of 8, '
                             f'got {tuple(initial_resolution)}')
        self.pyramid_level = int(pyramid_level)
        self.causal = bool(causal)
        self.refinement_iterations = int(refinement_iterations)
        self.softmax_temperature = float(softmax_temperature)
        self.initial_resolution = (int(initial_resolution[0]),
                                   int(initial_resolution[1]))
        self.feature_chunk_size = feature_chunk_size
        self.normalize_x_by_height = bool(normalize_x_by_height)

        self.resnet_torch = ResNet(channels=(64, self.highres_dim, 256,
                                             self.lowres_dim))
        self.torch_cost_volume_track_mods = CostVolumeHead()
        state_dim = 4 + self.highres_dim + self.lowres_dim
        side = 2 * self.neighbourhood_radius + 1
        corr_dim = (self.pyramid_level + 2) * side * side
        self.torch_pips_mixer = PipsMixer(state_dim + corr_dim, state_dim,
                                          causal=self.causal)
        self.extra_convs = ExtraConvs() if extra_convs else None

    # ------------------------------------------------------------------
    # Features
    # ------------------------------------------------------------------
    def _encode(self, frames: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """[B, T, H, W, 3] -> unit-norm (lowres [B, T, H/8, W/8, 256],
        hires [B, T, H/4, W/4, 128])."""
        b, t = frames.shape[:2]
        images = frames.reshape(b * t, *frames.shape[2:]).permute(0, 3, 1, 2)
        step = self.feature_chunk_size or images.shape[0]
        low_parts, high_parts = [], []
        for start in range(0, images.shape[0], step):
            hires, lowres = self.resnet_torch(images[start:start + step])
            lowres = lowres.permute(0, 2, 3, 1)
            if self.extra_convs is not None:
                lowres = self.extra_convs(lowres)
            low_parts.append(ops.l2_normalize(lowres))
            high_parts.append(ops.l2_normalize(hires.permute(0, 2, 3, 1)))
        lowres = torch.cat(low_parts)
        hires = torch.cat(high_parts)
        return (lowres.reshape(b, t, *lowres.shape[1:]),
                hires.reshape(b, t, *hires.shape[1:]))

    def resolutions_for(
            self,
            video_hw: Sequence[int],
            refinement_resolutions: Optional[Sequence[Sequence[int]]] = None
    ) -> Tuple[Resolution, ...]:
        """The initial resolution followed by the refinement resolutions
        (given, or the defaults for a video of ``video_hw``)."""
        if refinement_resolutions is None:
            refinement_resolutions = ops.default_refinement_resolutions(
                video_hw, self.initial_resolution)
        out = [self.initial_resolution]
        out += [(int(r[0]), int(r[1])) for r in refinement_resolutions]
        for r in out:
            if r[0] % 8 or r[1] % 8:
                raise ValueError(
                    f'resolutions must be multiples of 8, got {r}')
        return tuple(out)

    def get_feature_grids(
        self,
        video: torch.Tensor,
        refinement_resolutions: Optional[Sequence[Sequence[int]]] = None
    ) -> FeatureGrids:
        """Feature maps of ``video`` [B, T, H, W, 3] at every resolution
        the trajectory estimate needs (each distinct one computed once;
        the video is used unresized where a resolution equals its size)."""
        video_hw = tuple(video.shape[2:4])
        resolutions = self.resolutions_for(video_hw, refinement_resolutions)
        cache = {}
        for res in resolutions:
            if res not in cache:
                frames = (video if res == video_hw else
                          ops.resize_video(video, res))
                cache[res] = self._encode(frames)
        return FeatureGrids(tuple(cache[r][0] for r in resolutions),
                            tuple(cache[r][1] for r in resolutions),
                            resolutions)

    def get_query_features(
        self,
        video: torch.Tensor,
        query_points: torch.Tensor,
        feature_grids: Optional[FeatureGrids] = None,
        refinement_resolutions: Optional[Sequence[Sequence[int]]] = None
    ) -> QueryFeatures:
        """Features of ``query_points`` [B, N, 3] (t, y, x) sampled from
        ``video``'s feature grids (computed here unless given; then
        ``video`` only provides its shape)."""
        if feature_grids is None:
            feature_grids = self.get_feature_grids(video,
                                                   refinement_resolutions)
        shape_thw = tuple(video.shape[1:4])
        low, high = [], []
        for i, res in enumerate(feature_grids.resolutions):
            if i > 0 and res == feature_grids.resolutions[i - 1]:
                low.append(low[-1])
                high.append(high[-1])
                continue
            for grid, out in ((feature_grids.lowres[i], low),
                              (feature_grids.hires[i], high)):
                pos = ops.rescale(query_points, shape_thw, grid.shape[1:4])
                out.append(ops.sample_query_features(grid, pos))
        return QueryFeatures(tuple(low), tuple(high),
                             tuple(feature_grids.resolutions))

    # ------------------------------------------------------------------
    # Trajectories
    # ------------------------------------------------------------------
    def _initial_tracks(
        self, query_lowres: torch.Tensor, grid: torch.Tensor,
        query_tyx: Optional[torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Cost-volume estimate: query features [B, n, C] against the
        initial-resolution grid [B, T, h, w, C]. Returns points
        [B, n, T, 2] (x, y at ``initial_resolution``), occlusion and
        expected-distance logits [B, n, T]. Where ``query_tyx`` (at
        ``initial_resolution``) is given, a query's own frame gets the
        query position."""
        b, t, h, w, c = grid.shape
        n = query_lowres.shape[1]
        cost = torch.matmul(query_lowres[:, None], grid.reshape(b, t, h * w, c)
                            .transpose(-1, -2))  # [B, T, n, h*w]
        cost = cost.transpose(1, 2).reshape(b * n * t, 1, h, w)
        heat, logits = self.torch_cost_volume_track_mods(cost)
        heat = torch.softmax(heat.reshape(b * n * t, h * w) *
                             self.softmax_temperature, dim=-1)
        points = ops.soft_argmax(heat.reshape(b, n, t, h, w),
                                 self.soft_argmax_radius)
        h0, w0 = self.initial_resolution
        points = ops.rescale(points, (w, h), (w0, h0))
        if query_tyx is not None:
            frame = torch.arange(t, device=grid.device, dtype=query_tyx.dtype)
            on_query = torch.round(query_tyx[:, :, None, 0]) == frame
            points = torch.where(on_query[..., None],
                                 query_tyx[:, :, None, 1:].flip(-1), points)
        logits = logits.reshape(b, n, t, 2)
        return points, logits[..., 0], logits[..., 1]

    def _refine(self, queries: List[torch.Tensor], grids: List[torch.Tensor],
                points: torch.Tensor, occlusion: torch.Tensor,
                expected_dist: torch.Tensor, feats: Optional[torch.Tensor],
                resolution: Resolution, context: Optional[Context]):
        """One refinement step at ``resolution``.

        ``queries``/``grids``: per pyramid level (hires, lowres, pooled
        lowres...) query features [B, n, C] and grids [B, T, h, w, C];
        ``points`` [B, n, T, 2] at ``initial_resolution``; ``feats``
        [B, n, T, 384] the running per-frame query features (None on a
        resolution's first step: the query features are used). Returns
        updated (points, occlusion, expected_dist, feats, context).
        """
        b, n, t = occlusion.shape
        h0, w0 = self.initial_resolution
        corrs = []
        for level, (query, grid) in enumerate(zip(queries, grids)):
            gh, gw = grid.shape[2:4]
            centres = ops.rescale(points, (w0, h0), (gw, gh))
            patch = ops.sample_neighbourhoods(grid, centres,
                                              self.neighbourhood_radius,
                                              self.normalize_x_by_height)
            if feats is None:
                q = query[:, :, None, :, None]
            elif level == 0:
                q = feats[..., :self.highres_dim, None]
            else:
                q = feats[..., self.highres_dim:, None]
            corrs.append(torch.matmul(patch, q)[..., 0])  # [B, n, T, S]
        if feats is None:
            feats = torch.cat([queries[0], queries[1]], dim=-1)
            feats = feats[:, :, None].expand(b, n, t, feats.shape[-1])
        x = torch.cat([points.new_zeros(b, n, t, 2), occlusion[..., None],
                       expected_dist[..., None], feats] + corrs, dim=-1)
        if context is not None:
            context = {k: v.flatten(0, 1) for k, v in context.items()}
        out, new_context = self.torch_pips_mixer(x.flatten(0, 1), context)
        out = out.unflatten(0, (b, n))
        new_context = {k: v.unflatten(0, (b, n))
                       for k, v in new_context.items()}
        delta = ops.rescale(out[..., :2], resolution[::-1], (w0, h0))
        return (points + delta, occlusion + out[..., 2],
                expected_dist + out[..., 3], feats + out[..., 4:],
                new_context)

    def estimate_trajectories(
        self,
        video_hw: Sequence[int],
        feature_grids: FeatureGrids,
        query_features: QueryFeatures,
        query_points: Optional[torch.Tensor] = None,
        query_chunk_size: Optional[int] = 64,
        context: Optional[List[Context]] = None,
        return_context: bool = False,
    ) -> Dict[str, list]:
        """Tracks of the queries through the frames of ``feature_grids``.

        Args:
            video_hw: (H, W) of the video; outputs are in its pixels.
            query_points: [B, N, 3] (t, y, x) when the queries come from
                these same frames: each query's own frame then starts at
                the query position. None for features from elsewhere.
            query_chunk_size: queries processed together (memory only;
                None or 0: all).
            context: causal model only: the per-iteration context from
                the previous frames (None: the video starts here).
            return_context: also return the updated context.

        Returns:
            dict with ``tracks`` [B, N, T, 2], ``occlusion`` and
            ``expected_dist`` [B, N, T]: lists with the initial estimate
            followed by every refinement step (``1 + refinement_iterations
            * (len(resolutions) - 1)`` entries); with ``return_context``
            also ``context`` (list, one dict per refinement step).
        """
        if context is not None and not self.causal:
            raise ValueError('context needs a causal model (causal=True)')
        h0, w0 = self.initial_resolution
        vh, vw = int(video_hw[0]), int(video_hw[1])
        grids = feature_grids
        num_levels = len(grids.lowres) - 1
        pyramids = []
        for lvl in range(1, num_levels + 1):
            pyramid = [grids.hires[lvl], grids.lowres[lvl]]
            for _ in range(self.pyramid_level):
                pyramid.append(ops.avg_pool_2x2(pyramid[-1]))
            pyramids.append(pyramid)
        num_frames = grids.lowres[0].shape[1]
        if query_points is not None:
            query_points = ops.rescale(query_points, (num_frames, vh, vw),
                                       (num_frames, h0, w0))

        num_queries = query_features.lowres[0].shape[1]
        step = query_chunk_size or num_queries
        num_steps = 1 + self.refinement_iterations * num_levels
        chunks = [([], [], []) for _ in range(num_steps)]
        new_context = [[] for _ in range(num_steps - 1)]
        for start in range(0, num_queries, step):
            sel = slice(start, start + step)
            points, occ0, expd0 = self._initial_tracks(
                query_features.lowres[0][:, sel], grids.lowres[0],
                None if query_points is None else query_points[:, sel])
            steps = [(points, occ0, expd0)]
            for lvl in range(1, num_levels + 1):
                queries = [query_features.hires[lvl][:, sel],
                           query_features.lowres[lvl][:, sel]]
                queries += [queries[-1]] * self.pyramid_level
                occ, expd, feats = occ0, expd0, None
                for _ in range(self.refinement_iterations):
                    i = len(steps) - 1
                    ctx = None
                    if context is not None:
                        ctx = {k: v[:, sel] for k, v in context[i].items()}
                    points, occ, expd, feats, ctx = self._refine(
                        queries, pyramids[lvl - 1], points, occ, expd, feats,
                        grids.resolutions[lvl], ctx)
                    steps.append((points, occ, expd))
                    if return_context:
                        new_context[i].append(ctx)
            for i, (p, o, e) in enumerate(steps):
                chunks[i][0].append(ops.rescale(p, (w0, h0), (vw, vh)))
                chunks[i][1].append(o)
                chunks[i][2].append(e)

        out = {
            'tracks': [torch.cat(c[0], dim=1) for c in chunks],
            'occlusion': [torch.cat(c[1], dim=1) for c in chunks],
            'expected_dist': [torch.cat(c[2], dim=1) for c in chunks],
        }
        if return_context:
            out['context'] = [{
                k: torch.cat([part[k] for part in parts], dim=1)
                for k in parts[0]
            } for parts in new_context]
        return out

    def _summarise(self, traj: Dict[str, list],
                   average_resolutions: bool) -> Dict[str, object]:
        """Final outputs from the per-step lists: the mean over
        resolutions of each resolution's last step, or the very last
        step; the other steps as ``unrefined_*`` lists."""
        p = self.refinement_iterations
        out = {}
        for key in ('tracks', 'occlusion', 'expected_dist'):
            steps = traj[key]
            if average_resolutions:
                out[key] = torch.stack(steps[p::p]).mean(dim=0)
            else:
                out[key] = steps[-1]
            out['unrefined_' + key] = steps[:-1]
        return out

    def forward(
        self,
        video: torch.Tensor,
        query_points: torch.Tensor,
        query_chunk_size: Optional[int] = 64,
        refinement_resolutions: Optional[Sequence[Sequence[int]]] = None,
    ) -> Dict[str, object]:
        """Track ``query_points`` [B, N, 3] (t, y, x) through ``video``
        [B, T, H, W, 3] (in [-1, 1]) offline, seeing all frames.

        Returns a dict: ``tracks`` [B, N, T, 2] (x, y), ``occlusion`` and
        ``expected_dist`` logits [B, N, T], each the mean over refinement
        resolutions of that resolution's final step; ``unrefined_tracks``,
        ``unrefined_occlusion``, ``unrefined_expected_dist``: lists of the
        earlier steps (initial estimate first). ``query_chunk_size`` only
        bounds memory.
        """
        grids = self.get_feature_grids(video, refinement_resolutions)
        queries = self.get_query_features(video, query_points, grids)
        traj = self.estimate_trajectories(video.shape[2:4], grids, queries,
                                          query_points, query_chunk_size)
        return self._summarise(traj, average_resolutions=True)

    # ------------------------------------------------------------------
    # Online (causal) tracking
    # ------------------------------------------------------------------
    def _check_causal(self):
        if not self.causal:
            raise ValueError('online tracking needs a causal model '
                             '(TAPIR(causal=True))')

    def initial_context(self, batch_size: int, num_queries: int,
                        num_resolutions: int,
                        dtype: torch.dtype = torch.float32,
                        device: Optional[torch.device] = None
                        ) -> List[Context]:
        """Zero context (no frames seen) for ``num_resolutions``
        refinement resolutions: one dict per refinement step."""
        self._check_causal()
        shapes = self.torch_pips_mixer.context_shapes()
        return [{
            k: torch.zeros(batch_size, num_queries, *s, dtype=dtype,
                           device=device) for k, s in shapes.items()
        } for _ in range(num_resolutions * self.refinement_iterations)]

    def init_online(self, query_features: QueryFeatures) -> OnlineState:
        """Start online tracking of ``query_features`` (from
        :meth:`get_query_features`, e.g. on the frames holding the
        queries); every query starts with no past frames."""
        ref = query_features.lowres[0]
        context = self.initial_context(ref.shape[0], ref.shape[1],
                                       len(query_features.resolutions) - 1,
                                       ref.dtype, ref.device)
        return OnlineState(query_features, context, 0)

    def reset_queries(self, state: OnlineState, indices: Sequence[int],
                      query_features: QueryFeatures) -> OnlineState:
        """Replace queries ``indices`` (list of ints) by the ones in
        ``query_features`` (same order, same resolutions) and forget their
        past: the next frame is their first. Returns a new state."""
        self._check_causal()
        idx = torch.as_tensor(list(indices), dtype=torch.long,
                              device=query_features.lowres[0].device)
        old = state.query_features
        if tuple(old.resolutions) != tuple(query_features.resolutions):
            raise ValueError('query features were computed for resolutions '
                             f'{query_features.resolutions}, the state uses '
                             f'{old.resolutions}')

        def put(dst: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
            dst = dst.clone()
            dst[:, idx] = src.to(dst)
            return dst

        features = QueryFeatures(
            tuple(put(a, b) for a, b in zip(old.lowres,
                                            query_features.lowres)),
            tuple(put(a, b) for a, b in zip(old.hires, query_features.hires)),
            old.resolutions)
        context = [{k: put(v, torch.zeros_like(v[:, idx]))
                    for k, v in c.items()} for c in state.context]
        return OnlineState(features, context, state.frames_seen)

    def online_step(self,
                    frames: torch.Tensor,
                    state: OnlineState,
                    query_chunk_size: Optional[int] = 64,
                    average_resolutions: bool = False
                    ) -> Tuple[Dict[str, object], OnlineState]:
        """Track the state's queries through the next ``frames``
        [B, t, H, W, 3] (one or more), given everything seen before only
        through ``state``. Frame-by-frame and chunked calls give the same
        results.

        Returns (outputs, new state); outputs as in :meth:`forward` for
        these ``t`` frames, except that ``tracks``/``occlusion``/
        ``expected_dist`` are the last refinement step (as tapnet's online
        demo reads them) unless ``average_resolutions`` (then the mean over
        resolutions, as offline). The video resolution must not change
        between calls.
        """
        self._check_causal()
        resolutions = self.resolutions_for(frames.shape[2:4])
        if resolutions != tuple(state.query_features.resolutions):
            raise ValueError(
                f'frames of size {tuple(frames.shape[2:4])} use resolutions '
                f'{resolutions}; the query features were computed for '
                f'{tuple(state.query_features.resolutions)}')
        grids = self.get_feature_grids(frames)
        traj = self.estimate_trajectories(frames.shape[2:4], grids,
                                          state.query_features, None,
                                          query_chunk_size, state.context,
                                          return_context=True)
        new_state = OnlineState(state.query_features, traj.pop('context'),
                                state.frames_seen + frames.shape[1])
        return self._summarise(traj, average_resolutions), new_state

    def track_online(self,
                     video: torch.Tensor,
                     query_points: torch.Tensor,
                     chunk_size: int = 1,
                     query_chunk_size: Optional[int] = 64,
                     average_resolutions: bool = False) -> Dict[str, object]:
        """Causal tracking of ``query_points`` [B, N, 3] (t, y, x) through
        ``video`` [B, T, H, W, 3], ``chunk_size`` frames at a time.

        Query features come from the frames holding queries (only those
        are encoded up front); every query is then tracked from frame 0
        with memory independent of T. Same outputs as :meth:`online_step`,
        concatenated over time (``unrefined_*`` lists included).
        """
        self._check_causal()
        b, t = video.shape[:2]
        times = query_points[..., 0]
        first = torch.floor(times).long().clamp(0, t - 1)
        second = torch.where(times > first, (first + 1).clamp(max=t - 1),
                             first)
        used = torch.unique(torch.cat([first.flatten(), second.flatten()]))
        lookup = torch.full((t,), -1, dtype=torch.long, device=used.device)
        lookup[used] = torch.arange(len(used), device=used.device)
        local = query_points.clone()
        local[..., 0] = lookup[first].to(times.dtype) + (times - first.to(
            times.dtype))
        query_frames = video[:, used.to(video.device)]
        # Same resolutions as the full video (they depend on H, W only).
        grids = self.get_feature_grids(query_frames)
        features = self.get_query_features(query_frames, local, grids)
        del grids
        state = self.init_online(features)
        parts = []
        for start in range(0, t, chunk_size):
            out, state = self.online_step(video[:, start:start + chunk_size],
                                          state, query_chunk_size,
                                          average_resolutions)
            parts.append(out)
        result = {}
        for key in ('tracks', 'occlusion', 'expected_dist'):
            result[key] = torch.cat([p[key] for p in parts], dim=2)
            name = 'unrefined_' + key
            result[name] = [
                torch.cat([p[name][i] for p in parts], dim=2)
                for i in range(len(parts[0][name]))
            ]
        return result
