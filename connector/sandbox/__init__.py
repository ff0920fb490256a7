"""A local, stateful Jira + ServiceNow simulator over real HTTPS: demo, tests, benchmarks.

from connector.sandbox import Sandbox, SandboxOptions
with Sandbox(SandboxOptions(data_dir=tmp_path)) as info:
    jira = JIRA(info.jira_url, basic_auth=info.credentials("connector"),
                options={"verify": info.ca_bundle})
"""

from connector.sandbox.server import Sandbox, SandboxInfo
from connector.sandbox.state import SandboxOptions

__all__ = ["Sandbox", "SandboxInfo", "SandboxOptions"]
