"""
Georeferenced images: orthophotos and satellite tiles with a pixel <-> metres mapping.

A :class:`GeoRaster` holds an RGB image, a validity mask (nodata/alpha) and an affine map from
continuous pixel coordinates (x right, y down, (0, 0) the top-left corner of the top-left pixel)
to east/north metres in a :class:`~spikevim_ros.geo.LocalFrame` anchored at the raster centre.
Rasters in any CRS (GeoTIFF via rasterio/pyproj) and plain images with corner coordinates both
end up in this one form, so tiling, rendering and alignment never care where a map came from.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from spikevim_ros.geo import LocalFrame

MAX_BLUR_FACTOR = 16.0   # wider anti-alias blurs are done by area-averaging first


class GeoreferenceError(ValueError):
    """Raised when a raster has no usable georeference."""


@dataclass
class GeoRaster:
    """An RGB image with a validity mask and a pixel -> local east/north affine map."""

    image: np.ndarray          # H x W x 3 uint8, RGB
    valid: np.ndarray          # H x W bool, False where nodata
    frame: LocalFrame          # tangent plane the affine maps into
    pix_to_en: np.ndarray      # 3 x 3 affine, [east, north, 1] = A @ [x, y, 1]
    source: str

    @property
    def size(self) -> tuple[int, int]:
        """Return (width, height) in pixels."""
        return self.image.shape[1], self.image.shape[0]

    @property
    def metres_per_pixel(self) -> float:
        """Return the mean ground sampling distance in metres."""
        return float(np.sqrt(abs(np.linalg.det(self.pix_to_en[:2, :2]))))

    @property
    def en_to_pix(self) -> np.ndarray:
        """Return the inverse affine, east/north metres -> continuous pixel coordinates."""
        return np.linalg.inv(self.pix_to_en)

    def pixel_to_latlon(self, x, y):
        """Map continuous pixel coordinates to latitude/longitude."""
        east, north = self.pixel_to_en(x, y)
        return self.frame.to_latlon(east, north)

    def pixel_to_en(self, x, y):
        """Map continuous pixel coordinates to east/north metres."""
        a = self.pix_to_en
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        return a[0, 0] * x + a[0, 1] * y + a[0, 2], a[1, 0] * x + a[1, 1] * y + a[1, 2]

    def latlon_to_pixel(self, lat, lon):
        """Map latitude/longitude to continuous pixel coordinates."""
        east, north = self.frame.to_en(lat, lon)
        inv = self.en_to_pix
        return inv[0, 0] * east + inv[0, 1] * north + inv[0, 2], \
            inv[1, 0] * east + inv[1, 1] * north + inv[1, 2]

    def bounds_en(self) -> tuple[float, float, float, float]:
        """Return (min_east, min_north, max_east, max_north) of the raster footprint."""
        w, h = self.size
        east, north = self.pixel_to_en(np.array([0, w, w, 0]), np.array([0, 0, h, h]))
        return float(east.min()), float(north.min()), float(east.max()), float(north.max())

    def view(self, en_to_dst: np.ndarray, size: tuple[int, int],
             blur_to_gsd: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """
        Resample the raster through a homography from east/north metres to output pixels.

        ``size`` is (width, height). Output pixel centres sit at integer coordinates + 0.5 in the
        continuous convention, which is accounted for here. ``blur_to_gsd`` (metres per output
        pixel) low-pass filters the source first so that strong downsampling does not alias.
        Returns the RGB view and its validity mask (outside the raster or nodata -> False).
        """
        shift = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
        unshift = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
        image, valid, pix_to_en = self.image, self.valid, self.pix_to_en
        if blur_to_gsd is not None:
            factor = blur_to_gsd / self.metres_per_pixel
            if factor > MAX_BLUR_FACTOR:
                # area-average first: a blur this wide would cost time and memory without bound
                image, valid, pix_to_en = self._shrunk(factor / MAX_BLUR_FACTOR)
                factor = MAX_BLUR_FACTOR
            if factor > 1.5:
                sigma = 0.5 * factor
                image = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)
        src_to_dst = unshift @ en_to_dst @ pix_to_en @ shift
        out = cv2.warpPerspective(image, src_to_dst, size, flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        mask = cv2.warpPerspective(valid.astype(np.uint8) * 255, src_to_dst, size,
                                   flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                   borderValue=0) > 127
        return out, mask

    def _shrunk(self, ratio: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return image, validity and pixel->en of the raster shrunk ``ratio`` times."""
        height, width = self.image.shape[:2]
        size = (max(1, round(width / ratio)), max(1, round(height / ratio)))
        image = cv2.resize(self.image, size, interpolation=cv2.INTER_AREA)
        valid = cv2.resize(self.valid.astype(np.uint8) * 255, size,
                           interpolation=cv2.INTER_AREA) > 127
        scale = np.diag([width / size[0], height / size[1], 1.0])
        return image, valid, self.pix_to_en @ scale


