"""`[deploy.github]` as `check-config` sees it: a complete app passes; a missing secret, a key file
that is not a PEM key and a placeholder secret are refused in one line each (exit 2), and the
private key's text never appears in any output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sync_helpers import cli, write_config

from connector.sandbox import Sandbox


def config(tmp: Path, sandbox: Sandbox, github: str) -> Path:
    path = write_config(tmp / "c.toml", sandbox.info, store_url=f"sqlite:///{tmp / 'store.db'}")
    path.write_text(path.read_text() + f"\n[deploy]\ngated_environments = ['production']\n{github}")
    return path


def test_check_config_reads_the_app_and_never_shows_its_key(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    app = sandbox.github.app_info()
    pem = Path(app["private_key_path"]).read_text()
    body = pem.splitlines()[1]
    good = (
        f"[deploy.github]\napp_id = '{app['app_id']}'\n"
        f"private_key_path = '{app['private_key_path']}'\n"
        f"webhook_secret = '{app['webhook_secret']}'\napi_url = '{app['api_url']}'\n"
    )
    ok = cli("check-config", "--config", str(config(tmp_path, sandbox, good)))
    assert ok.returncode == 0, ok.stderr

    not_pem = tmp_path / "key.txt"
    not_pem.write_text("not a key")
    bad_key = good.replace(app["private_key_path"], str(not_pem))
    refused = cli("check-config", "--config", str(config(tmp_path, sandbox, bad_key)))
    assert refused.returncode == 2
    assert f"deploy.github.private_key_path: {not_pem} is not a PEM private key" in refused.stderr

    no_secret = "\n".join(line for line in good.splitlines() if "webhook_secret" not in line)
    refused = cli("check-config", "--config", str(config(tmp_path, sandbox, no_secret)))
    assert refused.returncode == 2 and "webhook_secret" in refused.stderr

    placeholder = good.replace(app["webhook_secret"], "changeme")
    refused = cli("check-config", "--config", str(config(tmp_path, sandbox, placeholder)))
    assert refused.returncode == 2 and "webhook_secret" in refused.stderr

    from_env = "\n".join(line for line in good.splitlines() if "private_key_path" not in line)
    path = config(tmp_path, sandbox, from_env)
    env = {**os.environ, "CHANGE_CONNECTOR__DEPLOY__GITHUB__PRIVATE_KEY": pem}
    ran = subprocess.run(
        [sys.executable, "-m", "connector", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    for output in (ok, refused, ran):
        assert body not in output.stdout + output.stderr
