"""The hub's configuration, applied to JupyterHub's config object by hub/jupyterhub_config.py.

Values come from the settings schema (gluonlab_hub.settings: environment variables, validated
once), behaviour from the modules named in each step. One function per concern, so a unit test
can build the whole configuration without a hub (tests/unit/test_hub_config.py).
"""
from __future__ import annotations

import sys
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from . import admin_view
from .accounts.rows import MAX_USERNAME_LEN, USERNAME_RE
from .auth import ThreadedNativeAuthenticator
from .gpus import AssignmentCollector, GpuAllocator, GpuSetupError
from .netguard import HUB_API_PORT, HUB_PROXY_PORT
from .secret_files import ensure_secret_file
from .settings import Settings
from .spawner import LabDockerSpawner, hub_gpu_allocator
from .swarm_spawner import LabSwarmSpawner, home_node_handlers, hub_swarm_ledger


def configure(c: Any, settings: Settings, registry: CollectorRegistry = REGISTRY) -> None:
    """Fill JupyterHub's config *c* for *settings*; the GPU metric goes to *registry*."""
    _hub_and_proxy(c, settings)
    _accounts(c, settings)
    _user_servers(c, settings, registry)
    _services(c, settings)


def _hub_and_proxy(c: Any, settings: Settings) -> None:
    """Hub and proxy: listening, state on the hub volume, the login rush's limits."""
    state = settings.state_dir
    # The proxy listens on 8000 inside the container; compose publishes it on 127.0.0.1 only.
    c.JupyterHub.bind_url = f"http://:{HUB_PROXY_PORT}"
    if settings.ssl_cert:
        c.JupyterHub.bind_url = f"https://:{HUB_PROXY_PORT}"
        c.JupyterHub.ssl_cert = settings.ssl_cert
        c.JupyterHub.ssl_key = settings.ssl_key
    # Users' containers reach the hub API by the hub's name on the lab network; the netguard opens
    # exactly these two ports of the hub to them (README "Network isolation").
    c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{HUB_API_PORT}"
    c.JupyterHub.hub_connect_url = f"http://{settings.hub_connect_host}:{HUB_API_PORT}"
    # State on the hub volume: database, cookie secret and proxy token survive restarts.
    c.JupyterHub.db_url = settings.db_url
    c.JupyterHub.cookie_secret = bytes.fromhex(ensure_secret_file(f"{state}/jupyterhub_cookie_secret"))
    c.ConfigurableHTTPProxy.auth_token = ensure_secret_file(f"{state}/proxy_auth_token")
    c.JupyterHub.pid_file = f"{state}/jupyterhub.pid"
    # A hub restart must not stop attendees' servers: they keep running and are found again.
    c.JupyterHub.cleanup_servers = False
    # Workshop start: everyone spawns at once. Limit parallel spawns (CPU-bound server start) and
    # optionally the number of running servers; users beyond get a clear "try again" message.
    # Server start is CPU-bound; the default limit (GLUONLAB_CONCURRENT_SPAWN_LIMIT) and its
    # measured effect on a 2-core host are in bench/README.md ("Results").
    c.JupyterHub.concurrent_spawn_limit = settings.concurrent_spawn_limit
    c.JupyterHub.active_server_limit = settings.active_server_limit
    # Throttled attendees are told "Try again in 10 seconds" instead of JupyterHub's 30-60 s: a
    # slot frees every few seconds, and the longer waits dominated the rush (bench/README.md).
    # JupyterHub 5.5 declares spawn_throttle_retry_range without config=True, so
    # c.JupyterHub.spawn_throttle_retry_range is ignored ("not recognized"); the handlers read it
    # from the tornado settings, which tornado_settings overrides.
    c.JupyterHub.tornado_settings = {"spawn_throttle_retry_range": (5, 10)}
    c.JupyterHub.default_url = "/hub/home"
    # Prometheus metrics at /hub/metrics, readable with an admin token (scope read:metrics).
    c.JupyterHub.authenticate_prometheus = True
    c.JupyterHub.log_level = settings.log_level


