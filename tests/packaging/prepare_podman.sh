#!/usr/bin/env bash
# Local preparation for building and running the Dockerfile with podman on machines that cannot pull an
# image (no registry but the package indexes is reachable): writes a containers.conf these machines need
# (no default ulimits, cgroupfs, the runc runtime) and, unless it exists, makes the Dockerfile's base image
# (default BASE_IMAGE python:3.11-slim-bookworm) from Debian bookworm with debootstrap: minbase + python3,
# python3-venv, ca-certificates, a `python` link, trimmed like a slim image (no apt lists, docs, locales).
#   tests/packaging/prepare_podman.sh [IMAGE]     prints the containers.conf path (export CONTAINERS_CONF=...)
# Needs root, podman, runc and debootstrap (Debian packages).
set -euo pipefail
image="${1:-docker.io/library/python:3.11-slim-bookworm}"
dir="${EXECX_PODMAN_DIR:-/tmp/execx-podman}"
mkdir -p "$dir"
cat >"$dir/containers.conf" <<'CONF'
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
CONF
export CONTAINERS_CONF="$dir/containers.conf"
if ! podman image exists "$image"; then
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' EXIT
  if ! debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" \
    >"$dir/debootstrap.log" 2>&1; then
    echo "prepare_podman.sh: debootstrap failed:" >&2
    tail -n 20 "$dir/debootstrap.log" >&2
    exit 1
  fi
  ln -sf python3 "$root/usr/bin/python"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/locale/*
  tar -C "$root" -c . | podman import --quiet - "$image" >/dev/null
fi
echo "$CONTAINERS_CONF"
