"""tools/evaluate.py and tools/dist_evaluate.sh: the per-protocol
subcommands on the synthetic frame folders, the bench / all-paper tables,
``--set`` (an unknown key, or one the protocol does not read, exits naming
it and the valid ones; a known one reaches the run), and two processes
equal to one."""
import importlib
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(autouse=True, scope='module')
def _faiss_one_thread():
    """faiss's OpenMP K-means spins on an oversubscribed 2-core box;
    restored afterwards."""
    import faiss
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory, synthetic_config):
    """A training config with a tiny ViT/14 (56 px -> 4x4 tokens; 64 dims,
    the paper protocols' PCA-50 needs >= 50)."""
    path = tmp_path_factory.mktemp('cfg') / 'tiny.py'
    path.write_text(
        f'_base_ = [{synthetic_config!r}]\n'
        'model = dict(backbone=dict(arch=dict(_delete_=True, embed_dims=64, '
        'num_layers=2, num_heads=2, feedforward_channels=128), '
        'img_size=56))\n')
    return str(path)


def _export(config, path):
    """The config's initial backbone as an exported backbone file."""
    from mosic_mm.evaluation.features import build_backbone
    vit, _ = build_backbone(config)
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in vit.state_dict().items()}},
               str(path))
    return str(path)


@pytest.fixture(scope='module')
def voc_davis(tmp_path_factory):
    """Synthetic data in the VOC (devkit) and DAVIS 2017 layouts."""
    from mosic_mm.synthetic import make_davis_layout, make_voc_layout
    base = tmp_path_factory.mktemp('layouts')
    make_voc_layout(str(base / 'voc'), n_train=4, n_val=3, size=48)
    make_davis_layout(str(base / 'davis'), n_videos=2, n_frames=4, size=48)
    return dict(voc2012=str(base / 'voc'), davis2017=str(base / 'davis'))


class _Stop(Exception):
    """Raised by a spy once it has seen what the protocol builds."""


# --------------------------------------------------- per-protocol commands
@pytest.mark.slow
def test_all_subcommand_init_vs_exported(synthetic_root, synthetic_config,
                                         load_tool, tmp_path, capsys):
    """`all` on the demo config's init and its exported weights: every
    protocol row, the same numbers for both."""
    path = _export(synthetic_config, tmp_path / 'backbone.pth')
    common = ['--data-root', synthetic_root, '--input-size', '56',
              '--frame-step', '2', '--ks', '6', '12', '--set', 'iters=20',
              '--no-progress']
    res = load_tool('evaluate.py').main(
        ['all', synthetic_config, path, '--config', synthetic_config,
         *common])
    out = capsys.readouterr().out
    assert 'DAVIS J&F' in out and 'hummingbird 1/1 mIoU' in out
    assert 'fast presets of the paper protocols' in out
    init, exported = res.values()
    assert set(init) == {
        'DAVIS J&F', 'DAVIS J', 'DAVIS F', 'overcluster K=6 mIoU',
        'overcluster K=12 mIoU', 'hummingbird 1/1 mIoU', 'linear probe mIoU',
        'videoclust per-frame mIoU', 'videoclust per-clip mIoU'}
    # the exported init weights give the same numbers as the config's init
    assert init == pytest.approx(exported)
    assert all(0.0 <= v <= 1.0 for v in init.values())


def test_set_reaches_the_protocol(synthetic_root, tiny_config, load_tool,
                                  tmp_path):
    """`--set seed=7 niter=2` changes the overclustering (K-means seed and
    iterations), `--json` writes the table."""
    tool = load_tool('evaluate.py')
    common = ['overcluster', tiny_config, '--data-root', synthetic_root,
              '--ks', '6', '--no-progress']
    a = tool.main(common + ['--set', 'seed=7', 'niter=2', '--json',
                            str(tmp_path / 'a.json')])
    b = tool.main(common)
    (a, ), (b, ) = a.values(), b.values()
    assert set(a) == set(b) == {'overcluster K=6 mIoU'}
    assert a != b
    assert json.loads((tmp_path / 'a.json').read_text()) == {
        next(iter(tool.main(common + ['--set', 'seed=7', 'niter=2']))): a}


@pytest.mark.parametrize('argv,key,settings', [
    (['overcluster', 'CFG', 'CKPT', '--set', 'standardize=False'],
     'standardize', 'OverclusteringSettings'),
    (['videoclust', 'CFG', '--set', 'standardize=False'], 'standardize',
     'VideoClusteringSettings'),
    (['propagate', 'CFG', '--set', 'nonsense=1'], 'nonsense',
     'PropagationSettings'),
    (['hummingbird', 'CFG', '--set', 'lr=0.1'], 'lr',
     'HummingbirdSettings'),
    (['all', 'CFG', '--set', 'nonsense=1'], 'nonsense', None),
    (['bench', 'voc-overcluster', 'CFG', '--set', 'standardize=False'],
     'standardize', 'OverclusteringSettings'),
    (['bench', 'voc-linear', 'CFG', '--preset', 'fast', '--set', 'k=3'], 'k',
     'LinearSettings'),
    (['all-paper', 'CFG', '--set', 'nonsense=1'], 'nonsense', None)])
