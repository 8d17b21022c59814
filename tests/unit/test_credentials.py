"""The home's secrets and its folder's permissions, without a database."""

from __future__ import annotations

import json
import stat

import pytest

from crmwh import credentials


@pytest.mark.parametrize(("before", "after"), [
    (0o755, 0o711),  # a home made by hand: nobody else lists or writes it
    (0o770, 0o710),
    (0o710, 0o710),  # the embedded server's group passes through to its data folder ...
    (0o701, 0o701),  # ... and a home holding other homes' servers keeps their way through
])
def test_a_private_folder_loses_read_and_write_for_others_but_not_their_way_through(
        tmp_path, before, after):
    folder = tmp_path / "home"
    folder.mkdir()
    folder.chmod(before)
    credentials.private_folder(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == after


def test_the_secrets_file_is_the_owners_alone_and_stable(tmp_path):
    home = tmp_path / "new" / "home"
    first = credentials.generated(home)
    assert first == credentials.generated(home)
    assert set(first) == set(credentials.NAMES)
    path = home / credentials.FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == first
    assert stat.S_IMODE(home.stat().st_mode) & 0o077 == 0
