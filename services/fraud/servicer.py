"""FraudService servicer. The rules are not built yet: Check answers UNIMPLEMENTED."""

from carthouse.v1 import fraud_pb2, fraud_pb2_grpc

SERVICE_NAME = fraud_pb2.DESCRIPTOR.services_by_name["FraudService"].full_name


class FraudServicer(fraud_pb2_grpc.FraudServiceServicer):
    """Placeholder until the fraud issue lands; nothing pretends to answer."""
