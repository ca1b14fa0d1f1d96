"""Fixes for the pinned OpenMMLab stack (mmengine 0.10.7, mmpretrain 1.2.0) on
current PyTorch. See docs/stack.md. Everything here is explicit and minimal.

- ``torch.load`` defaults to ``weights_only=True`` since torch 2.6, which breaks
  mmengine's resume: its checkpoints pickle a ``HistoryBuffer`` and numpy
  arrays/scalars inside ``message_hub``. We allow-list exactly those globals
  (``torch.serialization.add_safe_globals``) instead of turning the safe
  unpickler off for every file. ``HistoryBuffer`` also pickles its class-level
  table of statistics functions through ``getattr``, and allowing ``getattr``
  would open the unpickler to arbitrary code; we stop pickling that table (it
  is class state, rebuilt on import), so checkpoints need no ``getattr``.
- mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device``
  unconditionally. On hosts without CUDA we create a gloo process group before
  the Runner so that ``tools/dist_train.sh CONFIG 2`` also runs on CPU.
- Saving: mmengine's local backend writes in place and its ``CheckpointHook``
  deletes the oldest kept checkpoint before writing the new one; a crash,
  full disk or unwritable work dir while saving then loses checkpoints. We
  write atomically (errors name the file) and delete only after the new
  checkpoint and ``last_checkpoint`` are on disk.
- mmengine's optimizer builder imports ``transformers`` at import time to
  register its ``Adafactor``; with peft installed (LoRA) transformers then
  imports peft, dynamo and sympy: about 8 s of every process's start. We
  import the builder without it and register ``Adafactor`` as a function that
  imports transformers when such an optimizer is built.

mmsegmentation under mmcv-lite (no compiled ``mmcv._ext``) is handled by
:mod:`mosic_mm.compat_mmcv_ext`, which only ``mosic_mm.seg`` installs.
"""
import os

import numpy as np
import torch


def _numpy_globals() -> list:
    """numpy objects that mmengine checkpoints pickle (arrays, dtypes, scalars)."""
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [
        type(np.dtype(t))
        for t in (np.float16, np.float32, np.float64, np.int8, np.int16,
                  np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                  np.uint64, np.bool_)
    ]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


def checkpoint_safe_globals() -> list:
    """The allow-list of non-tensor globals an mmengine checkpoint may hold."""
    from mmengine.logging.history_buffer import HistoryBuffer
    return [HistoryBuffer, *_numpy_globals()]


def _history_buffer_state(self) -> dict:
    """``HistoryBuffer.__getstate__`` without the class-level method table."""
    return {
        k: v
        for k, v in self.__dict__.items() if k != 'statistics_methods'
    }


def register_checkpoint_safe_globals() -> None:
    """Allow mmengine checkpoints through ``torch.load(weights_only=True)``."""
    from mmengine.logging.history_buffer import HistoryBuffer
    HistoryBuffer.__getstate__ = _history_buffer_state
    torch.serialization.add_safe_globals(checkpoint_safe_globals())


def _adafactor(params, **kwargs):
    """transformers' ``Adafactor``, imported when one is built."""
    from transformers import Adafactor
    return Adafactor(params, **kwargs)


def defer_transformers_import() -> None:
    """Import mmengine's optimizer builder without importing transformers
    and register ``Adafactor`` lazily (module docstring). Nothing to do when
    either is imported already or transformers is not installed."""
    import importlib.util
    import sys
    if ('mmengine.optim' in sys.modules or 'transformers' in sys.modules
            or importlib.util.find_spec('transformers') is None):
        return
    sys.modules['transformers'] = None  # `import transformers` fails
    try:
        from mmengine.optim.optimizer import builder
    finally:
        del sys.modules['transformers']
    from mmengine.registry import OPTIMIZERS
    OPTIMIZERS.register_module(name='Adafactor', module=_adafactor)
    builder.TRANSFORMERS_OPTIMIZERS.append('Adafactor')


