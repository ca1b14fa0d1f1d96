"""The official Hummingbird evaluation (mosic_mm.evaluation.hummingbird_paper)
against the settings of the MoSiC / open-hummingbird-eval code and against
independent plain-numpy references."""
import inspect
import itertools

import faiss
import numpy as np
import pytest
import torch

from mosic_mm.datasets.transforms.geometry import sample_crop_box
from mosic_mm.evaluation.hummingbird import (IVFIndex, exact_knn,
                                             knn_recall, patch_label_counts,
                                             retrieval_counts)
from mosic_mm.evaluation.hummingbird_paper import (
    HUMMINGBIRD_PAPER, _jitter, augment_pair, build_paper_memory,
    class_frequency_sample, hummingbird_paper_miou, patches_per_image)
from mosic_mm.evaluation.hummingbird_splits import make_split, split_subset
from mosic_mm.evaluation.predsmiou import (pair_counts, predsmiou,
                                           predsmiou_from_counts)


def crop_params(h, w, rng, scale=(0.5, 2.0)):
    """The memory's crop (row drawn first, as torchvision) as torchvision's
    (top, left, height, width)."""
    x0, y0, x1, y1 = sample_crop_box((h, w), scale, (3 / 4, 4 / 3), rng=rng,
                                     row_first=True)
    return y0, x0, y1 - y0, x1 - x0


class TinySet:
    """Duck-typed SegImageSet."""

    def __init__(self, imgs, masks, num_classes, ignore_index):
        self.imgs, self.masks = imgs, masks
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.items = [(f'im{i}.jpg', f'im{i}.png') for i in range(len(imgs))]

    def __len__(self):
        return len(self.imgs)

    def load(self, i):
        return self.imgs[i], self.masks[i]


def tiny_vit():
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    vit = VisionTransformer(
        arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                  feedforward_channels=64),
        img_size=28, patch_size=14, out_type='featmap')
    vit.eval()
    return vit


# --------------------------------------------------------------- constants
def test_official_constants():
    P = HUMMINGBIRD_PAPER
    assert (P['input_size'], P['patch_size']) == (518, 14)
    assert P['memory_size'] == 10_240_000
    assert (P['k'], P['temperature'], P['augmentation_epochs']) == \
        (30, 0.02, 2)
    assert P['crop_scale'] == (0.5, 2.0)
    assert P['crop_ratio'] == (3 / 4, 4 / 3)
    assert (P['crop_image_interpolation'], P['crop_mask_interpolation']) \
        == ('bilinear', 'nearest')
    assert P['jitter'] == (('brightness', 0.1), ('contrast', 0.1),
                           ('saturation', 0.1), ('hue', 0.1))
    assert P['jitter_p'] == 0.5
    assert P['img_mean'] == (0.485, 0.456, 0.406)
    assert P['img_std'] == (0.229, 0.224, 0.255)  # the official typo
    assert P['memory_relabel'] == (255, 0)
    assert P['ignore_index'] == {'voc': 255, 'ade20k': 0}
    assert P['num_classes'] == {'voc': 21, 'ade20k': 151}
    assert (P['upsample'], P['matching'], P['score_size']) == \
        ('bilinear', 'hungarian', 518)
    assert P['split_seeds'] == (42, 400, 783, 1293, 4019)
    assert P['split_denominators'] == (128, 64, 8)
    assert P['train_images'] == {'voc': 10_582, 'ade20k': 20_210}
    assert P['val_images'] == {'voc': 1_449, 'ade20k': 2_000}
    assert P['seed'] == 42
    assert P['split_sizes'] == {'voc': {128: 80, 64: 160, 8: 1320},
                                'ade20k': {128: 150, 64: 300, 8: 2550}}
    # the official file sizes are class balanced: round(N/(d*C))*C
    for ds, fg in (('voc', 20), ('ade20k', 150)):
        for d, size in P['split_sizes'][ds].items():
            assert round(P['train_images'][ds] / (d * fg)) * fg == size
    assert P['scann'] == dict(distance='dot_product', num_leaves=512,
                              num_leaves_to_search=32,
                              anisotropic_quantization_threshold=0.2,
                              dimensions_per_block=4, reorder=120)
    # the defaults of the entry points are the official settings
    sig = inspect.signature(hummingbird_paper_miou).parameters
    for name, key in (('input_size', 'input_size'),
                      ('memory_size', 'memory_size'),
                      ('augmentation_epochs', 'augmentation_epochs'),
                      ('k', 'k'), ('temperature', 'temperature'),
                      ('seed', 'seed')):
        assert sig[name].default == P[key], name
    sig = inspect.signature(build_paper_memory).parameters
    assert sig['memory_size'].default == P['memory_size']
    assert sig['augmentation_epochs'].default == 2


