"""Matching cluster ids to class ids from a (cluster x class) confusion."""
import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ['hungarian_match', 'many_to_one_match', 'remap_confusion']


def hungarian_match(conf: np.ndarray) -> np.ndarray:
    """One-to-one matching maximising the matched pixel count.

    Args:
        conf: [K, C] counts, K clusters x C classes.

    Returns:
        int64 [K]: the class of each cluster; -1 for clusters left unmatched
        when K > C.
    """
    conf = np.asarray(conf)
    rows, cols = linear_sum_assignment(conf, maximize=True)
    mapping = np.full(conf.shape[0], -1, np.int64)
    mapping[rows] = cols
    return mapping


def many_to_one_match(conf: np.ndarray) -> np.ndarray:
    """Each cluster to the class it overlaps most (several clusters may share
    a class). conf [K, C] -> int64 [K]."""
    return np.asarray(conf).argmax(1).astype(np.int64)


def remap_confusion(conf: np.ndarray, mapping: np.ndarray,
                    num_classes: int) -> np.ndarray:
    """Cluster confusion [K, C] + mapping [K] (class per cluster, -1 =
    unmatched) -> class confusion [num_classes + 1, C]: row i < num_classes
    sums the clusters mapped to class i, the last row the unmatched ones
    (they are in no class's prediction but still in their gt class's union).
    """
    conf = np.asarray(conf, np.int64)
    mapping = np.asarray(mapping, np.int64)
    if mapping.shape != (conf.shape[0], ):
        raise ValueError(f'mapping {mapping.shape} does not match '
                         f'{conf.shape[0]} clusters')
    out = np.zeros((num_classes + 1, conf.shape[1]), np.int64)
    np.add.at(out, np.where(mapping < 0, num_classes, mapping), conf)
    return out
