"""The Hummingbird (dense in-context retrieval) evaluation as the MoSiC
authors ran it (paper protocol, docs/evaluation.md).

Read from the official code (learned from, not copied): MoSiC
``hummingbird_eval.sh`` + ``evaluation/evaluation.py`` (``main``,
``HbirdEvaluation``), ``dataset/image_transformations.py``
(``get_hbird_train_transforms`` / ``get_hbird_val_transforms``,
``RandomResizedCrop``, ``CombTransforms``), ``dataset/data_loader.py``
(``VOCDataModule_HB``, ``Ade20kDataModule``), ``evaluation/eval_metrics.py``
(``PredsmIoU``), and vpariza/open-hummingbird-eval (``hbird/hbird_eval.py``,
``file_sets/``). Every setting is a field of :class:`HummingbirdSettings`.

Memory (training images, ``augmentation_epochs`` = 2 passes):
    colour jitter on the uint8 image (brightness, contrast, saturation, hue
    0.1 each, each applied with p = 0.5, in that order) -> random resized
    crop (scale (0.5, 2.0), ratio (3/4, 4/3), torchvision's sampler with its
    10 tries and centre-crop fallback: ``structures.sample_crop_box``) to
    518 x 518, image bilinear
    (antialiased), mask nearest, the same crop for both -> mask label 255
    set to 0 -> per 14 x 14 patch, the label distribution over *all* its
    pixels -> ``memory_size // (N * passes)`` patches per image kept: score =
    sum over the classes present in the patch of the number of patches *of
    that image* containing the class, times U(0, 1); lowest scores kept
    (rare classes first) -> L2-normalised patch tokens (after the final norm)
    as keys.

Query (validation images): image resized to 518 x 518 (bilinear), mask
    resized to 518 x 518 (nearest); k = 30 nearest keys by inner product,
    label distribution = softmax(cos / 0.02)-weighted sum of theirs,
    bilinearly upsampled (align_corners=False) from 37 x 37 to 518 x 518,
    argmax. Pixels with the dataset's ignore label (VOC 255, ADE20K 0) are
    dropped, then ``PredsmIoU`` with Hungarian matching on IoU, mean over
    all ``num_classes`` classes (ADE20K: 151, class 0 included).

Deviations (each named, none changes a setting): exact search (the
official code uses ScaNN, an approximation of it; ``index='ivf'`` is our
approximate option, its recall measured); fp16 keys (``key_dtype``);
label distributions stored as uint8 pixel counts (exact); every training
image used in every pass (the official loader drops the last incomplete
batch per rank) and unfilled memory rows trimmed (MoSiC leaves zero rows);
the per-image patch count capped at the patches of an image (the official
``torch.topk`` raises when ``memory_size // (N * passes)`` exceeds them,
i.e. on every fractional split with the 10,240,000 memory).
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from mosic_mm.structures import sample_crop_box

from ..data.splits import split_subset
from ..features import backbone_device, featmap
from ..metrics.predsmiou import predsmiou_from_counts
from ..metrics.retrieval import (
    IVFIndex,
    exact_knn,
    knn_recall,
    patch_label_counts,
    retrieval_counts,
)
from ..protocol import (
    EvalData,
    Protocol,
    ProtocolSettings,
    resolve_input_size,
    setting,
)

__all__ = [
    'HummingbirdSettings', 'Hummingbird', 'augment_pair', 'resize_val_mask',
    'class_frequency_sample', 'patches_per_image', 'patch_rows',
    'build_memory', 'hummingbird_miou'
]

_MOSIC = 'SMSD75/MoSiC@fed4637'
_OHE = 'vpariza/open-hummingbird-eval@5e79da2'


@dataclass(frozen=True)
class HummingbirdSettings(ProtocolSettings):
    """The official Hummingbird run (paper values, MoSiC's
    ``hummingbird_eval.sh`` over its command-line defaults)."""
    input_size: Optional[int] = setting(
        518, f'{_MOSIC} hummingbird_eval.sh:75 (None: the backbone\'s '
        'img_size)',
        size=True)
    memory_size: Optional[int] = setting(
        10_240_000,
        f'{_MOSIC} hummingbird_eval.sh:79 (None: every patch)',
        size=True)
    batch_size: int = setting(24,
                              f'{_MOSIC} hummingbird_eval.sh:76',
                              size=True)
    augmentation_epochs: int = setting(
        2, f'{_MOSIC} evaluation/evaluation.py:850')
    k: int = setting(30, f'{_MOSIC} evaluation/evaluation.py:849')
    temperature: float = setting(
        0.02, f'{_MOSIC} evaluation/evaluation.py:209 (cross_attention '
        'beta)')
    seed: int = setting(42, f'{_MOSIC} evaluation/evaluation.py:948')
    index: str = setting(
        'exact', "ours: exact search ('ivf': faiss IVF, recall measured); "
        f'the official code searches with ScaNN, {_MOSIC} '
        'evaluation/evaluation.py:64-67')
    fractions: Tuple[int, ...] = setting(
        (128, 1), 'the paper\'s table (1/128 and 1/1 of the training set); '
        'the official script lists no split (hummingbird_eval.sh:49-64 '
        'commented out)')
    split_seed: int = setting(42, f'{_OHE} file_sets/ '
                              '(trainaug_<d>_42.txt)')
    crop_scale: Tuple[float, float] = setting(
        (0.5, 2.0), f'{_MOSIC} dataset/image_transformations.py:169-170')
    crop_ratio: Tuple[float, float] = setting(
        (3 / 4, 4 / 3), f'{_MOSIC} dataset/image_transformations.py:46')
    jitter: Tuple[Tuple[str, float], ...] = setting(
        (('brightness', 0.1), ('contrast', 0.1), ('saturation', 0.1),
         ('hue', 0.1)), f'{_MOSIC} dataset/image_transformations.py:171-187 '
        '(in this order, on the image before the shared crop)')
    jitter_p: float = setting(
        0.5, f'{_MOSIC} dataset/image_transformations.py:171-178')
    mean: Tuple[float, ...] = setting(
        (0.485, 0.456, 0.406),
        f'{_MOSIC} dataset/image_transformations.py:103')
    std: Tuple[float,
               ...] = setting((0.229, 0.224, 0.255),
                              f'{_MOSIC} dataset/image_transformations.py:104 '
                              '(blue 0.255 as there)')
    memory_relabel: Tuple[int, int] = setting(
        (255, 0), f'{_MOSIC} evaluation/evaluation.py:81 (memory labels '
        '255 -> 0)')

    FAST = dict(input_size=56, memory_size=None, batch_size=8)


# ----------------------------------------------------------------- augment
def _jitter(img: np.ndarray, rng: np.random.Generator,
            s: 'HummingbirdSettings') -> np.ndarray:
    """Independent colour jitters on uint8 [H, W, 3] (torchvision's PIL
    ops, which the official ``ColorJitter`` calls)."""
    import torchvision.transforms.functional as TF
    from PIL import Image
    ops = dict(brightness=TF.adjust_brightness,
               contrast=TF.adjust_contrast,
               saturation=TF.adjust_saturation,
               hue=TF.adjust_hue)
    pil = None
    for name, amount in s.jitter:
        if rng.random() >= s.jitter_p:
            continue
        pil = pil or Image.fromarray(img)
        if name == 'hue':
            factor = rng.uniform(-amount, amount)
        else:
            factor = rng.uniform(max(0.0, 1 - amount), 1 + amount)
        pil = ops[name](pil, factor)
    return img if pil is None else np.asarray(pil)


def augment_pair(
    img: np.ndarray,
    mask: np.ndarray,
    size: int,
    rng: np.random.Generator,
    s: Optional['HummingbirdSettings'] = None
) -> Tuple[np.ndarray, np.ndarray]:
    """One memory augmentation: colour jitter, then the same random resized
    crop of image (bilinear, antialiased, not re-quantised) and mask
    (nearest).

    Args:
        img: uint8 [H, W, 3]; mask: int [H, W].

    Returns:
        float32 [size, size, 3] (0..255), int64 [size, size].
    """
    s = s or HummingbirdSettings()
    if img.shape[:2] != mask.shape:
        raise ValueError(f'image {img.shape[:2]} and mask {mask.shape} '
                         'differ in size')
    img = _jitter(np.ascontiguousarray(img, np.uint8), rng, s)
    x0, y0, x1, y1 = sample_crop_box(mask.shape,
                                     s.crop_scale,
                                     s.crop_ratio,
                                     rng=rng,
                                     row_first=True)
    return (resize_image(img[y0:y1, x0:x1], size),
            resize_val_mask(mask[y0:y1, x0:x1], size))


def resize_image(img: np.ndarray, size: int) -> np.ndarray:
    """Image [H, W, 3] -> float32 [size, size, 3] (0..255): bilinear,
    antialiased (as PIL / torchvision on the official PIL images), not
    re-quantised."""
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0,
                                                          1)[None].float()
    x = F.interpolate(x,
                      size=(size, size),
                      mode='bilinear',
                      align_corners=False,
                      antialias=True)
    return x[0].permute(1, 2, 0).numpy()


def resize_val_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Validation mask -> int64 [size, size] (nearest, torch 'nearest' as
    torchvision's tensor resize)."""
    m = torch.from_numpy(np.ascontiguousarray(mask, np.int64))[None, None]
    if m.shape[-2:] == (size, size):
        return m[0, 0].numpy()
    return F.interpolate(m.float(), size=(size, size),
                         mode='nearest')[0, 0].long().numpy()


