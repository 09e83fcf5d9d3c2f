"""`orderflow up` waits for its code server with the standard gRPC health check (up.code_server_serving),
asked here of a real local gRPC server that serves the health service."""

from __future__ import annotations

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from orderflow_dagster.simulator.anvil import free_port
from orderflow_dagster.up import code_server_serving


def test_serving_only_once_the_dagster_api_service_says_so():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        assert not code_server_serving(port)  # the service is not registered yet: NOT_FOUND
        servicer.set("DagsterApi", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert not code_server_serving(port)
        servicer.set("DagsterApi", health_pb2.HealthCheckResponse.SERVING)
        assert code_server_serving(port)
    finally:
        server.stop(grace=None)


def test_nothing_listening_is_not_serving():
    assert not code_server_serving(free_port(), timeout=0.5)
