"""How many loader cores a GPU needs: the FLOP count of one training step
and the arithmetic of cores and data wait at a given step time."""
from typing import Optional

H100_BF16_DENSE_TFLOPS = 989.0  # NVIDIA H100 SXM, dense bf16 tensor cores


def cores_needed(clips_per_s_per_core: float, batch: int,
                 gpu_step_s: float) -> float:
    """CPU cores that keep a GPU fed: ``batch / gpu_step_s`` clips/s over
    one core's rate."""
    return batch / gpu_step_s / clips_per_s_per_core


def data_wait_fraction(clips_per_s_per_core: float, cores: int, batch: int,
                       gpu_step_s: float) -> float:
    """Steady-state share of a step spent waiting for data with ``cores``
    loader workers prefetching: ``max(0, load - step) / max(load, step)``
    where ``load = batch / (cores * rate)``."""
    load = batch / (cores * clips_per_s_per_core)
    return max(0.0, load - gpu_step_s) / max(load, gpu_step_s)


def count_step_flops(config: str, batch: int, frames: int, points: int,
                     size: int, arch_overrides: Optional[dict] = None,
                     device: str = 'cpu') -> float:
    """FLOPs of one training step (loss forward + backward) of ``config``'s
    model at the given shape, counted by ``torch.utils.flop_counter`` on
    random weights and inputs (batch 1, scaled by ``batch``: every FLOP of
    the step is per clip except the prototype and Sinkhorn work, counted at
    batch 1)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.structures import DataSample
    from torch.utils.flop_counter import FlopCounterMode

    import mosic_mm  # noqa: F401
    from mosic_mm.registry import MODELS
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    cfg.model.backbone.init_cfg = None
    if arch_overrides:
        cfg.model.backbone.update(arch_overrides)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device).train()
    clip = torch.randint(0, 255, (frames, 3, size, size), dtype=torch.uint8)
    s = DataSample()
    xy = torch.rand(frames, points, 2) * (size - 1)
    s.set_field(xy, 'tracks')
    s.set_field(torch.ones(frames, points, dtype=torch.bool), 'visibility')
    data = model.data_preprocessor(dict(inputs=[clip], data_samples=[s]),
                                   True)
    counter = FlopCounterMode(display=False)
    with counter:
        loss = model.loss(**data)['loss']
        loss.backward()
    return counter.get_total_flops() * batch
