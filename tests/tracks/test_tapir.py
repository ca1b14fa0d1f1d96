"""mosic_mm.tracks.tapir against tapnet's PyTorch TAPIR.

The reference outputs in tests/data/tapir were written by
tools/lab/tapir_reference.py, which ran the pinned upstream model on the
seeded random weights that :func:`seeded_state_dict` rebuilds here.
"""
import functools
import json
import os.path as osp

import numpy as np
import pytest
import torch

from mosic_mm.tracks.tapir import (
    TAPIR,
    TAPIR_VARIANTS,
    CheckpointMismatchError,
    build_tapir,
    default_refinement_resolutions,
    load_tapir_weights,
)
from mosic_mm.tracks.tapir.ops import depthwise_conv1d
from tools.lab.tapir_reference import (
    CASES,
    case_inputs,
    degenerate,
    seeded_queries,
    seeded_state_dict,
    seeded_video,
    video_checksum,
    weight_fingerprint,
)

DATA = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'data',
                'tapir')
with open(osp.join(DATA, 'reference.json')) as _f:
    REF = json.load(_f)

TRACK_TOL = 1e-3  # px
LOGIT_TOL = 1e-4
KEYS = ('tracks', 'occlusion', 'expected_dist')


def released_shapes(variant):
    return [(k, tuple(s)) for k, s in REF['variants'][variant]['keys']]


@functools.lru_cache(maxsize=1)
def seeded_model(variant, **overrides):
    """Our model with the reference's seeded weights (last one cached)."""
    info = REF['variants'][variant]
    weights = seeded_state_dict(info['keys'], info['weight_seed'])
    got = weight_fingerprint(weights)
    assert np.allclose(got, info['weight_fingerprint'], rtol=1e-6,
                       atol=1e-3), (
        'seeded_state_dict no longer gives the weights the reference was '
        'made with; regenerate tests/data/tapir')
    return build_tapir(variant, weights, **overrides)


def small_model(causal=False, seed=0):
    """BootsTAPIR layers at a 64 x 64 initial resolution: fast
    self-consistency checks."""
    model = TAPIR(causal=causal, initial_resolution=(64, 64)).eval()
    keys = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    return load_tapir_weights(model, seeded_state_dict(keys, seed))


def small_inputs(frames=5, size=96, queries=10, seed=3):
    video = torch.from_numpy(seeded_video(frames, size, size, seed))
    points = torch.from_numpy(seeded_queries(queries, frames, size, size,
                                             seed))
    return video, points


def max_diffs(ours, ref):
    return {k: float(np.abs(np.asarray(ours[k]) - ref[k]).max())
            for k in ref}


def assert_within(diffs):
    bad = {k: d for k, d in diffs.items()
           if d > (TRACK_TOL if 'tracks' in k else LOGIT_TOL)}
    assert not bad, f'differs from upstream: {bad} (all: {diffs})'


# ----------------------------------------------------------------------
# Checkpoint keys and strict loading
# ----------------------------------------------------------------------
@pytest.mark.parametrize('variant', sorted(TAPIR_VARIANTS))
def test_released_keys_load_strictly(variant):
    shapes = released_shapes(variant)
    info = REF['variants'][variant]
    model = build_tapir(variant)
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert sorted(ours) == sorted(shapes)
    assert len(ours) == info['num_keys']
    assert sum(p.numel() for p in model.parameters()) == \
        info['num_parameters']
    load_tapir_weights(model, {k: torch.zeros(s) for k, s in shapes})
    assert all(float(v.abs().sum()) == 0 for v in model.state_dict().values())


def test_parameter_counts():
    assert REF['variants']['bootstapir']['num_keys'] == 218
    assert REF['variants']['bootstapir']['num_parameters'] == 54_699_335
    assert REF['variants']['causal_bootstapir']['num_parameters'] == \
        54_699_335
    assert REF['variants']['tapir']['num_keys'] == 188


