"""Generated code of the execx.v1 API (``scripts/gen_proto.sh``; do not edit the ``*_pb2*`` files).

One module per proto file: ``<name>_pb2`` (messages and enums, with ``.pyi`` stubs) and
``<name>_pb2_grpc`` (service stubs and servicer base classes).
"""