def test_patches_per_image_rule():
    # full VOC trainaug: 10240000 // (10582 * 2) = 483 of 37*37 patches
    assert patches_per_image(10_240_000, 10_582, 2, 37 * 37) == 483
    assert patches_per_image(10_240_000, 20_210, 2, 37 * 37) == 253
    # 1/128 split: the rule asks 64,000 > 1369 (the official topk raises);
    # we keep every patch
    assert patches_per_image(10_240_000, 80, 2, 37 * 37) == 37 * 37
    assert patches_per_image(None, 80, 2, 1369) == 1369


# ------------------------------------------------------------ augmentation
def quadrant_pair(h=40, w=64):
    """Image whose colour encodes the class: 4 unequal quadrants."""
    colours = np.array([[230, 20, 20], [20, 230, 20], [20, 20, 230],
                        [230, 230, 230]], np.uint8)
    yy, xx = np.mgrid[:h, :w]
    mask = (yy >= h // 3).astype(int) * 2 + (xx >= w // 4).astype(int)
    return colours[mask], mask, colours


def test_augmentation_moves_image_and_mask_together():
    img, mask, colours = quadrant_pair()
    for seed in range(20):
        x, m = augment_pair(img, mask, 28, np.random.default_rng(seed))
        assert x.shape == (28, 28, 3) and x.dtype == np.float32
        assert m.shape == (28, 28) and m.dtype == np.int64
        # colour of each pixel -> class (jitter is small), inner pixels only
        near = ((x[:, :, None] - colours[None, None].astype(float)) ** 2).sum(
            -1).argmin(-1)
        inner = np.ones_like(m, bool)
        for dy, dx in itertools.product((-1, 0, 1), repeat=2):
            inner &= np.roll(m, (dy, dx), (0, 1)) == m
        inner[[0, -1]] = inner[:, [0, -1]] = False
        assert inner.sum() > 200
        assert (near[inner] == m[inner]).all(), seed


def test_colour_jitter_probability_and_range():
    """On a uniform grey image contrast, saturation and hue are no-ops, so
    the mean changes iff brightness was applied: p = 0.5, factor in
    [0.9, 1.1]."""
    img = np.full((4, 4, 3), 100, np.uint8)
    ratios = np.array([_jitter(img, np.random.default_rng([7, s]),
                               HUMMINGBIRD_PAPER).mean() / 100
                       for s in range(1000)])
    # applied with p = 0.5; |factor - 1| < 0.005 rounds back to 100
    changed = np.abs(ratios - 1) > 0.006
    assert 0.43 < changed.mean() < 0.52
    assert ratios.min() >= 0.9 - 0.01 and ratios.max() <= 1.1 + 0.01
    assert ratios.max() > 1.07 and ratios.min() < 0.93
    mask = np.zeros((20, 30), int)
    # the jitter acts on colour: hue turns a red image away from pure red
    red = np.zeros((20, 30, 3), np.uint8)
    red[..., 0] = 200
    outs = np.stack([augment_pair(red, mask, 14, np.random.default_rng(
        s))[0][0, 0] for s in range(40)])
    assert (outs[:, 1:].max(1) > 5).mean() > 0.2


def test_crop_params_match_torchvision():
    from torchvision.transforms import RandomResizedCrop
    # fallback (no try fits): centre crop clamped to the ratio range
    for h, w in ((40, 64), (64, 40), (50, 50)):
        ours = crop_params(h, w, np.random.default_rng(0), (3, 4))
        ref = RandomResizedCrop.get_params(torch.zeros(3, h, w), (3, 4),
                                           (3 / 4, 4 / 3))
        assert ours == tuple(ref)
    # distribution of the official scale (0.5, 2): same fallback rate and
    # mean crop area as torchvision's sampler
    rng, g = np.random.default_rng(0), torch.manual_seed(0)
    ours = np.array([crop_params(60, 80, rng) for _ in range(3000)])
    ref = np.array([RandomResizedCrop.get_params(
        torch.zeros(3, 60, 80), (0.5, 2.0), (3 / 4, 4 / 3))
        for _ in range(3000)])
    del g
    for a in (ours, ref):
        assert (a[:, 2] <= 60).all() and (a[:, 3] <= 80).all()
    area_o = (ours[:, 2] * ours[:, 3]).mean() / 4800
    area_r = (ref[:, 2] * ref[:, 3]).mean() / 4800
    assert abs(area_o - area_r) < 0.02


def test_memory_crop_draws_the_row_first():
    """The one crop sampler draws as torchvision's get_params: area, log
    aspect, then the top row before the left column (row_first=True; the
    training clips draw the column first), from a numpy Generator."""
    import math
    for seed in range(20):
        ref = np.random.default_rng(seed)
        area = 60 * 80 * ref.uniform(0.1, 0.3)
        aspect = math.exp(ref.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = (int(round(math.sqrt(area * a))) for a in (aspect,
                                                          1 / aspect))
        top, left = ref.integers(0, 60 - h + 1), ref.integers(0, 80 - w + 1)
        for row_first, want in ((True, (left, top)), (False, None)):
            x0, y0, x1, y1 = sample_crop_box(
                (60, 80), (0.1, 0.3), (3 / 4, 4 / 3),
                rng=np.random.default_rng(seed), row_first=row_first)
            assert (x1 - x0, y1 - y0) == (w, h)
            if want is not None:
                assert (x0, y0) == want


# ----------------------------------------------------------------- sampling
def reference_scores(counts):
    """The official loops: for each patch the set of its classes; class
    frequency = patches of the image containing the class."""
    classes = [set(np.flatnonzero(c > 0)) for c in counts]
    freq = {}
    for s in classes:
        for c in s:
            freq[c] = freq.get(c, 0) + 1
    return np.array([sum(freq[c] for c in s) for s in classes], float)


def test_class_frequency_sampling_matches_reference_and_prefers_rare():
    # 16 patches: class 1 only in patches 5 and 10, class 2 mixed into 3
    counts = np.zeros((16, 3), np.uint8)
    counts[:, 0] = 196
    counts[[5, 10]] = [0, 196, 0]
    counts[[0, 1, 2], 2] = 50
    counts[[0, 1, 2], 0] = 146
    for seed in range(30):
        keep = class_frequency_sample(counts, 4, np.random.default_rng(seed))
        u = np.random.default_rng(seed).random(16)
        ref = np.sort(np.argsort(reference_scores(counts) * u,
                                 kind='stable')[:4])
        np.testing.assert_array_equal(keep, ref)
    kept = np.zeros(16)
    for seed in range(400):
        kept[class_frequency_sample(counts, 4,
                                    np.random.default_rng(seed))] += 1
    pure0 = [3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 15]
    rare, common = kept[[5, 10]].mean() / 400, kept[pure0].mean() / 400
    # uniform sampling would keep every patch with p = 4/16
    assert rare > 0.8 and common < 0.2


# ------------------------------------------------------------------ search
def test_blocked_exact_search_equals_faiss_flat():
    g = torch.Generator().manual_seed(0)
    keys = torch.nn.functional.normalize(torch.randn(3000, 16, generator=g),
                                         dim=1)
    q = torch.randn(70, 16, generator=g)
    index = faiss.IndexFlatIP(16)
    index.add(keys.numpy())
    ref_s, ref_i = index.search(q.numpy(), 30)
    # many key blocks (3000 / 90) and query blocks (70 / 8)
    s, i = exact_knn(q, keys, 30, query_block=8, block_elems=8 * 90)
    np.testing.assert_array_equal(i.numpy(), ref_i)
    np.testing.assert_allclose(s.numpy(), ref_s, atol=1e-5)
    # fp16 keys: same neighbours up to near-ties
    s16, i16 = exact_knn(q, keys.half(), 30, query_block=8,
                         block_elems=8 * 90)
    assert knn_recall(i16, torch.from_numpy(ref_i)) > 0.97
    assert exact_knn(q, keys[:5], 30)[1].shape == (70, 5)


def test_ivf_recall_is_measured():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    keys = torch.nn.functional.normalize(torch.from_numpy(
        centres[rng.integers(0, 20, 4000)] + rng.normal(
            size=(4000, 16)) * 0.3).float(), dim=1)
    q = torch.from_numpy(centres[rng.integers(0, 20, 200)] + rng.normal(
        size=(200, 16)) * 0.3).float()
    exact = exact_knn(q, keys, 10)[1]
    full = IVFIndex.build(keys, nlist=16, nprobe=16)
    assert knn_recall(full.search(q, 10)[1], exact) > 0.99
    one = IVFIndex.build(keys, nlist=16, nprobe=1)
    approx = one.search(q, 10)[1]
    r = knn_recall(approx, exact)
    manual = np.mean([len(set(a.tolist()) & set(e.tolist())) / 10
                      for a, e in zip(approx, exact)])
    assert r == pytest.approx(manual) and r < 0.99


# ----------------------------------------------------------------- scoring
def np_bilinear(x, size):
    """[K, h, w] -> [K, size, size], align_corners=False, edge clamped."""
    K, h, w = x.shape
    out = np.zeros((K, size, size))
    for oy in range(size):
        sy = min(max((oy + 0.5) * h / size - 0.5, 0), h - 1)
        y0 = int(np.floor(sy))
        y1, fy = min(y0 + 1, h - 1), sy - y0
        for ox in range(size):
            sx = min(max((ox + 0.5) * w / size - 0.5, 0), w - 1)
            x0 = int(np.floor(sx))
            x1, fx = min(x0 + 1, w - 1), sx - x0
            out[:, oy, ox] = ((1 - fy) * ((1 - fx) * x[:, y0, x0]
                                          + fx * x[:, y0, x1])
                              + fy * ((1 - fx) * x[:, y1, x0]
                                      + fx * x[:, y1, x1]))
    return out


def reference_miou(queries, keys, counts, masks, grid, K, ignore, k, T):
    """Plain numpy: brute-force cosine kNN, softmax(cos/T) label transfer,
    bilinear upsampling, argmax, ignore dropped, Hungarian by trying every
    permutation, IoU mean over all classes."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    kk = keys / np.linalg.norm(keys, axis=1, keepdims=True)
    hist = counts / counts.sum(1, keepdims=True)
    cos = q @ kk.T
    preds = []
    for n in range(len(masks)):
        probs = np.zeros((grid[0] * grid[1], K))
        for p in range(grid[0] * grid[1]):
            row = cos[n * grid[0] * grid[1] + p]
            nn = np.argsort(-row)[:k]
            w = np.exp(row[nn] / T - (row[nn] / T).max())
            probs[p] = (w / w.sum()) @ hist[nn]
        up = np_bilinear(probs.T.reshape(K, *grid), masks[n].shape[0])
        preds.append(up.argmax(0))
    pred = np.concatenate([p.ravel() for p in preds])
    gt = np.concatenate([m.ravel() for m in masks])
    ok = gt != ignore
    pred, gt = pred[ok], gt[ok]
    best = -1
    for perm in itertools.permutations(range(K)):
        mapped = np.array(perm)[pred]
        ious = [((mapped == c) & (gt == c)).sum()
                / max(((mapped == c) | (gt == c)).sum(), 1e-8)
                for c in range(K)]
        best = max(best, np.mean(ious))
    return best


def test_scoring_equals_independent_reference():
    rng = np.random.default_rng(3)
    K, grid, size, C = 3, (3, 3), 8, 6
    centres = rng.normal(size=(K, C))
    lab = rng.integers(0, K, 60)
    keys = centres[lab] + rng.normal(size=(60, C)) * 0.6
    counts = np.zeros((60, K), np.uint8)
    counts[np.arange(60), lab] = 150              # mixed patches
    counts[np.arange(60), (lab + 1) % K] = rng.integers(0, 100, 60)
    qlab = rng.integers(0, K, (2, 3, 3))
    queries = centres[qlab.ravel()] + rng.normal(size=(18, C)) * 0.6
    # gt with labels permuted (Hungarian undoes it) and ignored pixels
    perm = np.array([2, 0, 1])
    masks = [np.kron(perm[q], np.ones((3, 3), int))[:size, :size]
             for q in qlab]
    masks = [np.pad(m, ((0, size - m.shape[0]), (0, size - m.shape[1])),
                    mode='edge') for m in masks]
    masks[0][0, :] = 255
    for k, T in ((5, 0.02), (30, 0.5)):
        total = retrieval_counts(
            torch.from_numpy(queries).float(),
            torch.nn.functional.normalize(torch.from_numpy(keys).float(),
                                          dim=1),
            torch.from_numpy(counts), masks, grid, K, 255, k=k,
            temperature=T)
        ours = predsmiou_from_counts(total)[0]
        ref = reference_miou(queries, keys, counts.astype(float), masks,
                             grid, K, 255, k, T)
        assert ours == pytest.approx(ref, abs=1e-12)
        assert total.sum() == sum((m != 255).sum() for m in masks)
    # predsmiou_from_counts == predsmiou on the pixels
    pred = rng.integers(0, 4, 500)
    gt = rng.integers(0, 4, 500)
    assert predsmiou_from_counts(pair_counts(pred, gt, 4, 4, 255))[0] == \
        pytest.approx(predsmiou(pred, gt, 4, 4)[0])


def test_ignore_label_per_dataset():
    pred = np.array([[0, 1, 2], [1, 1, 2]])
    gt = np.array([[0, 1, 2], [0, 255, 2]])
    voc = pair_counts(pred, gt, 3, 3, 255)        # 0 scored, 255 dropped
    assert voc.sum() == 5 and voc[0].sum() == 2
    gt_ade = np.array([[0, 1, 2], [0, 1, 2]])
    ade = pair_counts(pred, gt_ade, 3, 3, 0)      # 0 dropped
    assert ade.sum() == 4 and ade[0].sum() == 0
    # ADE20K: mean over all 151 classes, class 0 never in the gt -> the
    # score of a perfect prediction is 150/151 (as the official PredsmIoU)
    perfect = np.diag(np.r_[0, np.full(150, 10)])
    assert predsmiou_from_counts(perfect)[0] == pytest.approx(150 / 151)
    with pytest.raises(ValueError, match='gt ids'):
        pair_counts(pred, gt, 3, 3, 0)             # 255 is not ADE's ignore


# --------------------------------------------------------------- end to end
def striped_set(n, ignore, seed=0, size=(30, 44)):
    rng = np.random.default_rng(seed)
    imgs, masks = [], []
    colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]])
    for _ in range(n):
        m = np.zeros(size, int)
        cut = rng.integers(8, size[1] - 8)
        m[:, cut:] = 1
        m[size[0] // 2:, : cut // 2] = 2
        img = colours[m] + rng.integers(0, 20, size + (3, ))
        if ignore == 255:
            m[:, cut] = 255                       # VOC boundary
        imgs.append(img.astype(np.uint8))
        masks.append(m)
    return TinySet(imgs, masks, 3, ignore)


def test_memory_relabels_ignore_and_shards_over_ranks():
    vit = tiny_vit()
    train = striped_set(5, 255)
    keys, counts, info = build_paper_memory(
        vit, train, input_size=28, memory_size=20, progress=False)
    assert info['patches_per_image'] == 20 // 10 == 2
    assert keys.dtype == torch.float16 and keys.shape == (20, 32)
    torch.testing.assert_close(keys.float().norm(dim=1), torch.ones(20),
                               atol=2e-3, rtol=0)
    # every pixel counted, the boundary 255 as background (class 0)
    assert (counts.sum(1) == 14 * 14).all() and counts.shape == (20, 3)
    parts = [build_paper_memory(vit, train, input_size=28, memory_size=20,
                                progress=False, rank=r, world_size=2)
             for r in (0, 1)]
    union = torch.cat([p[0] for p in parts])
    assert len(union) == 20
    rows = {tuple(r.tolist()) for r in keys.float()}
    assert {tuple(r.tolist()) for r in union.float()} == rows


def test_end_to_end_voc_and_ade_ignore():
    vit = tiny_vit()
    res = {}
    for ignore in (255, 0):
        tr, va = striped_set(6, ignore), striped_set(3, ignore, seed=1)
        out = hummingbird_paper_miou(vit, {'source': 'tiny'}, tr, va,
                                     input_size=28, memory_size=None,
                                     progress=False)
        assert 0 <= out['mIoU'] <= 1 and out['memory_rows'] == 6 * 2 * 4
        res[ignore] = out
        again = hummingbird_paper_miou(vit, {}, tr, va, input_size=28,
                                       memory_size=None, progress=False)
        assert again['mIoU'] == out['mIoU']
    # ADE: class 0 never scored -> its IoU is 0
    assert res[0]['per_class_iou'][0] == 0
    ivf = hummingbird_paper_miou(vit, {}, tr, va, input_size=28,
                                 memory_size=None, index='ivf', nlist=4,
                                 nprobe=4, progress=False)
    assert ivf['recall_at_k'] == 1.0 and ivf['mIoU'] == pytest.approx(
        res[0]['mIoU'])


def test_make_split_is_class_balanced_and_seeded():
    rng = np.random.default_rng(0)
    masks = []
    for i in range(60):
        m = np.zeros((4, 4), int)
        m[0, 0] = 1 + i % 4 if i < 56 else 1     # classes 1..4
        if i % 7 == 0:
            m[1, 1] = 5 if i < 14 else 2          # class 5 is rare
        masks.append(m)
    imgs = [rng.integers(0, 255, (4, 4, 3), dtype=np.uint8) for _ in masks]
    train = TinySet(imgs, masks, 6, 255)
    stems = make_split(train, 6, seed=42)        # round(60/(6*5)) = 2
    assert len(stems) == len(set(stems)) == 10
    chosen = [masks[int(s[2:])] for s in stems]
    for c in range(1, 6):
        assert sum((m == c).any() for m in chosen) >= 2
    assert make_split(train, 6, seed=42) == stems
    assert make_split(train, 6, seed=7) != stems


def test_split_subset_prefers_the_official_file(tmp_path):
    import cv2

    from mosic_mm.evaluation.paper_data import SegImageSet
    stems = [f'2007_{i:06d}' for i in range(6)]
    for s in stems:
        img = np.zeros((4, 4, 3), np.uint8)
        cv2.imwrite(str(tmp_path / f'{s}.jpg'), img)
        m = np.zeros((4, 4), np.uint8)
        m[0, 0] = 1 + int(s[-1]) % 2
        cv2.imwrite(str(tmp_path / f'{s}.png'), m)
    full = SegImageSet('voc', str(tmp_path),
                       [(str(tmp_path / f'{s}.jpg'),
                         str(tmp_path / f'{s}.png')) for s in stems], 3, 255)
    split = tmp_path / 'trainaug_2_42.txt'
    split.write_text('2007_000004\n2007_000001\n')
    sub, desc = split_subset(full, str(split), 2)
    assert sub.stems == ['2007_000004', '2007_000001'] and 'official' in desc
    sub, desc = split_subset(full, str(tmp_path / 'missing.txt'), 2)
    # round(6 / (2 * 2 classes)) = 2 images per class
    assert len(sub) == 4 and 'not the official file' in desc
    assert split_subset(full)[0] is full
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        split_subset(full, str(tmp_path / 'missing.txt'))


def test_patch_label_counts():
    m = np.array([[[0, 1, 2, 2], [1, 1, 2, 255]]])
    c = patch_label_counts(m, (1, 2), 3)
    np.testing.assert_array_equal(c[0, 0], [[1, 3, 0], [0, 0, 3]])
    c = patch_label_counts(np.where(m == 255, 0, m), (1, 2), 3, None)
    np.testing.assert_array_equal(c[0, 0, 1], [1, 0, 3])
    with pytest.raises(ValueError, match='mask ids'):
        patch_label_counts(m, (1, 2), 3, None)


def _rank_miou(rank, out_dir):
    import json
    import os
    out = hummingbird_paper_miou(
        tiny_vit(), {}, striped_set(5, 255), striped_set(3, 255, seed=1),
        input_size=28, memory_size=30, progress=False)
    with open(os.path.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump(out, f)


@pytest.mark.slow
def test_two_ranks_equal_one_process(tmp_path):
    """Memory built on 2 ranks (uneven 3/2 images) and gathered, val images
    shared 2/1 and the counts all-reduced == one process."""
    import json

    from conftest import spawn_gloo
    spawn_gloo(_rank_miou, tmp_path)
    single = hummingbird_paper_miou(
        tiny_vit(), {}, striped_set(5, 255), striped_set(3, 255, seed=1),
        input_size=28, memory_size=30, progress=False)
    for r in range(2):
        got = json.loads((tmp_path / f'rank{r}.json').read_text())
        assert got['memory_rows'] == single['memory_rows'] == 30
        assert got['mIoU'] == pytest.approx(single['mIoU'], abs=1e-12)
        assert got['per_class_iou'] == pytest.approx(single['per_class_iou'])


@pytest.mark.parametrize('dataset', ['voc', 'ade20k'])
def test_real_layouts_end_to_end(tmp_path, dataset):
    """Synthetic data in the real VOC / ADE20K layouts, read by paper_data,
    the official split file applied, scored with the dataset's ignore."""
    from mosic_mm.synthetic import make_ade_layout, make_voc_layout
    from mosic_mm.evaluation.paper_data import ade20k, voc2012
    if dataset == 'voc':
        make_voc_layout(str(tmp_path), n_train=4, n_val=2, size=40,
                        layout='hummingbird')
        full, val = voc2012(str(tmp_path), 'trainaug'), voc2012(
            str(tmp_path), 'val')
        split = tmp_path / 'sets' / 'trainaug_2_42.txt'
    else:
        make_ade_layout(str(tmp_path), n_train=4, n_val=2, size=40)
        full, val = ade20k(str(tmp_path), 'training'), ade20k(
            str(tmp_path), 'validation')
        split = tmp_path / 'sets' / 'training_2_42.txt'
    assert val.ignore_index == HUMMINGBIRD_PAPER['ignore_index'][dataset]
    assert val.num_classes == HUMMINGBIRD_PAPER['num_classes'][dataset]
    train, desc = split_subset(full, str(split), 2)
    assert 'official' in desc and 0 < len(train) < len(full)
    out = hummingbird_paper_miou(tiny_vit(), {}, train, val, input_size=28,
                                 progress=False)
    assert 0 <= out['mIoU'] <= 1
    assert out['capped'] and out['patches_per_image'] == 4
    assert out['memory_rows'] == len(train) * 2 * 4


def test_pipeline_equals_its_pieces():
    """hummingbird_paper_miou == memory + official val preprocessing (image
    bilinear, mask nearest to the input size) + cosine retrieval, composed
    by hand."""
    import torch.nn.functional as F

    from mosic_mm.evaluation.hummingbird_paper import patch_rows
    vit = tiny_vit()
    train, val = striped_set(6, 255), striped_set(4, 255, seed=2)
    out = hummingbird_paper_miou(vit, {}, train, val, input_size=28,
                                 memory_size=None, temperature=0.5,
                                 progress=False)
    keys, counts, _ = build_paper_memory(vit, train, input_size=28,
                                         memory_size=None, progress=False)
    mean = [255 * m for m in HUMMINGBIRD_PAPER['img_mean']]
    std = [255 * s for s in HUMMINGBIRD_PAPER['img_std']]
    imgs, masks = [], []
    for i in range(len(val)):
        img, mask = val.load(i)
        x = F.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None].float(),
                          size=(28, 28), mode='bilinear', antialias=True)
        imgs.append(x[0].permute(1, 2, 0).numpy())
        masks.append(F.interpolate(torch.from_numpy(mask)[None, None].float(),
                                   size=(28, 28))[0, 0].long().numpy())
    q = patch_rows(vit, imgs, mean, std).flatten(0, 1)
    total = retrieval_counts(q, keys, counts, masks, (2, 2), 3, 255,
                             temperature=0.5)
    miou, iou, _ = predsmiou_from_counts(total)
    assert out['mIoU'] == pytest.approx(miou, abs=1e-9)
    assert out['per_class_iou'] == pytest.approx(iou.tolist(), abs=1e-9)
    # the temperature matters here: sharper weights change the prediction
    sharp = retrieval_counts(q, keys, counts, masks, (2, 2), 3, 255,
                             temperature=0.02)
    assert not np.array_equal(sharp, total)


