"""Build script for the spikevim_ros ament_python package."""

from glob import glob

from setuptools import find_namespace_packages, setup

PACKAGE = 'spikevim_ros'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_namespace_packages(include=[PACKAGE, f'{PACKAGE}.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*.launch.py')),
        (f'share/{PACKAGE}/config', glob('config/*.yaml') + glob('config/*.xml')),
        (f'share/{PACKAGE}/models', glob('models/*')),
    ],
    install_requires=['setuptools'],
    package_data={'': ['*.jpg', '*.txt', '*.md', 'LICENSE']},
    zip_safe=False,
    maintainer='spikevim_ros maintainers',
    maintainer_email='maintainers@spikevim-ros.dev',
    description='Spike-driven visual geo-localization for GNSS-denied drones (ROS 2).',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'spikevim = spikevim_ros.cli:main',
            'localizer_node = spikevim_ros.ros.localizer_node:main',
            'fix_publisher = spikevim_ros.ros.fix_publisher:main',
        ],
    },
)