def init_cpu_distributed(launcher: str) -> bool:
    """Start a gloo process group for ``launcher='pytorch'`` without CUDA.

    Returns True when it created the group (the Runner then skips its own
    ``init_dist``, which would call ``torch.cuda.set_device``).
    """
    import torch.distributed as dist
    if launcher != 'pytorch' or torch.cuda.is_available():
        return False
    if dist.is_available() and dist.is_initialized():
        return False
    missing = [
        k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
        if k not in os.environ
    ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch needs the environment variables {missing}; '
            'start the job with tools/dist_train.sh (torchrun).')
    dist.init_process_group(backend='gloo')
    return True


def _write_error(filepath, error: OSError) -> OSError:
    """``error`` again (same errno, so the same ``OSError`` subclass) with a
    message naming the file that could not be written."""
    return OSError(
        error.errno, f'cannot write {filepath}: {error.strerror or error} '
        '(disk full? work dir not writable?); an existing file '
        'of that name is unchanged')


def _atomic_write(data, filepath, mode: str, **open_kwargs) -> None:
    import tempfile

    import mmengine
    directory = os.path.dirname(os.path.abspath(filepath))
    tmp = None
    try:
        mmengine.mkdir_or_exist(directory)
        fd, tmp = tempfile.mkstemp(dir=directory,
                                   prefix='.tmp_',
                                   suffix=os.path.basename(filepath))
        with os.fdopen(fd, mode, **open_kwargs) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError):
            raise _write_error(filepath, e) from e
        raise


def register_atomic_local_backend() -> None:
    """Make mmengine's local file backend write atomically (temporary file in
    the same folder, fsync, rename): a run killed while saving a checkpoint
    never leaves a truncated ``iter_N.pth`` or ``last_checkpoint`` behind."""
    from mmengine.fileio.backends import LocalBackend, register_backend

    class AtomicLocalBackend(LocalBackend):

        def put(self, obj: bytes, filepath) -> None:
            _atomic_write(obj, filepath, 'wb')

        def put_text(self, obj: str, filepath, encoding: str = 'utf-8'):
            _atomic_write(obj, filepath, 'w', encoding=encoding)

    register_backend('local', AtomicLocalBackend, force=True, prefixes='')


def _save_checkpoint_with_step(self, runner, step, meta):
    """``CheckpointHook._save_checkpoint_with_step`` that deletes the
    checkpoint falling out of ``max_keep_ckpts`` only after the new one and
    ``last_checkpoint`` (atomically) are written. mmengine deletes first, so
    a save failing on a full disk or an unwritable work dir left no
    checkpoint at all with ``max_keep_ckpts=1``."""
    import os.path as osp

    from mmengine.dist import is_main_process
    remove = None
    if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                        and self.keep_ckpt_ids[-1] == step):
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            remove = self.keep_ckpt_ids.popleft()
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
    ckpt_filename = self.filename_tmpl.format(step)
    self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
    runner.message_hub.update_info('last_ckpt', self.last_ckpt)
    runner.save_checkpoint(self.out_dir,
                           ckpt_filename,
                           self.file_client_args,
                           save_optimizer=self.save_optimizer,
                           save_param_scheduler=self.save_param_scheduler,
                           meta=meta,
                           by_epoch=self.by_epoch,
                           backend_args=self.backend_args,
                           **self.args)
    if not is_main_process():
        return
    _atomic_write(self.last_ckpt,
                  osp.join(runner.work_dir, 'last_checkpoint'),
                  'w',
                  encoding='utf-8')
    if remove is not None:
        path = self.file_backend.join_path(self.out_dir,
                                           self.filename_tmpl.format(remove))
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # deepspeed checkpoints
            self.file_backend.rmtree(path)


def register_safe_checkpoint_rotation() -> None:
    """Make mmengine's ``CheckpointHook`` write the new checkpoint and
    ``last_checkpoint`` before deleting the oldest kept one (see
    :func:`_save_checkpoint_with_step`)."""
    from mmengine.hooks import CheckpointHook
    CheckpointHook._save_checkpoint_with_step = _save_checkpoint_with_step
