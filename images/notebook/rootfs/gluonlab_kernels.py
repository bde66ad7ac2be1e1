"""Gluon Lab's kernel manager: a warm kernel waits for each attendee's first notebook.

An attendee's real wait is login to the first MXNet result, and starting a kernel that imports
MXNet, NumPy and Matplotlib is most of it (issue 20, bench/README.md). So every Jupyter server
keeps one kernel of the default kernel spec started, with those imported, and the first notebook
(or console) opened adopts it. A replacement is then warmed in the background at the lowest CPU
priority, after a delay (GLUONLAB_WARM_KERNEL_REFILL_DELAY) and once the container's CPU is quiet,
so it never competes with the kernel in use.

Why our own: hotpot-km 0.2.2 (the one pooled kernel manager on PyPI, from 2021) never pools under
jupyter-server 2.x, whose session manager always passes ``kernel_id`` to ``start_kernel``.

How the pool stays correct (image tests check each point: tests/images/test_warm_kernel.py):
- The warm kernel is an ordinary kernel of this MappingKernelManager: its own KernelManager and
  channels, started through the usual path, and it keeps its id when adopted (JupyterLab's
  POST /api/sessions names no kernel id). A start that names an id gets a fresh kernel: re-keying
  the warm one to it was tried and the kernel stopped answering after a restart.
- Warming runs silently (no execution_count, no history) inside a function that it deletes, so it
  leaves nothing in the user namespace; ``sys.modules`` gains only the warmed imports.
- Adoption does in the kernel what a fresh start in the notebook's folder would have done: the
  working directory, the environment the session passes (JPY_SESSION_NAME ...), ``sys.path``'s
  working-directory entry; and it records the same in the kernel's launch arguments, so a restart
  starts a fresh process there, at normal priority, not warmed. An interrupt is the usual signal.
- The warm kernel runs at nice 19 and every thread of it is reniced to the server's own priority
  on adoption. Lowering a nice value needs RLIMIT_NICE: the hub gives user containers
  ``ulimit nice=20`` (gluonlab_hub/spawner.py); without it the warm kernel is not niced at all,
  since it could not be raised back. Nice orders processes inside one container only (cgroup v2
  weighs containers against each other), hence also the delay and the CPU-pressure wait.
- A notebook opened while the pool kernel is still warming (a cold start: the server and its first
  kernel start together) waits for that kernel rather than starting a second one beside it; a
  notebook opened during the refill delay gets a fresh kernel at once.
- It is hidden from the kernel list (the Lab's running-kernels panel shows only the attendee's
  kernels) and never culled; GET /api/gluonlab/warm-kernel says whether it is ready
  (bench/prestart.py waits on it).
"""
from __future__ import annotations

import asyncio
import json
import os
import resource

import gluonlab_kernel_env as kenv
from jupyter_server.base.handlers import APIHandler
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager, ServerKernelManager
from jupyter_server.utils import url_path_join
from tornado import web
from traitlets import Float, Integer, List, TraitError, Unicode, default

WARM_NICE = 19
#: start_kernel keyword that marks the pool's own start (never sent by clients: only we call it so).
_POOL_START = "_gluonlab_pool_start"
#: start_kernel arguments under which a fresh kernel and the warm one are the same thing.
_ADOPTABLE_ARGUMENTS = {"kernel_name", "env"}


def set_nice(pid: int, nice: int) -> None:
    """Give every thread of process *pid* the nice value *nice* (on Linux nice is per thread, and
    MXNet's and OpenMP's worker threads were made while the kernel was niced)."""
    try:
        threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        threads = [pid]
    for tid in threads:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        except ProcessLookupError:
            pass  # a thread that just ended


def can_raise_back_from(nice: int, own_nice: int) -> bool:
    """Whether this process may set a niced child back to its own priority: unprivileged, only
    down to 20 - RLIMIT_NICE's soft limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
    soft = 40 if soft == resource.RLIM_INFINITY else soft
    return nice > own_nice and 20 - soft <= own_nice


class PoolableKernelManager(ServerKernelManager):
    """The server's KernelManager, able to launch its process at a given nice value."""

    launch_nice = Integer(0, help="Nice value for the next launch of this kernel's process (0: as the server).")

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        await super()._async_launch_kernel(kernel_cmd, **kw)
        pid = getattr(self.provisioner, "pid", None)
        if self.launch_nice and pid:
            set_nice(pid, self.launch_nice)

    @property
    def pid(self) -> int | None:
        return getattr(self.provisioner, "pid", None)


