"""TimeT's video clustering protocol (mosic_mm.evaluation.protocols
.video_clustering): its settings, the scoring against hand computations and
a brute force over matchings, the clustering pipeline against an
independent re-computation, the averaging, and runs on separable features
and on the synthetic DAVIS / YouTube-VOS layouts."""
import inspect
import itertools

import cv2
import numpy as np
import pytest
from PIL import Image

from mosic_mm.evaluation.data.files import resize_masks
from mosic_mm.evaluation.protocols import video_clustering as vc
from mosic_mm.evaluation.protocols.video_clustering import (
    VideoClusteringSettings,
    iter_timet_clips,
    sample_frame_indices,
    timet_cluster_maps,
    timet_miou,
    video_clustering,
)

#: TimeT's defaults
S = VideoClusteringSettings()


# -------------------------------------------------------------- settings
def test_settings_are_timet_defaults():
    """Every constant of TimeT's default evaluation (Timetuning
    evaluation.py argparse defaults / main, clustering.py, data_loader.py),
    and the defaults of the functions are the settings'."""
    assert (S.input_size, S.eval_size, S.num_frames, S.batch_size) == (
        224, 224, 4, 16)
    assert (S.mode, S.num_clusters, S.pca_dim) == ('frame', 10, 50)
    assert (S.niter, S.nredo, S.kmeans_seed) == (50, 5, 1)
    assert S.mean == (0.485, 0.456, 0.406)
    assert S.std == (0.228, 0.224, 0.225)
    q = inspect.signature(timet_cluster_maps).parameters
    assert q['eval_size'].default == S.eval_size
    assert (q['num_clusters'].default, q['mode'].default,
            q['pca_dim'].default, q['niter'].default, q['nredo'].default,
            q['seed'].default) == (S.num_clusters, S.mode, S.pca_dim,
                                   S.niter, S.nredo, S.kmeans_seed)
    assert q['standardize'].default is True
    assert inspect.signature(video_clustering).parameters[
        'ignore_index'].default is None          # TimeT ignores nothing
    r = inspect.signature(iter_timet_clips).parameters
    assert r['num_frames'].default == S.num_frames
    assert r['eval_size'].default == S.eval_size


# ------------------------------------------------------------- scoring
def test_timet_miou_hand_case():
    # IoU(gt0, c5) = 3/4, IoU(gt0, c3) = 1/4, IoU(gt1, c7) = 3/4,
    # IoU(gt2, c7) = 1/4 -> best matching 5->0, 7->1, 3->2 (sum 1.5);
    # relabelled [[0,0,1,1],[2,0,1,1]]: IoU 3/4, 3/4, 0 -> 0.5
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 2]])
    pred = np.array([[5, 5, 7, 7], [3, 5, 7, 7]])
    assert timet_miou(pred, gt) == pytest.approx(0.5)


def test_unmatched_clusters_become_background():
    # 3 clusters for 2 labels: one of c2 / c3 is unmatched and must be
    # merged into label 0 -> perfect score (0.75 if it were dropped)
    gt = np.array([[0, 0, 1, 1]])
    pred = np.array([[2, 3, 4, 4]])
    assert timet_miou(pred, gt) == pytest.approx(1.0)
    # label 0 absent from gt: the merged cluster is wrong for every label
    gt = np.array([[1, 1, 2, 2]])
    pred = np.array([[0, 1, 2, 2]])
    assert timet_miou(pred, gt) == pytest.approx((0.5 + 1.0) / 2)


def test_background_is_scored_and_nothing_ignored():
    gt = np.array([[0, 0, 0, 1]])
    pred = np.array([[0, 0, 1, 1]])
    # involve_bg=True: mean(IoU_bg 2/3, IoU_1 1/2)
    assert timet_miou(pred, gt) == pytest.approx((2 / 3 + 1 / 2) / 2)
    # 255 is an ordinary label by default (TimeT ignores nothing) ...
    gt = np.array([[0, 0, 255, 255]])
    pred = np.array([[0, 0, 0, 1]])
    assert timet_miou(pred, gt) == pytest.approx((2 / 3 + 1 / 2) / 2)
    # ... and dropped only on request
    assert timet_miou(pred, gt, ignore_index=255) == pytest.approx(1.0)


