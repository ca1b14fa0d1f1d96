from .mosic import MoSiC

__all__ = ['MoSiC']
