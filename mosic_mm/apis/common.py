"""What the jobs of ``mosic_mm.apis`` share: loading a config with command
line overrides, a job's logger, and the torchrun command of a job that
starts processes of its own."""
import socket
import sys
from typing import List, Optional

from mmengine.config import Config


def load_job_config(config: str, cfg_options: Optional[dict] = None
                    ) -> Config:
    """``Config.fromfile(config)`` with ``cfg_options`` merged and its
    ``default_scope`` (mmpretrain when unset) made the default scope."""
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cfg


def job_logger(name: str):
    """The MMLogger ``name``, made at level INFO on first use."""
    from mmengine.logging import MMLogger
    if MMLogger.check_instance_created(name):
        return MMLogger.get_instance(name)
    return MMLogger.get_instance(name, log_level='INFO')


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
