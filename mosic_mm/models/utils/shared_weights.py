"""A momentum teacher that holds its own copy only of what trains.

The EMA of a constant is that constant: a frozen student parameter and its
teacher copy stay equal for the whole run, so the teacher may use the
student's tensor itself. :func:`teacher_copy` deep-copies a backbone except
its frozen parameters, which both networks then share (the same storage);
:class:`SharedWeightsState` keeps checkpoints to one copy of them and still
reads checkpoints that hold two.
"""
import copy
from typing import Callable, Dict, Optional

import torch
from torch import Tensor, nn

__all__ = ['teacher_copy', 'SharedWeightsState', 'cast_frozen_',
           'keep_dtypes_']


def teacher_copy(module: nn.Module, share_frozen: bool = True) -> nn.Module:
    """A deep copy of ``module`` whose frozen parameters (``requires_grad``
    False) are ``module``'s own objects when ``share_frozen``; everything
    else (trainable parameters, buffers) is copied."""
    memo = {id(p): p for p in module.parameters()
            if not p.requires_grad} if share_frozen else {}
    return copy.deepcopy(module, memo)


@torch.no_grad()
def keep_dtypes_(module: nn.Module,
                 dtype_of: Callable[[nn.Parameter], torch.dtype],
                 recurse: bool = True) -> None:
    """Cast each floating parameter to ``dtype_of(param)`` in place; the
    floating buffers of a module follow its own parameters when those share
    one dtype (e.g. the fixed zero k bias beside q/v biases), buffers of
    parameter-free modules (RoPE periods) stay as they are."""
    for mod in module.modules() if recurse else [module]:
        dtypes = set()
        for param in mod.parameters(recurse=False):
            if param.is_floating_point():
                dtype = dtype_of(param)
                if param.dtype != dtype:
                    param.data = param.data.to(dtype)
                dtypes.add(dtype)
        if len(dtypes) == 1:
            dtype = dtypes.pop()
            for name, buf in mod.named_buffers(recurse=False):
                if buf is not None and buf.is_floating_point():
                    setattr(mod, name, buf.to(dtype))


def cast_frozen_(module: nn.Module, dtype: Optional[torch.dtype]) -> None:
    """Keep the frozen floating parameters of ``module`` in ``dtype`` (in
    place, with :func:`keep_dtypes_`; trainable ones stay as they are).
    None: no change."""
    if dtype is not None:
        keep_dtypes_(module, lambda p: p.dtype if p.requires_grad
                     else dtype)


def shared_keys(model: nn.Module, student: str, teacher: str
                ) -> Dict[str, str]:
    """``{teacher key: student key}`` of the parameters that the submodules
    ``teacher`` and ``student`` of ``model`` share (state-dict names)."""
    own = {id(p): f'{student}.{name}' for name, p in model.get_submodule(
        student).named_parameters(remove_duplicate=False)}
    return {f'{teacher}.{name}': own[id(p)]
            for name, p in model.get_submodule(teacher).named_parameters(
                remove_duplicate=False) if id(p) in own}


class SharedWeightsState:
    """State-dict hooks of a model whose teacher shares student tensors.

    - saving drops the teacher's names of shared tensors (one copy per
      checkpoint);
    - loading fills them from the student's entries, so files with one copy
      and files with two (written before the teacher shared) both load
      strictly; a file whose two copies differ cannot be represented by a
      shared tensor and is refused, naming the keys.

    Args:
        keys (dict): ``{teacher key: student key}`` (:func:`shared_keys`).
    """

    def __init__(self, keys: Dict[str, str]):
        self.keys = dict(keys)

    def attach(self, model: nn.Module) -> None:
        if not self.keys:
            return
        # torch tags hooks with attributes, which bound methods cannot take
        model.register_state_dict_post_hook(
            lambda *args: self._drop(*args))
        model.register_load_state_dict_pre_hook(
            lambda *args: self._fill(*args))

    def _drop(self, module, state_dict, prefix, local_metadata) -> None:
        for key in self.keys:
            state_dict.pop(prefix + key, None)

    def _fill(self, module, state_dict, prefix, local_metadata, strict,
              missing_keys, unexpected_keys, error_msgs) -> None:
        differ = []
        for key, student in self.keys.items():
            source = state_dict.get(prefix + student)
            if source is None:
                continue
            held = state_dict.get(prefix + key)
            if held is not None and not _same(held, source):
                differ.append(key)
            state_dict[prefix + key] = source
        if differ:
            raise ValueError(
                f'the checkpoint holds teacher weights that differ from the '
                f"student's for {len(differ)} parameters this model shares "
                f'(frozen in the student), e.g. {differ[:3]}: it was '
                'trained with another set of trainable parameters. Load it '
                'with model.share_frozen_weights=False, or with the '
                'trainable blocks it was trained with.')

    def checkpoint_view(self, state_dict: Dict[str, Tensor]
                        ) -> Dict[str, Tensor]:
        """``state_dict`` without the teacher names of shared tensors (what
        this model saves), for comparing key sets."""
        return {k: v for k, v in state_dict.items() if k not in self.keys}


def _same(a: Tensor, b: Tensor) -> bool:
    if a.shape != b.shape:
        return False
    if a.is_meta or b.is_meta:
        return True
    return bool(torch.equal(a.to(b.dtype), b))
