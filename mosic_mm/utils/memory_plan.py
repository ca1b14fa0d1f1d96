"""The per-rank memory of a training run, planned before it starts.

The model is built on the meta device (no weights), turned into fake
tensors (``torch._subclasses.fake_tensor``: shapes, dtypes and storage
sizes, no data) and run for one training step (data preprocessor, loss,
backward, optimizer step) at the config's batch shape under PyTorch's
``MemTracker``, which classifies every storage as parameter, buffer,
gradient, activation, temporary or optimizer state and records the peak.
Nothing of real size is allocated, so a 7B model plans in seconds.

**Data-dependent steps.** MoSiC's step reads a few values: the frame-0 row
mask of the exact-row teacher trunk (``x[mask]``, ``bool(mask.all())``)
and Sinkhorn's sample count (``.item()``). Fake tensors hold no values, so
:class:`SmallValues` runs every op whose inputs are all known and whose
outputs are small (index rows, masks, tracks, visibility, counts: at most
``B*T*N`` elements) for real on the CPU beside its fake, and answers those
reads from the real values; boolean masks index through their real
``nonzero`` rows. Everything derived from the images stays fake.

**Per rank.** The step runs unsharded; weights, gradients and optimizer
states are then divided over the ranks that shard them (FSDP: all three,
plus the largest wrapped unit gathered in full; DeepSpeed ZeRO-1/2/3:
optimizer / + gradients / + weights). DDP replicates them and adds its
gradient buckets (one more copy of the gradients). Activations are each
rank's own.
"""
import contextlib
import copy
import dataclasses
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config, ConfigDict
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.utils._python_dispatch import (
    TorchDispatchMode,
    _disable_current_modes,
)
from torch.utils._pytree import tree_flatten, tree_map_only
from torch.utils.weak import WeakIdKeyDictionary

from .config import registry_scope

__all__ = ['StepShape', 'Sharding', 'ParamCounts', 'StepMemory',
           'MemoryPlan', 'Suggestion', 'step_shape', 'sharding',
           'count_params', 'measure_step', 'build_planning_model',
           'plan_memory', 'GiB']

GiB = 1 << 30
_aten = torch.ops.aten
#: largest output (bytes) that :class:`SmallValues` computes for real
SMALL_VALUE_BYTES = 1 << 24


# ----------------------------------------------------------------- shapes
@dataclasses.dataclass(frozen=True)
class StepShape:
    """The batch one rank's training step sees.

    Args:
        clips: ``B``, clips per rank (``train_dataloader.batch_size``).
        frames: ``T``, frames per clip (``clip_len`` of ``SampleClip``).
        height, width: ``H, W`` of the network input (the crop).
        tracks: ``N``, tracks per clip.
    """
    clips: int
    frames: int
    height: int
    width: int
    tracks: int

    def __str__(self) -> str:
        return (f'{self.clips} clips x {self.frames} frames, '
                f'{self.height}x{self.width} px, {self.tracks} tracks')


def _pipeline(dataset: dict) -> Sequence[dict]:
    """The training pipeline of a dataset config (the first of a mixed
    dataset's that has one)."""
    if dataset.get('pipeline'):
        return dataset['pipeline']
    for child in dataset.get('datasets') or ():
        found = _pipeline(child)
        if found:
            return found
    if dataset.get('dataset'):  # wrappers (RepeatDataset, ...)
        return _pipeline(dataset['dataset'])
    return ()


def _hw(value) -> Tuple[int, int]:
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


