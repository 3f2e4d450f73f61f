"""A token-protected Ray cluster (Ray's default authentication): ``fewshot.score --executor ray``
refused in one line naming the token step without a token, and run to the scores of a local run
with ``--ray-auth-token-path`` and with the token in ``~/.ray/auth_token`` (no flag, no variable).

The head is started with ``ray start --head --block`` on 127.0.0.1 inside a network namespace of
its own (``unshare -rn``: nothing but the loopback device, so the cluster is reachable from this
test only), and stopped by the script before it returns. Skipped where Ray or unprivileged
network namespaces are missing.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fewshot import executor as fx
from fewshot.errors import UsageError
from tests.conftest import REPO_ROOT

TINY = ["--C", "4", "--N", "1", "--dataset", "synthetic", "--data-option", "image_size=8",
        "--batch-size", "8", "--batches", "1", "--no-progress", "--threads", "1",
        "--metrics", "params,synflow", "--num", "4", "--seed", "3", "--no-plots"]  # fmt: skip
PORT = 6399

SCRIPT = r"""
set -u
ip link set lo up
export HOME="$WORK/home" RAY_AUTH_MODE=token
ray get-auth-token --generate > /dev/null 2>&1
ray start --head --block --port {port} --node-ip-address 127.0.0.1 --num-cpus 2 \
    --include-dashboard=false --disable-usage-stats --temp-dir "$RAYTMP" > "$WORK/head.log" 2>&1 &
head=$!
for i in $(seq 1 240); do
    kill -0 $head || exit 3
    python -c "import socket; socket.create_connection(('127.0.0.1', {port}), 1)" 2>/dev/null && break
    sleep 0.5
done
run() {{ python -m fewshot.score {args} --executor ray --ray-address 127.0.0.1:{port} "$@"; }}
# a client without the token: another home, no token variables
(export HOME="$WORK/nobody"; unset RAY_AUTH_MODE; run --out "$WORK/refused") \
    > "$WORK/refused.out" 2> "$WORK/refused.err"
echo $? > "$WORK/refused.rc"
(export HOME="$WORK/nobody"; unset RAY_AUTH_MODE; run --out "$WORK/ray" \
    --ray-auth-token-path "$WORK/home/.ray/auth_token") > "$WORK/ray.out" 2> "$WORK/ray.err"
echo $? > "$WORK/ray.rc"
# the head's own user: ~/.ray/auth_token found and used, no flag, no variable
(unset RAY_AUTH_MODE; run --out "$WORK/home-token") > "$WORK/home.out" 2> "$WORK/home.err"
echo $? > "$WORK/home.rc"
kill -TERM $head
wait $head || true  # ray start --block exits non-zero when stopped by a signal
"""


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"],
                           capture_output=True)  # fmt: skip
    return probe.returncode == 0


def _scores(folder: Path) -> list[dict[str, str]]:
    with (folder / "scores.csv").open(newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


@pytest.mark.slow
@pytest.mark.skipif(not _namespaces_work(), reason="needs unshare -rn (a loopback-only network)")
def test_a_token_protected_cluster_is_refused_in_one_line_then_used_with_its_token(tmp_path):
    pytest.importorskip("ray")
    (tmp_path / "nobody").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "FEWSHOT_LOCK"))}
    env.update(WORK=str(tmp_path), PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1",
               PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")  # fmt: skip
    local = subprocess.run(
        [sys.executable, "-m", "fewshot.score", *TINY, "--out", str(tmp_path / "local")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr[-2000:]
    script = SCRIPT.format(port=PORT, args=" ".join(TINY))
    raytmp = tempfile.mkdtemp(prefix="fsray", dir="/tmp")  # Ray's sockets: paths < 108 bytes
    try:
        done = subprocess.run(["unshare", "-rn", "bash", "-c", script], env={**env, "RAYTMP": raytmp},
                              capture_output=True, text=True, timeout=900)  # fmt: skip
    finally:
        shutil.rmtree(raytmp, ignore_errors=True)
    head = (tmp_path / "head.log").read_text() if (tmp_path / "head.log").exists() else ""
    assert done.returncode == 0, (done.stderr[-2000:], head[-2000:])
    refused = (tmp_path / "refused.err").read_text()
    assert (tmp_path / "refused.rc").read_text().strip() == "2", refused[-3000:]
    errors = [line for line in refused.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in refused, refused[-3000:]
    assert "requires token authentication" in errors[0]
    assert "--ray-auth-token-path" in errors[0] and "RAY_AUTH_TOKEN" in errors[0]
    ray_err = (tmp_path / "ray.err").read_text()
    assert (tmp_path / "ray.rc").read_text().strip() == "0", ray_err[-3000:]
    assert _scores(tmp_path / "ray") == _scores(tmp_path / "local")
    home_err = (tmp_path / "home.err").read_text()
    assert (tmp_path / "home.rc").read_text().strip() == "0", home_err[-3000:]
    assert _scores(tmp_path / "home-token") == _scores(tmp_path / "local")
    assert len(_scores(tmp_path / "local")) == 4


@pytest.fixture
def no_token(tmp_path, monkeypatch):
    """No token anywhere: an empty home, none of Ray's variables."""
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.setenv(name, "")  # recorded, so what use_auth_token sets is undone after
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def _options(**kw) -> fx.ExecutorOptions:
    return fx.ExecutorOptions(executor="ray", ray_address="127.0.0.1:6379", **kw)


def test_the_token_is_found_where_ray_looks_and_token_mode_turned_on(no_token, monkeypatch):
    assert fx.use_auth_token(_options()) is None and "RAY_AUTH_MODE" not in os.environ
    token = no_token / "home" / ".ray" / "auth_token"
    token.parent.mkdir(parents=True)
    token.write_text("abc")
    assert fx.use_auth_token(_options()) == str(token)
    assert os.environ["RAY_AUTH_MODE"] == "token"
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # an explicit mode is the user's
    assert fx.use_auth_token(_options()) is None and os.environ["RAY_AUTH_MODE"] == "disabled"
    monkeypatch.delenv("RAY_AUTH_MODE")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "xyz")
    assert fx.use_auth_token(_options()) == "RAY_AUTH_TOKEN"


def test_the_flag_wins_and_a_missing_file_is_one_line(no_token):
    path = no_token / "token"
    with pytest.raises(UsageError, match="is not a file; give the cluster's token"):
        fx.use_auth_token(_options(ray_auth_token_path=path))
    path.write_text("abc")
    assert fx.use_auth_token(_options(ray_auth_token_path=path)).endswith(str(path))
    assert os.environ["RAY_AUTH_TOKEN_PATH"] == str(path.resolve())
    assert os.environ["RAY_AUTH_MODE"] == "token"


def test_an_authentication_failure_is_recognised_in_rays_log_or_exception():
    line = ("[2026-12-06 W 1 1] gcs_client.cc:210: Failed to get cluster ID from GCS server: "
            "Unauthenticated: RPC error: InvalidAuthToken: Authentication token is missing")  # fmt: skip
    refused = fx._auth_refusal([line], ConnectionError("Failed to connect"))
    assert refused == "InvalidAuthToken: Authentication token is missing"
    assert fx._auth_refusal(["some other line"], ConnectionError("no route")) == ""
    message = fx._auth_message("HEAD:6379", None, refused)
    assert "requires token authentication" in message and "--ray-auth-token-path" in message
    assert "refused the authentication token from X" in fx._auth_message("H", "X", refused)
