"""A deployment run created through Prefect's HTTP API with a bad objective is refused, naming the field.

Prefect 3's server validates a run's parameters against the deployment's schema (``enforce_parameter_schema``)
and answers a failure with an HTTP error whose detail names the field; the objective is an enum in that schema.
"""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("cloud_core.scope")


def test_bad_objective_parameter_is_refused_by_the_server(prefect_server):
    from prefect.client.orchestration import get_client
    from prefect.utilities.callables import parameter_schema

    from flows.screen import screen

    schema = parameter_schema(screen).model_dump_for_openapi()
    objective = schema["definitions"]["ScreenParameters"]["properties"]["objective"]
    enum = (
        schema["definitions"][objective["$ref"].split("/")[-1]]["enum"]
        if "$ref" in objective
        else objective["enum"]
    )
    assert set(enum) == {
        "heat_spreader",
        "thermoelectric",
        "thermal_barrier",
        "custom",
    }  # a choice in the UI form
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(screen)
        dep_id = client.create_deployment(flow_id=flow_id, name="objective-check", parameter_openapi_schema=schema,
                                          enforce_parameter_schema=True)  # fmt: skip
    url = f"{prefect_server}/deployments/{dep_id}/create_flow_run"
    bad = httpx.post(url, json={"parameters": {"params": {"objective": "cheapest"}}}, timeout=30)
    assert bad.status_code in (409, 422), bad.text  # Prefect 3.9 answers 409 for a schema violation
    assert "objective" in bad.text and "cheapest" in bad.text
    bad_mode = httpx.post(url, json={"parameters": {"params": {"uncertainty": "pessimistic"}}}, timeout=30)
    assert bad_mode.status_code in (409, 422) and "uncertainty" in bad_mode.text
    good = httpx.post(url, json={"parameters": {"params": {"objective": "thermoelectric"}}}, timeout=30)
    assert good.status_code == 201, good.text
