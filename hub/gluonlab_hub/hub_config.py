"""The hub's configuration, applied to JupyterHub's config object by hub/jupyterhub_config.py.

Values come from the settings schema (gluonlab_hub.settings: environment variables, validated
once), behaviour from the modules named in each step. One function per concern, so a unit test
can build the whole configuration without a hub (tests/unit/test_hub_config.py).
"""
from __future__ import annotations

import sys
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from . import admin_view, gpu_usage, help_requests
from . import profiles as profile_mod
from .accounts.removal import API_TOKEN_FILE as ACCOUNTS_API_TOKEN_FILE
from .accounts.removal import SERVICE as ACCOUNTS_SERVICE
from .accounts.rows import MAX_USERNAME_LEN, USERNAME_RE
from .auth import ThreadedNativeAuthenticator
from .course_data import COURSE_DATA_MOUNT
from .gpus import AssignmentCollector, GpuAllocator, GpuSetupError
from .homes import HomeError, HomeStore, parse_size
from .netguard import HUB_API_PORT, HUB_PROXY_PORT
from .node_guard import gate_wait_s
from .secret_files import ensure_secret_file
from .settings import Settings
from .spawner import LabDockerSpawner, hub_gpu_allocator
from .swarm_spawner import LabSwarmSpawner, home_node_handlers, hub_swarm_ledger, swarm_profile_problems


ANNOUNCEMENT_SERVICE = "announcement"
ANNOUNCEMENT_PORT = 8888


def configure(c: Any, settings: Settings, registry: CollectorRegistry = REGISTRY) -> None:
    """Fill JupyterHub's config *c* for *settings*; the GPU metric goes to *registry*."""
    _hub_and_proxy(c, settings)
    _accounts(c, settings)
    profiles = _user_servers(c, settings, registry)
    _services(c, settings, profiles)


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
    # flood gets 30 bcrypt checks a minute, about 12 % of one core at cost 12), and at most
    # checks_per_address (60) in flight at once, a whole room behind one NAT logging in together.
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


def _user_servers(c: Any, settings: Settings, registry: CollectorRegistry) -> profile_mod.ProfileSet:
    """User servers: profiles, the backend (this host, or a Docker Swarm) and its GPU pool, the
    limits every server gets, the admins' GPU page."""
    # The GPU pool is built now, so a bad GPU setting stops the hub here, not at an attendee's login.
    # So are the server profiles (GLUONLAB_PROFILES_FILE), checked against the GPUs found.
    try:
        profiles = profile_mod.load(settings)
        if settings.spawner_backend == "swarm":
            gpu_pool = _swarm_servers(c, settings, profiles)
            if profiles.from_file and (problems := swarm_profile_problems(profiles, gpu_pool)):
                raise profile_mod.ProfilesError("\n".join(problems))
        else:
            gpu_pool = _docker_servers(c, settings, profiles)
        if profiles.from_file:
            profile_mod.check_against_pool(profiles, gpu_pool)
    except (GpuSetupError, profile_mod.ProfilesError) as error:
        sys.exit(f"gluonlab: configuration error: {error}")
    # gluonlab_gpu_assigned{user,gpu} on /hub/metrics, read from the pool at each scrape.
    registry.register(AssignmentCollector(gpu_pool))
    # gluonlab_gpu_{memory_used_mib,utilization_percent,idle_seconds}{user,gpu}: the gpu-usage service's
    # last reading (a reading older than three check intervals is not shown).
    usage_file = _usage_file(settings)
    registry.register(gpu_usage.UsageCollector(usage_file, max_age_s=3 * max(settings.gpu_idle_check_s, 1)))
    c.DockerSpawner.image = profiles.profiles[0].image
    # Only the profiles' images; users never name one (LabDockerSpawner.apply_profile refuses it).
    c.DockerSpawner.allowed_images = profiles.images()
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
    # Read by the notebook image's kernel manager (images/notebook/rootfs/gluonlab_kernels.py).
    c.Spawner.environment = {"GLUONLAB_WARM_KERNEL": settings.warm_kernel,
                             "GLUONLAB_WARM_KERNEL_REFILL_DELAY": str(settings.warm_kernel_refill_delay)}

    # Admin view of who holds which GPU: /hub/gluonlab/gpus (page), /hub/api/gluonlab/gpus (JSON),
    # for holders of the custom scope (granted to the admins by the role below).
    c.JupyterHub.extra_handlers = admin_view.gpu_handlers(
        gpu_pool, profiles, usage_file, max_age_s=3 * max(settings.gpu_idle_check_s, 1))
    if settings.spawner_backend == "swarm":
        # Admins move a user's home pin to another node: PUT /hub/api/gluonlab/home-node/<user>.
        c.JupyterHub.extra_handlers += home_node_handlers()
    c.JupyterHub.template_paths = [admin_view.TEMPLATE_DIR]
    c.JupyterHub.custom_scopes = admin_view.CUSTOM_SCOPES
    return profiles


