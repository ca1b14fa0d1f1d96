"""Filling the track cache of a training config (docs/tracks.md)."""
from typing import Optional

from mosic_mm.utils.config import load_config, registry_scope

from .common import job_logger


def extract_tracks(config: str, *, tracker: Optional[str] = None,
                   checkpoint: Optional[str] = None,
                   cache_dir: Optional[str] = None, overwrite: bool = False,
                   limit: Optional[int] = None,
                   cfg_options: Optional[dict] = None) -> int:
    """Track every window of every video of ``config``'s training set and
    write one cache file per video (resumable; under a process group the
    videos are split over the ranks, :func:`~mosic_mm.tracks.extraction.
    fill_track_cache`).

    Args:
        config: training config path.
        tracker: another tracker type than the config's (its defaults).
        checkpoint: the tracker's weights (CoTracker3, BootsTAPIR).
        cache_dir: default ``LoadTracks.cache_dir`` or
            ``<data_root>/track_cache/<tracker type>``.
        overwrite: re-extract files written with other settings (else they
            count as failed).
        limit: only the first N videos.
        cfg_options: config overrides (``--cfg-options``).

    Returns:
        int: 0, or 1 if any video of any rank failed.
    """
    import mosic_mm  # noqa: F401  (registers the pipeline steps)
    from mosic_mm.tracks.extraction import fill_track_cache
    cfg = load_config(config, cfg_options)
    with registry_scope(cfg):
        return fill_track_cache(cfg, tracker, checkpoint, cache_dir,
                                overwrite, limit,
                                logger=job_logger('extract_tracks'))
