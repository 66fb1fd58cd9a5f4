"""Fixtures for the notifier tests: a self-signed certificate, made once."""

from __future__ import annotations

import pytest

from tests.alerts.notify.receivers import Certificate, make_certificate


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))
