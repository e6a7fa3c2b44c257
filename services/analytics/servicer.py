"""AnalyticsService servicer. No query is built yet: the generated base answers UNIMPLEMENTED for every RPC."""

from carthouse.v1 import analytics_pb2, analytics_pb2_grpc

SERVICE_NAME = analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].full_name


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    """Placeholder until the analytics issues land; nothing pretends to answer."""
