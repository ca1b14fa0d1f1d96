"""Filling the track cache of a training config (mosic_mm.apis.extract_tracks
and mosic_mm.tracks.extraction): what a plan extracts, every window the
config's SampleClip can pick, resumable (finished videos skipped, at scale
without opening them: the manifests), files of other settings reported or
overwritten, and every dataset of a mix filled."""
import glob
import os
import os.path as osp
from pathlib import Path

import pytest
from mmengine.config import Config

from mosic_mm.apis import extract_tracks
from mosic_mm.tracks import cache as track_cache
from mosic_mm.tracks.cache import read_header
from mosic_mm.tracks.extraction import (
    expected_header,
    make_plan,
    read_manifest,
    read_manifests,
    settings_digest,
)

REPO = Path(__file__).resolve().parents[2]
DS = 'train_dataloader.dataset'


def _options(root, **extra):
    """The synthetic config on a small synthetic root: 3-frame clips, step
    2 (windows 0, 2 of 8 frames)."""
    return {f'{DS}.data_root': root, f'{DS}.num_train': 4,
            f'{DS}.num_val': 2, f'{DS}.num_frames': 8,
            f'{DS}.size': [64, 64], f'{DS}.pipeline.0.clip_len': 3,
            f'{DS}.pipeline.0.frame_stride': 2, **extra}


def _files(cache):
    return sorted(glob.glob(osp.join(str(cache), '**', '*.npz'),
                            recursive=True))


def test_fills_the_cache_then_skips_and_reports_other_settings(
        synthetic_root, synthetic_config, tmp_path, capsys):
    cache = tmp_path / 'cache'
    assert extract_tracks(synthetic_config, cache_dir=str(cache),
                          cfg_options=_options(synthetic_root)) == 0
    files = _files(cache)
    assert [osp.basename(f) for f in files] == [
        f'train_000{i}.npz' for i in range(4)]
    header = read_header(files[0])
    assert header['window_starts'] == [0, 2]  # 8 frames, T=3, stride 2
    assert header['clip_len'] == 3 and header['stride'] == 2
    assert header['window_step'] == 2  # the config's SampleClip
    assert header['frame_size'] == [64, 64] and header['grid_size'] == 16
    assert header['tracker'] == dict(type='DISFlowTracker')
    mtimes = [os.stat(f).st_mtime_ns for f in files]

    capsys.readouterr()
    assert extract_tracks(synthetic_config, cache_dir=str(cache),
                          cfg_options=_options(synthetic_root)) == 0
    out = capsys.readouterr()
    assert '0 done, 4 skipped (already there), 0 failed' in out.out + out.err
    assert [os.stat(f).st_mtime_ns for f in files] == mtimes
    # other settings: failed with the reason, files left alone ...
    other = _options(synthetic_root, **{f'{DS}.pipeline.0.window_step': 1})
    assert extract_tracks(synthetic_config, cache_dir=str(cache),
                          cfg_options=other) == 1
    out = capsys.readouterr()
    log = out.out + out.err
    assert '0 done, 0 skipped (already there), 4 failed' in log
    assert 'FAILED train_0000' in log and 'window_step: file has 2, ' \
        'expected 1' in log and '--overwrite' in log
    assert [os.stat(f).st_mtime_ns for f in files] == mtimes
    # ... unless overwrite
    assert extract_tracks(synthetic_config, cache_dir=str(cache),
                          overwrite=True, cfg_options=other) == 0
    assert read_header(files[0])['window_starts'] == [0, 1, 2, 3]


def test_the_plan_is_the_deterministic_prefix_and_the_sampler(
        synthetic_config):
    cfg = Config.fromfile(synthetic_config)
    plan = make_plan(cfg)
    sampler = plan['sampler']
    assert (sampler.clip_len, sampler.frame_stride, sampler.window_step,
            sampler.start_rule) == (6, 3, 2, 'frames_fit')
    assert [s['type'] for s in plan['prefix']] == ['LoadClip']
    assert plan['dataset']['pipeline'] == []
    assert plan['dataset']['min_frames'] == 6  # short videos left out
    assert plan['tracker'] == dict(type='DISFlowTracker')
    assert plan['grid_size'] == 16 and plan['cache_dir'] is None
    # the header a 24-frame video's file must have: the sampler's windows
    exp = expected_header(dict(video_id='v', total_frames=24), plan)
    assert exp['window_starts'] == sampler.starts(24).tolist() == [
        0, 2, 4, 6, 8]
    assert (exp['clip_len'], exp['stride'], exp['frame_stride'],
            exp['window_step']) == (6, 3, 3, 2)
    assert expected_header(dict(video_id='v', total_frames=12),
                           plan)['stride'] == 2  # 12 // 6
    # another tracker: its own defaults, with the checkpoint given
    plan = make_plan(Config.fromfile(synthetic_config),
                     tracker='CoTracker3', checkpoint='c.pth')
    assert plan['tracker'] == dict(type='CoTracker3', checkpoint='c.pth')
    # random steps before the tracks, or no SampleClip / tracks step: refused
    cfg = Config.fromfile(synthetic_config)
    cfg.train_dataloader.dataset.pipeline.insert(1, dict(type='ClipFlip'))
    with pytest.raises(ValueError, match=r"random transforms \['ClipFlip'\]"):
        make_plan(cfg)
    cfg = Config.fromfile(synthetic_config)
    cfg.train_dataloader.dataset.pipeline.pop(0)
    with pytest.raises(ValueError, match='has no SampleClip step'):
        make_plan(cfg)
    cfg = Config.fromfile(synthetic_config)
    cfg.train_dataloader.dataset.pipeline.pop(2)
    with pytest.raises(ValueError, match='no LoadTracks or TrackPoints'):
        make_plan(cfg)