def step_shape(cfg: Config) -> StepShape:
    """B, T, H, W, N of one rank's step from ``cfg.train_dataloader``: the
    batch size, ``clip_len`` of the ``SampleClip`` step, the output size of
    the last crop (``size``, (h, w)) or resize (``scale``, (w, h)) step and
    ``num_tracks`` of ``SelectTracks`` (else ``grid_size**2`` of the track
    loader).

    Raises:
        ValueError: a shape the pipeline does not give.
    """
    loader = cfg.train_dataloader
    frames = size = tracks = None
    for step in _pipeline(loader.dataset):
        kind = str(step.get('type', ''))
        if kind == 'SampleClip':
            frames = int(step['clip_len'])
        if 'Crop' in kind and step.get('size') is not None:
            size = _hw(step['size'])
        elif 'Resize' in kind and step.get('scale') is not None:
            w, h = _hw(step['scale'])
            size = (h, w)
        if step.get('num_tracks') is not None:
            tracks = int(step['num_tracks'])
        elif kind in ('LoadTracks', 'TrackPoints') and step.get('grid_size'):
            tracks = int(step['grid_size'])**2
    missing = [name for name, v in (('SampleClip.clip_len', frames),
                                    ('a crop size', size),
                                    ('num_tracks', tracks)) if v is None]
    if missing:
        raise ValueError('the training pipeline does not give '
                         f'{", ".join(missing)}: cannot plan the batch')
    return StepShape(int(loader.batch_size), frames, size[0], size[1],
                     tracks)


# --------------------------------------------------------------- sharding
@dataclasses.dataclass(frozen=True)
class Sharding:
    """What the training strategy divides over the ranks.

    Args:
        name: e.g. 'DDP', 'FSDP', 'ZeRO-2'.
        weights, gradients, optimizer: whether each is sharded.
        gathers_units: a wrapped unit's full weights (and gradients) are
            gathered while it runs (FSDP, ZeRO-3).
        buckets: DDP's gradient buckets (a second gradient copy).
    """
    name: str
    weights: bool = False
    gradients: bool = False
    optimizer: bool = False
    gathers_units: bool = False
    buckets: bool = False


def sharding(cfg: Config, gpus: int) -> Sharding:
    """The sharding of ``cfg.strategy`` (mmengine ``FlexibleRunner``):
    ``FSDPStrategy`` shards all three, ``DeepSpeedStrategy`` by its
    ``zero_optimization.stage``; without one, DDP (buckets when ``gpus >
    1`` and ``model_wrapper_cfg.gradient_as_bucket_view`` is not set)."""
    strategy = cfg.get('strategy') or {}
    kind = str(strategy.get('type', ''))
    if 'FSDP' in kind:
        return Sharding('FSDP', True, True, True, gathers_units=True)
    if 'DeepSpeed' in kind:
        stage = int((strategy.get('zero_optimization') or {}).get('stage',
                                                                  0))
        return Sharding(f'ZeRO-{stage}', weights=stage >= 3,
                        gradients=stage >= 2, optimizer=stage >= 1,
                        gathers_units=stage >= 3)
    wrapper = cfg.get('model_wrapper_cfg') or {}
    return Sharding('DDP', buckets=gpus > 1 and not wrapper.get(
        'gradient_as_bucket_view', False))


# ------------------------------------------------------------- parameters
@dataclasses.dataclass(frozen=True)
class ParamCounts:
    """Bytes of a model's tensors, each storage once (a teacher that shares
    the student's frozen parameters counts them once).

    The *units* are the children of the model's ``nn.ModuleList`` s (the
    transformer blocks of student and teacher): what FSDP shards (one unit
    each, as ``MoSiCFSDP`` wraps them); the rest (embeddings, norms, heads)
    it holds whole.

    Args:
        params: all parameters.
        buffers: all buffers.
        trainable: parameters with ``requires_grad`` (= their gradients).
        trainable_numel: elements of those.
        shared: parameters reachable under more than one name (the
            frozen ones a teacher shares with its student).
        in_units: parameters inside the units.
        in_units_trainable: their trainable part.
        largest_unit: parameters of the largest unit.
        largest_unit_trainable: the most trainable bytes of one unit.
    """
    params: int
    buffers: int
    trainable: int
    trainable_numel: int
    shared: int
    in_units: int
    in_units_trainable: int
    largest_unit: int
    largest_unit_trainable: int


