"""The GitHub Actions workflow a fork runs (.github/workflows/finegrain.yml) and the script it calls
(tools/gh_gate.sh). GitHub cannot be reached here, so the workflow is linted (actionlint with shellcheck, zizmor
offline) and read as YAML, pip's wheel cache is exercised as the workflow uses it, and the script runs against a stub
`finegrain` and a local HTTP server standing in for the GitHub API."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "finegrain.yml"
SCRIPT = REPO / "tools" / "gh_gate.sh"
MARKER = "<!-- finegrain-gate -->"
GATE_MD = "## finegrain gate: ✅ gate passed\n\n| variant | verdict |\n|---|---|\n| cnn | ok: Welch one-sided |\n"
SHA_PIN = re.compile(r"^\s*(?:-\s*)?uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+(\.\d+)*\s*$")


def tool(name: str) -> str:
    return shutil.which(name) or pytest.fail(f"{name} is not installed (make install-dev)")


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps() -> list[dict]:
    return workflow()["jobs"]["gate"]["steps"]


def step_index(predicate: Callable[[dict], bool]) -> int:
    found = [i for i, s in enumerate(steps()) if predicate(s)]
    assert len(found) == 1, f"{len(found)} steps match"
    return found[0]


def uses(action: str) -> Callable[[dict], bool]:
    return lambda s: s.get("uses", "").split("@")[0] == action


def runs(command: str) -> Callable[[dict], bool]:
    return lambda s: any(line.strip() == command for line in s.get("run", "").splitlines())


def actionlint(path: Path) -> subprocess.CompletedProcess:
    cmd = [tool("actionlint"), "-no-color", "-shellcheck", tool("shellcheck"), "-pyflakes=", str(path)]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


def zizmor(path: Path) -> subprocess.CompletedProcess:
    cmd = [tool("zizmor"), "--offline", "--no-progress", "--color", "never", "--format", "json", str(path)]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


def broken_copy(tmp_path: Path) -> Path:
    """The workflow with an unpinned action, a pull request's title interpolated into a shell script and an
    unquoted variable."""
    text = WORKFLOW.read_text().replace(
        "run: dvc repro", 'run: echo "${{ github.event.pull_request.title }}" && dvc repro'
    )
    text = re.sub(r"actions/checkout@[0-9a-f]{40}", "actions/checkout@v7", text)
    text = text.replace("run: tools/gh_gate.sh", "run: tools/gh_gate.sh $GITHUB_BASE_REF")
    path = tmp_path / ".github" / "workflows" / "broken.yml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


# --- lint --------------------------------------------------------------------------------------------------------


def test_actionlint_with_shellcheck_passes_the_workflow():
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_offline_finds_nothing_in_the_workflow():
    result = zizmor(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_the_linters_do_catch_a_template_injection_an_unquoted_variable_and_an_unpinned_action(tmp_path):
    broken = broken_copy(tmp_path)
    lint = actionlint(broken)
    assert lint.returncode == 1 and "github.event.pull_request.title" in lint.stdout
    assert "SC2086" in lint.stdout  # actionlint ran shellcheck on the step's script
    found = {f["ident"] for f in json.loads(zizmor(broken).stdout)}
    assert {"template-injection", "unpinned-uses"} <= found


def test_the_script_is_shellcheck_clean():
    result = subprocess.run([tool("shellcheck"), str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# --- the workflow's structure ------------------------------------------------------------------------------------


def test_it_runs_on_pull_requests_pushes_to_main_and_by_hand_with_least_privilege():
    wf = workflow()
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(on) == {"pull_request", "push", "workflow_dispatch"} and on["push"]["branches"] == ["main"]
    assert wf["permissions"] == {}
    job = wf["jobs"]["gate"]
    assert job["runs-on"] == "ubuntu-latest"
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_every_action_is_pinned_by_commit_with_its_version_in_a_comment():
    lines = [line for line in WORKFLOW.read_text().splitlines() if re.match(r"^\s*(-\s*)?uses:", line)]
    assert len(lines) == len([s for s in steps() if "uses" in s]) == 5
    assert all(SHA_PIN.match(line) for line in lines), lines


def test_checkout_has_the_history_and_keeps_no_credentials():
    checkout = steps()[step_index(uses("actions/checkout"))]
    assert checkout["with"] == {"fetch-depth": 0, "persist-credentials": False}
    python = steps()[step_index(uses("actions/setup-python"))]
    assert python["with"]["python-version"] == "3.11"


def test_no_expression_is_interpolated_into_a_shell_script():
    for s in steps():
        assert "${{" not in s.get("run", ""), s["name"]


def test_install_repro_gate_and_upload_run_in_order_with_the_wheel_cache_around_install():
    where = step_index(lambda s: "pip cache dir" in s.get("run", ""))
    restore = step_index(uses("actions/cache/restore"))
    install = step_index(runs('MAX_JOBS="$(nproc)" make install'))
    save = step_index(uses("actions/cache/save"))
    repro = step_index(runs("dvc repro"))
    gate = step_index(runs("tools/gh_gate.sh"))
    upload = step_index(uses("actions/upload-artifact"))
    assert where < restore < install < save < repro < gate < upload
    s = steps()
    assert s[install]["run"].splitlines()[:2] == ["python -m venv .venv", ". .venv/bin/activate"]
    assert s[gate]["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}
    assert s[upload]["if"] == "always()" and "data/reports" in s[upload]["with"]["path"].split()


def test_pip_wheel_cache_is_keyed_on_the_pins_and_saved_right_after_install():
    s = steps()
    where = s[step_index(lambda s: "pip cache dir" in s.get("run", ""))]
    restore, save = s[step_index(uses("actions/cache/restore"))], s[step_index(uses("actions/cache/save"))]
    assert restore["with"]["path"] == save["with"]["path"] == f"${{{{ steps.{where['id']}.outputs.wheels }}}}"
    key = restore["with"]["key"]
    files = re.search(r"hashFiles\(([^)]*)\)", key).group(1)
    assert {f.strip(" '") for f in files.split(",")} == {"Makefile", "constraints.txt", "pyproject.toml"}
    assert "restore-keys" not in restore["with"]  # a wheel built against another torch must not come back
    assert save["with"]["key"] == f"${{{{ steps.{restore['id']}.outputs.cache-primary-key }}}}"
    assert save["if"] == f"steps.{restore['id']}.outputs.cache-hit != 'true'"


def test_the_cached_folder_holds_a_wheel_pip_built_and_spares_the_next_build(tmp_path):
    """The workflow's own step names the folder; an sdist installed like mmcv (from an index, no build isolation)
    leaves its wheel there, and a new machine with only that folder restored installs it without building."""
    dist = tmp_path / "dist"
    (dist / "src" / "toyext").mkdir(parents=True)
    (dist / "src" / "toyext" / "__init__.py").write_text("")
    (dist / "src" / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "toyext"\nversion = "0.1"\n'
    )
    with tarfile.open(dist / "toyext-0.1.tar.gz", "w:gz") as tf:
        tf.add(dist / "src", arcname="toyext-0.1")

    def machine(home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "XDG_CACHE_HOME"}
        return {**env, "HOME": str(home), "PIP_CONFIG_FILE": os.devnull, "GITHUB_OUTPUT": str(home / "output")}

    def install(home: Path, target: str) -> str:
        cmd = [sys.executable, "-m", "pip", "install", "-v", "--no-build-isolation", "--no-deps", "--no-index"]
        cmd += ["--find-links", str(dist), "--target", str(tmp_path / target), "toyext==0.1"]
        return subprocess.run(cmd, env=machine(home), capture_output=True, text=True, check=True).stdout

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    where = steps()[step_index(lambda s: "pip cache dir" in s.get("run", ""))]["run"]
    subprocess.run(["bash", "-c", where], env=machine(first), check=True)
    cached = Path((first / "output").read_text().strip().removeprefix("wheels="))
    assert cached == first / ".cache" / "pip" / "wheels"

    assert "Building wheel for toyext" in install(first, "t1")
    assert [p.name for p in cached.rglob("*.whl")] == ["toyext-0.1-py3-none-any.whl"]
    shutil.copytree(cached, second / ".cache" / "pip" / "wheels")  # what actions/cache/restore brings back
    log = install(second, "t2")
    assert "Using cached toyext-0.1-py3-none-any.whl" in log and "Building wheel" not in log


# --- tools/gh_gate.sh --------------------------------------------------------------------------------------------


@dataclass
class FakeGitHub:
    """A local stand-in for the GitHub REST API: records each request, answers from `comments` and `write_status`."""

    url: str = ""
    requests: list[dict] = field(default_factory=list)
    comments: list[dict] = field(default_factory=list)
    write_status: int = 201


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            fake.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )
            if self.command == "GET":
                status, out = 200, fake.comments
            elif fake.write_status == 403:
                status, out = 403, {"message": "Resource not accessible by integration"}
            else:
                status, out = (200 if self.command == "PATCH" else fake.write_status), {"id": 99}
            data = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)


@dataclass
class Run:
    status: int
    output: str
    summary: str
    gate_args: list[str]


def run_script(tmp_path: Path, api_url: str, event: str, payload: dict, gate_status: int = 0, **env: str) -> Run:
    """tools/gh_gate.sh in a git repo of two commits, with a stub `finegrain` that appends GATE_MD to --summary."""
    repo, stub = tmp_path / "repo", tmp_path / "bin"
    if not repo.is_dir():
        repo.mkdir()
        for args in (
            ["init", "-q"],
            ["commit", "-q", "--allow-empty", "-m", "a"],
            ["commit", "-q", "--allow-empty", "-m", "b"],
        ):
            subprocess.run(["git", *args], cwd=repo, check=True)
        stub.mkdir()
        (stub / "finegrain").write_text(
            "#!/usr/bin/env bash\n"
            'printf "%s\\n" "$@" >"$STUB_ARGS"\n'
            'while [ $# -gt 0 ]; do [ "$1" = --summary ] && summary=$2; shift; done\n'
            '[ -z "${STUB_MD:-}" ] || printf "%s" "$STUB_MD" >>"$summary"\n'
            'exit "$STUB_STATUS"\n'
        )
        (stub / "finegrain").chmod(0o755)
    (tmp_path / "event.json").write_text(json.dumps(payload))
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GH_", "FINEGRAIN_"))}
    full_env = {
        **base,
        "PATH": f"{stub}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
        "STUB_ARGS": str(tmp_path / "gate_args"),
        "STUB_MD": GATE_MD,
        "STUB_STATUS": str(gate_status),
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_REPOSITORY": "someone/finegrain",
        "GITHUB_API_URL": api_url,
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_TOKEN": "ghs_fake",
        **env,
    }
    full_env = {k: v for k, v in full_env.items() if v is not None and v != "<unset>"}
    result = subprocess.run(["bash", str(SCRIPT)], cwd=repo, env=full_env, capture_output=True, text=True, timeout=60)
    return Run(
        result.returncode,
        result.stdout + result.stderr,
        summary.read_text(),
        (tmp_path / "gate_args").read_text().splitlines(),
    )


def git_rev(tmp_path: Path, rev: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", rev], cwd=tmp_path / "repo", capture_output=True, text=True, check=True
    ).stdout.strip()


PR = {"number": 7, "pull_request": {"number": 7}}


@pytest.mark.parametrize("gate_status", [0, 1])
def test_a_pull_request_gets_the_summary_and_one_comment_and_the_gates_status(tmp_path, github, gate_status):
    run = run_script(tmp_path, github.url, "pull_request", PR, gate_status, GITHUB_BASE_REF="main")
    assert run.status == gate_status, run.output
    assert run.gate_args[:3] == ["gate", "--rev", "origin/main"] and run.gate_args[3] == "--summary"
    assert run.summary == "earlier step\n" + GATE_MD  # appended to the step's summary
    get, post = github.requests
    assert (get["method"], get["path"]) == ("GET", "/repos/someone/finegrain/issues/7/comments?per_page=100&page=1")
    assert (post["method"], post["path"]) == ("POST", "/repos/someone/finegrain/issues/7/comments")
    assert json.loads(post["body"]) == {"body": f"{MARKER}\n{GATE_MD}"}
    for request in github.requests:
        assert request["headers"]["Authorization"] == "Bearer ghs_fake"
        assert request["headers"]["Accept"] == "application/vnd.github+json"
    assert post["headers"]["Content-Type"] == "application/json"
    assert "commented on pull request #7" in run.output


def test_a_later_run_updates_its_comment_and_links_the_run(tmp_path, github):
    github.comments = [{"id": 5, "body": "looks good"}, {"id": 42, "body": f"{MARKER}\nthe last run's gate"}]
    run = run_script(
        tmp_path,
        github.url,
        "pull_request",
        {"pull_request": {"number": 3}},
        GITHUB_BASE_REF="dev",
        GITHUB_SERVER_URL="https://github.example",
        GITHUB_RUN_ID="123",
    )
    assert run.status == 0, run.output
    assert run.gate_args[:3] == ["gate", "--rev", "origin/dev"]
    assert [(r["method"], r["path"]) for r in github.requests] == [
        ("GET", "/repos/someone/finegrain/issues/3/comments?per_page=100&page=1"),
        ("PATCH", "/repos/someone/finegrain/issues/comments/42"),
    ]
    body = json.loads(github.requests[1]["body"])["body"]
    assert body.startswith(f"{MARKER}\n{GATE_MD}")
    assert "(https://github.example/someone/finegrain/actions/runs/123)" in body


@pytest.mark.parametrize("before", ["HEAD~1", "0" * 40, "1" * 40])
def test_a_push_compares_with_the_commit_before_it_when_there_is_one_and_posts_nothing(tmp_path, github, before):
    run_script(tmp_path, github.url, "workflow_dispatch", {})  # makes the repo
    sha = git_rev(tmp_path, before) if before == "HEAD~1" else before
    run = run_script(tmp_path, github.url, "push", {"before": sha}, gate_status=1)
    assert run.status == 1, run.output
    assert run.gate_args[:3] == ["gate", "--rev", sha if before == "HEAD~1" else "HEAD"]
    assert run.summary == "earlier step\n" + GATE_MD
    assert github.requests == [] and "not a pull request (push): no comment" in run.output


@pytest.mark.parametrize("gate_status", [0, 1])
def test_a_read_only_token_403_is_a_note_and_the_gates_status_stands(tmp_path, github, gate_status):
    github.write_status = 403
    run = run_script(tmp_path, github.url, "pull_request", PR, gate_status, GITHUB_BASE_REF="main")
    assert run.status == gate_status, run.output
    assert [r["method"] for r in github.requests] == ["GET", "POST"]
    assert "HTTP 403: a fork's pull request gets a read-only token" in run.output
    assert run.summary == "earlier step\n" + GATE_MD


def test_no_token_or_no_api_skips_the_comment_and_keeps_the_status(tmp_path, github):
    run = run_script(tmp_path, github.url, "pull_request", PR, 1, GITHUB_BASE_REF="main", GITHUB_TOKEN="<unset>")
    assert run.status == 1 and "no GITHUB_TOKEN or GH_TOKEN: no comment" in run.output
    assert github.requests == []
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    run = run_script(tmp_path, closed, "pull_request", PR, 1, GITHUB_BASE_REF="main")
    assert (
        run.status == 1
        and f"::warning::gh_gate: could not read the pull request's comments: the GitHub API at {closed} did not answer"
        in run.output
    )


def test_without_a_step_summary_it_writes_a_temp_file_and_a_silent_gate_still_reports(tmp_path, github):
    run = run_script(tmp_path, github.url, "workflow_dispatch", {}, 2, GITHUB_STEP_SUMMARY="<unset>", STUB_MD="")
    assert run.status == 2 and run.gate_args[:3] == ["gate", "--rev", "HEAD"]
    written = re.search(r"the gate's markdown is in (\S+)", run.output).group(1)
    assert Path(written).parent == tmp_path
    assert Path(written).read_text().startswith("## finegrain gate: ❌ exited with status 2 before writing")