def _brute_force(pred, gt):
    """Independent: enumerate every injective labels -> clusters matching,
    keep those of maximal summed IoU, score each (unmatched -> 0)."""
    pred, gt = pred.ravel(), gt.ravel()
    labels, clusters = sorted(set(gt.tolist())), sorted(set(pred.tolist()))

    def iou(a, b):
        return (np.sum(a & b) / np.sum(a | b)) if np.any(a | b) else 0.0

    pair = {(g, c): iou(gt == g, pred == c) for g in labels for c in clusters}
    n = min(len(labels), len(clusters))
    best, finals = -1.0, []
    for gs in itertools.combinations(labels, n):
        for cs in itertools.permutations(clusters, n):
            total = sum(pair[g, c] for g, c in zip(gs, cs))
            out = np.zeros_like(pred)
            for g, c in zip(gs, cs):
                out[pred == c] = g
            score = np.mean([iou(gt == g, out == g) for g in labels])
            if total > best + 1e-12:
                best, finals = total, [score]
            elif abs(total - best) <= 1e-12:
                finals.append(score)
    return finals


@pytest.mark.parametrize('seed', range(12))
def test_timet_miou_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    label_ids = rng.choice([0, 3, 7, 9, 255], rng.integers(1, 4),
                           replace=False)
    gt = rng.choice(label_ids, (5, 7))
    # clusters correlated with labels plus noise, 1..5 clusters present
    pred = (np.searchsorted(np.sort(label_ids), gt) +
            rng.integers(0, 3, gt.shape) * (rng.random(gt.shape) < 0.4))
    pred = pred % rng.integers(1, 6) + 2
    finals = _brute_force(pred, gt)
    ours = timet_miou(pred, gt)
    assert any(abs(ours - f) < 1e-9 for f in finals), (ours, finals)


# ------------------------------------------------------------- pipeline
def _reference_maps(features, eval_size, k, mode):
    """Independent re-computation of TimeT's cluster_features: numpy
    standardisation over the batch, faiss PCA, OpenCV bilinear upsampling,
    faiss K-means per unit."""
    import faiss
    B, F, C, h, w = features.shape
    rows = features.transpose(0, 1, 3, 4, 2).reshape(-1, C).astype(
        np.float64)
    std = rows.std(0)
    rows = ((rows - rows.mean(0)) / np.where(std > 0, std, 1)).astype(
        np.float32)
    pca = faiss.PCAMatrix(C, 50)
    pca.train(rows)
    red = pca.apply_py(rows).reshape(B, F, h, w, 50)
    up = np.stack([[cv2.resize(red[b, f].astype(np.float64),
                               (eval_size, eval_size),
                               interpolation=cv2.INTER_LINEAR)
                    for f in range(F)] for b in range(B)]).astype(np.float32)
    out = np.zeros((B, F, eval_size, eval_size), np.int64)
    units = ([(b, [f]) for b in range(B) for f in range(F)] if mode == 'frame'
             else [(b, list(range(F))) for b in range(B)])
    for b, fs in units:
        x = np.ascontiguousarray(up[b, fs].reshape(-1, 50))
        km = faiss.Kmeans(50, k, niter=50, nredo=5, seed=1)
        km.train(x)
        out[b, fs] = km.index.search(x, 1)[1].reshape(len(fs), eval_size,
                                                      eval_size)
    return out


def _features(seed=0, B=2, F=2, C=64, h=6, w=6):
    """Low-rank structured features with one dimension of huge variance
    (so standardisation matters) and small noise."""
    rng = np.random.default_rng(seed)
    regions = rng.integers(0, 4, (B, F, h, w))
    basis = rng.normal(size=(4, C))
    x = basis[regions] + 0.3 * rng.normal(size=(B, F, h, w, C))
    x[..., 0] *= 40
    return x.transpose(0, 1, 4, 2, 3).astype(np.float32)


@pytest.mark.parametrize('mode', ['frame', 'clip'])
def test_cluster_maps_match_independent_pipeline(mode):
    feats = _features()
    ours = timet_cluster_maps(feats, 24, num_clusters=5, mode=mode)
    ref = _reference_maps(feats, 24, 5, mode)
    assert ours.shape == (2, 2, 24, 24)
    np.testing.assert_array_equal(ours, ref)