def _docker_servers(c: Any, settings: Settings, profiles: profile_mod.ProfileSet) -> GpuAllocator:
    """One host: DockerSpawner with GPU pinning, profiles, hardening, sized homes and a quick
    readiness wait (gluonlab_hub/spawner.py); returns the hub's GPU pool."""
    gpu_allocator = hub_gpu_allocator(settings)
    c.JupyterHub.spawner_class = LabDockerSpawner
    c.LabDockerSpawner.gpu_allocator = gpu_allocator
    # Several profiles: a choice on the spawn page and {"profile": name} in the API. One (no file):
    # no choice, the settings' image and limits, as a lab without profiles always had.
    if profiles.from_file:
        c.LabDockerSpawner.profiles = profiles
    c.LabDockerSpawner.pids_limit = settings.pids_limit
    c.LabDockerSpawner.shm_size = settings.shm_size
    volumes: dict[str, Any] = {settings.home_volume_template: "/home/jovyan"}
    if settings.course_data_volume:
        # One copy of the data sets for the room, read-only (README "Course data").
        volumes[settings.course_data_volume] = {"bind": COURSE_DATA_MOUNT, "mode": "ro"}
    c.DockerSpawner.volumes = volumes
    # Disk: each home its own file system of GLUONLAB_HOME_SIZE, a read-only root with a /tmp of
    # GLUONLAB_TMP_SIZE, a capped log (gluonlab_hub/homes.py, README "Threat model: disk").
    c.LabDockerSpawner.home_store = _home_store(settings)
    c.LabDockerSpawner.tmp_size = settings.tmp_size
    return gpu_allocator


def _swarm_servers(c: Any, settings: Settings, profiles: profile_mod.ProfileSet) -> GpuAllocator:
    """Several hosts: one Swarm service per user on the workers, GPUs as generic resources, homes
    pinned to their node (gluonlab_hub/swarm_spawner.py), sized by the node guards, the profiles'
    whole GPUs as generic resources; returns the hub's GPU ledger. What this backend cannot apply
    of the settings is said at start, not silently dropped (swarm_unsupported)."""
    for line in swarm_unsupported(settings):
        print(f"gluonlab: {line}", file=sys.stderr)
    ledger = hub_swarm_ledger(settings)
    c.JupyterHub.spawner_class = LabSwarmSpawner
    c.LabSwarmSpawner.gpu_ledger = ledger
    if profiles.from_file:  # as on one host: a choice on the spawn page, {"profile": name} in the API
        c.LabSwarmSpawner.profiles = profiles
    c.LabSwarmSpawner.gpu_policy = settings.gpu_policy
    c.LabSwarmSpawner.gpu_when_exhausted = settings.gpu_when_exhausted
    c.LabSwarmSpawner.gpu_resource = settings.swarm_gpu_resource
    c.LabSwarmSpawner.pids_limit = settings.pids_limit
    c.LabSwarmSpawner.shm_size = settings.shm_size
    c.LabSwarmSpawner.tmp_size = settings.tmp_size
    c.LabSwarmSpawner.constraints = [x.strip() for x in settings.swarm_constraints.split(",") if x.strip()]
    c.LabSwarmSpawner.home_volume = settings.home_volume_template
    c.LabSwarmSpawner.node_guard_wait_s = node_guard_wait(settings)
    # Sized homes are mounted by the node guard (gluonlab_hub/node_homes.py): none without it.
    c.LabSwarmSpawner.home_size = settings.home_size if node_guard_wait(settings) else "0"
    # Each worker's own copy of the course data (gluonlab-course-data fills every worker's).
    c.LabSwarmSpawner.course_data_volume = settings.course_data_volume
    return ledger


def node_guard_wait(settings: Settings) -> int:
    """Seconds a new server on a worker waits for its node guard's rules (gluonlab_hub/node_guard.py);
    0 where no guard runs (GLUONLAB_NETWORK_ISOLATION=0)."""
    return gate_wait_s(settings.netguard_interval) if settings.network_isolation == "1" else 0


