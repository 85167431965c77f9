from __future__ import annotations

import pytest

from apps.knowledge.services import LoadReport, do_load_help_center


@pytest.fixture
def help_center(db: None) -> LoadReport:
    """The demo help center, loaded from the Markdown files in the repo."""
    return do_load_help_center()
