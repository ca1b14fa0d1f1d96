"""Fixtures shared by the package's tests (``tests/``, mirroring
``mosic_mm/``) and the lab's (``tools/lab/tests/``).

Helpers are fixtures: a test asks for ``tiny_model_cfg``, ``clip_batch``,
``spawn_gloo``... by argument; no test imports another test module or this
file.

**Comparisons across processes** (a resumed run against an uninterrupted
one, two ranks against one process, a subprocess against this one) use
:func:`assert_same_run` / the ``same_run`` fixture: losses at ``rel=1e-5``,
tensors with ``torch.testing.assert_close`` at its float32 defaults
(rtol 1.3e-6, atol 1e-5). Two processes of the same build may differ in
the last bits (thread scheduling of reductions: a clean-clone CI run saw
two uninterrupted runs differ by 1.2e-7 at iteration 2); a real bug
(missing RNG state, wrong resume point) moves losses by percents. Within
one process, comparisons are exact unless a test says why not. Nothing
compares bit-exact float / OpenCV / numpy-SIMD output across machines.
"""
import logging
import os
import os.path as osp
import socket
import sys
import uuid

import pytest

REPO = osp.dirname(osp.abspath(__file__))

# A ViT/14 small enough for CPU tests: 56 px -> 4x4 tokens.
_TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2,
                  feedforward_channels=64)
_SYNTHETIC_SMALL = dict(num_train=4, num_val=2, num_frames=8, size=(64, 64),
                        seed=0)
#: losses of two processes of the same run (see the module docstring)
CROSS_PROCESS_REL = 1e-5

# MOSIC_TEST_CV_NO_OPT=1: run the suite with OpenCV's optimisations off, to
# show on one machine that no test depends on the CPU paths OpenCV takes
# (IPP and SIMD dispatch round floats differently from one CPU to another).
CV_NO_OPT = os.environ.get('MOSIC_TEST_CV_NO_OPT', '') not in ('', '0')
os.environ.setdefault('OMP_NUM_THREADS', '2')


def _opencv_optimisations_off() -> None:
    """``cv2.setUseOptimized(False)`` here (no IPP, nothing dispatched above
    the build's baseline), and the same for every process the tests start
    (tools run by subprocess, spawned ranks and workers) through OpenCV's
    own variables, which they inherit: ``OPENCV_IPP=disabled`` and
    ``OPENCV_CPU_DISABLE`` naming the dispatched features this CPU has (the
    ``*`` entries of ``cv2.getCPUFeaturesLine()``)."""
    import cv2
    dispatched = [f[1:] for f in cv2.getCPUFeaturesLine().split()
                  if f.startswith('*') and not f.endswith('?')]
    os.environ['OPENCV_IPP'] = 'disabled'
    if dispatched:
        os.environ['OPENCV_CPU_DISABLE'] = ','.join(dispatched)
    os.environ.setdefault('OPENCV_LOG_LEVEL', 'ERROR')  # "IPP was disabled"
    cv2.setUseOptimized(False)


if CV_NO_OPT:
    _opencv_optimisations_off()


def pytest_report_header(config):
    if CV_NO_OPT:
        return ['OpenCV optimisations: off (MOSIC_TEST_CV_NO_OPT)']


def pytest_addoption(parser):
    parser.addoption('--runslow', action='store_true',
                     help='also run tests marked slow')


def pytest_collection_modifyitems(config, items):
    if config.getoption('--runslow'):
        return
    skip = pytest.mark.skip(
        reason='slow: skipped without --runslow (make test-fast)')
    for item in items:
        if 'slow' in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _mmengine_loggers_follow_capture(request):
    """MMLogger binds ``sys.stdout`` when an instance is created, so a logger
    made during an earlier test keeps writing into that test's capture and a
    later ``capsys`` sees nothing. Point every instance at this test's
    stdout (after capsys/capfd, when the test uses them)."""
    for name in ('capsys', 'capfd'):
        if name in request.fixturenames:
            request.getfixturevalue(name)
    logging_mod = sys.modules.get('mmengine.logging')
    if logging_mod is not None:
        for logger in logging_mod.MMLogger._instance_dict.values():
            for h in logger.handlers:
                if type(h) is logging.StreamHandler:
                    h.stream = sys.stdout  # (setStream flushes the old one,
                    # which may be a closed capture)
    yield


