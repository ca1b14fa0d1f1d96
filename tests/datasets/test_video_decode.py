"""Frame-accurate video decoding with PyAV (read_video backend 'pyav'):
only the packets the clip's frames depend on are decoded, and the frames
equal decord's full decode pixel for pixel."""
import cv2
import numpy as np
import pytest

from mosic_mm.datasets.resize import resize_frames
from mosic_mm.datasets.sources import video_io
from mosic_mm.datasets.sources.video_io import _frames_to_decode, read_video
from mosic_mm.datasets.transforms.loading import LoadClip

av = pytest.importorskip('av')
decord = pytest.importorskip('decord')

H, W, BITS, CELL = 96, 160, 8, 16


def _index_frame(i: int, rng) -> np.ndarray:
    """Frame ``i``: its index as 8 black/white cells in the top row, over a
    moving texture (so that P/B-frames carry real motion)."""
    img = np.roll(rng, 3 * i, axis=1).copy()
    for b in range(BITS):
        img[:CELL, b * CELL:(b + 1) * CELL] = 255 if (i >> b) & 1 else 0
    return img


def _read_index(frame: np.ndarray) -> int:
    cells = [frame[2:CELL - 2, b * CELL + 2:(b + 1) * CELL - 2].mean()
             for b in range(BITS)]
    return sum(1 << b for b, v in enumerate(cells) if v > 127)


def _frames(n: int) -> np.ndarray:
    rng = np.random.default_rng(0).integers(0, 256, (H, W, 3), np.uint8)
    rng = cv2.GaussianBlur(rng, (0, 0), 2)
    return np.stack([_index_frame(i, rng) for i in range(n)])


def _write_x264(path, frames, opts):
    if 'libx264' not in av.codecs_available:
        pytest.skip('PyAV without libx264')
    with av.open(str(path), 'w') as c:
        s = c.add_stream('libx264', rate=30)
        s.width, s.height, s.pix_fmt = W, H, 'yuv420p'
        s.options = dict(opts, crf='18')
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format='rgb24')):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return str(path)


def _write_mp4v(path, frames):
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 30,
                         (W, H))
    for f in frames:
        vw.write(np.ascontiguousarray(f[..., ::-1]))
    vw.release()
    return str(path)


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp('videos')
    frames = _frames(90)
    return {
        # cv2's MPEG-4 part 2: I/P only, key frame every 12
        'mp4v': _write_mp4v(d / 'mp4v.mp4', frames),
        # x264 defaults (Kinetics-like re-encode): B-frames (pyramid), one
        # key frame for the whole video
        'x264_bframes': _write_x264(d / 'b.mp4', frames, {}),
        # short GOP with B-frames and no scene-cut key frames
        'x264_gop15_b': _write_x264(d / 'g.mp4', frames,
                                    {'g': '15', 'sc_threshold': '0'}),
        # no B-frames, key frame every 10
        'x264_gop10_p': _write_x264(d / 'p.mp4', frames,
                                    {'g': '10', 'bf': '0',
                                     'sc_threshold': '0'}),
        # open GOPs: B-frames after a key frame reference the GOP before
        'x264_open_gop': _write_x264(d / 'o.mp4', frames,
                                     {'g': '15', 'sc_threshold': '0',
                                      'x264-params': 'open-gop=1'}),
    }


CLIPS = [list(range(0, 67, 6)), list(range(12, 79, 6)), [5, 6, 7],
         [89], [3, 40, 41, 77], [0, 0, 9, 9], list(range(1, 90, 11)),
         [14], [29, 44, 59, 74], [13, 14, 28]]


def _sequential(path):
    """Every frame, decoded from the start in order (ground truth)."""
    with av.open(path) as c:
        return np.stack([f.to_ndarray(format='rgb24')
                         for f in c.decode(video=0)])


@pytest.mark.parametrize('kind', ['mp4v', 'x264_bframes', 'x264_gop15_b',
                                  'x264_gop10_p', 'x264_open_gop'])
def test_pyav_is_frame_accurate_and_equals_sequential_decode(videos, kind):
    path = videos[kind]
    truth = _sequential(path)
    assert [_read_index(f) for f in truth] == list(range(90))
    vr = decord.VideoReader(path, num_threads=1)
    assert len(vr) == 90
    for inds in CLIPS:
        got = read_video(path, inds, backend='pyav')
        assert [_read_index(f) for f in got] == inds, (kind, inds)
        np.testing.assert_array_equal(got, truth[inds])
        if kind != 'x264_open_gop':  # decord seeks wrongly in open GOPs
            np.testing.assert_array_equal(got,
                                          vr.get_batch(inds).asnumpy())


def test_pyav_at_decode_size_equals_full_decode_and_resize(videos):
    path, inds = videos['x264_gop15_b'], [2, 30, 31, 60]
    full = decord.VideoReader(path, num_threads=1).get_batch(inds).asnumpy()
    ref = resize_frames(full, (48, 64), 'bilinear')
    out = LoadClip(decode_size=(48, 64), video_backend='pyav')(
        dict(video_path=path, frame_inds=np.array(inds)))
    np.testing.assert_array_equal(out['imgs'], ref)
    # 'decord' keeps decord's own (non-antialiased) scaler
    old = LoadClip(decode_size=(48, 64), video_backend='decord')(
        dict(video_path=path, frame_inds=np.array(inds)))
    assert old['imgs'].shape == ref.shape
    assert np.abs(old['imgs'].astype(int) - ref).mean() > 0.1