def _fit_affine(px: np.ndarray, py: np.ndarray, east: np.ndarray, north: np.ndarray) -> np.ndarray:
    design = np.stack([px, py, np.ones_like(px)], axis=1)
    coef_e, *_ = np.linalg.lstsq(design, east, rcond=None)
    coef_n, *_ = np.linalg.lstsq(design, north, rcond=None)
    return np.array([coef_e, coef_n, [0.0, 0.0, 1.0]])


def _from_latlon_grid(image: np.ndarray, valid: np.ndarray, latlon_of_pixel, source: str
                      ) -> GeoRaster:
    h, w = image.shape[:2]
    gx, gy = np.meshgrid(np.linspace(0, w, 5), np.linspace(0, h, 5))
    lat, lon = latlon_of_pixel(gx.ravel(), gy.ravel())
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    if not (np.all(np.isfinite(lat)) and np.all(np.isfinite(lon))):
        raise GeoreferenceError(f'{source}: georeference gives non-finite coordinates')
    frame = LocalFrame(float(lat[12]), float(lon[12]))
    east, north = frame.to_en(lat, lon)
    affine = _fit_affine(gx.ravel(), gy.ravel(), east, north)
    if abs(np.linalg.det(affine[:2, :2])) < 1e-12:
        raise GeoreferenceError(f'{source}: degenerate georeference (zero pixel size)')
    return GeoRaster(image=image, valid=valid, frame=frame, pix_to_en=affine, source=source)


