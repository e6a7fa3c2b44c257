"""FxService servicer. No rate provider is built yet: every RPC answers UNIMPLEMENTED."""

from carthouse.v1 import fx_pb2, fx_pb2_grpc

SERVICE_NAME = fx_pb2.DESCRIPTOR.services_by_name["FxService"].full_name


class FxServicer(fx_pb2_grpc.FxServiceServicer):
    """Placeholder until the FX issue lands; nothing pretends to answer."""