# ---------------------------------------------------------------- paths
@pytest.fixture(scope='session')
def repo() -> str:
    """The checkout's root."""
    return REPO


@pytest.fixture(scope='session')
def synthetic_config() -> str:
    """``configs/mosic_vits_synthetic.py``: the embedded default."""
    return osp.join(REPO, 'configs', 'mosic_vits_synthetic.py')


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory) -> str:
    """A small synthetic dataset (4 + 2 videos of 8 frames, 64 px) shared by
    the tests of a session."""
    from mosic_mm.synthetic import write_dataset
    root = str(tmp_path_factory.mktemp('synthetic'))
    write_dataset(root, **_SYNTHETIC_SMALL, progress=False)
    return root


# ---------------------------------------------------------------- models
@pytest.fixture
def tiny_arch() -> dict:
    """A ViT/14 arch small enough for CPU tests (56 px -> 4x4 tokens)."""
    return dict(_TINY_ARCH)


def _tiny_model_cfg(**overrides) -> dict:
    cfg = dict(
        type='MoSiC',
        backbone=dict(type='VisionTransformer', arch=dict(_TINY_ARCH),
                      img_size=56, patch_size=14, out_type='featmap',
                      layer_scale_init_value=1e-5),
        head=dict(type='SinkhornClusteringHead', hidden_channels=(48,),
                  out_channels=16, num_prototypes=8),
        num_trainable_blocks=1)
    cfg.update(overrides)
    return cfg


@pytest.fixture
def tiny_model_cfg():
    """``tiny_model_cfg(**overrides)``: a MoSiC config with a 2-block,
    32-wide ViT/14 at 56 px and a small head (one trainable block)."""
    return _tiny_model_cfg


@pytest.fixture
def tiny_model():
    """``tiny_model(**overrides)``: the MoSiC of ``tiny_model_cfg``, built
    with torch seed 0 and initialised (teacher equal to the student)."""
    def build(**overrides):
        import torch

        import mosic_mm  # noqa: F401
        from mosic_mm.registry import MODELS
        torch.manual_seed(0)
        model = MODELS.build(_tiny_model_cfg(**overrides))
        model.init_weights()
        return model
    return build


@pytest.fixture
def clip_batch():
    """``clip_batch(B=2, T=3, N=5, size=56, seed=0)``: a data batch of ``B``
    random uint8 clips [T,3,size,size] with random tracks [T,N,2] inside
    the frame and random visibility (~70 % visible), what a MoSiC
    dataloader gives, before the data preprocessor."""
    def make(B=2, T=3, N=5, size=56, seed=0) -> dict:
        import torch
        from mmpretrain.structures import DataSample
        g = torch.Generator().manual_seed(seed)
        clips = torch.randint(0, 256, (B, T, 3, size, size), generator=g,
                              dtype=torch.uint8)
        samples = []
        for _ in range(B):
            s = DataSample()
            s.set_field(torch.rand(T, N, 2, generator=g) * (size - 1),
                        'tracks')
            s.set_field(torch.rand(T, N, generator=g) > 0.3, 'visibility')
            samples.append(s)
        return dict(inputs=list(clips), data_samples=samples)
    return make


@pytest.fixture
def model_loss():
    """``model_loss(model, batch)``: the loss dict of a training step's
    forward (data preprocessor, then ``mode='loss'``)."""
    def loss(model, batch):
        data = model.data_preprocessor(batch, True)
        return model(**data, mode='loss')
    return loss