def from_corners(image: np.ndarray, top_left: tuple[float, float],
                 bottom_right: tuple[float, float], source: str = '<array>',
                 valid: np.ndarray | None = None) -> GeoRaster:
    """Georeference a north-up RGB image from its (lat, lon) top-left and bottom-right corners."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'{source}: expected an H x W x 3 RGB image, got shape {image.shape}')
    h, w = image.shape[:2]
    (lat_tl, lon_tl), (lat_br, lon_br) = top_left, bottom_right
    if not lat_tl > lat_br or lon_br == lon_tl:
        raise GeoreferenceError(f'{source}: corners {top_left} / {bottom_right} are not a '
                                'north-up top-left / bottom-right pair')

    def latlon(x, y):
        return lat_tl + (lat_br - lat_tl) * y / h, lon_tl + (lon_br - lon_tl) * x / w

    if valid is None:
        valid = np.ones((h, w), dtype=bool)
    return _from_latlon_grid(image, valid, latlon, source)


def read_image_rgb(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an image file as RGB plus a validity mask from its alpha channel, if any."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f'{path}: cannot decode image (missing, empty or corrupt file)')
    if raw.dtype != np.uint8:
        raise ValueError(f'{path}: expected an 8-bit image, got {raw.dtype}')
    if raw.ndim == 2:
        return cv2.cvtColor(raw, cv2.COLOR_GRAY2RGB), np.ones(raw.shape, dtype=bool)
    if raw.shape[2] == 4:
        return cv2.cvtColor(raw, cv2.COLOR_BGRA2RGB), raw[:, :, 3] > 0
    return cv2.cvtColor(raw, cv2.COLOR_BGR2RGB), np.ones(raw.shape[:2], dtype=bool)


def read_corners_csv(path: str | Path) -> list[GeoRaster]:
    """
    Load every image listed in a corners table.

    The table is whitespace- or comma-separated with a header
    ``filename top_left_lat top_left_lon bottom_right_lat bottom_right_lon``; image paths are
    relative to the table's folder.
    """
    path = Path(path)
    text = path.read_text().strip().splitlines()
    if not text:
        raise GeoreferenceError(f'{path}: empty corners table')
    delimiter = ',' if ',' in text[0] else None
    rows = [line.split(delimiter) for line in text]
    header = [c.strip() for c in rows[0]]
    needed = ['filename', 'top_left_lat', 'top_left_lon', 'bottom_right_lat', 'bottom_right_lon']
    missing = [c for c in needed if c not in header]
    if missing:
        raise GeoreferenceError(f'{path}: corners table lacks columns {missing}')
    col = {name: header.index(name) for name in needed}
    rasters = []
    for row in rows[1:]:
        row = [c.strip() for c in row]
        image_path = path.parent / row[col['filename']]
        image, valid = read_image_rgb(image_path)
        rasters.append(from_corners(
            image,
            (float(row[col['top_left_lat']]), float(row[col['top_left_lon']])),
            (float(row[col['bottom_right_lat']]), float(row[col['bottom_right_lon']])),
            source=str(image_path), valid=valid))
    return rasters


def read_geotiff(path: str | Path) -> GeoRaster:
    """Load a georeferenced raster (GeoTIFF or any GDAL format) in any CRS."""
    import rasterio
    from pyproj import Transformer

    path = Path(path)
    try:
        with warnings.catch_warnings():  # a missing georeference is reported below, as an error
            warnings.simplefilter('ignore', rasterio.errors.NotGeoreferencedWarning)
            dataset = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise ValueError(f'{path}: cannot open raster: {exc}') from exc
    with dataset:
        if dataset.crs is None or dataset.transform.is_identity:
            raise GeoreferenceError(f'{path}: raster has no georeference (CRS/transform missing)')
        bands = dataset.read()
        mask = dataset.dataset_mask() > 0
        transform, crs = dataset.transform, dataset.crs
    if bands.shape[0] >= 3:
        rgb = np.moveaxis(bands[:3], 0, -1)
    else:
        rgb = np.repeat(np.moveaxis(bands[:1], 0, -1), 3, axis=2)
    if rgb.dtype != np.uint8:
        finite = rgb[mask] if mask.any() else rgb.reshape(-1)
        lo, hi = np.percentile(finite, [1, 99]) if finite.size else (0, 1)
        rgb = np.clip((rgb.astype(np.float64) - lo) / max(hi - lo, 1e-9) * 255, 0, 255)
        rgb = rgb.astype(np.uint8)
    to_wgs84 = Transformer.from_crs(crs, 'EPSG:4326', always_xy=True)

    def latlon(x, y):
        cx, cy = transform @ (x, y)
        lon, lat = to_wgs84.transform(cx, cy)
        return lat, lon

    return _from_latlon_grid(np.ascontiguousarray(rgb), mask, latlon, str(path))


def load_rasters(source: str | Path) -> list[GeoRaster]:
    """Load a map source: a GeoTIFF, a corners table (.txt/.csv) or a folder of either."""
    source = Path(source)
    if source.is_dir():
        tables = sorted(p for p in source.iterdir() if p.suffix.lower() in ('.txt', '.csv'))
        tiffs = sorted(p for p in source.iterdir() if p.suffix.lower() in ('.tif', '.tiff'))
        if not tables and not tiffs:
            raise GeoreferenceError(f'{source}: no GeoTIFF or corners table in this folder')
        return [r for t in tables for r in read_corners_csv(t)] + [read_geotiff(t) for t in tiffs]
    if not source.exists():
        raise FileNotFoundError(f'{source}: map source does not exist')
    if source.suffix.lower() in ('.txt', '.csv'):
        return read_corners_csv(source)
    return [read_geotiff(source)]