# --------------------------------------------------------------- sampling
def class_frequency_sample(counts: np.ndarray, n_keep: int,
                           rng: np.random.Generator) -> np.ndarray:
    """Patches of one image to keep in the memory.

    Args:
        counts: [P, K] pixels of each class in each patch (ignore already
            relabelled).
        n_keep: patches to keep (<= P).

    Returns:
        int64 [n_keep] patch indices: the lowest scores, score = (sum over
        the classes present in the patch of the number of patches of this
        image containing that class) x U(0, 1).
    """
    present = np.asarray(counts) > 0
    freq = present.sum(0)  # [K]
    score = (present * freq).sum(1).astype(np.float64)  # [P]
    score[~present.any(1)] = 1e6  # empty patch
    score *= rng.random(len(score))
    if n_keep >= len(score):
        return np.arange(len(score))
    return np.sort(np.argpartition(score, n_keep - 1)[:n_keep])


def patches_per_image(memory_size: Optional[int], num_images: int, passes: int,
                      patches: int) -> int:
    """``memory_size // (num_images * passes)``, capped at the patches of an
    image (None: every patch)."""
    if memory_size is None:
        return patches
    return max(1, min(patches, memory_size // max(1, num_images * passes)))


# --------------------------------------------------------------- features
def patch_rows(vit: torch.nn.Module,
               images: List[np.ndarray],
               mean,
               std,
               amp: bool = False) -> torch.Tensor:
    """Float images [size, size, 3] (0..255, already at the input size) ->
    patch tokens [B, h*w, C] (row-major grid) on the backbone's device."""
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
    return featmap(vit, x, mean, std, amp).flatten(2).transpose(1, 2)


def _dist() -> Tuple[int, int]:
    from mmengine.dist import get_dist_info
    return get_dist_info()


def _bar(it, total, desc, progress):
    if not progress:
        return it
    from tqdm import tqdm
    return tqdm(it, total=total, desc=desc, unit='img', dynamic_ncols=True)


# ----------------------------------------------------------------- memory
def build_memory(
    vit: torch.nn.Module,
    train_set,
    s: 'HummingbirdSettings',
    input_size: int,
    mean=None,
    std=None,
    key_dtype: torch.dtype = torch.float16,
    amp: bool = False,
    progress: bool = True,
    rank: Optional[int] = None,
    world_size: Optional[int] = None
) -> Tuple[torch.Tensor, torch.Tensor, dict]:
    """The augmented, class-frequency-sampled memory of this rank.

    Image i of pass e is handled by rank ``i % world_size`` with the
    generator ``default_rng([seed, e, i])``, so the union over ranks is the
    memory of one process. Keys are built on the backbone's device and kept
    on the CPU (``key_dtype``).

    ``s``: the memory settings (``memory_size``, ``augmentation_epochs``,
    ``seed``, ``batch_size``, the augmentation); ``input_size`` resolved;
    ``mean`` / ``std`` on the 0..255 scale (default: the settings').

    Returns:
        (keys [M_r, C] unit rows, counts uint8 [M_r, K] pixels per class of
        each kept patch, info dict with patches_per_image, capped).
    """
    memory_size, augmentation_epochs = s.memory_size, s.augmentation_epochs
    seed, batch_size = s.seed, s.batch_size
    mean = tuple(255 * m for m in s.mean) if mean is None else mean
    std = tuple(255 * x for x in s.std) if std is None else std
    from mosic_mm.models.utils.token_backbone import vit_patch_size
    p = vit_patch_size(vit)
    if input_size % p:
        raise ValueError(f'input size {input_size} is not a multiple of the '
                         f'patch size {p}')
    g = input_size // p
    n = len(train_set)
    if n == 0:
        raise ValueError(f'training set {getattr(train_set, "name", "")} is '
                         'empty')
    n_keep = patches_per_image(memory_size, n, augmentation_epochs, g * g)
    r0, ws = _dist()
    rank = r0 if rank is None else rank
    ws = ws if world_size is None else world_size
    K = train_set.num_classes
    src, dst = s.memory_relabel
    jobs = [(e, i) for e in range(augmentation_epochs)
            for i in range(rank, n, ws)]
    # preallocated (no concatenation peak): every image gives n_keep rows
    rows = len(jobs) * n_keep
    store = dict(keys=None,
                 filled=0,
                 counts=torch.empty(rows, K, dtype=torch.uint8))
    batch = []

    def flush():
        feats = patch_rows(vit, [b[0] for b in batch], mean, std, amp)
        if store['keys'] is None:
            store['keys'] = torch.empty(rows, feats.shape[-1], dtype=key_dtype)
        for (_, cnt, keep), f in zip(batch, feats):
            a = store['filled']
            sel = torch.from_numpy(keep).to(f.device)
            store['keys'][a:a + len(keep)] = F.normalize(
                f[sel], dim=1).to(key_dtype).cpu()
            store['counts'][a:a + len(keep)] = torch.from_numpy(cnt[keep])
            store['filled'] = a + len(keep)
        batch.clear()

    for e, i in _bar(jobs, len(jobs), f'memory (rank {rank})', progress
                     and rank == 0):
        img, mask = train_set.load(i)
        rng = np.random.default_rng([seed, e, i])
        x, m = augment_pair(img, mask, input_size, rng, s)
        m[m == src] = dst
        cnt = patch_label_counts(m[None], (g, g), K, None)[0].reshape(g * g, K)
        keep = class_frequency_sample(cnt, n_keep, rng)
        batch.append((x, cnt, keep))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    keys, counts = store['keys'], store['counts']
    if keys is None:  # a rank without images
        keys = torch.zeros(0, getattr(vit, 'embed_dims', 0), dtype=key_dtype)
    assert store['filled'] == rows
    return keys, counts, dict(
        patches_per_image=n_keep,
        capped=memory_size is not None
        and n_keep < memory_size // max(1, n * augmentation_epochs))


def _gather_rows(x: torch.Tensor, chunk: int = 1 << 20) -> torch.Tensor:
    """Concatenate a [M_r, ...] CPU tensor over ranks (mmengine all_gather,
    padded to equal length, in row chunks); identity without dist."""
    from mmengine import dist
    if dist.get_world_size() == 1:
        return x
    sizes = [int(s) for s in dist.all_gather(torch.tensor([len(x)]))]
    out = torch.empty((sum(sizes), ) + tuple(x.shape[1:]), dtype=x.dtype)
    offsets = np.cumsum([0] + sizes)
    for a in range(0, max(sizes), chunk):
        piece = x[a:a + chunk]
        if len(piece) < min(chunk, max(sizes) - a):  # pad to equal shapes
            piece = torch.cat([
                piece,
                piece.new_zeros((min(chunk,
                                     max(sizes) - a) - len(piece), )
                                + tuple(x.shape[1:]))
            ])
        for r, got in enumerate(dist.all_gather(piece)):
            n = max(0, min(chunk, sizes[r] - a))
            out[offsets[r] + a:offsets[r] + a + n] = got[:n].cpu()
    return out


# ------------------------------------------------------------------- main
def hummingbird_miou(vit: torch.nn.Module,
                     info: dict,
                     train_set,
                     val_set,
                     s: 'HummingbirdSettings',
                     *,
                     nlist: Optional[int] = None,
                     nprobe: int = 64,
                     recall_queries: int = 2000,
                     key_dtype: torch.dtype = torch.float16,
                     amp: bool = False,
                     mean=None,
                     std=None,
                     progress: bool = True) -> dict:
    """Official Hummingbird mIoU of a frozen ViT.

    Args:
        vit: backbone (mmpretrain ViT or a token backbone; its device is
            used).
        info: from :func:`mosic_mm.evaluation.features.build_backbone`
            (only ``source`` is reported; the normalisation is the official
            one unless ``mean`` / ``std`` (0..255 scale) are given).
        train_set, val_set: SegImageSet-like (``__len__``, ``load(i)`` ->
            (uint8 [H, W, 3], int [H, W]), ``num_classes``,
            ``ignore_index``); a split file is applied by the caller with
            ``train_set.subset(read_split(path))``
            (:mod:`~mosic_mm.evaluation.data.splits`).
        s: the settings; ``s.index`` 'exact' (blocked matmul + top-k) or
            'ivf' (faiss IVF, fp16 codes; its recall@k against exact search
            is measured on ``recall_queries`` random val patches and
            returned).

    Returns:
        dict(mIoU in [0, 1], per_class_iou, memory_rows, patches_per_image,
        capped, recall_at_k (ivf only), settings).
    """
    input_size = resolve_input_size(s.input_size, info)
    index, k, temperature = s.index, s.k, s.temperature
    memory_size, augmentation_epochs, seed = (s.memory_size,
                                              s.augmentation_epochs, s.seed)
    batch_size = s.batch_size
    if index not in ('exact', 'ivf'):
        raise ValueError(f"index must be 'exact' or 'ivf', got {index!r}")
    if train_set.num_classes != val_set.num_classes or \
            train_set.ignore_index != val_set.ignore_index:
        raise ValueError('train and val sets disagree on num_classes / '
                         'ignore_index')
    from mmengine import dist

    from mosic_mm.models.utils.token_backbone import vit_patch_size
    mean = tuple(255 * m for m in s.mean) if mean is None else mean
    std = tuple(255 * x for x in s.std) if std is None else std
    keys, counts, mem = build_memory(vit,
                                     train_set,
                                     s,
                                     input_size,
                                     mean=mean,
                                     std=std,
                                     key_dtype=key_dtype,
                                     amp=amp,
                                     progress=progress)
    keys, counts = _gather_rows(keys), _gather_rows(counts)
    dev = backbone_device(vit)
    g = input_size // vit_patch_size(vit)
    rank, ws = _dist()
    # queries: this rank's share of the val images
    mine = list(range(rank, len(val_set), ws))
    K = val_set.num_classes
    small = K <= 256 and 0 <= val_set.ignore_index <= 255
    q = None  # [len(mine) * g * g, C], preallocated
    masks, batch, filled = [], [], 0
    for j in _bar(mine, len(mine), f'queries (rank {rank})', progress
                  and rank == 0):
        img, mask = val_set.load(j)
        batch.append(resize_image(img, input_size))
        m = resize_val_mask(mask, input_size)
        masks.append(m.astype(np.uint8) if small else m)
        if len(batch) == batch_size or j == mine[-1]:
            f = patch_rows(vit, batch, mean, std, amp).flatten(0, 1)
            if q is None:
                q = torch.empty(len(mine) * g * g,
                                f.shape[-1],
                                dtype=key_dtype,
                                device=dev)
            q[filled:filled + len(f)] = F.normalize(f, dim=1).to(key_dtype)
            filled += len(f)
            batch.clear()
    out = dict(memory_rows=len(keys),
               patches_per_image=mem['patches_per_image'],
               capped=mem['capped'],
               source=info.get('source'))
    total = np.zeros((K, K), np.int64)
    if q is not None:
        ivf = None
        if index == 'ivf':
            ivf = IVFIndex.build(keys,
                                 nlist=nlist,
                                 nprobe=nprobe,
                                 seed=seed,
                                 gpu=dev.type == 'cuda')
            sub = np.random.default_rng(seed).choice(len(q),
                                                     min(
                                                         len(q),
                                                         recall_queries),
                                                     replace=False)
            qs = q[torch.from_numpy(sub).to(q.device)]
            out['recall_at_k'] = knn_recall(
                ivf.search(qs, k)[1],
                exact_knn(qs, keys, k)[1])
            keys = None  # the index holds its own (fp16) copy
        # similarity blocks: 2^27 fp32 on the CPU, 2^29 fp16 (1 GB) on GPU
        block = dict(block_elems=1 << (27 if q.device.type == 'cpu' else 29))
        total = retrieval_counts(q,
                                 keys,
                                 counts,
                                 masks, (g, g),
                                 K,
                                 val_set.ignore_index,
                                 k=k,
                                 temperature=temperature,
                                 index=ivf,
                                 progress=progress and rank == 0,
                                 normalized=True,
                                 search_kwargs=block)
    if ws > 1:
        t = torch.from_numpy(total)
        dist.all_reduce(t)
        total = t.numpy()
    miou, iou, _ = predsmiou_from_counts(total)
    out.update(mIoU=miou,
               per_class_iou=iou.tolist(),
               settings=dict(input_size=input_size,
                             memory_size=memory_size,
                             augmentation_epochs=augmentation_epochs,
                             k=k,
                             temperature=temperature,
                             index=index,
                             key_dtype=str(key_dtype),
                             seed=seed))
    return out


def _split_file(root: str, name: str) -> Optional[str]:
    """``<root>/sets/<name>.txt`` (Hummingbird layout) or
    ``<root>/ImageSets/Segmentation/<name>.txt``, if present."""
    for sub in ('sets', osp.join('ImageSets', 'Segmentation')):
        p = osp.join(root, sub, name + '.txt')
        if osp.isfile(p):
            return p
    return None


class Hummingbird(Protocol):
    """Dense in-context retrieval: a memory of augmented training patches,
    each ``val`` patch labelled by its nearest keys; one metric
    ``mIoU 1/<d>`` per training fraction."""
    name = 'hummingbird'
    Settings = HummingbirdSettings

    def run(self,
            vit,
            info: dict,
            data: EvalData,
            progress: bool = True,
            work_dir: Optional[str] = None
            ) -> Tuple[Dict[str, float], List[str]]:
        s = self.settings
        train, val = data.load('train'), data.load('val')
        out, notes = {}, []
        for d in s.fractions:
            name = f'{data.splits["train"]}_{d}_{s.split_seed}'
            sub, desc = split_subset(train, _split_file(data.root, name),
                                     None if d == 1 else d, s.split_seed)
            notes.append(f'1/{d}: {desc}')
            r = hummingbird_miou(vit, info, sub, val, s, progress=progress)
            out[f'mIoU 1/{d}'] = float(r['mIoU'])
        return out, notes
