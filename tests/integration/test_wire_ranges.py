"""Integers beyond Java's long are a caller's mistake: 400, never a database error."""

from __future__ import annotations

import pytest
from django.test import Client

HUGE = "99999999999999999999"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        f"/api/workflow/search?start={HUGE}",
        f"/api/workflow/search-v2?size=10&start={HUGE}",
        f"/api/tasks/search?start={HUGE}",
        f"/api/admin/task/anything?count={HUGE}",
        f"/api/metadata/workflow/some_name?version={HUGE}",
    ],
)
def test_out_of_range_integer_parameters_answer_400(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400, response.content
    assert "out of range" in response.json()["message"]
