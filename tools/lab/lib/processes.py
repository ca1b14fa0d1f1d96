"""Starting the processes of a lab job: a free TCP port and the torchrun
prefix of a job that launches ranks of its own."""
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