def test_per_unit_k_from_labels(monkeypatch):
    """num_clusters=None: K = #labels present in each frame (clip)."""
    ks = []
    real = vc.faiss_kmeans

    def spy(x, k, *a):
        ks.append(k)
        return real(x, k, *a)

    monkeypatch.setattr(vc, 'faiss_kmeans', spy)
    masks = np.zeros((1, 2, 12, 12), np.int64)
    masks[0, 0, :4] = 1
    masks[0, 1, :4] = 2
    masks[0, 1, -4:] = 5
    timet_cluster_maps(_features(B=1), 12, num_clusters=None, masks=masks)
    assert ks == [2, 3]
    ks.clear()
    timet_cluster_maps(_features(B=1), 12, num_clusters=None, masks=masks,
                       mode='clip')
    assert ks == [4]
    ks.clear()
    timet_cluster_maps(_features(B=1), 12)
    assert ks == [10, 10]


def test_batch_average_is_mean_of_batch_means(monkeypatch):
    """TimeT averages frame scores per batch, then batch scores; the
    settings reach the clustering, features always standardised."""
    seen = []

    def fake_maps(feats, eval_size, masks=None, **kw):
        seen.append(kw)
        maps = masks.copy()
        maps[masks.shape[0] - 1:, :, :, 1] = 0       # spoil the last clip
        return maps

    monkeypatch.setattr(vc, 'timet_cluster_maps', fake_maps)
    m = np.zeros((1, 1, 2, 2), np.int64)
    m[..., 1] = 1                                     # [[0, 1], [0, 1]]
    perfect = np.zeros((2, 3, 2, 2), np.int64)
    perfect[..., 1] = 1
    a = (np.zeros((1, 1, 1, 1, 1)), m)                # 1 frame -> 1.0
    b = (np.zeros((2, 3, 1, 1, 1)), perfect)          # 3 perfect + 3 spoilt
    # spoilt frame [[0, 0], [0, 0]] vs [[0, 1], [0, 1]]: IoU 1/2, 0 -> 1/4
    # spoilt frame of batch a as well (it is the last clip of its batch)
    res = video_clustering([a, b], 'frame', S)
    assert res['batch_scores'] == pytest.approx([0.25, (3 + 3 * 0.25) / 6])
    assert res['mIoU'] == pytest.approx((0.25 + 0.625) / 2)
    assert res['units'] == 7
    assert seen[0] == dict(num_clusters=10, mode='frame', pca_dim=50,
                           standardize=True, niter=50, nredo=5, seed=1)
    clip = video_clustering([a, b], 'clip', S.replace(dict(
        num_clusters=3, pca_dim=7, niter=2, nredo=1, kmeans_seed=9)))
    assert clip['batch_scores'] == pytest.approx([0.25, (1 + 0.25) / 2])
    assert seen[-1] == dict(num_clusters=3, mode='clip', pca_dim=7,
                            standardize=True, niter=2, nredo=1, seed=9)


def test_separable_objects_are_found():
    """One batch (masks on the token grid, K = #labels of the unit): a
    4x4-patch object of one-hot features (+ a little noise: faiss's random
    init never sees duplicate points) moving over 6 frames is found in every
    frame and clip; noise features are not."""
    T, g = 6, 8
    masks = np.zeros((T, g, g), np.int64)
    feats = np.zeros((T, 3, g, g), np.float32)
    feats[:, 0] = 1
    for t in range(T):
        r, c = t % 4, 1 + t % 3
        masks[t, r:r + 4, c:c + 4] = 2
        feats[t, :, r:r + 4, c:c + 4] = 0
        feats[t, 2, r:r + 4, c:c + 4] = 1
    rng = np.random.default_rng(0)
    feats += rng.normal(size=feats.shape).astype(np.float32) * 0.05
    s = S.replace(dict(num_clusters=None, pca_dim=2))
    for mode in ('frame', 'clip'):
        r = video_clustering([(feats[None], masks[None])], mode, s)
        assert r['mIoU'] == pytest.approx(1.0)
    noise = rng.normal(size=(1, ) + feats.shape)
    assert video_clustering([(noise, masks[None])], 'clip', s)['mIoU'] < 0.8


