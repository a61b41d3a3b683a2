# execx: the execution service (and its embedded simulator, `--sim`) in a container.
#   podman/docker build -t execx .            (BASE_IMAGE: any Debian-based CPython >= 3.11 image)
#   docker run -e EXECX_KEY=... -p 35027:35027 -p 35028:35028 -p 9091:9091 -v execx-journal:/var/lib/execx execx [--sim]
# Listens on 0.0.0.0; the journal lives in the volume /var/lib/execx; runs as uid 10001 (no root);
# HEALTHCHECK asks the gRPC health service (`execx health`). Tracing: the OTEL_* variables (README).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/execx
COPY clients/python/ clients/python/
COPY pyproject.toml README.md ./
COPY server/ server/
# the client stubs first (the service imports them), then the service with its runtime dependencies only
RUN /opt/execx/bin/pip install --no-compile ./clients/python . \
    && find /opt/execx -name '__pycache__' -type d -prune -exec rm -rf {} + \
    && rm -rf /opt/execx/lib/python3*/site-packages/pip /opt/execx/lib/python3*/site-packages/pip-*

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="execx" \
      org.opencontainers.image.description="Self-hosted crypto execution service with an embedded exchange simulator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/execx /opt/execx
RUN mkdir -p /var/lib/execx && chown 10001:10001 /var/lib/execx && chmod 0750 /var/lib/execx
ENV PATH=/opt/execx/bin:${PATH} \
    HOME=/var/lib/execx \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    EXECX_HOST=0.0.0.0 \
    EXECX_DATA_DIR=/var/lib/execx
VOLUME ["/var/lib/execx"]
WORKDIR /var/lib/execx
USER 10001:10001
# REST + websocket, gRPC, Prometheus /metrics
EXPOSE 35027 35028 9091
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=3 CMD ["execx", "health"]
ENTRYPOINT ["execx"]