def _accounts(c: Any, settings: Settings) -> None:
    """Accounts: who may log in, and how login abuse is kept cheap."""
    # NativeAuthenticator's accounts (bcrypt hashes in the hub database, created by gluonlab-accounts;
    # no signup), hardened for a hostile room (gluonlab_hub/auth.py, README "Threat model"): bcrypt
    # never on the event loop, failures throttled per username and per client address, only the
    # login and change-password pages routed, bad input a normal failure.
    c.JupyterHub.authenticator_class = ThreadedNativeAuthenticator
    c.NativeAuthenticator.enable_signup = False
    c.NativeAuthenticator.open_signup = False
    # Per username: 5 failures a minute, then refused without a check until the minute has passed.
    c.NativeAuthenticator.allowed_failed_logins = 5
    c.NativeAuthenticator.seconds_before_next_try = 60
    # Per client address: 30 failures a minute (a mistyping room on one NAT stays under it; a
    # flood gets 30 bcrypt checks a minute, about 12 % of one core at cost 12).
    c.ThreadedNativeAuthenticator.failed_logins_per_address = 30
    c.NativeAuthenticator.minimum_password_length = 8
    c.Authenticator.admin_users = set(settings.admin_users)
    # The admin UI and API accept only names the accounts tool would (same rule, whole name:
    # JupyterHub uses re.match, so the pattern is anchored here; \Z, since $ allows a final newline).
    c.Authenticator.username_pattern = rf"(?=.{{1,{MAX_USERNAME_LEN}}}\Z){USERNAME_RE.pattern}\Z"
    # NativeAuthenticator decides who may log in (account exists, password right, authorized).
    c.Authenticator.allow_all = True
    # Hub cookies (login, XSRF) are not sent on cross-site POSTs or subresource requests; Lax,
    # not Strict, so a link from the handout or a chat still arrives logged in.
    c.JupyterHub.tornado_settings = {**c.JupyterHub.tornado_settings, "cookie_options": {"samesite": "Lax"}}
    # cookie_host_prefix_enabled stays off even with HTTPS: a __Host- cookie must have path=/,
    # so the browser would send the hub login cookie to every /user/<name>/ server, and an
    # attendee controls the server process in their own container (JupyterHub's docs advise it
    # only with per-user domains). The default hub cookie is scoped to /hub/.
    c.JupyterHub.cookie_host_prefix_enabled = False


def _user_servers(c: Any, settings: Settings, registry: CollectorRegistry) -> None:
    """User servers: the backend (this host, or a Docker Swarm), its GPU pool, the limits every
    server gets, the admins' GPU page."""
    # The GPU pool is built now, so a bad GPU setting stops the hub here, not at an attendee's login.
    try:
        gpu_pool = _swarm_servers(c, settings) if settings.spawner_backend == "swarm" else _docker_servers(c, settings)
    except GpuSetupError as error:
        sys.exit(f"gluonlab: configuration error: {error}")
    # gluonlab_gpu_assigned{user,gpu} on /hub/metrics, read from the pool at each scrape.
    registry.register(AssignmentCollector(gpu_pool))
    c.DockerSpawner.image = settings.notebook_image
    c.DockerSpawner.allowed_images = [settings.notebook_image]
    c.DockerSpawner.network_name = settings.network
    c.DockerSpawner.use_internal_ip = True
    c.DockerSpawner.prefix = settings.instance
    # Stopped containers are removed; the home volume keeps the user's work.
    c.DockerSpawner.remove = True
    c.DockerSpawner.notebook_dir = "/home/jovyan"
    c.DockerSpawner.mem_limit = settings.mem_limit
    c.DockerSpawner.cpu_limit = settings.cpu_limit
    c.Spawner.default_url = "/lab"
    # A user's ~/.jupyter (their own, writable home) must not change the server's settings, e.g.
    # switch off its authentication or open it to other origins.
    c.Spawner.disable_user_config = True
    c.Spawner.start_timeout = settings.spawn_timeout
    c.Spawner.http_timeout = settings.spawn_timeout

    # Admin view of who holds which GPU: /hub/gluonlab/gpus (page), /hub/api/gluonlab/gpus (JSON),
    # for holders of the custom scope (granted to the admins by the role below).
    c.JupyterHub.extra_handlers = admin_view.gpu_handlers(gpu_pool)
    if settings.spawner_backend == "swarm":
        # Admins move a user's home pin to another node: PUT /hub/api/gluonlab/home-node/<user>.
        c.JupyterHub.extra_handlers += home_node_handlers()
    c.JupyterHub.template_paths = [admin_view.TEMPLATE_DIR]
    c.JupyterHub.custom_scopes = admin_view.CUSTOM_SCOPES