# ---------------------------------------------------------------- training
def _tiny_train_overrides(data_root: str, max_iters: int = 2) -> dict:
    return {
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.dataset.num_train': 4,
        'train_dataloader.dataset.num_val': 2,
        'train_dataloader.dataset.num_frames': 8,
        'train_dataloader.dataset.size': [64, 64],
        'train_dataloader.dataset.pipeline.0.clip_len': 3,
        'train_dataloader.dataset.pipeline.0.frame_stride': 2,
        'train_dataloader.dataset.pipeline.3.size': 56,
        'train_dataloader.dataset.pipeline.5.num_tracks': 16,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'model.backbone.arch.embed_dims': 32,
        'model.backbone.arch.num_layers': 2,
        'model.backbone.arch.num_heads': 2,
        'model.backbone.arch.feedforward_channels': 64,
        'model.backbone.img_size': 56,
        'model.head.hidden_channels': [48],
        'model.head.out_channels': 16,
        'model.head.num_prototypes': 8,
        'train_cfg.max_iters': max_iters,
        'default_hooks.logger.interval': 1,
        # unique per Runner: mmengine's default (config name + time in
        # seconds) makes two Runners built within one second share their
        # logger and visualizer, i.e. draw into the first one's work_dir
        'experiment_name': f'tiny_{uuid.uuid4().hex[:12]}',
    }


@pytest.fixture
def tiny_train_overrides():
    """``tiny_train_overrides(data_root, max_iters=2)``: config overrides
    turning ``configs/mosic_vits_synthetic.py`` into a seconds-long run on
    a small synthetic root (pipeline: 0 SampleClip, 1 LoadClip, 2
    LoadTracks, 3 crop, 4 flip, 5 SelectTracks, 6 pack)."""
    return _tiny_train_overrides


@pytest.fixture
def tiny_extract_options():
    """``tiny_extract_options(data_root)``: ``--cfg-options`` values that
    make the synthetic config's track extraction tiny (4 train / 2 val
    videos of 8 frames at 64 px, clips of 3 frames 2 apart)."""
    def options(data_root: str) -> list:
        return [f'train_dataloader.dataset.data_root={data_root}',
                'train_dataloader.dataset.num_train=4',
                'train_dataloader.dataset.num_val=2',
                'train_dataloader.dataset.num_frames=8',
                'train_dataloader.dataset.size=[64,64]',
                'train_dataloader.dataset.pipeline.0.clip_len=3',
                'train_dataloader.dataset.pipeline.0.frame_stride=2']
    return options


@pytest.fixture
def hummingbird_spy(monkeypatch):
    """The settings of every Hummingbird run from here on (each returns
    mIoU 0.5 and runs nothing): a list that fills as runs happen."""
    import importlib
    hb = importlib.import_module('mosic_mm.evaluation.protocols.hummingbird')
    seen = []

    def spy(vit, info, train, val, s, **kw):
        seen.append(s)
        return dict(mIoU=0.5)
    monkeypatch.setattr(hb, 'hummingbird_miou', spy)
    return seen


@pytest.fixture
def tiny_train_options():
    """``tiny_train_options(data_root, max_iters=2)``: the same overrides
    as ``--cfg-options`` arguments."""
    def options(data_root: str, max_iters: int = 2) -> list:
        def cli(v):
            return '[' + ','.join(map(str, v)) + ']' if isinstance(
                v, list) else v
        return [f'{k}={cli(v)}' for k, v in _tiny_train_overrides(
            data_root, max_iters).items()]
    return options


@pytest.fixture
def scalar_records():
    """``scalar_records(work_dir, key='loss')``: {iteration: record} of the
    records holding ``key`` in every run's ``vis_data/scalars.json`` under
    ``work_dir`` (later runs win)."""
    def read(work_dir, key: str = 'loss') -> dict:
        import glob
        import json
        records = {}
        for path in sorted(glob.glob(osp.join(str(work_dir), '*', 'vis_data',
                                              'scalars.json'))):
            with open(path) as f:
                for line in f:
                    rec = json.loads(line)
                    if key in rec:
                        records[rec['iter']] = rec
        return records
    return read