def _unique(tensors: Iterator[torch.Tensor]) -> List[torch.Tensor]:
    seen, out = set(), []
    for t in tensors:
        if t is not None and id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def _nbytes(tensors: Sequence[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _trainable(tensors: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    return [t for t in tensors if t.requires_grad]


def count_params(model: nn.Module) -> ParamCounts:
    """Exact byte counts of ``model``'s parameters and buffers (any device,
    meta included)."""
    params = _unique(model.parameters())
    names: Dict[int, int] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        names[id(p)] = names.get(id(p), 0) + 1
    units = [child for module in model.modules()
             if isinstance(module, nn.ModuleList) for child in module]
    in_units = _unique(p for unit in units for p in unit.parameters())
    own = [_unique(unit.parameters()) for unit in units]
    return ParamCounts(
        params=_nbytes(params), buffers=_nbytes(_unique(model.buffers())),
        trainable=_nbytes(_trainable(params)),
        trainable_numel=sum(p.numel() for p in _trainable(params)),
        shared=_nbytes([p for p in params if names[id(p)] > 1]),
        in_units=_nbytes(in_units),
        in_units_trainable=_nbytes(_trainable(in_units)),
        largest_unit=max(map(_nbytes, own), default=0),
        largest_unit_trainable=max(
            (_nbytes(_trainable(o)) for o in own), default=0))


# ------------------------------------------------------------ fake values
class SmallValues(TorchDispatchMode):
    """Gives fake tensors the values of small, data-independent results.

    Every op whose tensor inputs all have known values (real tensors,
    factories, or earlier outputs of this mode) and whose outputs are at
    most ``limit`` bytes also runs for real on the CPU; ``.item()`` /
    ``bool()`` of such a tensor and boolean-mask indexing by one (``x[m]``,
    ``x[m] = y``, ``nonzero``) use the real values. An op that writes an
    unknown value into a known tensor makes it unknown.

    Enter it inside the ``FakeTensorMode`` (and inside a ``MemTracker``,
    which then sees the fakes only).
    """

    def __init__(self, fake_mode: FakeTensorMode,
                 limit: int = SMALL_VALUE_BYTES):
        super().__init__()
        self.fake_mode = fake_mode
        self.limit = limit
        self.values = WeakIdKeyDictionary()

    def fake(self, real: torch.Tensor) -> FakeTensor:
        """A fake of ``real`` whose value this mode knows."""
        fake = self.fake_mode.from_tensor(real)
        self.values[fake] = real
        return fake

    def _known(self, t: torch.Tensor) -> bool:
        return not isinstance(t, FakeTensor) or t in self.values

    def _real(self, t: torch.Tensor) -> torch.Tensor:
        return self.values[t] if isinstance(t, FakeTensor) else t

    def _masks_as_rows(self, indices: Sequence) -> List:
        out = []
        for index in indices:
            if (isinstance(index, FakeTensor) and index.dtype == torch.bool
                    and index in self.values):
                with _disable_current_modes():
                    rows = self.values[index].nonzero().unbind(1)
                out += [self.fake(r) for r in rows]
            else:
                out.append(index)
        return out

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is _aten._local_scalar_dense.default and \
                self._known(args[0]):
            with _disable_current_modes():
                return self._real(args[0]).item()
        if func in (_aten.index.Tensor, _aten.index_put.default,
                    _aten.index_put_.default,
                    _aten._index_put_impl_.default):
            args = (args[0], self._masks_as_rows(args[1]), *args[2:])
        tensors = [t for t in tree_flatten((args, kwargs))[0]
                   if isinstance(t, torch.Tensor)]
        known = all(self._known(t) for t in tensors)
        if func is _aten.nonzero.default and known:
            with _disable_current_modes():
                return self.fake(func(self._real(args[0])))
        out = func(*args, **kwargs)
        outs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        if known and all(t.numel() * t.element_size() <= self.limit
                         for t in outs):  # in-place ops have no outputs
            with _disable_current_modes():
                real = func(*tree_map_only(torch.Tensor, self._real, args),
                            **tree_map_only(torch.Tensor, self._real, kwargs))
            reals = [t for t in tree_flatten(real)[0]
                     if isinstance(t, torch.Tensor)]
            for fake, value in zip(outs, reals):
                self.values[fake] = value
        elif not known:  # a known tensor written with unknown values
            for arg, value in zip(func._schema.arguments, args):
                if arg.alias_info is not None and arg.alias_info.is_write \
                        and isinstance(value, FakeTensor):
                    self.values.pop(value, None)
        return out


def _fake_module_(model: nn.Module, fake_mode: FakeTensorMode,
                  device: str) -> None:
    """Replace every parameter and buffer of ``model`` (meta or real) by an
    empty fake tensor on ``device`` in place, keeping shared tensors shared
    and ``requires_grad`` as it was."""
    made: Dict[int, torch.Tensor] = {}

    def fake(t: torch.Tensor, param: bool) -> torch.Tensor:
        if id(t) not in made:
            with fake_mode:
                data = torch.empty(t.shape, dtype=t.dtype, device=device)
            made[id(t)] = nn.Parameter(
                data, requires_grad=t.requires_grad) if param else data
        return made[id(t)]

    for module in model.modules():
        for name, p in module._parameters.items():
            if p is not None:
                module._parameters[name] = fake(p, True)
        for name, b in module._buffers.items():
            if b is not None:
                module._buffers[name] = fake(b, False)


class _NoHook:
    def remove(self) -> None:
        pass


def _tracker(model: nn.Module, *external):
    """A ``MemTracker`` that knows ``model`` and ``external`` and keeps the
    global peak only.

    Two departures from torch's, both outside what it measures: its
    per-module peaks loop over every module on every op (minutes for a 7B;
    the plan reads none of them), and its module hooks would register a
    gradient hook on every parameter, which torch refuses for frozen ones
    (they get a no-op entry)."""
    from torch.distributed._tools.mem_tracker import _TOTAL_KEY, MemTracker

    class PeakTracker(MemTracker):

        def _update_peak_stats(self, peak_state) -> None:
            for dev, snap in self._curr_mem_snap.items():
                if self._peak_mem.get(dev, 0) < snap[_TOTAL_KEY]:
                    self._peak_mem[dev] = snap[_TOTAL_KEY]
                    self._peak_mem_snap[dev] = dict(snap)

    tracker = PeakTracker()
    tracker.track_external(model, *external)
    for p in model.parameters():
        if not p.requires_grad:
            tracker._param_to_grad_hook_handles[p] = (_NoHook(), _NoHook())
    return tracker


# ------------------------------------------------------------------- step
@dataclasses.dataclass(frozen=True)
class StepMemory:
    """MemTracker's peaks of one unsharded training step (bytes).

    Args:
        backward_peak: most bytes alive during data preprocessing, loss
            and backward (optimizer states not included: they do not exist
            yet on a first step).
        activations: activations, temporaries and inputs at that peak.
        gradients_at_peak: gradients alive at that peak.
        optimizer_peak: most bytes alive during the optimizer step.
        optimizer_states: optimizer states after it.
        optimizer_temporaries: the step's own temporaries at its peak.
    """
    backward_peak: int
    activations: int
    gradients_at_peak: int
    optimizer_peak: int
    optimizer_states: int
    optimizer_temporaries: int


def _plain_optimizer_cfg(optim_wrapper: dict, device: str) -> dict:
    """The optimizer part of ``optim_wrapper`` under a plain
    ``OptimWrapper`` (AMP and the skip logic change no tensor held across
    steps); on 'cuda', ``foreach=True`` as torch picks there (its
    temporaries differ from the CPU loop's)."""
    keep = ('optimizer', 'constructor', 'paramwise_cfg', 'clip_grad',
            'accumulative_counts')
    cfg = {k: copy.deepcopy(optim_wrapper[k]) for k in keep
           if k in optim_wrapper}
    cfg['type'] = 'OptimWrapper'
    optimizer = cfg['optimizer']
    if device == 'cuda' and 'fused' not in optimizer \
            and 'foreach' not in optimizer:
        optimizer['foreach'] = True
    return cfg


@contextlib.contextmanager
def _quiet():
    """mmengine's current logger at WARNING (the optimizer constructor logs
    a line per parameter)."""
    import logging

    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def amp_dtype(cfg: Config) -> Optional[torch.dtype]:
    """The autocast dtype of an ``AmpOptimWrapper`` (float16 by default),
    None without AMP."""
    from mmengine.optim import AmpOptimWrapper

    from mosic_mm.registry import OPTIM_WRAPPERS
    wrapper = cfg.optim_wrapper
    with registry_scope(cfg):
        cls = OPTIM_WRAPPERS.get(wrapper.get('type', 'OptimWrapper'))
    if cls is None or not issubclass(cls, AmpOptimWrapper):
        return None
    dtype = wrapper.get('dtype') or 'float16'
    return getattr(torch, dtype) if isinstance(dtype, str) else dtype


def _fake_batch(values: SmallValues, shape: StepShape) -> dict:
    """uint8 clips [T,3,H,W] x B (fake) with tracks [T,N,2] and visibility
    [T,N] (small: known values), as a MoSiC dataloader gives."""
    from mmpretrain.structures import DataSample
    B, T, H, W, N = (shape.clips, shape.frames, shape.height, shape.width,
                     shape.tracks)
    with values.fake_mode:
        clips = [torch.empty(T, 3, H, W, dtype=torch.uint8)
                 for _ in range(B)]
    samples = []
    for b in range(B):
        tracks = torch.rand(T, N, 2, generator=torch.Generator()
                            .manual_seed(b)) * torch.tensor([W - 1, H - 1])
        sample = DataSample()
        sample.set_field(values.fake(tracks), 'tracks')
        sample.set_field(values.fake(torch.ones(T, N, dtype=torch.bool)),
                         'visibility')
        samples.append(sample)
    return dict(inputs=clips, data_samples=samples)


def _category(snapshot: dict, *names: str) -> int:
    if not snapshot:
        return 0
    (dev, ), = [tuple(snapshot)]
    return sum(v for k, v in snapshot[dev].items()
               if str(getattr(k, 'value', k)) in names)


def measure_step(model: nn.Module, cfg: Config, shape: StepShape,
                 device: str = 'cuda') -> StepMemory:
    """Run one training step of a fake ``model`` (see
    :func:`build_planning_model`) on a fake batch of ``shape`` under
    ``MemTracker``: data preprocessor, ``mode='loss'`` (under the
    optimizer wrapper's AMP autocast, if any), backward, and the config's
    optimizer built by its constructor. ``device``: the optimizer defaults
    of that device type ('cuda': foreach)."""
    from mmengine.optim import build_optim_wrapper
    fake_mode = _fake_mode_of(model)
    values = SmallValues(fake_mode)
    batch = _fake_batch(values, shape)
    with registry_scope(cfg), _quiet():
        optimizer = build_optim_wrapper(
            model, _plain_optimizer_cfg(cfg.optim_wrapper, device)).optimizer
    dtype = amp_dtype(cfg)
    autocast = torch.autocast('cpu', dtype=dtype) if dtype is not None \
        else contextlib.nullcontext()
    model.train()
    tracker = _tracker(model, batch['inputs'])
    with fake_mode, tracker, values:
        with autocast:
            data = model.data_preprocessor(batch, True)
            losses = model(**data, mode='loss')
            loss, _ = model.parse_losses(losses)
        del data, losses, batch
        loss.backward()
        del loss
    peak = tracker.get_tracker_snapshot('peak')
    total = _category(peak, 'Total')
    fixed = _category(peak, 'Parameter', 'Buffer', 'Gradient')
    step = _tracker(model, optimizer)
    with fake_mode, step, values:
        optimizer.step()
    opt_peak = step.get_tracker_snapshot('peak')
    states = _category(step.get_tracker_snapshot('current'), 'Optstate')
    held = _category(opt_peak, 'Parameter', 'Buffer', 'Gradient')
    opt_total = _category(opt_peak, 'Total')
    optimizer.zero_grad(set_to_none=True)
    return StepMemory(
        backward_peak=total, activations=total - fixed,
        gradients_at_peak=_category(peak, 'Gradient'),
        optimizer_peak=opt_total, optimizer_states=states,
        optimizer_temporaries=max(opt_total - held - states, 0))


def _fake_mode_of(model: nn.Module) -> FakeTensorMode:
    for t in model.parameters():
        if isinstance(t, FakeTensor):
            return t.fake_mode
    raise ValueError('the model holds no fake tensors: build it with '
                     'build_planning_model')


def build_planning_model(cfg: Config, device: str = 'cpu') -> nn.Module:
    """``cfg.model`` built on the meta device (``materialize=False``: no
    weights loaded), its tensors then fake ones on ``device``."""
    from mosic_mm.registry import MODELS
    with registry_scope(cfg), torch.device('meta'):
        model = MODELS.build(dict(cfg.model, materialize=False))
    _fake_module_(model, FakeTensorMode(), device)
    return model


# ------------------------------------------------------------------- plan
@dataclasses.dataclass(frozen=True)
class Suggestion:
    """Settings that change the plan, with the peak they give.

    Args:
        options: ``--cfg-options`` overrides (key -> value).
        peak: the per-rank peak under them (bytes).
        fits: whether that fits the GPU.
    """
    options: Tuple[Tuple[str, object], ...]
    peak: int
    fits: bool

    def cfg_options(self) -> str:
        return ' '.join(f'{k}={v!r}' if isinstance(v, str) else f'{k}={v}'
                        for k, v in self.options)


@dataclasses.dataclass(frozen=True)
class MemoryPlan:
    """Bytes one rank holds in a training step.

    ``peak = weights + optimizer + buckets + gathered + max(activations +
    gradients_at_peak, gradients + optimizer_temporaries)``: the most held
    at once in the forward/backward pass or in the optimizer step.

    Args:
        config: the config's name.
        gpus: ranks.
        sharding: the strategy.
        shape: the batch of one rank.
        weights: parameters and buffers (this rank's share).
        gradients: all gradients (this rank's share).
        optimizer: optimizer states (this rank's share).
        activations: activations, temporaries and inputs at the
            forward/backward peak.
        gradients_at_peak: gradients alive at that peak (share).
        optimizer_temporaries: the optimizer step's temporaries (share).
        buckets: DDP's gradient buckets.
        gathered: FSDP / ZeRO-3: the largest unit's full weights and
            gradients while it runs.
        gpu_mem: the GPU's memory (bytes), None when not given.
        reserve: the fraction of it kept free (CUDA context, allocator
            fragmentation, NCCL buffers).
        counts: the unsharded parameter counts.
        notes: what the plan found wrong with the settings.
        suggestions: settings that make it fit, when it does not.
    """
    config: str
    gpus: int
    sharding: Sharding
    shape: StepShape
    weights: int
    gradients: int
    optimizer: int
    activations: int
    gradients_at_peak: int
    optimizer_temporaries: int
    buckets: int
    gathered: int
    gpu_mem: Optional[int]
    reserve: float
    counts: ParamCounts
    notes: Tuple[str, ...] = ()
    suggestions: Tuple[Suggestion, ...] = ()

    @property
    def peak(self) -> int:
        return (self.weights + self.optimizer + self.buckets + self.gathered
                + max(self.activations + self.gradients_at_peak,
                      self.gradients + self.optimizer_temporaries))

    @property
    def usable(self) -> Optional[int]:
        if self.gpu_mem is None:
            return None
        return int(self.gpu_mem * (1 - self.reserve))

    @property
    def fits(self) -> Optional[bool]:
        return None if self.usable is None else self.peak <= self.usable

    def format(self) -> str:
        """The plan as a table (GiB)."""

        def gib(n: int) -> str:
            return f'{n / GiB:10.3f} GiB'

        c = self.counts
        lines = [
            f'memory plan per rank: {self.config}',
            f'  {self.gpus} rank(s), {self.sharding.name}; batch per rank '
            f'{self.shape}',
            f'  weights              {gib(self.weights)}  (params '
            f'{c.params / GiB:.3f} + buffers {c.buffers / GiB:.3f} GiB '
            'unsharded, shared tensors once)',
            f'  gradients            {gib(self.gradients)}  '
            f'({c.trainable_numel:,} trainable)',
            f'  optimizer states     {gib(self.optimizer)}',
            f'  activations (peak)   {gib(self.activations)}  (with '
            f'{self.gradients_at_peak / GiB:.3f} GiB gradients held then)',
            f'  optimizer step temps {gib(self.optimizer_temporaries)}',
        ]
        if self.buckets:
            lines.append(f'  DDP gradient buckets {gib(self.buckets)}')
        if self.gathered:
            lines.append(f'  gathered unit        {gib(self.gathered)}  '
                         '(largest block, full)')
        lines.append(f'  peak                 {gib(self.peak)}')
        lines += [f'  note: {note}' for note in self.notes]
        if self.gpu_mem is not None:
            verdict = 'fits' if self.fits else 'does NOT fit'
            lines.append(
                f'  GPU                  {gib(self.gpu_mem)}  (usable '
                f'{self.usable / GiB:.1f} GiB, {self.reserve:.0%} kept '
                f'free): {verdict}, {self.peak / self.gpu_mem:.0%} of it')
        if self.suggestions:
            lines.append('  settings that fit (--cfg-options):')
            for s in self.suggestions:
                lines.append(f'    {s.cfg_options()}  -> peak '
                             f'{s.peak / GiB:.2f} GiB')
        elif self.fits is False:
            lines.append('  no tried setting fits; more GPUs with '
                         "strategy=dict(type='FSDPStrategy') or a smaller "
                         'batch')
        return '\n'.join(lines)


def _share(n: int, sharded: bool, gpus: int) -> int:
    return -(-n // gpus) if sharded else n


def assemble(config: str, counts: ParamCounts, step: StepMemory,
             shape: StepShape, gpus: int, rule: Sharding,
             gpu_mem: Optional[int], reserve: float,
             notes: Tuple[str, ...] = ()) -> MemoryPlan:
    """Divide the unsharded counts and step peaks over ``gpus`` ranks by
    ``rule`` (pure).

    FSDP shards the units only (the rest it holds whole) and, with its
    default ``BACKWARD_PRE`` prefetch, gathers two units' full weights and
    one unit's full gradients (before their reduce-scatter) at a time;
    ZeRO shards everything (stage 3 gathers like FSDP). Optimizer states
    and their temporaries follow the trainable bytes they belong to."""
    if gpus == 1:
        rule = dataclasses.replace(rule, weights=False, gradients=False,
                                   optimizer=False, gathers_units=False)
    units_only = rule.name == 'FSDP'

    def share(total: int, in_units: int, sharded: bool) -> int:
        if not sharded:
            return total
        if not units_only:
            return _share(total, True, gpus)
        return total - in_units + _share(in_units, True, gpus)

    grads = share(counts.trainable, counts.in_units_trainable,
                  rule.gradients)
    # the fraction of the trainable bytes this rank's optimizer updates
    fraction = (share(counts.trainable, counts.in_units_trainable,
                      rule.optimizer) / counts.trainable
                ) if counts.trainable else 1.0
    gathered = 0
    if rule.gathers_units:
        gathered = 2 * counts.largest_unit + counts.largest_unit_trainable
    return MemoryPlan(
        config=config, gpus=gpus, sharding=rule, shape=shape,
        weights=share(counts.params, counts.in_units, rule.weights)
        + counts.buffers,
        gradients=grads,
        optimizer=int(round(step.optimizer_states * fraction)),
        activations=step.activations,
        gradients_at_peak=share(step.gradients_at_peak,
                                step.gradients_at_peak, rule.gradients),
        optimizer_temporaries=int(round(step.optimizer_temporaries
                                        * fraction)),
        buckets=counts.trainable if rule.buckets else 0,
        gathered=gathered, gpu_mem=gpu_mem, reserve=reserve, counts=counts,
        notes=notes)


def _with(cfg: Config, options: Sequence[Tuple[str, object]]) -> Config:
    out = copy.deepcopy(cfg)
    out.merge_from_dict(dict(options))
    return out


def _plan_one(cfg: Config, gpus: int, gpu_mem: Optional[int],
              reserve: float, device: str,
              cache: Dict[str, Tuple[ParamCounts, StepMemory]]
              ) -> MemoryPlan:
    shape = step_shape(cfg)
    key = repr((cfg.model.to_dict() if isinstance(cfg.model, ConfigDict)
                else cfg.model, shape, cfg.get('optim_wrapper')))
    if key not in cache:
        with torch.random.fork_rng(devices=[]):
            model = build_planning_model(cfg)
            cache[key] = (count_params(model),
                          measure_step(model, cfg, shape, device))
    counts, step = cache[key]
    name = osp.basename(cfg.filename) if cfg.filename else '<config>'
    rule = sharding(cfg, gpus)
    notes = ()
    if rule.name == 'FSDP' and counts.shared:
        notes = ('MoSiCFSDP refuses frozen weights shared by student and '
                 'teacher: set model.share_frozen_weights=False (planned '
                 'here as shared)', )
    return assemble(name, counts, step, shape, gpus, rule, gpu_mem, reserve,
                    notes)


#: the sharded strategy suggested (configs/_base_/strategies/fsdp.py)
FSDP_OPTIONS = (('runner_type', 'FlexibleRunner'),
                ('strategy', dict(type='PortableFSDPStrategy',
                                  model_wrapper=dict(type='MoSiCFSDP'))))


def _candidates(cfg: Config, gpus: int, shares: bool
                ) -> List[List[Tuple[str, object]]]:
    """Groups of settings that lower the peak, in the order tried: exact
    ones first (same maths), then lower precision, sharding (which cannot
    share frozen weights: ``shares``), LoRA."""
    model = cfg.model
    shape = step_shape(cfg)
    out: List[List[Tuple[str, object]]] = []
    if not model.get('share_frozen_weights', True):
        out.append([('model.share_frozen_weights', True)])
    if model.get('teacher_chunk_size') is None and shape.frames > 1:
        out.append([('model.teacher_chunk_size', shape.clips)])
    if not model.get('activation_checkpointing', False):
        out.append([('model.activation_checkpointing', True)])
    if model.get('frozen_dtype') is None:
        out.append([('model.frozen_dtype', 'bfloat16')])
    if model.get('teacher_dtype') is None:
        out.append([('model.teacher_dtype', 'bfloat16')])
    if gpus > 1 and not sharding(cfg, gpus).weights:
        out.append([*FSDP_OPTIONS] + ([('model.share_frozen_weights', False)]
                                      if shares else []))
    if model.get('lora') is None:
        out.append([('model.lora', dict()),
                    ('model.num_trainable_blocks', 0)])
    return out


def _suggest(cfg: Config, plan: MemoryPlan, reserve: float, device: str,
             cache) -> Tuple[Suggestion, ...]:
    """Single groups of :func:`_candidates` that make ``plan`` fit; if none
    does, the shortest prefix of all of them that does; if none, that with
    the largest batch (halving) that fits."""
    groups = _candidates(cfg, plan.gpus, plan.counts.shared > 0)

    def tried(options) -> Suggestion:
        p = _plan_one(_with(cfg, options), plan.gpus, plan.gpu_mem,
                      reserve, device, cache)
        return Suggestion(tuple(options), p.peak, bool(p.fits))

    singles = [s for s in (tried(g) for g in groups) if s.fits]
    if singles:
        return tuple(sorted(singles, key=lambda s: s.peak))
    options: List[Tuple[str, object]] = []
    for group in groups:
        options += group
        s = tried(options)
        if s.fits:
            return (s, )
    batch = plan.shape.clips // 2
    while batch >= 1:
        s = tried([*options, ('train_dataloader.batch_size', batch)])
        if s.fits:
            return (s, )
        batch //= 2
    return ()


def plan_memory(cfg: Config, gpus: int = 1,
                gpu_mem_gb: Optional[float] = None, suggest: bool = True,
                reserve: float = 0.1, device: str = 'cuda') -> MemoryPlan:
    """The per-rank memory plan of training ``cfg`` on ``gpus`` ranks.

    Args:
        cfg: a loaded config (``load_config``).
        gpus: ranks (world size).
        gpu_mem_gb: memory of one GPU in GiB; None: no fit check.
        suggest: when it does not fit, try the settings of
            :func:`_candidates` (each a fake step of its own).
        reserve: fraction of the GPU kept free.
        device: the device type whose optimizer defaults the step takes
            ('cuda' or 'cpu').
    """
    if gpus < 1:
        raise ValueError(f'gpus must be >= 1, got {gpus}')
    gpu_mem = None if gpu_mem_gb is None else int(gpu_mem_gb * GiB)
    cache: Dict[str, Tuple[ParamCounts, StepMemory]] = {}
    plan = _plan_one(cfg, gpus, gpu_mem, reserve, device, cache)
    if suggest and plan.fits is False:
        plan = dataclasses.replace(
            plan, suggestions=_suggest(cfg, plan, reserve, device, cache))
    return plan
