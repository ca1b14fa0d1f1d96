"""The synthetic classes, the rendering styles and their parameters, and the
checks of the generator's arguments."""
from numbers import Integral
from typing import Sequence, Tuple

# name, shape family, texture family, base hue (degrees)
_CLASS_SPECS = (
    ('disc', 'ellipse', 'dots', 5.0),
    ('box', 'rect', 'stripes', 215.0),
    ('triangle', 'triangle', 'checker', 125.0),
    ('star', 'star', 'rings', 285.0),
    ('cross', 'cross', 'zigzag', 50.0),
)

#: Class names; index 0 is the background, class ids in ``class_masks`` index it.
CLASSES: Tuple[str, ...] = ('background', ) + tuple(s[0] for s in _CLASS_SPECS)

#: One RGB colour per class (for visualisation and the class palette PNGs).
PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (0, 0, 0),
    (220, 60, 40),
    (40, 100, 220),
    (40, 170, 70),
    (170, 60, 200),
    (230, 200, 40),
)

# Object scale over a clip stays within [_S0[0] * (1 - _S_AMP), _S0[1] * (1 + _S_AMP)].
_S0 = (0.8, 1.2)
_S_AMP = 0.2
# Share of ground-truth points placed on objects (the rest on the background).
_OBJECT_POINT_SHARE = 0.6

#: Rendering styles: 'default' (class = shape + texture + colour range),
#: 'shared_colour' (class = shape + motion; colours and textures shared),
#: 'camera' (the default's look under a fast camera pan and a moving light)
#: and 'crowd' (camera, plus many large objects that bend non-rigidly).
STYLES = ('default', 'shared_colour', 'camera', 'crowd')
# camera pan speed, fraction of min(H, W) per frame: (low, high) per style
_PAN_SPEED = dict(default=(0.0, 0.008),
                  shared_colour=(0.0, 0.008),
                  camera=(0.02, 0.035),
                  crowd=(0.02, 0.035))
# number of objects (inclusive range) when num_objects is not given
_NUM_OBJECTS = dict(default=(2, 4),
                    shared_colour=(2, 4),
                    camera=(2, 4),
                    crowd=(8, 11))
# object diameter, fraction of min(H, W)
_DIAMETER = dict(default=(0.2, 0.38),
                 shared_colour=(0.2, 0.38),
                 camera=(0.2, 0.38),
                 crowd=(0.35, 0.55))
# style 'crowd': sinusoidal bending modes per object, their summed strain
# (the warp's Lipschitz constant, < 1 so that it is invertible) and the
# wavelength range (x the object's diameter)
_BEND_MODES = 3
_BEND_STRAIN = 0.6
_BEND_WAVELENGTH = (0.7, 2.0)
# style 'crowd': amplitude (degrees) of the coloured light's hue rotation
_TINT_HUE = 35.0
_TEXTURES = ('dots', 'stripes', 'checker', 'rings', 'zigzag')
# shared_colour: motion style of each class id (1..5)
_MOTION_STYLES = ('roll', 'slide', 'swing', 'spin', 'pulse')


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f'{name} must be an int, got {value!r}')
    if value < minimum:
        raise ValueError(f'{name} must be >= {minimum}, got {value}')
    return int(value)


def _check_size(size) -> Tuple[int, int]:
    if isinstance(size, Integral) and not isinstance(size, bool):
        size = (size, size)
    if not isinstance(size, Sequence) or len(size) != 2:
        raise ValueError(f'size must be (H, W) or an int, got {size!r}')
    return (_check_int('size[0] (H)', size[0],
                       16), _check_int('size[1] (W)', size[1], 16))


def _check_style(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f'style must be one of {STYLES}, got {style!r}')
    return style


def _check_num_objects(num_objects, style: str) -> Tuple[int, int]:
    """-> (min, max) objects per video; None: ``style``'s default range."""
    if num_objects is None:
        num_objects = _NUM_OBJECTS[style]
    if isinstance(num_objects, Integral) and not isinstance(num_objects, bool):
        num_objects = (num_objects, num_objects)
    if not isinstance(num_objects, Sequence) or len(num_objects) != 2:
        raise ValueError('num_objects must be an int or an inclusive range '
                         f'(min, max), got {num_objects!r}')
    lo = _check_int('num_objects min', num_objects[0], 1)
    hi = _check_int('num_objects max', num_objects[1], 1)
    if lo > hi or hi > 255:
        raise ValueError('num_objects must satisfy 1 <= min <= max <= 255, '
                         f'got {num_objects!r}')
    return lo, hi
