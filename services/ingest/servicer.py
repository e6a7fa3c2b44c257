"""IngestService servicer: protobuf in, plain Python to the pipeline, protobuf out."""

from __future__ import annotations

import grpc

from carthouse.auth import Authenticator
from carthouse.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.model import RequestContext
from services.ingest.pipeline import IngestPipeline

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


def request_context(context: grpc.aio.ServicerContext) -> RequestContext:
    """The client address: the first X-Forwarded-For entry (set by the gateway), else the gRPC peer."""
    metadata = {name: value for name, value in context.invocation_metadata() if isinstance(value, str)}
    forwarded = metadata.get("x-forwarded-for", "").split(",")[0].strip()
    peer = context.peer() or ""
    peer_ip = peer.split(":", 1)[1].rsplit(":", 1)[0].strip("[]") if peer.startswith(("ipv4:", "ipv6:")) else ""
    return RequestContext(ip=forwarded or peer_ip, user_agent=metadata.get("user-agent", ""))


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    """Authenticates, then hands the request to the pipeline. The events themselves are translated from
    protobuf by the preparation workers (services/ingest/prepare.py), which receive the serialized request."""

    def __init__(self, authenticator: Authenticator, pipeline: IngestPipeline) -> None:
        self._auth = authenticator
        self._pipeline = pipeline

    async def Track(
        self, request: ingest_pb2.TrackRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.TrackResponse:
        principal = self._auth.authenticate(context.invocation_metadata(), request.event.api_key)
        await self._pipeline.track(principal, request.SerializeToString(), request_context(context))
        return ingest_pb2.TrackResponse(ok=True)

    async def Batch(
        self, request: ingest_pb2.BatchRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.BatchResponse:
        principal = self._auth.authenticate(context.invocation_metadata(), request.api_key)
        result = await self._pipeline.batch(
            principal, request.SerializeToString(), len(request.events), request_context(context)
        )
        return ingest_pb2.BatchResponse(ok=True, accepted=result.accepted, errors=result.errors)
