"""The gRPC services; each talks to another only through its gRPC stub."""
