"""The per-rank memory plan of a training run (``tools/plan_memory.py``)."""
import copy
from typing import Optional, Union

from mmengine.config import Config

from mosic_mm.utils.config import load_config
from mosic_mm.utils.memory_plan import MemoryPlan, Suggestion
from mosic_mm.utils.memory_plan import plan_memory as _plan_memory

__all__ = ['MemoryPlan', 'Suggestion', 'plan_memory']


def plan_memory(cfg: Union[str, Config], gpus: int = 1,
                gpu_mem_gb: Optional[float] = None, *,
                cfg_options: Optional[dict] = None, suggest: bool = True,
                reserve: float = 0.1, device: str = 'cuda') -> MemoryPlan:
    """Bytes of weights, gradients, optimizer states and the activation
    peak of one training step on each of ``gpus`` ranks, from a fake step
    of the model built on the meta device
    (:mod:`mosic_mm.utils.memory_plan`).

    Args:
        cfg: a config or its path (then ``cfg_options`` are merged in).
        gpus: ranks; the config's ``strategy`` says what is sharded.
        gpu_mem_gb: one GPU's memory in GiB; with it the plan says whether
            it fits and, when not, which settings do (``suggest``).
        reserve: fraction of the GPU left for the CUDA context, the
            allocator's fragmentation and NCCL.
        device: whose optimizer defaults the step takes ('cuda': foreach).
    """
    if isinstance(cfg, str):
        cfg = load_config(cfg, cfg_options)
    elif cfg_options:
        cfg = copy.deepcopy(cfg)
        cfg.merge_from_dict(cfg_options)
    return _plan_memory(cfg, gpus=gpus, gpu_mem_gb=gpu_mem_gb,
                        suggest=suggest, reserve=reserve, device=device)
