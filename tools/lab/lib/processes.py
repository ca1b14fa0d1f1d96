"""Starting the processes of a lab job or a test: a free TCP port, the
torchrun prefix of a job that launches ranks of its own, and CPU ranks of
one gloo group spawned around a function (a module of its own, so that the
ranks can unpickle it whichever ``conftest`` pytest imported last)."""
import socket
import sys
from typing import List


def free_port() -> int:
    """A TCP port of 127.0.0.1 free at the time of asking."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def torchrun_command(nproc: int) -> List[str]:
    """``python -m torch.distributed.run`` with ``nproc`` processes on this
    machine and a free master port; the script and its arguments follow."""
    return [sys.executable, '-m', 'torch.distributed.run',
            f'--nproc_per_node={nproc}', f'--master_port={free_port()}']


def _gloo_main(rank, world_size, port, body, out_dir, timeout_s):
    from datetime import timedelta

    import torch
    import torch.distributed as torch_dist
    torch.set_num_threads(1)
    torch_dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
        world_size=world_size, timeout=timedelta(seconds=timeout_s))
    try:
        body(rank, out_dir)
    finally:
        torch_dist.destroy_process_group()


def spawn_gloo(body, out_dir, world_size: int = 2,
               timeout_s: float = 120) -> None:
    """Run ``body(rank, out_dir)`` (a module-level function: it is pickled)
    on ``world_size`` spawned CPU processes of one gloo process group, one
    thread each; returns when all have ended (an error in one is raised)."""
    import torch.multiprocessing as mp
    mp.spawn(_gloo_main, args=(world_size, free_port(), body, str(out_dir),
                               timeout_s), nprocs=world_size, join=True)
