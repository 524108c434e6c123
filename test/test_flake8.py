"""ament_flake8 over the package, tests, benchmarks and launch files."""

import pytest

from ament_flake8.main import main_with_errors


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    rc, errors = main_with_errors(argv=[])
    assert rc == 0, f'{len(errors)} flake8 error(s):\n' + '\n'.join(errors)
