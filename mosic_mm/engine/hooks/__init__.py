from .teacher_ema_hook import MoSiCTeacherHook

__all__ = ['MoSiCTeacherHook']
