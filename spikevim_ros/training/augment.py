"""
Pair augmentation in the style of DAC / Sample4Geo for University-1652, on uint8 RGB images.

Both views: JPEG re-compression, seasonal colour shift (``seasonal`` only), colour jitter,
blur or sharpen, grid or coarse dropout, each with its own probability; the pair: one
horizontal flip for both views (the pair stays a pair); the satellite view: a random multiple
of 90 degrees (north-up is not known to the drone).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

AUGMENTATIONS = ('none', 'dac', 'seasonal')


@dataclass(frozen=True)
class PairAugment:
    """Probabilities and strengths of each augmentation step."""

    jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (90, 100)
    jitter: float = 0.5
    jitter_strength: float = 0.15
    blur_or_sharpen: float = 0.3
    dropout: float = 0.3
    flip: float = 0.5
    rotate_satellite: float = 0.75
    seasonal: float = 0.0
    seasonal_strength: float = 1.0

    def view(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return one view augmented by the photometric and dropout steps."""
        if rng.random() < self.jpeg:
            quality = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
            ok, data = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if ok else image
        if rng.random() < self.seasonal:
            image = seasonal_shift(image, self.seasonal_strength, rng)
        if rng.random() < self.jitter:
            image = color_jitter(image, self.jitter_strength, rng)
        if rng.random() < self.blur_or_sharpen:
            image = blur_or_sharpen(image, rng)
        if rng.random() < self.dropout:
            image = (grid_dropout if rng.random() < 0.5 else coarse_dropout)(image, rng)
        return image

    def __call__(self, drone: np.ndarray, satellite: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Augment a (drone, satellite) pair."""
        drone, satellite = self.view(drone, rng), self.view(satellite, rng)
        if rng.random() < self.flip:
            drone, satellite = drone[:, ::-1], satellite[:, ::-1]
        if rng.random() < self.rotate_satellite:
            satellite = np.rot90(satellite, int(rng.integers(1, 4)))
        return np.ascontiguousarray(drone), np.ascontiguousarray(satellite)


def color_jitter(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Scale brightness, contrast and saturation by factors in ``1 +- strength``."""
    out = image.astype(np.float32)
    brightness, contrast, saturation = rng.uniform(1 - strength, 1 + strength, 3)
    out *= brightness
    out = (out - out.mean()) * contrast + out.mean()
    gray = out.mean(axis=2, keepdims=True)
    out = (out - gray) * saturation + gray
    return np.clip(out, 0, 255).astype(np.uint8)


def seasonal_shift(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """
    Shift colours as seasons and sensors do: hue rotation, per-channel gains, gamma.

    Green fields turn yellow or brown, water darkens or brightens, and the camera's white
    balance and response differ between dates; ``strength`` scales every change.
    """
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hue_shift = int(round(rng.normal(0.0, 8.0 * strength)))   # OpenCV hue: 0-179
    hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + hue_shift) % 180).astype(np.uint8)
    out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32) / 255.0
    gamma = float(np.exp(rng.normal(0.0, 0.25 * strength)))
    gains = np.exp(rng.normal(0.0, 0.12 * strength, 3)).astype(np.float32)
    out = np.power(out, gamma) * gains
    return np.clip(out * 255.0, 0, 255).astype(np.uint8)


def blur_or_sharpen(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur (sigma 0.5-1.5 px) or unsharp masking, with equal chance."""
    sigma = float(rng.uniform(0.5, 1.5))
    blurred = cv2.GaussianBlur(image, (0, 0), sigma)
    if rng.random() < 0.5:
        return blurred
    return cv2.addWeighted(image, 1.5, blurred, -0.5, 0)


def grid_dropout(image: np.ndarray, rng: np.random.Generator, ratio: float = 0.4
                 ) -> np.ndarray:
    """Zero a ``ratio`` share of every cell of a random-size grid (randomly shifted)."""
    h, w = image.shape[:2]
    cell = int(rng.integers(max(2, min(h, w) // 10), max(3, min(h, w) // 4) + 1))
    hole = max(1, int(round(cell * np.sqrt(ratio))))
    dy, dx = rng.integers(0, cell, 2)
    mask = (((np.arange(h) + dy) % cell) < hole)[:, None] & \
        (((np.arange(w) + dx) % cell) < hole)[None, :]
    out = image.copy()
    out[mask] = 0
    return out


def coarse_dropout(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Zero 10-25 rectangles of 10-20 % of the image side."""
    h, w = image.shape[:2]
    out = image.copy()
    for _ in range(int(rng.integers(10, 26))):
        hh = max(1, int(h * rng.uniform(0.1, 0.2)))
        ww = max(1, int(w * rng.uniform(0.1, 0.2)))
        y, x = int(rng.integers(0, h - hh + 1)), int(rng.integers(0, w - ww + 1))
        out[y:y + hh, x:x + ww] = 0
    return out


def build_augment(name: str) -> PairAugment | None:
    """Return the augmentation called ``name`` (None for ``none``)."""
    if name not in AUGMENTATIONS:
        raise ValueError(f'augmentation must be one of {AUGMENTATIONS}, got {name!r}')
    if name == 'seasonal':
        return PairAugment(jitter=0.8, jitter_strength=0.3, seasonal=0.8)
    return PairAugment() if name == 'dac' else None
