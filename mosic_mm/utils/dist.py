"""One way in and out of ``torch.distributed`` for every entry point.

A process that exits while a process group is alive tears the group down in
static destructors, racing gloo's (or NCCL's) background threads: the
process then dies with ``terminate called without an active exception``
(SIGABRT) after its work is done, and torchrun reports the job as failed.
:func:`distributed_session` destroys the group explicitly, on success (after
a final collective in which the ranks agree on the exit status) and on
error (without a collective: the other ranks may be inside another one;
torchrun / slurm then stop them).

    with distributed_session(args.launcher) as session:
        session.status = run(args)     # 0 = success on this rank
    sys.exit(session.status)           # the worst status of all ranks
"""
import contextlib
import gc
from typing import Optional

import torch
import torch.distributed as dist


class DistributedSession:
    """What :func:`distributed_session` yields.

    Attributes:
        launcher (str): as given.
        created (bool): this session initialised the process group.
        status (int): exit status of this rank; set it inside the block.
            After a successful block it holds the maximum over all ranks.
    """

    def __init__(self, launcher: str, created: bool):
        self.launcher = launcher
        self.created = created
        self.status = 0

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()


def init_distributed(launcher: str, backend: Optional[str] = None,
                     **kwargs) -> bool:
    """Initialise the default process group for ``launcher`` unless it is
    ``'none'`` or a group exists already.

    Without CUDA (and ``launcher='pytorch'``) a gloo group is made from the
    torchrun environment (:func:`mosic_mm.compat.init_cpu_distributed`:
    mmengine's launcher would call ``torch.cuda.set_device``); otherwise
    ``mmengine.dist.init_dist(launcher, backend=..., **kwargs)``.

    Returns:
        bool: True if this call created the group.
    """
    if launcher == 'none':
        return False
    if dist.is_available() and dist.is_initialized():
        return False
    from mosic_mm.compat import init_cpu_distributed
    if init_cpu_distributed(launcher):
        return True
    from mmengine.dist import init_dist
    if backend is None:
        backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    init_dist(launcher, backend=backend, **kwargs)
    return True


def _agree(status: int) -> int:
    """The maximum of ``status`` over all ranks (a collective: every rank
    must call it)."""
    device = 'cpu'
    if dist.get_backend() == 'nccl':
        device = torch.device('cuda', torch.cuda.current_device())
    flag = torch.tensor([int(status)], dtype=torch.int64, device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return int(flag.item())


def destroy_process_group() -> None:
    """Destroy the default group if there is one (idempotent).

    Unreachable objects that still hold the group (a DDP model wrapper and
    its reducer inside a finished Runner, which has reference cycles) are
    collected first, so the group's C++ object and its threads are released
    here, in the main thread, rather than during interpreter teardown."""
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()
        gc.collect()


@contextlib.contextmanager
def distributed_session(launcher: str, backend: Optional[str] = None,
                        **kwargs):
    """Initialise the process group for ``launcher`` (see
    :func:`init_distributed`), yield a :class:`DistributedSession`, and
    destroy the group on the way out, also when the group was made inside
    the block (e.g. by mmengine's Runner).

    On success the ranks first agree on the exit status: an all-reduce (MAX)
    of ``session.status`` that doubles as the final barrier, so no rank tears
    the group down while another still uses it. On an exception the group is
    destroyed without a collective and the exception propagates.
    """
    created = init_distributed(launcher, backend, **kwargs)
    session = DistributedSession(launcher, created)
    try:
        yield session
    except BaseException:
        destroy_process_group()
        raise
    if session.distributed:
        try:
            session.status = _agree(session.status)
        finally:
            destroy_process_group()


def cpu_ddp_config(cfg) -> None:
    """Point a Runner config at a CPU (gloo) process group: mmengine's
    default wrapper passes ``device_ids=[cuda device]``, which DDP refuses
    on CPU modules."""
    cfg.env_cfg = dict(cfg.get('env_cfg', {}), dist_cfg=dict(backend='gloo'))
    if cfg.get('runner_type') == 'FlexibleRunner':
        return  # its strategy's wrapper places the model (MoSiCFSDP: CPU)
    cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel',
                                 device_ids=None, broadcast_buffers=False)