def test_mismatches_are_named(tmp_path):
    model = build_tapir('tapir')
    good = {k: torch.zeros(s) for k, s in released_shapes('tapir')}
    key = 'torch_pips_mixer.blocks.3.mlp1_up.weight'

    missing = dict(good)
    del missing[key]
    with pytest.raises(CheckpointMismatchError, match=r'1 missing key.*' +
                       key.replace('.', r'\.')):
        load_tapir_weights(model, missing)

    extra = dict(good, **{'extra_convs.blocks.0.conv.weight':
                          torch.zeros(1)})
    with pytest.raises(CheckpointMismatchError,
                       match=r'unexpected key.*extra_convs\.blocks\.0'):
        load_tapir_weights(model, extra)

    wrong = dict(good)
    wrong['torch_pips_mixer.linear.weight'] = torch.zeros(512, 535)
    with pytest.raises(CheckpointMismatchError,
                       match=r'torch_pips_mixer\.linear\.weight is '
                       r'\(512, 535\) in the checkpoint, \(512, 486\) '
                       r'in the model'):
        load_tapir_weights(model, wrong)

    path = tmp_path / 'wrong.pt'
    torch.save(missing, path)
    with pytest.raises(CheckpointMismatchError) as err:
        load_tapir_weights(model, path)
    assert str(path) in str(err.value) and key in str(err.value)

    with pytest.raises(FileNotFoundError, match='nope.pt'):
        load_tapir_weights(model, tmp_path / 'nope.pt')

    # BootsTAPIR weights into a plain TAPIR: every kind at once.
    boots = {k: torch.zeros(s) for k, s in released_shapes('bootstapir')}
    with pytest.raises(CheckpointMismatchError,
                       match='unexpected.*shape mismatch'):
        load_tapir_weights(model, boots)


def test_default_resolutions():
    r = default_refinement_resolutions
    assert r((256, 256), (256, 256)) == [(256, 256)]
    assert r((128, 128), (256, 256)) == [(256, 256)]
    assert r((320, 320), (256, 256)) == [(256, 256), (320, 320)]
    assert r((512, 512), (256, 256)) == [(256, 256), (512, 512)]
    assert r((256, 320), (256, 256)) == [(256, 256), (256, 320)]
    assert r((1024, 1024), (256, 256)) == [(256, 256), (512, 512),
                                           (1024, 1024)]
    assert r((300, 300), (256, 256)) == [(256, 256), (296, 296)]


@pytest.mark.parametrize('multiplier', [1, 4])
@pytest.mark.parametrize('length', [3, 8, 9, 30])
def test_depthwise_conv1d_both_paths_match_grouped_conv(length, multiplier):
    gen = torch.Generator().manual_seed(length * multiplier)
    x = torch.randn(5, length + 2, 16, generator=gen)
    weight = torch.randn(16 * multiplier, 1, 3, generator=gen)
    bias = torch.randn(16 * multiplier, generator=gen)
    want = torch.nn.functional.conv1d(x.transpose(1, 2), weight, bias,
                                      groups=16).transpose(1, 2)
    torch.testing.assert_close(depthwise_conv1d(x, weight, bias), want,
                               rtol=0, atol=1e-5)


# ----------------------------------------------------------------------
# Parity with upstream
# ----------------------------------------------------------------------
def load_case(name):
    spec = REF['cases'][name]
    assert {k: spec[k] for k in CASES[name]} == CASES[name]
    video, queries = case_inputs(spec)
    assert np.allclose(video_checksum(video), spec['video_checksum'],
                       rtol=1e-7, atol=1e-3), 'seeded_video changed'
    ref = dict(np.load(osp.join(DATA, f'{name}.npz')))
    assert np.array_equal(ref.pop('query_points'), queries)
    return spec, torch.from_numpy(video), torch.from_numpy(queries), ref


def run_offline(model, video, queries):
    with torch.no_grad():
        out = model(video, queries)
    res = {k: out[k].numpy() for k in KEYS}
    for k in KEYS:
        res['unrefined_' + k] = torch.stack(out['unrefined_' + k]).numpy()
    return res


@pytest.mark.parametrize('name', list(CASES))
def test_reference_outputs_are_not_degenerate(name):
    assert not degenerate(REF['cases'][name]['stats'])


OFFLINE = [n for n in CASES if CASES[n]['mode'] == 'offline']
ONLINE = [n for n in CASES if CASES[n]['mode'] == 'online']


@pytest.mark.slow
@pytest.mark.parametrize('name', OFFLINE)
def test_offline_parity(name):
    spec, video, queries, ref = load_case(name)
    non_square = spec['height'] != spec['width']
    # Non-square: upstream's sampling (x scaled by the height) reproduced.
    model = seeded_model(spec['variant'], normalize_x_by_height=non_square)
    diffs = max_diffs(run_offline(model, video, queries), ref)
    print(name, diffs)
    assert_within(diffs)


@pytest.mark.slow
def test_non_square_fix_changes_upstream_result():
    _, video, queries, ref = load_case('offline_bootstapir_256x320')
    model = seeded_model('bootstapir', normalize_x_by_height=False)
    diffs = max_diffs(run_offline(model, video, queries), ref)
    print('fixed sampling vs upstream', diffs)
    # Queries right of x = 256 px sample off the grid upstream.
    assert diffs['tracks'] > 0.1
    assert diffs['unrefined_tracks'] > 0.1


