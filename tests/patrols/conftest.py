"""A grid worker of the home grid, with their API client: (grid, person, client)."""
import pytest

from tests.incidents import factories as f


@pytest.fixture
def worker():
    grid = f.grid()
    person = f.holder(grid, "police", "A")
    return grid, person, f.api_client("grid_member", person=person)
