"""Fixtures of the dataset tests: tiny frame folders and video files with
known content, and the warnings the current MMLogger logs."""
import logging

import numpy as np
import pytest


@pytest.fixture
def make_frames():
    """``make_frames(folder, n, size=32, names=None)``: n JPEGs in
    ``folder`` (created); frame i has value 10*i and they are written in
    reverse name order, so sorting by name is what puts them in order."""
    import cv2

    def make(folder, n, size=32, names=None):
        folder.mkdir(parents=True)
        names = names or [f'{i:05d}.jpg' for i in range(n)]
        for i in reversed(range(n)):
            img = np.full((size, size, 3), 10 * i, np.uint8)
            assert cv2.imwrite(str(folder / names[i]), img)
        return folder
    return make


@pytest.fixture
def make_video():
    """``make_video(path, n, hw=(32, 64))``: a video of n frames (MJPG for
    .avi, mp4v else), frame i of value 10*i."""
    import cv2

    def make(path, n, hw=(32, 64)):
        path.parent.mkdir(parents=True, exist_ok=True)
        fourcc = 'MJPG' if path.suffix == '.avi' else 'mp4v'
        vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10,
                             (hw[1], hw[0]))
        assert vw.isOpened()
        for i in range(n):
            vw.write(np.full((*hw, 3), 10 * i, np.uint8))
        vw.release()
        return path
    return make


class _LogCapture(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def log_capture():
    """``log_capture(logger)``: a context manager collecting the warning
    messages of ``logger`` into the list it yields."""
    import contextlib

    @contextlib.contextmanager
    def capture(logger):
        handler = _LogCapture()
        logger.addHandler(handler)
        try:
            yield handler.messages
        finally:
            logger.removeHandler(handler)
    return capture


@pytest.fixture
def warnings_log(log_capture):
    """The warning messages of the current MMLogger instance during the
    test (a list)."""
    from mmengine.logging import MMLogger
    with log_capture(MMLogger.get_current_instance()) as messages:
        yield messages


@pytest.fixture(scope='module')
def two_roots(tmp_path_factory):
    """Synthetic collections of 6 and 2 videos (8 frames, 64 px): the
    datasets of a mix."""
    from mosic_mm.synthetic import write_dataset
    roots = []
    for name, n in (('big', 6), ('small', 2)):
        root = str(tmp_path_factory.mktemp(name))
        write_dataset(root, num_train=n, num_val=0, num_frames=8,
                      size=(64, 64), seed=len(roots), progress=False)
        roots.append(root)
    return roots