class WarmKernelManager(AsyncMappingKernelManager):
    """AsyncMappingKernelManager with one warm kernel of the default kernel spec waiting."""

    warm_imports = List(Unicode(), ["numpy", "mxnet", "matplotlib", "matplotlib.pyplot"],
                        help="Modules the warm kernel imports (the tutorials' helper module's needs).").tag(config=True)
    warm_timeout = Float(600, help="Seconds a warm kernel may take to start and import.").tag(config=True)
    pressure_threshold = Float(10.0, help="Refill once cpu.pressure's 'some avg10' is below this (percent).").tag(
        config=True)
    pressure_max_wait = Float(120.0, help="Refill at the latest this many seconds after the delay.").tag(config=True)
    retry_delay = Float(60.0, help="Seconds before warming again after a failed warm-up.").tag(config=True)

    @default("kernel_manager_class")
    def _default_kernel_manager_class(self):
        return "gluonlab_kernels.PoolableKernelManager"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.warm_enabled, self.refill_delay = kenv.warm_kernel_settings(os.environ)
        self._warm_id: str | None = None  # started, warmed, waiting
        self._pool_ids: set[str] = set()  # the warm kernel and any being warmed: hidden, never culled
        self._refill_task: asyncio.Task | None = None
        self._restart_callbacks: dict[str, object] = {}
        self._launch_nice: dict[str, int] = {}  # pool kernels being launched -> their nice value
        self.adopted = 0

    # --- the pool -----------------------------------------------------------------------------
    def start_pool(self) -> None:
        if self.warm_enabled:
            self.schedule_refill(0)
        else:
            self.log.info("gluonlab: warm kernel off (%s=0): every notebook starts its own kernel",
                          kenv.WARM_KERNEL_ENV)

    def schedule_refill(self, delay: float) -> None:
        if not self.warm_enabled or self._warm_id is not None:
            return
        if self._refill_task is not None and not self._refill_task.done():
            return
        self._refill_task = asyncio.ensure_future(self._refill(delay))

    def warm_status(self) -> dict:
        return {"enabled": self.warm_enabled, "ready": self._warm_id is not None,
                "warming": self._refill_task is not None and not self._refill_task.done(),
                "adopted": self.adopted}

    async def _wait_for_quiet_cpu(self) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.pressure_max_wait
        while loop.time() < give_up:
            pressure = kenv.cpu_pressure_avg10(kenv.read_text(kenv.CPU_PRESSURE))
            if pressure is None or pressure < self.pressure_threshold:
                return
            await asyncio.sleep(2)
        self.log.info("gluonlab: CPU still busy after %.0f s; warming a kernel anyway", self.pressure_max_wait)

    async def _refill(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if delay:
            await self._wait_for_quiet_cpu()
        kernel_id = None
        try:
            own_nice = os.getpriority(os.PRIO_PROCESS, 0)
            nice = WARM_NICE if can_raise_back_from(WARM_NICE, own_nice) else 0
            if not nice:
                self.log.warning("gluonlab: RLIMIT_NICE does not allow raising a niced kernel back to nice %d "
                                 "(the hub sets ulimit nice=20); warming at normal priority", own_nice)
            kernel_id = await self.start_kernel(**{_POOL_START: nice}, env=dict(os.environ))
            km = self.get_kernel(kernel_id)
            self._watch_pool_kernel(kernel_id)
            names = json.dumps(list(self.warm_imports))
            await self.run_silently(kernel_id, (
                "def _gluonlab_warm_up():\n"
                "    import importlib\n"
                f"    for name in {names}:\n"
                "        importlib.import_module(name)\n"
                "_gluonlab_warm_up()\n"
                "del _gluonlab_warm_up\n"), self.warm_timeout)
        except Exception:
            self.log.exception("gluonlab: warming a kernel failed; trying again in %.0f s", self.retry_delay)
            if kernel_id is not None and kernel_id in self:
                await self._discard(kernel_id)
            asyncio.get_running_loop().call_later(self.retry_delay, self.schedule_refill, 0)
            return
        if kernel_id in self and kernel_id in self._pool_ids:
            self._warm_id = kernel_id
            self.log.info("gluonlab: warm kernel %s ready (pid %s, nice %d)", kernel_id, km.pid, nice)

    def _watch_pool_kernel(self, kernel_id: str) -> None:
        # A pool kernel that died was restarted by the kernel restarter: no longer warm.
        def restarted():
            self.log.warning("gluonlab: warm kernel %s died; warming another", kernel_id)
            self._drop_from_pool(kernel_id)
            asyncio.ensure_future(self._discard(kernel_id))
            self.schedule_refill(self.retry_delay)

        self._restart_callbacks[kernel_id] = restarted
        self.add_restart_callback(kernel_id, restarted, "restart")

    def _drop_from_pool(self, kernel_id: str) -> None:
        self._pool_ids.discard(kernel_id)
        if self._warm_id == kernel_id:
            self._warm_id = None

    async def _discard(self, kernel_id: str) -> None:
        self._drop_from_pool(kernel_id)
        if kernel_id in self:
            try:
                await self.shutdown_kernel(kernel_id, now=True)
            except Exception:
                self.log.exception("gluonlab: shutting down pool kernel %s failed", kernel_id)

    async def run_silently(self, kernel_id: str, code: str, timeout: float) -> None:
        """Run *code* in the kernel as no cell: silent (no execution_count, no output, no history)."""
        client = self.get_kernel(kernel_id).client()
        client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await client.wait_for_ready(timeout=timeout)
            msg_id = client.execute(code, silent=True, store_history=False, allow_stdin=False)
            while True:
                reply = await client.get_shell_msg(timeout=max(0.1, deadline - loop.time()))
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
        finally:
            client.stop_channels()
        content = reply["content"]
        if content.get("status") != "ok":
            raise RuntimeError(f"kernel {kernel_id}: {content.get('ename')}: {content.get('evalue')}")

    # --- adoption -----------------------------------------------------------------------------
    async def start_kernel(self, *, kernel_id=None, path=None, **kwargs):
        pool_nice = kwargs.pop(_POOL_START, None)
        if pool_nice is not None:
            return await self._start_pool_kernel(pool_nice, **kwargs)
        if kernel_id is None and self._warming_now():
            # A cold start: the server's first warm kernel is already starting (it began with the
            # server, before the attendee's first notebook). Starting a second kernel beside it would
            # pay for every import twice while a whole room starts at once; it is ready sooner.
            await asyncio.wait({self._refill_task}, timeout=self.warm_timeout)
        warm_id = self._take_warm(kernel_id, kwargs)
        if warm_id is None:
            return await super().start_kernel(kernel_id=kernel_id, path=path, **kwargs)
        try:
            return await self._adopt(warm_id, path, kwargs.get("env"))
        except Exception:
            self.log.exception("gluonlab: adopting warm kernel %s failed; starting a fresh one", warm_id)
            await self._discard(warm_id)
            return await super().start_kernel(kernel_id=kernel_id, path=path, **kwargs)
        finally:
            self.schedule_refill(self.refill_delay)

    async def _start_pool_kernel(self, nice: int, **kwargs) -> str:
        kernel_id = self.new_kernel_id()
        self._pool_ids.add(kernel_id)  # hidden from the start
        self._launch_nice[kernel_id] = nice
        try:
            return await super().start_kernel(kernel_id=kernel_id, **kwargs)
        except Exception:
            self._pool_ids.discard(kernel_id)
            raise
        finally:
            self._launch_nice.pop(kernel_id, None)

    def pre_start_kernel(self, kernel_name, kwargs):
        km, kernel_name, kernel_id = super().pre_start_kernel(kernel_name, kwargs)
        km.launch_nice = self._launch_nice.get(kernel_id, 0)
        return km, kernel_name, kernel_id

    def _warming_now(self) -> bool:
        """A pool kernel is being started or warmed now (not merely waiting for its refill delay)."""
        return (self._warm_id is None and self._refill_task is not None and not self._refill_task.done()
                and bool(self._pool_ids))

    def _take_warm(self, requested_id, kwargs) -> str | None:
        """The warm kernel's id, taken out of the pool, when it can serve this start; else None."""
        warm_id = self._warm_id
        if warm_id is None or warm_id not in self:
            return None
        if requested_id is not None:
            # "use this kernel" or a client-chosen id for a new one: a re-keyed kernel stopped
            # answering after a restart (tried), so such a start gets a fresh kernel.
            return None
        if set(kwargs) - _ADOPTABLE_ARGUMENTS:
            return None  # launch options a warm kernel was not started with
        if (kwargs.get("kernel_name") or self.default_kernel_name) != self.get_kernel(warm_id).kernel_name:
            return None
        self._warm_id = None  # no await before this: two sessions never get the same kernel
        return warm_id

    async def _adopt(self, warm_id: str, path, env) -> str:
        km = self.get_kernel(warm_id)
        launch_args = km._launch_args
        fresh_env = dict(env if env is not None else os.environ)
        fresh_cwd = self.cwd_for_path(path, env=fresh_env) if path is not None else os.getcwd()
        warm_cwd = launch_args.get("cwd") or os.getcwd()
        to_set, to_unset = kenv.environment_delta(launch_args.get("env") or {}, fresh_env)
        own_nice = os.getpriority(os.PRIO_PROCESS, 0)
        km.launch_nice = 0  # a restart is an ordinary kernel
        if km.pid:
            set_nice(km.pid, own_nice)
        await self.run_silently(warm_id, (
            "def _gluonlab_adopt(cwd, old_cwd, to_set, to_unset):\n"
            "    import os, sys\n"
            "    os.chdir(cwd)\n"
            "    os.environ.update(to_set)\n"
            "    for name in to_unset:\n"
            "        os.environ.pop(name, None)\n"
            "    sys.path[:] = [cwd if entry == old_cwd else entry for entry in sys.path]\n"
            # ipykernel names the notebook in the user namespace at start (from JPY_SESSION_NAME).
            "    if os.environ.get('JPY_SESSION_NAME'):\n"
            "        get_ipython().user_ns['__session__'] = os.environ['JPY_SESSION_NAME']\n"
            f"_gluonlab_adopt({fresh_cwd!r}, {warm_cwd!r}, {to_set!r}, {to_unset!r})\n"
            "del _gluonlab_adopt\n"), 60)
        # What a restart launches: a fresh process as this session would have started it.
        launch_args["env"] = fresh_env
        if path is not None:
            launch_args["cwd"] = fresh_cwd
        else:
            launch_args.pop("cwd", None)
        callback = self._restart_callbacks.pop(warm_id, None)
        if callback is not None:
            km.remove_restart_callback(callback, "restart")
        self._pool_ids.discard(warm_id)
        kernel_id = warm_id
        self.adopted += 1
        kernel = self.get_kernel(kernel_id)
        from jupyter_server._tz import utcnow

        kernel.last_activity = utcnow()
        if not self._initialized_culler:
            self.initialize_culler()
        self.log.info("Kernel started: %s (gluonlab: the warm kernel, pid %s, in %s)", kernel_id, km.pid, fresh_cwd)
        return kernel_id

    # --- the base class's bookkeeping, aware of the pool and of re-keyed kernels ---------------
    def _handle_kernel_died(self, kernel_id):
        was_pool = kernel_id in self._pool_ids
        self._drop_from_pool(kernel_id)
        super()._handle_kernel_died(kernel_id)
        if was_pool:
            self.schedule_refill(self.retry_delay)

    def remove_kernel(self, kernel_id):
        self._drop_from_pool(kernel_id)
        return super().remove_kernel(kernel_id)

    def list_kernels(self):
        # The base class's loop, with the pool left out before any model is built: a pool kernel
        # still starting has no last_activity yet, and its model raised a TraitError that failed
        # the whole listing (a 500 on /api/status while the first warm kernel started: test_warm_kernel).
        # A kernel the base class is still starting (in its table, marked a moment later) is left
        # out the same way until it is.
        models = []
        for kernel_id in self.list_kernel_ids():
            if kernel_id in self._pool_ids:
                continue
            try:
                models.append(self.kernel_model(kernel_id))
            except (web.HTTPError, KeyError, TraitError):
                continue
        return models

    async def cull_kernel_if_idle(self, kernel_id):
        if kernel_id in self._pool_ids:
            return None
        return await super().cull_kernel_if_idle(kernel_id)


class WarmKernelHandler(APIHandler):
    """GET /api/gluonlab/warm-kernel -> {"enabled", "ready", "warming", "adopted"}."""

    @web.authenticated
    def get(self):
        manager = self.kernel_manager
        if isinstance(manager, WarmKernelManager):
            status = manager.warm_status()
        else:
            status = {"enabled": False, "ready": False, "warming": False, "adopted": 0}
        self.finish(json.dumps(status))


def _jupyter_server_extension_points():
    return [{"module": "gluonlab_kernels"}]


def _load_jupyter_server_extension(serverapp):
    # Threads per kernel (and terminal) from the container's CPU limit: inherited from here.
    bound = kenv.thread_environment(os.environ, kenv.read_cpu_limit(), os.cpu_count() or 1)
    os.environ.update(bound)
    if bound:
        serverapp.log.info("gluonlab: %s for kernels (the container's CPU limit)",
                           ", ".join(f"{name}={value}" for name, value in bound.items()))
    pattern = url_path_join(serverapp.web_app.settings["base_url"], "api/gluonlab/warm-kernel")
    serverapp.web_app.add_handlers(".*$", [(pattern, WarmKernelHandler)])
    if isinstance(serverapp.kernel_manager, WarmKernelManager):
        serverapp.io_loop.add_callback(serverapp.kernel_manager.start_pool)