def test_settings_digest_names_what_every_file_shares(synthetic_config):
    def digest(**options):
        cfg = Config.fromfile(synthetic_config)
        cfg.merge_from_dict(options)
        return settings_digest(make_plan(cfg))
    base = digest()
    assert len(base) == 12 and base == digest()
    assert base == digest(**{f'{DS}.pipeline.0.random_start': False})
    for key, value in (('pipeline.0.window_step', 4),
                       ('pipeline.0.clip_len', 4),
                       ('pipeline.0.frame_stride', 2),
                       ('pipeline.0.start_rule', 'span_fits'),
                       ('pipeline.2.grid_size', 8),
                       ('pipeline.2.tracker.type', 'StaticTracker'),
                       ('pipeline.1.decode_size', [32, 32])):
        assert digest(**{f'{DS}.{key}': value}) != base, key


def test_manifests_keep_the_last_size_of_each_video(tmp_path):
    folder = tmp_path / 'm'
    folder.mkdir()
    (folder / 'rank0.txt').write_text('a 10\nb/c d 20\na 11\nb 3')
    (folder / 'rank1.txt').write_text('e 5\ntorn 1x\n')
    (folder / 'notes.txt').write_text('z 1\n')
    assert read_manifest(str(folder / 'rank0.txt')) == {
        'a': 11, 'b/c d': 20, 'b': 3}
    assert read_manifests(str(folder)) == {'a': 11, 'b/c d': 20, 'b': 3,
                                           'e': 5}
    assert read_manifests(str(tmp_path / 'none')) == {}


def test_manifest_skips_finished_videos_without_reading_them(
        synthetic_root, synthetic_config, tmp_path, monkeypatch):
    cache = tmp_path / 'cache'
    static = _options(synthetic_root,
                      **{f'{DS}.pipeline.2.tracker.type': 'StaticTracker'})
    assert extract_tracks(synthetic_config, cache_dir=str(cache), limit=3,
                          cfg_options=static) == 0
    manifests = list((cache / '.manifest').glob('*/rank0.txt'))
    assert len(manifests) == 1
    lines = manifests[0].read_text().splitlines()
    assert [line.split()[0] for line in lines] == [f'train_000{i}'
                                                   for i in range(3)]
    assert int(lines[0].split()[1]) == os.stat(
        cache / 'train_0000.npz').st_size

    def no_read(path):
        raise AssertionError(f'{path} was opened')
    monkeypatch.setattr(track_cache, 'read_header', no_read)
    # the 3 listed videos are skipped unopened, the 4th is extracted
    assert extract_tracks(synthetic_config, cache_dir=str(cache),
                          cfg_options=static) == 0
    assert len(list(cache.glob('*.npz'))) == 4
    assert sorted(line.split()[0] for line in
                  manifests[0].read_text().splitlines()) == [
        f'train_000{i}' for i in range(4)]


def test_extraction_fills_every_dataset_of_a_mix(tmp_path):
    from mosic_mm.synthetic import write_dataset
    roots = []
    for i, n in enumerate((3, 2)):
        root = str(tmp_path / f'root{i}')
        write_dataset(root, num_train=n, num_val=0, num_frames=8,
                      size=(32, 32), seed=i, progress=False)
        roots.append(root)
    opts = {}
    for i, root in enumerate(roots):
        # pipeline: 0 SampleClip, 1 LoadClip, 2 ClipResize, 3 LoadTracks
        p = f'{DS}.datasets.{i}.'
        opts.update({p + 'data_root': root, p + 'pipeline.0.clip_len': 3,
                     p + 'pipeline.0.frame_stride': 2,
                     p + 'pipeline.0.window_step': 2,
                     p + 'pipeline.2.scale': [32, 32],
                     p + 'pipeline.3.grid_size': 4,
                     p + 'pipeline.3.tracker.type': 'StaticTracker'})
    config = str(REPO / 'configs' / 'mosic_vits_mixed.py')
    assert extract_tracks(config, cfg_options=opts) == 0
    for root, n in zip(roots, (3, 2)):
        folder = osp.join(root, 'track_cache', 'StaticTracker')
        files = [f for f in sorted(os.listdir(folder)) if f.endswith('.npz')]
        assert files == [f'train_000{i}.npz' for i in range(n)]
        assert read_header(osp.join(folder, files[0]))[
            'window_starts'] == [0, 2]  # 8 - 3 * 2 = 2: the last start
    with pytest.raises(ValueError, match='mixes 2 datasets'):
        extract_tracks(config, cache_dir=str(tmp_path / 'c'),
                       cfg_options=opts)
