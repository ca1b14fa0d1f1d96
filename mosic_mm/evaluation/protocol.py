"""What every frozen-feature protocol shares: a frozen settings dataclass
whose defaults are the paper protocol's values (each field names its source
in the official code), a size-only fast preset, and the protocol class that
runs on a backbone and an evaluation dataset.

A settings key that the protocol does not read is an error naming it and
the valid ones, wherever it comes from (``tools/evaluate.py --set``,
``run_benchmark(overrides=...)``, ``mosic_mm.apis.evaluate(**settings)``).
"""
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Tuple, TypeVar

import torch

__all__ = ['setting', 'ProtocolSettings', 'EvalData', 'Protocol',
           'resolve_input_size']

S = TypeVar('S', bound='ProtocolSettings')


def setting(default: Any, source: str, size: bool = False):
    """A settings field: its paper-protocol ``default``, the ``source`` of
    that value (``owner/repo@commit path:line``, or why it is ours), and
    whether the fast preset may change it (``size``: input sizes, numbers
    of images, iterations, batch sizes, memory)."""
    return field(default=default, metadata=dict(source=source, size=size))


@dataclass(frozen=True)
class ProtocolSettings:
    """Base of the settings dataclasses. ``FAST``: the fast preset, a
    mapping of size fields only (CPU sizes for tests and the demo)."""
    FAST: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    def names(cls) -> Tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def size_names(cls) -> Tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls)
                     if f.metadata.get('size'))

    @classmethod
    def sources(cls) -> Dict[str, str]:
        """{setting: where its default comes from}."""
        return {f.name: f.metadata['source']
                for f in dataclasses.fields(cls)}

    @classmethod
    def check_keys(cls, keys, what: str = 'settings',
                   sizes_only: bool = False) -> None:
        """``KeyError`` naming every key of ``keys`` the protocol does not
        read (or, with ``sizes_only``, that is not a size) and the valid
        ones."""
        valid = cls.size_names() if sizes_only else cls.names()
        bad = [k for k in keys if k not in valid]
        if bad:
            kind = 'size settings' if sizes_only else 'settings'
            raise KeyError(
                f'{what}: {", ".join(map(repr, bad))} '
                f'{"is" if len(bad) == 1 else "are"} not among the {kind} of '
                f'{cls.__name__}; they are {", ".join(valid)}')

    def replace(self: S, overrides: Optional[Mapping[str, Any]] = None,
                what: str = 'settings') -> S:
        """A copy with ``overrides``; an unknown key is an error."""
        overrides = dict(overrides or {})
        self.check_keys(overrides, what)
        return dataclasses.replace(self, **overrides)

    def fast(self: S) -> S:
        """The fast preset: :attr:`FAST` applied (sizes only)."""
        self.check_keys(self.FAST, f'{type(self).__name__}.FAST',
                        sizes_only=True)
        return dataclasses.replace(self, **self.FAST)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EvalData:
    """The evaluation data a protocol runs on: a reader of
    :data:`~mosic_mm.evaluation.data.EVAL_DATASETS` (``dataset``) at
    ``root``, its ``splits`` ({'train': ..., 'val': ...}) and reader
    arguments (``reader_args``)."""
    dataset: str
    root: str
    splits: Mapping[str, str]
    reader_args: Mapping[str, Any] = field(default_factory=dict)

    def load(self, role: str):
        """The image or video set of split ``role`` ('train' / 'val')."""
        from .data import build_eval_dataset
        return build_eval_dataset(self.dataset, self.root,
                                  self.splits[role], **self.reader_args)


class Protocol:
    """One frozen-feature protocol: ``run`` a backbone on evaluation data
    with :attr:`settings` -> ``(metrics {name: value in [0, 1]}, notes)``.

    Subclasses set ``name`` (the table key) and ``Settings``.
    """
    name: ClassVar[str] = ''
    Settings: ClassVar[type] = ProtocolSettings

    def __init__(self, settings: Optional[ProtocolSettings] = None):
        settings = self.Settings() if settings is None else settings
        if not isinstance(settings, self.Settings):
            raise TypeError(f'{type(self).__name__} takes '
                            f'{self.Settings.__name__}, got '
                            f'{type(settings).__name__}')
        self.settings = settings

    def run(self, vit: torch.nn.Module, info: dict, data: EvalData,
            progress: bool = True, work_dir: Optional[str] = None
            ) -> Tuple[Dict[str, float], List[str]]:
        raise NotImplementedError


def resolve_input_size(size, info: dict):
    """A protocol's input size: ``size``, or the backbone's own
    ``img_size`` (``info`` of :func:`~.features.build_backbone`) when it is
    None."""
    return info['img_size'] if size is None else size