def swarm_unsupported(settings: Settings) -> list[str]:
    """What the swarm backend does not apply of the settings given, each with what happens instead."""
    lines = []
    if parse_size(settings.home_size) and not node_guard_wait(settings):
        lines.append(f"GLUONLAB_HOME_SIZE={settings.home_size} is not applied with GLUONLAB_SPAWNER_BACKEND=swarm and "
                     "GLUONLAB_NETWORK_ISOLATION=0: the node guards mount sized homes, and none run; each home is a "
                     "plain volume on its worker, limited only by that worker's disk (set GLUONLAB_HOME_SIZE=0 to "
                     "say so and silence this line)")
    return lines


def _home_store(settings: Settings) -> HomeStore | None:
    """Sized homes, or None for plain volumes (GLUONLAB_HOME_SIZE=0); a bad size stops the hub."""
    if parse_size(settings.home_size) == 0:
        return None
    try:
        return HomeStore(settings.instance, settings.home_size)
    except HomeError as error:
        sys.exit(f"gluonlab: configuration error: {error}")


def _usage_file(settings: Settings) -> str:
    return f"{settings.state_dir}/{gpu_usage.USAGE_FILE}"


def _services(c: Any, settings: Settings, profiles: profile_mod.ProfileSet) -> None:
    """Services (idle culling, GPU usage and idle GPU reclaim, database backups, the accounts
    tool's API token, help requests) and the roles that grant scopes."""
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
    # Announcements (jupyterhub-announcement): admins post at /services/announcement/, every hub
    # page shows the latest (templates/page.html); kept on the hub volume across restarts. It
    # listens on 8888 in this container, a port the netguard does not open to users' servers.
    c.JupyterHub.services.append({
        "name": ANNOUNCEMENT_SERVICE,
        "url": f"http://127.0.0.1:{ANNOUNCEMENT_PORT}",
        "command": [sys.executable, "-m", "jupyterhub_announcement", f"--AnnouncementService.port={ANNOUNCEMENT_PORT}",
                    f"--AnnouncementQueue.persist_path={state}/announcements.json",
                    f"--AnnouncementService.cookie_secret_file={state}/announcement_cookie_secret"],
        "oauth_no_confirm": True,
    })
    # gluonlab-accounts remove (run in this container) stops servers and deletes users through the
    # REST API with this token; the service has no process of its own.
    c.JupyterHub.services.append({
        "name": ACCOUNTS_SERVICE,
        "api_token": ensure_secret_file(f"{state}/{ACCOUNTS_API_TOKEN_FILE}"),
    })
    c.JupyterHub.load_roles = [
        {
            "name": ACCOUNTS_SERVICE,
            "scopes": ["admin:users", "admin:servers"],
            "services": [ACCOUNTS_SERVICE],
        },
        {
            "name": "idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"],
        },
        admin_view.gpu_viewer_role(settings.admin_users),
        *help_requests.roles(settings.admin_users),
    ]
    # Per-user GPU usage (admin page, metrics) and idle GPU reclaim per profile (gluonlab_hub/gpu_usage.py):
    # reads GPUs through a helper container, stops servers whose GPU stayed idle (files kept).
    if settings.gpu_policy != "none" and settings.gpu_idle_check_s:
        gpu_profiles = [p for p in profiles.profiles if p.gpu.kind != "none"] or list(profiles.profiles)
        idle = ",".join(f"{p.name}={p.idle_gpu_minutes}" for p in gpu_profiles)
        c.JupyterHub.services.append({
            "name": "gpu-usage",
            "command": [sys.executable, "-m", "gluonlab_hub.gpu_usage", "--instance", settings.instance,
                        "--image", gpu_profiles[0].image, "--interval", str(settings.gpu_idle_check_s),
                        "--usage-file", _usage_file(settings), "--idle-minutes", idle,
                        "--exempt-groups", ",".join(profiles.idle_gpu_exempt_groups),
                        # The idle notice goes to the user's Lab at the address the proxy uses.
                        "--network", settings.network],
        })
        c.JupyterHub.load_roles.append({
            "name": "gpu-usage",
            # access:servers: POST the idle notice to the user's Lab (jupyterlab-notifications-extension)
            "scopes": ["list:users", "read:users:groups", "read:servers", "delete:servers", "access:servers"],
            "services": ["gpu-usage"],
        })
    # Help requests from the Labs (gluonlab-help) and the instructors' list: /hub/gluonlab/help.
    # (Added to what _user_servers set, when it ran: a Config returns a lazy value for unset keys.)
    c.JupyterHub.extra_handlers = [*c.JupyterHub.get("extra_handlers", []), *help_requests.handlers()]
    c.JupyterHub.custom_scopes = {**c.JupyterHub.get("custom_scopes", {}), **help_requests.CUSTOM_SCOPES}
