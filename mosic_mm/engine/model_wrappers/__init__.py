from .mosic_fsdp import MoSiCFSDP

__all__ = ['MoSiCFSDP']
