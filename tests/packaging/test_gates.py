"""The CI gates: ``.ci/run`` runs ``buf breaking`` against the previous commit's protos, and
``.pre-commit-config.yaml`` runs ruff check, ruff format --check, mypy, buf lint and buf breaking; ``buf
breaking`` with this repository's buf.yaml refuses a removed field (the gate can fail)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml
from packaging_helpers import ROOT, unavailable


def test_ci_runs_buf_breaking_against_the_previous_commit() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "breaking --against '.git#ref=HEAD~1'" in ci
    assert ci.index("breaking --against") < ci.rindex("make test")


def test_pre_commit_hooks() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert set(hooks) == {"ruff-check", "ruff-format", "mypy", "buf-lint", "buf-breaking"}
    assert hooks["ruff-format"]["entry"].endswith("ruff format --check")
    assert '--against ".git#ref=HEAD"' in hooks["buf-breaking"]["entry"]


def buf() -> str:
    found = os.environ.get("EXECX_BUF") or shutil.which("buf")
    if not found or not Path(found).exists():
        unavailable("buf not found (EXECX_BUF; .ci/run installs it from npm)")
    return found


def test_buf_breaking_refuses_a_removed_field(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "proto" / "demo" / "v1").mkdir(parents=True)
    shutil.copy(ROOT / "buf.yaml", repo / "buf.yaml")
    proto = repo / "proto" / "demo" / "v1" / "demo.proto"
    proto.write_text('syntax = "proto3";\npackage demo.v1;\nmessage Order {\n  string id = 1;\n  double qty = 2;\n}\n')
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    for cmd in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-q", "-m", "v1"]):
        subprocess.run(cmd, cwd=repo, check=True, env=env)
    same = subprocess.run([buf(), "breaking", "--against", ".git#ref=HEAD"], cwd=repo, capture_output=True, text=True)
    assert same.returncode == 0, same.stdout + same.stderr
    proto.write_text('syntax = "proto3";\npackage demo.v1;\nmessage Order {\n  string id = 1;\n}\n')
    out = subprocess.run([buf(), "breaking", "--against", ".git#ref=HEAD"], cwd=repo, capture_output=True, text=True)
    assert out.returncode != 0 and "qty" in out.stdout + out.stderr
