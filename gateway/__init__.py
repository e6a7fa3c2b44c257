"""The REST face: a transcoding gateway driven by the google.api.http annotations in the descriptor set.

In containers Envoy's grpc_json_transcoder does this job (gateway/envoy.yaml); wherever Envoy is absent,
this Python gateway exposes the identical surface from the same descriptor set.
"""