def _docker_servers(c: Any, settings: Settings) -> GpuAllocator:
    """One host: DockerSpawner with GPU pinning, hardening and a quick readiness wait
    (gluonlab_hub/spawner.py); returns the hub's GPU pool."""
    gpu_allocator = hub_gpu_allocator(settings)
    c.JupyterHub.spawner_class = LabDockerSpawner
    c.LabDockerSpawner.gpu_allocator = gpu_allocator
    c.LabDockerSpawner.pids_limit = settings.pids_limit
    c.LabDockerSpawner.shm_size = settings.shm_size
    c.DockerSpawner.volumes = {settings.home_volume_template: "/home/jovyan"}
    return gpu_allocator


def _swarm_servers(c: Any, settings: Settings) -> GpuAllocator:
    """Several hosts: one Swarm service per user on the workers, GPUs as generic resources, homes
    pinned to their node (gluonlab_hub/swarm_spawner.py); returns the hub's GPU ledger."""
    ledger = hub_swarm_ledger(settings)
    c.JupyterHub.spawner_class = LabSwarmSpawner
    c.LabSwarmSpawner.gpu_ledger = ledger
    c.LabSwarmSpawner.gpu_policy = settings.gpu_policy
    c.LabSwarmSpawner.gpu_when_exhausted = settings.gpu_when_exhausted
    c.LabSwarmSpawner.gpu_resource = settings.swarm_gpu_resource
    c.LabSwarmSpawner.pids_limit = settings.pids_limit
    c.LabSwarmSpawner.shm_size = settings.shm_size
    c.LabSwarmSpawner.constraints = [x.strip() for x in settings.swarm_constraints.split(",") if x.strip()]
    c.LabSwarmSpawner.home_volume = settings.home_volume_template
    return ledger


def _services(c: Any, settings: Settings) -> None:
    """Services (idle culling, database backups) and the roles that grant scopes."""
    state = settings.state_dir
    # Stops servers idle for GLUONLAB_CULL_TIMEOUT seconds (and, with GLUONLAB_CULL_MAX_AGE, those
    # older than that, busy or not); their GPUs return to the pool.
    c.JupyterHub.services = [
        {
            "name": "idle-culler",
            "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={settings.cull_timeout}",
                        f"--max-age={settings.cull_max_age}"],
        }
    ]
    # A daily copy of the SQLite database (accounts, password hashes, servers) next to it, on the
    # hub volume; restore: README "Exposure and secrets".
    if settings.backup_days and settings.db_url.startswith("sqlite:///"):
        c.JupyterHub.services.append({
            "name": "db-backup",
            "command": [sys.executable, "-m", "gluonlab_hub.backup", "--db", settings.db_url.removeprefix("sqlite:///"),
                        "--dir", f"{state}/backups", "--keep", str(settings.backup_days)],
        })
    c.JupyterHub.load_roles = [
        {
            "name": "idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"],
        },
        admin_view.gpu_viewer_role(settings.admin_users),
    ]
