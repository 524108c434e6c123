"""
Latency of localizer_node from image stamp to ~/fix publication, per frame.

Builds a small gallery from the shipped demo map (or uses --gallery), renders camera views at
known poses, then measures in the same run:

* baseline: FallbackPipeline.on_frame in this process (no ROS), per frame, run before and after
  the node (the faster of the two is kept, as machine load drifts);
* node: a localizer_node process over real DDS; each frame is published stamped with the ROS time
  and the latency is (arrival of its ~/fix) - (image stamp). Frames are sent one at a time, so
  the numbers contain no queueing. The first frame of each is a warm-up and is not timed.

It starts DDS participants, so run it inside the private network namespace:

    scripts/netns_run.sh .venv/bin/python bench/bench_node_latency.py --frames 5 --out lat.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'test'))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--frames', type=int, default=5, help='frames to time (default 5)')
    parser.add_argument('--gallery', type=Path, help='existing gallery of the demo map crop '
                        '(default: build one in a temporary folder)')
    parser.add_argument('--runtime', default='auto', choices=('auto', 'eager', 'fast', 'int8'),
                        help='encoder runtime for both measurements')
    parser.add_argument('--timeout', type=float, default=120.0,
                        help='seconds to wait for one frame\'s ~/fix')
    parser.add_argument('--out', type=Path, help='write the results as JSON here')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from netns_guard import isolation_problem
    problem = isolation_problem()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 3
    from tqdm import tqdm

    from fallback_world import ALTITUDE_AGL, CAMERA, build_small_gallery, crop_raster, view
    from spikevim_ros.encoder import build_encoder
    from spikevim_ros.gallery import Gallery
    from spikevim_ros.gnss import GnssMonitor
    from spikevim_ros.localization import Localizer
    from spikevim_ros.pipeline import FallbackPipeline

    work = Path(tempfile.mkdtemp(prefix='bench_node_'))
    encoder = build_encoder('T', 'demo', runtime=args.runtime)
    if args.gallery is None:
        gallery = build_small_gallery(work, encoder)
        raster = crop_raster(work)
    else:
        gallery = Gallery.load(args.gallery, encoder)
        raster = crop_raster(args.gallery.parent)
    poses = [(-30.0 + 15.0 * (i % 5), 25.0 - 12.0 * (i % 4)) for i in range(args.frames)]
    frames = [view(raster, east, north)[0] for east, north in poses]

    localizer = Localizer(gallery, encoder)
    localizer.localize(frames[0], None, ALTITUDE_AGL, CAMERA)         # warm-up, not timed

    def baseline(label: str) -> list[float]:
        pipeline = FallbackPipeline(localizer, GnssMonitor())
        times = []
        for k, image in enumerate(tqdm(frames, desc=f'baseline {label} (in process)')):
            started = time.perf_counter()
            pipeline.on_frame(image, float(k), float(k), ALTITUDE_AGL, CAMERA)
            times.append((time.perf_counter() - started) * 1e3)
        return times

    before = baseline('before')
    node_ms = measure_node(gallery.directory, frames, args)
    after = baseline('after')      # machine load drifts: keep the faster of the two runs
    baseline_ms = [min(a, b) for a, b in zip(before, after)]
    rows = [{'frame': k, 'baseline_ms': round(b, 1), 'node_latency_ms': round(n, 1),
             'ratio': round(n / b, 3)} for k, (b, n) in enumerate(zip(baseline_ms, node_ms))]
    print(f'{"frame":>5} {"pipeline ms":>12} {"node ms":>10} {"ratio":>7}')
    for row in rows:
        print(f'{row["frame"]:>5} {row["baseline_ms"]:>12.1f} {row["node_latency_ms"]:>10.1f} '
              f'{row["ratio"]:>7.3f}')
    summary = {'baseline_median_ms': statistics.median(baseline_ms),
               'node_median_ms': statistics.median(node_ms),
               'ratio_median': statistics.median(n / b for b, n in zip(baseline_ms, node_ms)),
               'frames': len(rows), 'runtime': encoder.runtime, 'tiles': len(gallery),
               'image_size': [CAMERA.width, CAMERA.height]}
    print('median: pipeline {baseline_median_ms:.1f} ms, node {node_median_ms:.1f} ms, '
          'ratio {ratio_median:.3f}'.format(**summary))
    if args.out:
        args.out.write_text(json.dumps({'summary': summary, 'frames': rows}, indent=2))
    return 0


def measure_node(gallery_dir: Path, frames, args) -> list[float]:
    """Return the stamp-to-~/fix latency (ms) of each frame through a localizer_node process."""
    import rclpy
    from rclpy.context import Context
    from sensor_msgs.msg import NavSatFix
    from tqdm import tqdm

    from ros_feeder import Feeder
    from spikevim_ros.ros.time import stamp_to_seconds

    node = subprocess.Popen([sys.executable, '-m', 'spikevim_ros.ros.localizer_node',
                             '--ros-args', '-p', f'gallery_dir:={gallery_dir}',
                             '-p', f'runtime:={args.runtime}', '-p', 'max_frame_rate:=0.0',
                             '-p', 'camera_hfov_deg:=60.0', '-p', 'default_altitude_agl:=80.0'],
                            cwd=ROOT)
    context = Context()
    rclpy.init(context=context)
    feeder = Feeder(context)
    latencies = []
    try:
        if not (feeder.transition('configure') and feeder.transition('activate')):
            raise RuntimeError('localizer_node did not configure/activate')
        arrivals: list[tuple[float, float]] = []
        feeder.node.create_subscription(
            NavSatFix, '/localizer/fix',
            lambda msg: arrivals.append((stamp_to_seconds(msg.header.stamp), feeder.now())), 10)

        def arrival_of(stamp: float) -> float | None:
            return next((t for s, t in arrivals if abs(s - stamp) < 1e-6), None)

        for image in tqdm([frames[0]] + list(frames), desc='localizer_node (first: warm-up)'):
            stamp = feeder.publish_frame(image)
            if not feeder.spin_until(lambda: arrival_of(stamp) is not None, args.timeout):
                raise RuntimeError(f'no ~/fix within {args.timeout} s for a frame')
            latencies.append((arrival_of(stamp) - stamp) * 1e3)
        del latencies[0]
    finally:
        feeder.close()
        rclpy.try_shutdown(context=context)
        node.terminate()
        node.wait(timeout=20)
    return latencies


if __name__ == '__main__':
    sys.exit(main())
