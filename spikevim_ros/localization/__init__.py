"""Localization of camera frames against a tile gallery: retrieval, alignment, covariance."""

from spikevim_ros.localization.localizer import Localizer
from spikevim_ros.localization.types import (LocalizationResult, LocalizerConfig, Prior,
                                             offline_config)

__all__ = ['LocalizationResult', 'Localizer', 'LocalizerConfig', 'Prior', 'offline_config']
