from .dist import DistributedSession, distributed_session, init_distributed

__all__ = ['DistributedSession', 'distributed_session', 'init_distributed']
