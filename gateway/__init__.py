"""The REST face (issue 3): Envoy's gRPC-JSON transcoder in containers, a Python transcoder elsewhere.
Not built yet: the services are reachable over gRPC only."""