def test_set_refuses_a_key_the_protocol_does_not_read(
        argv, key, settings, tiny_config, synthetic_root, load_tool,
        tmp_path):
    """Before any model is loaded (CKPT need not exist): the message names
    the key and the settings there are."""
    from mosic_mm.evaluation.benchmarks import BENCHMARKS
    from mosic_mm.evaluation.protocols import PROTOCOLS
    argv = [tiny_config if a == 'CFG' else str(tmp_path / 'missing.pth')
            if a == 'CKPT' else a for a in argv]
    if argv[0] not in ('bench', 'all-paper'):
        argv += ['--data-root', synthetic_root]
    else:
        argv += ['--out-dir', str(tmp_path / 'out')]
    with pytest.raises(SystemExit) as e:
        load_tool('evaluate.py').main(argv)
    msg = str(e.value.code)
    assert msg.startswith('tools/evaluate.py: ') and repr(key) in msg
    if settings:
        S = next(p.Settings for p in PROTOCOLS.values()
                 if p.Settings.__name__ == settings)
        valid = ', '.join(sorted(S.names()))
    else:                     # every setting of the benchmarks it runs
        valid = ', '.join(sorted({k for b in BENCHMARKS.values()
                                  for k in b.Settings.names()}))
    assert msg.endswith(valid), msg
    assert not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_set_unknown_key_exits_non_zero(tiny_config, synthetic_root,
                                        tmp_path):
    """`tools/evaluate.py overcluster CONFIG CKPT --set standardize=False`
    as a command: a non-zero exit and the key named on stderr."""
    ckpt = _export(tiny_config, tmp_path / 'backbone.pth')
    for sets in (['standardize=False'], ['nonsense=1']):
        proc = subprocess.run(
            [sys.executable, osp.join(REPO, 'tools', 'evaluate.py'),
             'overcluster', tiny_config, ckpt, '--config', tiny_config,
             '--data-root', synthetic_root, '--set', *sets], cwd=REPO,
            capture_output=True, text=True, timeout=300)
        key = sets[0].split('=')[0]
        assert proc.returncode != 0
        assert f"'{key}' is not a setting of synthetic-overcluster" in \
            proc.stderr, proc.stderr[-2000:]
        assert 'Traceback' not in proc.stderr


def _spy_linear_config(monkeypatch):
    """The mmseg configs the linear probe builds; the run stops there."""
    lin = importlib.import_module('mosic_mm.evaluation.protocols.linear')
    seen, real = [], lin.linear_config

    def spy(*args, **kwargs):
        seen.append(real(*args, **kwargs))
        raise _Stop
    monkeypatch.setattr(lin, 'linear_config', spy)
    return seen


def test_set_lr_reaches_the_linear_probe_config(
        monkeypatch, tiny_config, synthetic_root, voc_davis, load_tool,
        tmp_path):
    """`--set lr=... momentum=...` is the SGD of the mmseg config, for the
    subcommand and for bench."""
    seen = _spy_linear_config(monkeypatch)
    tool = load_tool('evaluate.py')
    with pytest.raises(_Stop):
        tool.main(['linear', tiny_config, '--data-root', synthetic_root,
                   '--no-progress', '--set', 'lr=0.123', 'momentum=0.5'])
    with pytest.raises(_Stop):
        tool.main(['bench', 'voc-linear', tiny_config, '--preset', 'fast',
                   '--data-root', voc_davis['voc2012'], '--no-progress',
                   '--out-dir', str(tmp_path), '--set', 'lr=0.321'])
    opt = [c.optim_wrapper.optimizer for c in seen]
    assert [(o.lr, o.momentum) for o in opt] == [(0.123, 0.5), (0.321, 0.9)]
    assert [osp.basename(c.filename) for c in seen] == [
        'linear_synthetic.py', 'linear_vits14_voc12aug.py']


def test_set_k_reaches_hummingbird(hummingbird_spy, tiny_config,
                                   synthetic_root, voc_davis, load_tool,
                                   tmp_path):
    """`--set k=...` is the number of neighbours of the Hummingbird run,
    for the subcommand and for bench / all-paper."""
    seen = hummingbird_spy
    tool = load_tool('evaluate.py')
    tool.main(['hummingbird', tiny_config, '--data-root', synthetic_root,
               '--no-progress', '--set', 'k=3'])
    tool.main(['all-paper', tiny_config, '--benchmarks', 'voc-hummingbird',
               'voc-overcluster', '--preset', 'fast', '--data-root',
               voc_davis['voc2012'], '--no-progress', '--out-dir',
               str(tmp_path), '--set', 'k=4', 'niter=2'])
    assert [s.k for s in seen] == [3, 4, 4]        # 1/1; 1/128 and 1/1
    assert [s.fractions for s in seen] == [(1, ), (128, 1), (128, 1)]