def assert_same_run(losses_a, losses_b, state_a=None, state_b=None) -> None:
    """The cross-process tolerance policy (module docstring): equal
    iteration keys, losses within ``rel=CROSS_PROCESS_REL``, state-dict
    tensors within ``torch.testing.assert_close``'s float32 defaults."""
    import torch
    assert list(losses_a) == list(losses_b)
    for k in losses_a:
        assert losses_a[k] == pytest.approx(losses_b[k],
                                            rel=CROSS_PROCESS_REL), k
    if state_a is not None:
        assert set(state_a) == set(state_b)
        for k in state_a:
            torch.testing.assert_close(state_a[k], state_b[k], msg=k)


@pytest.fixture
def same_run():
    """:func:`assert_same_run`: compare two processes of one run."""
    return assert_same_run


# ---------------------------------------------------------------- processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def free_port():
    """``free_port()``: a TCP port of 127.0.0.1 free now."""
    return _free_port


@pytest.fixture
def spawn_gloo():
    """``spawn_gloo(body, out_dir, world_size=2, timeout_s=120)``: run
    ``body(rank, out_dir)`` (a module-level function: it is pickled) on
    ``world_size`` spawned CPU processes of one gloo process group, one
    thread each; returns when all have ended (an error in one is
    raised)."""
    from tools.lab.lib.processes import spawn_gloo as spawn
    return spawn


@pytest.fixture
def load_tool():
    """``load_tool('evaluate.py')``: ``tools/<script>`` imported as a
    module (``'lab/gpu_check.py'`` for the lab's)."""
    def load(script: str):
        import importlib.util
        name = osp.splitext(script)[0].replace('/', '_') + '_tool'
        spec = importlib.util.spec_from_file_location(
            name, osp.join(REPO, 'tools', script))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return load


@pytest.fixture
def hide_modules_prelude():
    """``hide_modules_prelude(('mmcv._ext',))``: Python code to prepend to
    a subprocess's script: one meta-path finder in front of the usual ones
    reports the blocked modules (and their submodules) as absent
    (find_spec -> None, import -> ModuleNotFoundError), as in a venv with
    mmcv-lite; then checks that it works. Defines ``BLOCKED``."""
    def prelude(blocked: tuple) -> str:
        import textwrap
        return textwrap.dedent(f"""
            import sys
            BLOCKED = {tuple(blocked)!r}

            class _HideModules:
                def __init__(self, finders):
                    self.finders = finders

                def find_spec(self, name, path=None, target=None):
                    if any(name == b or name.startswith(b + '.')
                           for b in BLOCKED):
                        return None
                    for finder in self.finders:
                        spec = finder.find_spec(name, path, target)
                        if spec is not None:
                            return spec
                    return None

            sys.meta_path[:] = [_HideModules(list(sys.meta_path))]
            import importlib.util
            for _name in BLOCKED:
                assert importlib.util.find_spec(_name) is None, _name
            """)
    return prelude


@pytest.fixture
def torchrun():
    """``torchrun(args, env=None, timeout=600, nproc=2) -> (proc, log)``:
    ``python -m torch.distributed.run --nproc_per_node N ARGS`` from the
    checkout on a free port, one thread per rank; retried (only) when
    another process took the port between choosing and binding it."""
    import subprocess

    def run(args, env=None, timeout=600, nproc=2, tries=3):
        env = dict(os.environ if env is None else env, OMP_NUM_THREADS='1')
        for _ in range(tries):
            cmd = [sys.executable, '-m', 'torch.distributed.run',
                   f'--nproc_per_node={nproc}',
                   f'--master_port={_free_port()}', *args]
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True,
                                  text=True, timeout=timeout, env=env)
            log = proc.stdout + proc.stderr
            if proc.returncode == 0 or 'address already in use' not in \
                    log.lower():
                break
        return proc, log
    return run
