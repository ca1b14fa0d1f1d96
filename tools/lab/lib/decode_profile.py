"""Where a video clip's decode time goes, and the FFmpeg decoder settings
that trade pixels for time, measured against the exact reader (PyAV, one
thread, CPU time: :data:`.input_pipeline.cpu_clock`)."""
import statistics
from typing import Dict, Optional, Sequence

import numpy as np

from .input_pipeline import cpu_clock


def profile_video_decode(path: str, inds: Sequence[int], size,
                         repeats: int = 5) -> Dict[str, float]:
    """Where the time of reading frames ``inds`` of a video goes, median
    CPU ms over ``repeats`` on this thread (PyAV, one decoder thread).

    Keys: ``open_demux`` (open the file, demux and index every packet),
    ``decode_range`` (decode every packet from the key frame before the
    first wanted frame to the last one, the least a sequential reader
    does), ``decode_needed`` (decode only the packets the wanted frames
    depend on, :func:`~mosic_mm.datasets.sources.video_io._frames_to_decode`,
    unwanted non-reference frames skipped), ``to_rgb`` (YUV -> RGB of the
    wanted frames at full size), ``resize`` (antialiased resize of those
    to ``size``), ``num_range`` / ``num_needed`` (packets decoded) and
    ``total`` (``read_video(..., size, backend='pyav')``).
    """
    import av

    from mosic_mm.datasets.resize import resize_frames
    from mosic_mm.datasets.sources.video_io import (
        _PROBE_OPTIONS,
        _frames_to_decode,
        _pyav_index,
        read_video,
    )
    inds = np.asarray(inds, np.int64)

    def index():  # what read_video does before decoding
        with av.open(path, options=_PROBE_OPTIONS) as c:
            _, pk, frame_of, _, key = _pyav_index(c, path)
        return pk, frame_of, key

    pk, frame_of, key = index()
    needed = _frames_to_decode(key, frame_of, inds)
    pos = np.flatnonzero(np.isin(frame_of, inds))
    keypos = np.flatnonzero(key)
    k0 = keypos[np.searchsorted(keypos, needed[0], side='right') - 1] \
        if keypos.size else 0
    full_range = np.arange(min(k0, needed[0]), pos.max() + 1)
    wanted = set(inds.tolist())

    def decode(positions, skip):
        with av.open(path, options=_PROBE_OPTIONS) as c:
            st = c.streams.video[0]
            st.thread_type, st.thread_count = 'SLICE', 1
            ctx, frames = st.codec_context, []
            for j in positions:
                if skip:
                    ctx.skip_frame = ('DEFAULT' if frame_of[j] in wanted
                                      else 'NONREF')
                frames += ctx.decode(pk[j])
            frames += ctx.decode(None)
        return frames

    frames = decode(needed, True)
    def to_rgb():
        return [f.reformat(format='rgb24', interpolation='POINT').to_ndarray()
                for f in frames[:len(inds)]]

    rgb = np.stack(to_rgb())
    steps = {
        'open_demux': index,
        'decode_range': lambda: decode(full_range, False),
        'decode_needed': lambda: decode(needed, True),
        'to_rgb': to_rgb,
        'resize': lambda: resize_frames(rgb, tuple(size), 'bilinear'),
        'total': lambda: read_video(path, inds, tuple(size), 'bilinear',
                                    'pyav'),
    }
    out = {}
    for name, fn in steps.items():
        fn()
        ts = []
        for _ in range(repeats):
            start = cpu_clock()
            fn()
            ts.append(cpu_clock() - start)
        out[name] = 1e3 * statistics.median(ts)
    out.update(num_range=len(full_range), num_needed=len(needed))
    return out


# Decoder settings that remove work at the cost of pixels, measured against
# the exact reader by :func:`profile_decoder_settings`: name -> (FFmpeg
# codec options, RGB conversion). 'exact' is what ``read_video`` does.
DECODER_SETTINGS = {
    'exact': ({}, 'exact'),
    # in-loop deblocking skipped on non-reference frames: exact for every
    # frame another one references (H.264; no-op for MPEG-4 part 2, which
    # has no in-loop filter)
    'skip_loop_filter=noref': ({'skip_loop_filter': 'noref'}, 'exact'),
    # ... on B-frames (the errors of reference B-frames reach a few others)
    'skip_loop_filter=bidir': ({'skip_loop_filter': 'bidir'}, 'exact'),
    # ... on every frame: the error propagates through the references
    'skip_loop_filter=all': ({'skip_loop_filter': 'all'}, 'exact'),
    # FFmpeg's "allow non spec compliant speedup tricks"
    'flags2=fast': ({'flags2': '+fast'}, 'exact'),
    # decode at half size (MPEG-4 part 2; H.264 has no reduced decoding)
    'lowres=1': ({'lowres': '1'}, 'exact'),
    # YUV -> RGB and the downscale in one swscale call (its bilinear
    # filter widened to the scale factor), no separate resize
    'swscale_fused': ({}, 'BILINEAR'),
    'swscale_fused_area': ({}, 'AREA'),
}