def test_linear_without_mmseg(synthetic_root, synthetic_config, monkeypatch,
                              load_tool, capsys):
    """Where mmsegmentation cannot be imported, `all` says so and leaves
    the linear row out; `linear` stops with the reason."""
    api = importlib.import_module('mosic_mm.apis.evaluate')
    tool = load_tool('evaluate.py')
    monkeypatch.setattr(tool, '_linear_unavailable',
                        lambda: 'mmseg missing: make setup-full')
    with pytest.raises(SystemExit, match='make setup-full'):
        tool.main(['linear', synthetic_config, '--data-root',
                   synthetic_root])
    monkeypatch.setattr(api, 'SYNTHETIC', {
        p: api.SYNTHETIC[p] for p in ('propagate', 'linear')})
    res = tool.main(['all', synthetic_config, '--data-root', synthetic_root,
                     '--input-size', '56', '--max-videos', '1',
                     '--no-progress'])
    assert 'linear: skipped; mmseg missing' in capsys.readouterr().err
    assert set(next(iter(res.values()))) == {'DAVIS J&F', 'DAVIS J',
                                             'DAVIS F'}
    assert len(res) == 1


# ------------------------------------------------------- bench / all-paper
def test_all_paper_table(tiny_config, voc_davis, load_tool, tmp_path,
                         capsys):
    """all-paper on two models (config init and its exported weights: the
    same numbers), one Markdown + JSON table naming the fast preset; bench
    NAME writes its own."""
    path = _export(tiny_config, tmp_path / 'backbone.pth')
    out = tmp_path / 'out'
    tool = load_tool('evaluate.py')
    res = tool.main([
        'all-paper', tiny_config, path, '--config', tiny_config,
        '--benchmarks', 'voc-overcluster', 'davis-propagate',
        '--preset', 'fast', '--data-root', f'voc2012={voc_davis["voc2012"]}',
        '--data-root', f'davis2017={voc_davis["davis2017"]}',
        '--out-dir', str(out), '--no-progress'])
    md = (out / 'all-paper_fast.md').read_text()
    js = json.loads((out / 'all-paper_fast.json').read_text())
    assert 'Preset: **fast**' in md and 'NOT the paper protocols' in md
    assert md in capsys.readouterr().out
    assert js['preset'] == 'fast' and len(js['columns']) == 2
    for n in ('voc-overcluster', 'davis-propagate'):
        a, b = (res[n][c]['metrics'] for c in js['columns'])
        assert a == pytest.approx(b)
        for m, v in a.items():
            assert f'| {n} | {m} | {100 * v:.2f} | {100 * v:.2f} |' in md
    tool.main(['bench', 'davis-propagate', tiny_config, '--preset', 'fast',
               '--data-root', voc_davis['davis2017'], '--out-dir', str(out),
               '--no-progress'])
    assert (out / 'davis-propagate_fast.json').is_file()


def test_bench_fast_without_data_root(tiny_config, tmp_path, monkeypatch,
                                      load_tool):
    """`bench NAME --preset fast` with no --data-root runs on the layout it
    writes, and gives the numbers of an explicit run on that root."""
    from mosic_mm.evaluation.data import synthetic as synthetic_data
    cache = tmp_path / 'cache'
    monkeypatch.setattr(synthetic_data, 'LAYOUT_CACHE', str(cache))
    tool = load_tool('evaluate.py')
    common = ['--preset', 'fast', '--no-progress']
    res = tool.main(['bench', 'davis-propagate', tiny_config, *common,
                     '--out-dir', str(tmp_path / 'a')])
    r = next(iter(res['davis-propagate'].values()))
    assert r['data_root'] == str(cache / 'davis2017')
    assert any('synthetic davis2017 layout' in n for n in r['notes'])
    again = tool.main(['bench', 'davis-propagate', tiny_config, *common,
                       '--data-root', r['data_root'],
                       '--out-dir', str(tmp_path / 'b')])
    assert next(iter(again['davis-propagate'].values()))['metrics'] == \
        r['metrics']


@pytest.mark.slow
def test_dist_evaluate_two_processes_equal_one(tiny_config, voc_davis,
                                               load_tool, tmp_path,
                                               free_port, same_run):
    """tools/dist_evaluate.sh 2 (torchrun, gloo on CPU): the same table as
    one process, written and printed by rank 0 only."""
    common = ['bench', 'voc-overcluster', tiny_config, '--preset', 'fast',
              '--data-root', voc_davis['voc2012'], '--no-progress']
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [osp.join(REPO, 'tools', 'dist_evaluate.sh'), '2', *common,
         '--out-dir', str(tmp_path / 'dist')], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('| voc-overcluster | mIoU K=500 |') == 1
    assert proc.stderr.count('wrote ') == 1
    dist_js = json.loads(
        (tmp_path / 'dist' / 'voc-overcluster_fast.json').read_text())
    assert dist_js['world_size'] == 2
    single = load_tool('evaluate.py').main(
        [*common, '--out-dir', str(tmp_path / 'one')])
    got = next(iter(dist_js['results']['voc-overcluster'].values()))
    want = next(iter(single['voc-overcluster'].values()))
    same_run(got['metrics'], want['metrics'])