@pytest.mark.slow
@pytest.mark.parametrize('name', ONLINE)
def test_online_parity(name):
    spec, video, queries, ref = load_case(name)
    model = seeded_model(spec['variant'])
    with torch.no_grad():
        out = model.track_online(video, queries, chunk_size=1)
    ours = {
        'steps_' + k: torch.stack(out['unrefined_' + k] + [out[k]]).numpy()
        for k in KEYS
    }
    diffs = max_diffs(ours, ref)
    print(name, diffs)
    assert_within(diffs)


# ----------------------------------------------------------------------
# Self-consistency (small and fast)
# ----------------------------------------------------------------------
def test_rng_state_untouched():
    model = small_model(causal=True)
    video, queries = small_inputs()
    before = torch.random.get_rng_state()
    with torch.no_grad():
        model(video, queries)
        model.track_online(video, queries, chunk_size=2)
    assert torch.equal(before, torch.random.get_rng_state())


def test_query_chunks_match_all_at_once():
    model = small_model()
    video, queries = small_inputs(queries=11)
    with torch.no_grad():
        whole = model(video, queries, query_chunk_size=None)
        chunked = model(video, queries, query_chunk_size=3)
    assert len(whole['unrefined_tracks']) == 8  # 2 resolutions x 4 + 1 - 1
    for k in KEYS:
        tol = TRACK_TOL if k == 'tracks' else LOGIT_TOL
        for a, b in zip(chunked['unrefined_' + k] + [chunked[k]],
                        whole['unrefined_' + k] + [whole[k]]):
            torch.testing.assert_close(a, b, rtol=0, atol=tol)


# With 10 frames the whole-clip pass takes depthwise_conv1d's F.conv1d
# path; the online steps always take its explicit sum.
@pytest.mark.parametrize('frames',
                         [4, pytest.param(10, marks=pytest.mark.slow)])
def test_online_chunks_match_frame_by_frame_and_causal_offline(frames):
    model = small_model(causal=True)
    video, queries = small_inputs(frames=frames, queries=4)
    queries[..., 0] = queries[..., 0].clamp(max=1)
    with torch.no_grad():
        by_frame = model.track_online(video, queries, chunk_size=1)
        by_three = model.track_online(video, queries, chunk_size=3)
        grids = model.get_feature_grids(video)
        feats = model.get_query_features(video, queries, grids)
        whole = model.estimate_trajectories(video.shape[2:4], grids, feats)
        # Causality: the first frames do not depend on later ones.
        head = model.track_online(video[:, :2], queries, chunk_size=2)
    assert by_frame['tracks'].shape == (1, 4, frames, 2)
    for k in KEYS:
        tol = TRACK_TOL if k == 'tracks' else LOGIT_TOL
        torch.testing.assert_close(by_three[k], by_frame[k], rtol=0,
                                   atol=tol)
        torch.testing.assert_close(whole[k][-1], by_frame[k], rtol=0,
                                   atol=tol)
        torch.testing.assert_close(head[k], by_frame[k][:, :, :2], rtol=0,
                                   atol=tol)


def _run_online(model, video, state, start):
    tracks = []
    for t in range(start, video.shape[1]):
        out, state = model.online_step(video[:, t:t + 1], state)
        tracks.append(out['tracks'])
    return torch.cat(tracks, dim=2), state


def test_reset_queries_starts_a_fresh_track():
    model = small_model(causal=True)
    video, queries = small_inputs(frames=4, queries=4)
    start = 2
    with torch.no_grad():
        features = model.get_query_features(video, queries)
        untouched, _ = _run_online(model, video, model.init_online(features),
                                   0)
        state = model.init_online(features)
        for t in range(start):
            _, state = model.online_step(video[:, t:t + 1], state)
        new = model.get_query_features(video, queries[:, 3:4])
        state = model.reset_queries(state, [1], new)
        late, state = _run_online(model, video, state, start)
        fresh, _ = _run_online(model, video, model.init_online(new), start)
    assert state.frames_seen == 4
    torch.testing.assert_close(late[:, 1:2], fresh, rtol=0, atol=TRACK_TOL)
    # The other queries go on as if nothing happened.
    torch.testing.assert_close(late[:, [0, 2, 3]],
                               untouched[:, [0, 2, 3], start:], rtol=0,
                               atol=TRACK_TOL)
    assert (late[:, 1:2] - untouched[:, 1:2, start:]).abs().max() > 1e-2


def test_dtype_follows_input():
    model = small_model().double()
    video, queries = small_inputs(frames=2, queries=4)
    with torch.no_grad():
        out64 = model(video.double(), queries.double())
        out32 = model.float()(video, queries)
    assert out64['tracks'].dtype == torch.float64
    torch.testing.assert_close(out64['tracks'].float(), out32['tracks'],
                               rtol=0, atol=1e-2)


def test_online_needs_causal_model():
    model = small_model(causal=False)
    video, queries = small_inputs(frames=2, queries=2)
    with pytest.raises(ValueError, match='causal'):
        model.track_online(video, queries)
