from __future__ import annotations

import pytest
import yaml

from referral_bus.domain.agencies import Directory
from referral_bus.infra.settings import Settings


@pytest.fixture(scope="session")
def directory() -> Directory:
    return Directory.from_mapping(yaml.safe_load(Settings().agencies_file.read_text()))