def test_bad_arguments():
    with pytest.raises(ValueError, match='mode'):
        video_clustering([], 'video', S)
    with pytest.raises(ValueError, match='no batch'):
        video_clustering([], 'frame', S)
    with pytest.raises(ValueError, match=r'\[B, F, C, h, w\]'):
        timet_cluster_maps(np.zeros((2, 64, 4, 4)), 8)
    with pytest.raises(ValueError, match='needs masks'):
        timet_cluster_maps(_features(), 8, num_clusters=None)
    with pytest.raises(ValueError, match=r'\[B, F, S, S\]'):
        video_clustering([(_features(), np.zeros((2, 2, 8, 9)))], 'frame', S)


# ------------------------------------------------------------- data side
def test_sample_frame_indices():
    rng = np.random.default_rng(0)
    for n in (4, 5, 70):
        idx = sample_frame_indices(n, 4, rng)
        assert idx == sorted(idx) and len(set(idx)) == 4
        assert 0 <= idx[0] and idx[-1] < n
    short = sample_frame_indices(2, 4, rng)       # with replacement
    assert len(short) == 4 and set(short) <= {0, 1} and short == sorted(short)
    a = sample_frame_indices(50, 4, np.random.default_rng(3))
    assert a == sample_frame_indices(50, 4, np.random.default_rng(3))
    with pytest.raises(ValueError, match='empty'):
        sample_frame_indices(0, 4, rng)


def test_resize_masks_is_pil_nearest():
    m = np.random.default_rng(0).integers(0, 7, (2, 48, 85)).astype(np.uint8)
    ours = resize_masks(m, 224)
    ref = np.stack([np.array(Image.fromarray(x).resize((224, 224),
                                                       Image.NEAREST))
                    for x in m])
    assert ours.dtype == np.int64
    np.testing.assert_array_equal(ours, ref)


def test_end_to_end_on_synthetic_layouts(tmp_path):
    from mosic_mm.evaluation.data import davis2017, ytvos2019
    from mosic_mm.synthetic import make_davis_layout, make_ytvos_layout
    make_davis_layout(str(tmp_path / 'davis'), n_videos=3, n_frames=6,
                      size=40)
    make_ytvos_layout(str(tmp_path / 'yt'), n_videos=2, n_frames=5, size=40)
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(256, 64)).astype(np.float32)
    s = S.replace(dict(num_clusters=None))
    for vs in (davis2017(str(tmp_path / 'davis')),
               ytvos2019(str(tmp_path / 'yt'))):
        clips = list(iter_timet_clips(vs, eval_size=32))
        # one clip of 4 frames per video, videos in sorted order
        assert [c[0] for c in clips] == sorted(vs.videos)
        for _, frames, masks in clips:
            assert frames.shape == (4, 40, 40, 3) and masks.shape == (4, 32,
                                                                       32)
        masks = np.stack([c[2] for c in clips])
        # "oracle" features: label embeddings at 16 x 16 + noise; noise only
        small = resize_masks(masks, 16)
        good = basis[small] + 0.05 * rng.normal(size=small.shape + (64, ))
        good = good.transpose(0, 1, 4, 2, 3)
        noise = rng.normal(size=good.shape)
        s_good = video_clustering([(good, masks)], 'frame', s)
        s_noise = video_clustering([(noise, masks)], 'frame', s)
        assert 0 <= s_noise['mIoU'] < s_good['mIoU'] <= 1
        assert s_good['mIoU'] > 0.7 and s_noise['mIoU'] < 0.6, (s_good,
                                                                s_noise)
        assert s_good['units'] == 4 * len(clips)
        # the same clips through the batching helper (batches of 2 clips)
        lut = {}

        def extract(frames):
            key = frames.tobytes()
            lut.setdefault(key, rng.normal(size=(len(frames), 64, 4, 4)))
            return lut[key]

        batches = list(vc.timet_batches(vs, extract, batch_size=2,
                                        eval_size=32))
        assert [b[0].shape[:3] for b in batches] == \
            [(2, 4, 64), (1, 4, 64)][:len(batches)]
        np.testing.assert_array_equal(
            np.concatenate([b[1] for b in batches]), masks)
