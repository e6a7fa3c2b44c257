"""IngestService servicer: protobuf in, plain Python to the pipeline, protobuf out."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from carthouse import clientip
from carthouse.auth import Authenticator
from carthouse.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.model import RequestContext
from services.ingest.pipeline import IngestPipeline

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name
IMPORT_SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["ImportService"].full_name


def peer_address(context: grpc.aio.ServicerContext) -> str:
    """The caller's IP from gRPC's peer string ("ipv4:1.2.3.4:5678", "ipv6:[::1]:5678")."""
    peer = context.peer() or ""
    if not peer.startswith(("ipv4:", "ipv6:")):
        return ""
    address = peer.split(":", 1)[1].rsplit(":", 1)[0]
    return address.strip("[]")


# Our Python gateway's name for the browser's user agent (gRPC overwrites user-agent); Envoy passes the
# original user-agent header through.
CLIENT_USER_AGENT = "x-client-user-agent"


def request_context(context: grpc.aio.ServicerContext, trusted: Sequence[clientip.Network]) -> RequestContext:
    """The client address: the first untrusted hop of X-Forwarded-For when the caller is a trusted peer (the
    gateway), else the caller itself; a direct gRPC client cannot choose its own address. The user agent
    likewise: the gateway's x-client-user-agent from a trusted peer, else the caller's user-agent."""
    metadata = {name: value for name, value in context.invocation_metadata() if isinstance(value, str)}
    peer = peer_address(context)
    client, _ = clientip.resolve(peer, metadata.get("x-forwarded-for", ""), trusted)
    user_agent = metadata.get("user-agent", "")
    if CLIENT_USER_AGENT in metadata and clientip.is_trusted(peer, trusted):
        user_agent = metadata[CLIENT_USER_AGENT]
    return RequestContext(ip=client, user_agent=user_agent)


class _PipelineServicer:
    """What both servicers hold: who may call, the pipeline, whose forwarded client address to believe."""

    def __init__(
        self, authenticator: Authenticator, pipeline: IngestPipeline, trusted_peers: Sequence[clientip.Network] = ()
    ) -> None:
        self._auth = authenticator
        self._pipeline = pipeline
        self._trusted = list(trusted_peers)


class IngestServicer(_PipelineServicer, ingest_pb2_grpc.IngestServiceServicer):
    """Authenticates, then hands the request to the pipeline. The events themselves are translated from
    protobuf by the preparation workers (services/ingest/prepare.py), which receive the serialized request."""

    async def Track(
        self, request: ingest_pb2.TrackRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.TrackResponse:
        principal = self._auth.authenticate(context.invocation_metadata(), request.event.api_key)
        await self._pipeline.track(principal, request.SerializeToString(), request_context(context, self._trusted))
        return ingest_pb2.TrackResponse(ok=True)

    async def Batch(
        self, request: ingest_pb2.BatchRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.BatchResponse:
        principal = self._auth.authenticate(context.invocation_metadata(), request.api_key)
        result = await self._pipeline.batch(
            principal, request.SerializeToString(), len(request.events), request_context(context, self._trusted)
        )
        return ingest_pb2.BatchResponse(ok=True, accepted=result.accepted, errors=result.errors)


class ImportServicer(_PipelineServicer, ingest_pb2_grpc.ImportServiceServicer):
    """History imports through the same pipeline as IngestService, in large requests."""

    async def Import(
        self, request: ingest_pb2.ImportRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.ImportResponse:
        principal = self._auth.authenticate(context.invocation_metadata())
        result = await self._pipeline.import_events(principal, request, request_context(context, self._trusted))
        return ingest_pb2.ImportResponse(accepted=result.accepted, errors=result.errors)
