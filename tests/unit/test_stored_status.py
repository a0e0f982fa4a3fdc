"""Issue 11, defect 6: ``stored_status`` reads the parsed status of a stored record."""

from __future__ import annotations

import pytest

from celeriac.backends.final_state import is_success, stored_status
from celeriac.backends.record_codec import RecordCodec
from celeriac.protocol.result_meta import ResultMeta


@pytest.mark.parametrize(("raw", "status"), [
    (RecordCodec().dumps(ResultMeta("t", "RUN", "SUCCESS").to_dict()), "RUN"),
    (RecordCodec().dumps(ResultMeta("t", "SUCCESS", "x" * 10_000).to_dict()), "SUCCESS"),
    (b'{"task_id": "t", "status": "SUCCESS"}', "SUCCESS"),
    (b'{"status":"SUCCESS","result":null}', "SUCCESS"),
    (b'{"status": "A\\"SUCCESS", "result": null}', 'A"SUCCESS'),
    (b'{"status": "SUCC\\u0045SS"}', "SUCCESS"),
    (b'["SUCCESS"]', None),
    (b"\xff not json", None),
    (None, None),
])
def test_stored_status(raw: bytes | None, status: str | None) -> None:
    assert stored_status(raw) == status
    assert is_success(raw) is (status == "SUCCESS")