def test_memory_crop_downscale_is_antialiased():
    """Issue 23 item 14: a 1-px stripe pattern (mean 127.5) downscaled
    >= 20x by the memory crop. An antialiased resize averages the stripes
    (every output pixel near 127.5); a resize without antialiasing (bilinear
    or nearest) samples one or two stripes and returns values far from the
    mean. Independent reference: PIL's antialiased bilinear resize."""
    from PIL import Image

    from mosic_mm.evaluation.hummingbird_paper import (HUMMINGBIRD_PAPER,
                                                       augment_pair)
    cfg = dict(HUMMINGBIRD_PAPER, jitter=())
    stripes = np.zeros((480, 480, 3), np.uint8)
    stripes[:, ::2] = 255
    mask = np.zeros((480, 480), np.int64)
    ref = np.asarray(Image.fromarray(stripes).resize((16, 16),
                                                     Image.BILINEAR), float)
    assert np.abs(ref - 127.5).max() < 4  # the property holds for PIL
    for seed in range(5):
        img, m = augment_pair(stripes, mask, 16, np.random.default_rng(seed),
                              cfg)
        assert img.shape == (16, 16, 3) and m.shape == (16, 16)
        assert np.abs(img - 127.5).max() < 8, seed
        assert img.std() < 4, seed
