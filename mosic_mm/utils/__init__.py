from .config import ConfigError, find_missing_base, load_config
from .dist import (
                   DistributedSession,
                   cpu_ddp_config,
                   distributed_session,
                   init_distributed,
)

__all__ = ['ConfigError', 'DistributedSession', 'cpu_ddp_config',
           'distributed_session', 'find_missing_base', 'init_distributed',
           'load_config']