def test_frames_to_decode_by_hand():
    # I P P P | I P P P | I P, no reordering (frame_of = identity)
    key = np.array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0], bool)
    ident = np.arange(10)
    # frame 2 needs 0..2; frame 4 is a key frame; frame 9 needs 8..9; the
    # tails 3 and 5..7 are never decoded
    assert _frames_to_decode(key, ident, np.array([2, 4, 9])).tolist() == [
        0, 1, 2, 4, 8, 9]
    assert _frames_to_decode(key, ident, np.array([6])).tolist() == [4, 5, 6]
    # B-frames, closed GOPs (decode order I P B B | I P B B | I P): frame 5
    # (decode position 6) needs its GOP's key frame up to itself
    frame_of = np.array([0, 3, 1, 2, 4, 7, 5, 6, 8, 9])
    assert _frames_to_decode(key, frame_of, np.array([5])).tolist() == [
        4, 5, 6]
    # open GOP: decode position 5 shows frame 3, before its key frame (frame
    # 4 at position 4): a leading picture, decoded from the previous key
    frame_of = np.array([0, 2, 1, 4, 5, 3, 7, 6, 8, 9])
    key = np.array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0], bool)
    assert _frames_to_decode(key, frame_of, np.array([3])).tolist() == list(
        range(0, 6))
    assert _frames_to_decode(key, frame_of, np.array([7, 9])).tolist() == [
        4, 5, 6, 8, 9]


def test_backend_choice_fallback_and_errors(videos, monkeypatch):
    path = videos['mp4v']
    with pytest.raises(ValueError, match='video_backend must be one of'):
        LoadClip(video_backend='ffmpeg')
    # a PyAV failure falls back to decord (same frames)
    calls = []

    def broken(*args):
        calls.append(1)
        raise av.error.InvalidDataError(1, 'PyAV says no')
    monkeypatch.setattr(video_io, '_read_video_pyav', broken)
    got = read_video(path, [4, 50], backend='pyav')
    assert calls and [_read_index(f) for f in got] == [4, 50]
    # out of range: every backend refuses, the error names the file
    monkeypatch.undo()
    with pytest.raises(video_io.CorruptVideoError, match='mp4v.mp4'):
        read_video(path, [10, 95])
    # without PyAV: 'auto' uses decord, 'pyav' is refused at build time
    monkeypatch.setattr(video_io, '_pyav_available', lambda: False)
    monkeypatch.setattr(video_io, '_read_video_pyav', broken)
    calls.clear()
    got = read_video(path, [7])
    assert not calls and _read_index(got[0]) == 7
    with pytest.raises(ImportError, match='pip install av'):
        LoadClip(video_backend='pyav')


def test_pyav_decodes_only_the_packets_needed(videos, monkeypatch):
    """Count the packets sent to the decoder: a clip of key frames + the
    6th frame after each (GOP 12, mp4v) needs 7 per GOP, not all."""
    fed = []
    real = video_io._frames_to_decode

    def spy(*args):
        out = real(*args)
        fed.append(len(out))
        return out
    monkeypatch.setattr(video_io, '_frames_to_decode', spy)
    inds = list(range(12, 79, 6))  # 12, 18, ..., 78
    got = read_video(videos['mp4v'], inds, backend='pyav')
    assert [_read_index(f) for f in got] == inds
    assert fed == [6 * 7]  # 12..18, 24..30, ..., 72..78 of 67 frames


@pytest.mark.parametrize('kind', ['mp4v', 'x264_bframes', 'x264_open_gop'])
def test_probe_options_change_neither_stream_nor_frames(videos, kind):
    """The reader opens files with ``skip_frame='all'`` for the stream probe
    only: the stream's size and packets are those of a default open (its
    pixel format may stay unknown: nothing was decoded), the decoder that
    decodes the clip keeps its defaults, and it (no fallback here) outputs
    every requested frame exactly."""
    path = videos[kind]

    def params(**kw):
        with av.open(path, **kw) as c:
            ctx = c.streams.video[0].codec_context
            return (ctx.width, ctx.height, ctx.skip_frame, ctx.options,
                    len([p for p in c.demux(video=0) if p.size]))
    assert params(options=video_io._PROBE_OPTIONS) == params()
    assert params()[2:4] == ('DEFAULT', {})
    truth = _sequential(path)
    for inds in CLIPS[:3] + [[89]]:
        got = video_io._read_video_pyav(path, np.array(inds), None, 'bilinear')
        np.testing.assert_array_equal(got, truth[inds])


def test_pyav_resizes_in_bounded_batches(videos, monkeypatch):
    """The wanted frames are resized in one call per clip (per-frame calls
    cost ~2x the CPU), in several calls when they exceed
    ``_RESIZE_BATCH_BYTES``; the pixels are the same either way."""
    path, inds = videos['x264_bframes'], np.array([3, 40, 41, 77, 5])
    truth = resize_frames(_sequential(path)[inds], (48, 64), 'bilinear')
    batches = []
    real = video_io.resize_frames

    def spy(imgs, *args):
        batches.append(len(imgs))
        return real(imgs, *args)
    monkeypatch.setattr(video_io, 'resize_frames', spy)
    got = video_io._read_video_pyav(path, inds, (48, 64), 'bilinear')
    np.testing.assert_array_equal(got, truth)
    assert batches == [5]
    batches.clear()
    monkeypatch.setattr(video_io, '_RESIZE_BATCH_BYTES', 2 * H * W * 3)
    got = video_io._read_video_pyav(path, inds, (48, 64), 'bilinear')
    np.testing.assert_array_equal(got, truth)
    assert batches == [2, 2, 1]
