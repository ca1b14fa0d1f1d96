from .portable_fsdp import PortableFSDPStrategy

__all__ = ['PortableFSDPStrategy']
