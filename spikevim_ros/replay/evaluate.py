"""One call from a bag and a pipeline to metrics.json, frames.csv, plots, report, output bag."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from spikevim_ros.replay.metrics import summarize
from spikevim_ros.replay.plots import plot_error_cdf, plot_error_over_time, plot_track
from spikevim_ros.replay.report import write_report
from spikevim_ros.replay.runner import Replay, ReplayOptions, ReplayTrace
from spikevim_ros.sim.world import MapWorld


@dataclass
class ReplayResult:
    """Metrics and where everything was written."""

    metrics: dict
    out_dir: Path
    report: Path
    plots: dict[str, Path]
    trace: ReplayTrace


def run_replay(bag: str | Path, pipeline, out_dir: str | Path,
               options: ReplayOptions | None = None, world: MapWorld | None = None,
               report_format: str = 'md', plots: bool = True,
               notes: tuple[str, ...] = ()) -> ReplayResult:
    """
    Replay ``bag`` through ``pipeline`` and write every artefact into ``out_dir``.

    ``world`` (the map) gives the plots their background and the evaluation frame; ``notes``
    (what the reader must know to judge the figures) go into the metrics and the report.
    """
    out_dir = Path(out_dir)
    options = options or ReplayOptions()
    replay = Replay(pipeline, options, out_dir, frame=world.frame if world else None)
    trace = replay.run(bag)
    metrics = summarize(trace.records, trace.events)
    metrics['bag'] = str(bag)
    metrics['notes'] = list(notes)
    (out_dir / 'metrics.json').write_text(json.dumps(metrics, indent=2) + '\n')
    figures: dict[str, Path] = {}
    if plots and trace.records:
        background = world.overview() if world is not None else None
        figures['track'] = plot_track(trace.records, trace.gnss_en, out_dir / 'track.png',
                                      background, title=f'Track: {Path(bag).name}')
        figures['error'] = plot_error_over_time(trace.records, out_dir / 'error_over_time.png',
                                                trace.denied, trace.lost)
        figures['cdf'] = plot_error_cdf(trace.records, out_dir / 'error_cdf.png')
    report = write_report(out_dir, metrics, figures, f'Replay of {Path(bag).name}',
                          report_format)
    return ReplayResult(metrics=metrics, out_dir=out_dir, report=report, plots=figures,
                        trace=trace)
