#!/usr/bin/env bash
# Regenerates the Python code of the execx API (messages, .pyi stubs, gRPC stubs) from proto/.
#
#   scripts/gen_proto.sh [OUT_DIR]     # OUT_DIR defaults to clients/python
#
# Uses grpcio-tools' bundled protoc (`python -m grpc_tools.protoc`), so it needs nothing beyond the
# dev extras (`pip install -e '.[dev]'`) and works offline. The google/api and google/rpc imports
# resolve to the copies vendored under proto/google; their Python modules come from the
# googleapis-common-protos package at run time, so they are not generated here.
# The output is committed; tests/unit/test_proto_generated.py regenerates into a temporary
# directory and fails if anything differs. grpcio-tools is pinned to one version in pyproject.toml
# because the generated code depends on protoc's version.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/clients/python}"
py="${PYTHON:-}"
if [[ -z "$py" ]]; then
  if [[ -x "$root/.venv/bin/python" ]]; then py="$root/.venv/bin/python"; else py=python3; fi
fi
wkt="$("$py" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')"

mkdir -p "$out/execx/v1"
# Remove what an earlier run generated, so a deleted or renamed .proto leaves nothing behind.
rm -f "$out"/execx/v1/*_pb2.py "$out"/execx/v1/*_pb2.pyi "$out"/execx/v1/*_pb2_grpc.py

cd "$root/proto"
# Sorted file list: protoc's output does not depend on the order, but keep the call reproducible.
mapfile -t files < <(find execx -name '*.proto' | LC_ALL=C sort)
"$py" -m grpc_tools.protoc \
  -I . \
  -I "$wkt" \
  --python_out="$out" \
  --pyi_out="$out" \
  --grpc_python_out="$out" \
  "${files[@]}"

# The same files as a descriptor set with source info (the proto comments), which the generated
# _pb2 modules do not carry: the REST gateway's OpenAPI document takes its descriptions from it
# (server/execx_server/api/gateway/comments.py). Without it the document has no descriptions.
rm -f "$out"/execx/v1/execx_v1.binpb
"$py" -m grpc_tools.protoc \
  -I . \
  -I "$wkt" \
  --include_source_info \
  --descriptor_set_out="$out/execx/v1/execx_v1.binpb" \
  "${files[@]}"

# The client's typed results (clients/python/execx_client/types.py) follow the messages.
if [[ "$out" == "$root/clients/python" ]]; then
  "$py" "$root/clients/python/gen_types.py"
fi