def _read_with_settings(path: str, inds: np.ndarray, size, options: dict,
                        rgb: str) -> np.ndarray:
    """``read_video(path, inds, size, backend='pyav')`` with FFmpeg codec
    ``options`` set before the decoder opens and, for ``rgb`` a swscale
    interpolation ('BILINEAR', 'AREA'), conversion and downscale in one
    ``VideoFrame.reformat``. Same packets, same skipping of unwanted
    non-reference frames."""
    import av

    from mosic_mm.datasets.resize import resize_frames
    from mosic_mm.datasets.sources.video_io import (
        _PROBE_OPTIONS,
        _decode_needed,
        _pyav_index,
    )
    wanted, out = set(inds.tolist()), {}
    with av.open(path, options=_PROBE_OPTIONS) as c:
        st, pk, frame_of, pts_to_frame, key = _pyav_index(c, path)
        ctx = st.codec_context
        if options:
            ctx.options = dict(options)  # applied when the decoder opens

        def take(frames):
            for fr in frames:
                i = pts_to_frame.get(fr.pts)
                if i not in wanted or i in out:
                    continue
                if rgb != 'exact':
                    out[i] = fr.reformat(size[1], size[0], format='rgb24',
                                         interpolation=rgb).to_ndarray()
                else:
                    out[i] = fr.reformat(format='rgb24',
                                         interpolation='POINT').to_ndarray()

        _decode_needed(ctx, pk, key, frame_of, inds, take,
                       lambda: len(out) == len(wanted))
        if rgb == 'exact':  # one batched resize, as read_video
            keys = list(out)
            imgs = resize_frames(np.stack([out[i] for i in keys]),
                                 tuple(size), 'bilinear')
            out.update(zip(keys, imgs))
    return np.stack([out[int(i)] for i in inds])


def profile_decoder_settings(path: str, clips: Sequence[Sequence[int]],
                             size, settings: Optional[Sequence[str]] = None,
                             repeats: int = 3) -> Dict[str, dict]:
    """CPU time and pixel error of reading ``clips`` of a video with each of
    ``settings`` (names of :data:`DECODER_SETTINGS`, default all) against
    the exact reader, settings interleaved per repeat on this thread.

    Returns:
        ``{setting: dict(ms=median CPU ms per clip, x_exact=exact ms / ms,
        mae=mean |difference| at ``size`` over all frames (grey levels),
        frame_mae=worst frame's MAE, max=largest difference)}``. A setting
        that does nothing for the codec shows MAE 0 and ``x_exact`` ~1.
    """
    names = list(DECODER_SETTINGS) if settings is None else list(settings)
    if 'exact' not in names:
        names.insert(0, 'exact')
    unknown = set(names) - set(DECODER_SETTINGS)
    if unknown:
        raise ValueError(f'unknown decoder settings {sorted(unknown)}; '
                         f'choose from {tuple(DECODER_SETTINGS)}')
    times = {n: [] for n in names}
    err = {n: [] for n in names}
    for inds in clips:
        inds = np.asarray(inds, np.int64)
        imgs = {}
        for r in range(repeats + 1):  # the first pass warms up
            for n in names:
                opts, rgb = DECODER_SETTINGS[n]
                start = cpu_clock()
                imgs[n] = _read_with_settings(path, inds, size, opts, rgb)
                if r:
                    times[n].append(cpu_clock() - start)
        for n in names:
            err[n].append(np.abs(imgs[n].astype(np.int16)
                                 - imgs['exact'].astype(np.int16)))
    ms = {n: 1e3 * statistics.median(times[n]) for n in names}
    out = {}
    for n in names:
        d = np.concatenate(err[n])
        out[n] = dict(ms=ms[n], x_exact=ms['exact'] / ms[n],
                      mae=float(d.mean()),
                      frame_mae=float(d.reshape(len(d), -1).mean(1).max()),
                      max=int(d.max()))
    return out
