"""Build the node's pipeline (encoder, gallery, localizer, GNSS monitor) from a gallery folder."""

from __future__ import annotations

from pathlib import Path

from spikevim_ros.sim.world import MapWorld


def load_pipeline(gallery_dir: str | Path, weights: str | None = None,
                  variant: str | None = None, runtime: str = 'auto',
                  localizer_config=None, monitor_config=None, pipeline_config=None):
    """
    Return ``(FallbackPipeline, Gallery)`` for a gallery built with the given encoder.

    ``variant`` defaults to the one recorded in the gallery manifest. ``weights`` (a file,
    ``"demo"`` or ``"none"``) defaults to what the manifest's weights id says: the untrained
    init, or else the shipped demo weights. The gallery refuses an encoder (variant, weights)
    other than the one it was built with, naming both.
    """
    from spikevim_ros.encoder import build_encoder
    from spikevim_ros.gallery import Gallery
    from spikevim_ros.gnss import GnssMonitor
    from spikevim_ros.localization import Localizer
    from spikevim_ros.pipeline import FallbackPipeline

    gallery = Gallery.load(gallery_dir)
    built = gallery.manifest['encoder']
    if weights is None:
        weights = 'none' if str(built['weights_id']).startswith('random-init') else 'demo'
    encoder = build_encoder(variant or built['variant'], weights, runtime=runtime)
    localizer = Localizer(gallery, encoder, localizer_config)
    pipeline = FallbackPipeline(localizer, GnssMonitor(monitor_config), pipeline_config)
    return pipeline, gallery


def gallery_world(gallery) -> MapWorld:
    """Return the gallery's stored map rasters as a :class:`MapWorld` (plot backgrounds)."""
    return MapWorld([gallery.raster(i) for i in range(len(gallery.manifest['rasters']))])
