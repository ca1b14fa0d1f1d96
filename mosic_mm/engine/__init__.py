from .hooks import MoSiCTeacherHook

__all__ = ['MoSiCTeacherHook']
