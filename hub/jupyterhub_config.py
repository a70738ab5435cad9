"""JupyterHub's settings for `make hub` (hub/run.py writes hub.json and starts the hub with this).

Everything listens on 127.0.0.1. As root, each person is a system user and signs in with the
password hub/run.py printed (PAM); the hub's local process spawner starts each single-user server
as that user. Without root there is one system user: every person's server runs as it, each in a
home folder of its own under the hub's state, signing in with one shared password (a demo only).

Everyone runs the course's one environment (the venv the lock installed). Per role, through the
environment the spawner gives each server:

* everyone: ``JUPYTER_CONFIG_PATH`` holds ``etc/common``, whose ``nbgrader_config.py`` is the
  exchange's one configuration (its folder and the course id);
* students: also ``etc/student`` first (the student kit's ``nbgrader_config.py``, nbgrader's
  formgrader and course list switched off, the instructor's menu items hidden), and ``PYTHONPATH``
  at the student kit's library, so a student imports the kit's ``authlab``, never the checkout's;
* the instructor: the home folder is the course (``nbgrader_config.py``, ``solutions/``,
  ``notebooks/``), where formgrader and ``python -m grader`` find it.
"""

import json
import os

c = get_config()  # noqa: F821 - provided by traitlets when JupyterHub loads this file

S = json.loads(open(os.environ["AUTHLAB_HUB_SETTINGS"], encoding="utf-8").read())  # noqa: SIM115

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = S["port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = S["hub_port"]
c.JupyterHub.db_url = "sqlite:///" + os.path.join(S["state"], "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(S["state"], "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(S["state"], "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every single-user server
c.JupyterHub.cleanup_proxy = True
# The proxy: JupyterHub's own configurable-http-proxy (npm, pinned in hub/package-lock.json), run
# by the Node.js that pip installs, its API on 127.0.0.1 too.
c.ConfigurableHTTPProxy.command = S["proxy_command"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{S['proxy_api_port']}"
c.ConfigurableHTTPProxy.pid_file = os.path.join(S["state"], "proxy.pid")
c.ConfigurableHTTPProxy.auth_token = S["proxy_token"]

users = [S["instructor"], *S["students"]]
c.Authenticator.allowed_users = set(users)
if S["as_root"]:
    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.open_sessions = False
    c.JupyterHub.spawner_class = "localprocess"
else:
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = S["shared_password"]
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = os.path.join(S["homes"], "{username}")

c.Spawner.cmd = [os.path.join(S["venv_bin"], "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {
    "PATH": os.pathsep.join([S["venv_bin"], "/usr/local/bin", "/usr/bin", "/bin"]),
}


def pre_spawn_hook(spawner):
    """Each role's configuration, nbgrader menu and library (see the module docstring)."""
    etc = S["etc"]
    if spawner.user.name == S["instructor"]:
        paths = [os.path.join(etc, "common")]
    else:
        paths = [os.path.join(etc, "student"), os.path.join(etc, "common")]
        spawner.environment["PYTHONPATH"] = os.path.join(S["kit"], "src")
        spawner.environment["AUTHLAB_DATA"] = os.path.join(S["kit"], "data")
    spawner.environment["JUPYTER_CONFIG_PATH"] = os.pathsep.join(paths)


c.Spawner.pre_spawn_hook = pre_spawn_hook
