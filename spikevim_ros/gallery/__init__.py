"""Geo-referenced tile galleries: building, saving, verifying and searching."""

from spikevim_ros.gallery.build import GalleryBuildConfig, build_gallery
from spikevim_ros.gallery.store import FORMAT_VERSION, Gallery, GalleryError, TileRecord

__all__ = ['FORMAT_VERSION', 'Gallery', 'GalleryBuildConfig', 'GalleryError', 'TileRecord',
           'build_gallery']
