"""Image preprocessing shared by training, gallery building and the ROS nodes."""

from typing import Sequence

import cv2
import numpy as np
import torch

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
INPUT_SIZE = 384
_ORDERS = {'rgb': False, 'rgba': False, 'bgr': True, 'bgra': True}


def check_input_size(size: int) -> int:
    """Return ``size`` if it is a valid network input side, else raise ValueError."""
    if not isinstance(size, (int, np.integer)) or size < 32 or size % 16:
        raise ValueError(f'input size must be an integer >= 32 and a multiple of 16 '
                         f'(32 recommended, default {INPUT_SIZE}); got {size!r}')
    return int(size)


def _as_float_rgb(image: np.ndarray, color_order: str, allow_gray: bool) -> np.ndarray:
    """Validate ``image`` and return it as float32 RGB in ``[0, 1]``, shape ``HxWx3``."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f'image must be a numpy array, got {type(image).__name__}')
    if image.size == 0:
        raise ValueError(f'image is empty (shape {image.shape})')
    order = color_order.lower()
    if order not in _ORDERS:
        raise ValueError(f'color_order must be one of {sorted(_ORDERS)}, got {color_order!r}')
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        if not allow_gray:
            raise ValueError(f'image is single-channel grayscale (shape {image.shape}); the '
                             'encoder expects colour: convert it (e.g. cv2.cvtColor(img, '
                             'cv2.COLOR_GRAY2RGB)) or pass allow_gray=True to replicate it')
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f'image must be HxWx3 (RGB/BGR) or HxWx4 (with alpha), '
                         f'got shape {image.shape}')
    if image.dtype == np.uint8:
        rgb = image[:, :, :3].astype(np.float32) / 255.0
    elif image.dtype in (np.float32, np.float64):
        rgb = image[:, :, :3].astype(np.float32)
        if not np.isfinite(rgb).all():
            raise ValueError('image contains NaN or infinite values')
        if rgb.min() < 0.0 or rgb.max() > 1.0:
            raise ValueError('float images must lie in [0, 1]; '
                             f'got range [{rgb.min():.3g}, {rgb.max():.3g}]')
    else:
        raise ValueError(f'image dtype {image.dtype} is not supported; expected uint8 '
                         '(or float in [0, 1]); convert 16-bit images to 8-bit first')
    if _ORDERS[order]:
        rgb = rgb[:, :, ::-1]
    return rgb


def preprocess(image: np.ndarray, color_order: str = 'rgb', size: int = INPUT_SIZE,
               allow_gray: bool = False) -> torch.Tensor:
    """
    Convert an ``HxWx3``/``HxWx4`` image to a normalised tensor ``[1, 3, size, size]``.

    The whole image is resized (no crop) with area interpolation when shrinking and bilinear
    when enlarging, then normalised with ImageNet mean/std.
    """
    size = check_input_size(size)
    rgb = _as_float_rgb(image, color_order, allow_gray)
    h, w = rgb.shape[:2]
    interp = cv2.INTER_AREA if h * w >= size * size else cv2.INTER_LINEAR
    rgb = cv2.resize(np.ascontiguousarray(rgb), (size, size), interpolation=interp)
    rgb = (rgb - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]


def preprocess_batch(images: Sequence[np.ndarray], color_order: str = 'rgb',
                     size: int = INPUT_SIZE, allow_gray: bool = False) -> torch.Tensor:
    """Preprocess a list of images into one batch ``[N, 3, size, size]``."""
    if len(images) == 0:
        raise ValueError('preprocess_batch needs at least one image')
    return torch.cat([preprocess(im, color_order, size, allow_gray) for im in images])


def load_image(path: str, size: int = INPUT_SIZE) -> torch.Tensor:
    """Read an image file with OpenCV and preprocess it (BGR order handled)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'cannot read image file {path}')
    return preprocess(image, 'bgr', size)
