"""``spikevim replay BAG --gallery DIR``: evaluate the localizer offline on a ROS 2 bag."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikevim_ros.sim.cli import fault_argument
from spikevim_ros.sim.gnss_model import FAULT_KINDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``spikevim replay``."""
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.description = ('Replay a ROS 2 bag (sqlite3 or MCAP, folder or bare file) through the '
                          'same localizer and GNSS monitor as the node and write metrics.json, '
                          'frames.csv, plots, a report and an output bag. By default in real '
                          'time: each frame takes its measured processing time (or '
                          '--frame-budget) and frames arriving meanwhile are dropped like the '
                          'node drops them; --offline processes every frame instantly.')
    parser.add_argument('bag', type=Path, help='bag folder, .mcap or .db3 file')
    parser.add_argument('--gallery', type=Path, required=True, help='gallery folder')
    parser.add_argument('--out', type=Path, default=None,
                        help='output folder (default: replay_<bag name>)')
    parser.add_argument('--params-file', type=Path, default=None,
                        help="the node's params file (e.g. config/localize.yaml): prior, GNSS "
                             'monitor, inputs, camera and altitude defaults exactly as the node '
                             'uses them')
    parser.add_argument('--weights', default=None,
                        help='encoder weights the gallery was built with: a .safetensors file, '
                             '"demo" or "none" (default: the params file, else read from the '
                             'gallery manifest)')
    parser.add_argument('--runtime', default=None, choices=('auto', 'eager', 'fast', 'int8'),
                        help='encoder runtime (default: the params file, else auto)')
    topics = parser.add_argument_group('topics (a missing default falls back to the only '
                                       'topic of the right type)')
    topics.add_argument('--image-topic', default='/camera/image_raw',
                        help='sensor_msgs/Image; IMAGE/compressed is used when only it exists')
    topics.add_argument('--camera-info-topic', default='/camera/camera_info')
    topics.add_argument('--gnss-topic', default='/gnss/fix')
    topics.add_argument('--imu-topic', default='/mavros/imu/data',
                        help='sensor_msgs/Imu body orientation, ENU/FLU (node: imu/data)')
    topics.add_argument('--rangefinder-topic', default='/mavros/rangefinder/rangefinder',
                        help='sensor_msgs/Range (node: rangefinder)')
    topics.add_argument('--altitude-topic', default='/mavros/global_position/rel_alt',
                        help='std_msgs/Float64 height above ground/home (node: altitude_agl)')
    topics.add_argument('--odom-topic', default='/mavros/local_position/odom',
                        help='nav_msgs/Odometry (node: odom)')
    topics.add_argument('--truth-topic', default='/ground_truth/fix',
                        help='NavSatFix ground truth; without it, the recorded GNSS outside the '
                             'GNSS-denied windows is the truth')
    parser.add_argument('--inject', type=fault_argument, action='append', default=[],
                        metavar='KIND@START+DURATION[:MAG[:BEARING]]',
                        help=f'inject a GNSS fault at replay time (seconds from the bag start; '
                             f'repeatable; KIND: {", ".join(FAULT_KINDS)})')
    parser.add_argument('--altitude-agl', type=float, default=None,
                        help='height above ground given to the localizer (m); default: the '
                             "bag's height topics, then the params file's default_altitude_agl "
                             '(without a params file: the simulated altitude in the bag)')
    parser.add_argument('--max-frames', type=int, default=None,
                        help='stop after N camera frames')
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument('--frame-budget', type=float, default=None, metavar='SECONDS',
                        help='real time with this fixed processing time per frame instead of '
                             'the measured one (reproducible on any computer)')
    timing.add_argument('--offline', action='store_true',
                        help='process every frame with zero processing time (localizer '
                             'quality, not what a flight gets; labelled in the report)')
    parser.add_argument('--max-fix-age', type=float, default=2.0, metavar='SECONDS',
                        help='a published fix covers denied time until it is this old')
    parser.add_argument('--report', choices=('md', 'html'), default='md')
    parser.add_argument('--no-plots', action='store_true')
    parser.add_argument('--no-progress', action='store_true')


def run(args: argparse.Namespace) -> int:
    """Replay the bag and print the key metrics."""
    from spikevim_ros.gallery import GalleryError
    from spikevim_ros.replay.bag_source import BagError
    from spikevim_ros.replay.evaluate import run_replay
    from spikevim_ros.replay.pipeline_factory import gallery_world, load_pipeline
    from spikevim_ros.replay.runner import ReplayOptions
    from spikevim_ros.ros import parameters

    out = args.out or Path(f'replay_{args.bag.resolve().name}')
    try:
        params = parameters.load_params_file(args.params_file) if args.params_file else None
        settings = {}
        if params is not None:
            settings = {'monitor_config': parameters.monitor_config(params),
                        'pipeline_config': parameters.pipeline_config(params)}
        pipeline, gallery = load_pipeline(
            args.gallery, args.weights or (params or {}).get('weights'),
            runtime=args.runtime or (params or {}).get('runtime', 'auto'), **settings)
        options = ReplayOptions(image_topic=args.image_topic,
                                camera_info_topic=args.camera_info_topic,
                                gnss_topic=args.gnss_topic, truth_topic=args.truth_topic,
                                imu_topic=args.imu_topic,
                                rangefinder_topic=args.rangefinder_topic,
                                altitude_topic=args.altitude_topic, odom_topic=args.odom_topic,
                                node_params=params,
                                inject=list(args.inject), altitude_agl_m=args.altitude_agl,
                                max_frames=args.max_frames, offline=args.offline,
                                frame_budget_s=args.frame_budget,
                                max_fix_age_s=args.max_fix_age, progress=not args.no_progress)
        result = run_replay(args.bag, pipeline, out, options, world=gallery_world(gallery),
                            report_format=args.report, plots=not args.no_plots)
    except (BagError, GalleryError, FileExistsError, ValueError, OSError) as exc:
        print(f'spikevim replay: {exc}')
        return 2
    print_summary(result)
    return 0


def print_summary(result) -> None:
    """Print the headline metrics and where the files are."""
    from spikevim_ros.replay.report import key_rows

    width = max(len(label) for label, _ in key_rows(result.metrics))
    for label, value in key_rows(result.metrics):
        print(f'  {label:<{width}}  {value}')
    print(f'report:  {result.report}')
    for name, path in result.plots.items():
        print(f'plot:    {path}  ({name})')
    print(f'metrics: {result.out_dir / "metrics.json"}; per frame: {result.out_dir / "frames.csv"}'
          f'; output bag: {result.out_dir / "output_bag"}')
