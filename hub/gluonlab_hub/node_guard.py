"""Node guard: the netguard's isolation for users' servers on a Docker Swarm worker.

On one host the netguard (gluonlab_hub/netguard.py) filters the lab bridge in the host's
firewall. On Swarm the servers sit on an overlay network, whose traffic between containers never
passes the host's filter table (it is switched inside the overlay's own network namespace and
carried between nodes in VXLAN). So this guard writes the rules where every server's packets do
pass: in the server container's own network namespace, which the attendee cannot change (the
server runs with every capability dropped). It runs as one plain container on every worker
(host network and PID namespace, the capabilities GUARD_CAPABILITIES names, the Docker socket),
started by the docker_swarm role (tasks/node_guard.yml); Swarm services cannot have the host's
PID namespace, so it is not a service.

For each running server of this lab on its node (containers labelled ``gluonlab.instance``), two
chains, jumped to first from INPUT and OUTPUT:

* ``GLUONLAB-SRV-IN``: only the hub may open connections to the server (replies and loopback
  pass); another attendee's server, on any node, gets a TCP reset.
* ``GLUONLAB-SRV-OUT``: the server may open connections to the hub's proxy and API ports only
  among private addresses: never to another server, the hosts of the cluster (their SSH, the
  registry, the Swarm and VXLAN ports, which would accept the node's masqueraded address), the
  room's LAN, or 169.254.0.0/16; the internet as GLUONLAB_USER_INTERNET says. Docker's embedded
  DNS (127.0.0.11, loopback) keeps working.

The hub's address is the only thing that changes: it is looked up by its name on the lab network
(GLUONLAB_HUB_HOST) through Docker's DNS from inside a server's namespace, at every check (every
GLUONLAB_NETGUARD_INTERVAL seconds and at once when a container starts). Until the hub has been
found, servers accept nobody (closed, not open). Rules are written in one ``iptables-restore
--noflush`` transaction per container and only when they differ.

A new server starts nothing before its rules are in place: the start command on Swarm
(gluonlab_hub.swarm_spawner.start_args) waits for the guard to create GATE_FILE in the server's own
/tmp (through /proc/PID/root, once the rules with the hub's address are written), and gives up
after :func:`gate_wait_s` with exit status GATE_EXIT, which the hub turns into a message naming
the node. So there is no moment at which a server listens without its rules, and a worker whose
guard is not running cannot start servers at all (closed, not open).

Sized homes (GLUONLAB_HOME_SIZE) are mounted by this guard too, before the gate opens: a Swarm
service can be given no loop device (node_homes.py says how, and what a server is told when its
home cannot be mounted).

``python -m gluonlab_hub.node_guard --status`` prints (JSON) each server's state on this node
without changing anything; ``--once`` checks and writes once.
"""
from __future__ import annotations

import argparse
import json
import logging
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional, Sequence

from gluonlab_hub.gpus import LABEL_INSTANCE
from gluonlab_hub.homes import HomeError, homes_volume
from gluonlab_hub.netguard import (HUB_API_PORT, HUB_PROXY_PORT, METADATA_NET, GuardError, GuardLoop, Iptables,
                                   _normal, comment, ensure_chain, load_settings)
from gluonlab_hub.node_homes import (DEVICE_RULES, HOME_FAILED_EXIT, IMAGES_DIR, HomeBusy,
                                     create_in_server, mount_home, refuse, sized_home)

IN_CHAIN = "GLUONLAB-SRV-IN"
OUT_CHAIN = "GLUONLAB-SRV-OUT"
#: Addresses a server must not open connections to (other than the hub's two ports): the overlay
#: and every other private range (the cluster's hosts, the room's LAN), carrier-grade NAT and
#: link-local (cloud metadata). The internet is what is left.
PRIVATE_NETS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", METADATA_NET)
DOCKER_DNS = "127.0.0.11"
HEALTH_FILE = Path("/tmp/gluonlab-node-guard.ok")
#: How soon a server whose home is still held is looked at again.
HOME_RETRY_S = 1.0

#: The guard container's capabilities, all others dropped: iptables (NET_ADMIN, NET_RAW), entering
#: another container's namespaces (SYS_ADMIN for setns and mounts, SYS_PTRACE to open a process's
#: /proc/PID/ns/* owned by another user, SYS_CHROOT for a mount namespace), a new sized home's
#: files given to their owner (CHOWN; node_homes.py). The docker_swarm role's tasks/node_guard.yml
#: runs it with the same list, loop devices and volumes (tests/ansible/test_swarm_wiring.py compares).
GUARD_CAPABILITIES = ("NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE", "SYS_CHROOT", "CHOWN")
GUARD_COMMAND = ("python3", "-m", "gluonlab_hub.node_guard")
#: The file inside a new server that lets its start go on (the guard creates it, nobody else can
#: before the server runs), and the start command's exit status when it never came.
GATE_FILE = "/tmp/.gluonlab-node-guard"
GATE_EXIT = 75  # EX_TEMPFAIL: the node, not the server, needs fixing


def gate_wait_s(interval: int) -> int:
    """How long a new server waits for its rules: what the guards' health checks allow a guard
    between two checks (docker-compose.yml: 3 x GLUONLAB_NETGUARD_INTERVAL + 5 s)."""
    return 3 * interval + 5


def home_release_wait_s(interval: int) -> int:
    """How long the guard waits for a new server's home to be let go by the user's previous
    server on this node: all of the server's wait for its gate but 5 s, for the mount itself."""
    return gate_wait_s(interval) - 5


def open_gate(pid: int, proc: Path = Path("/proc")) -> bool:
    """Create GATE_FILE in the file system of process *pid* (a server's first process); False
    when it is there already. Never follows a link there, never overwrites."""
    return create_in_server(pid, GATE_FILE, "rules in place\n", proc)

log = logging.getLogger("gluonlab.node_guard")


def guard_container_kwargs(image: str, environment: dict[str, str], name: str) -> dict:
    """docker-py ``containers.run`` arguments of one node's guard (tests/swarm starts it so): the
    Docker socket, the node's sized-home images (``<instance>-homes``) and loop devices (the host's
    /dev: a device attached after the guard started must be there too)."""
    from gluonlab_hub.settings import Settings

    instance = environment.get("GLUONLAB_INSTANCE") or Settings.model_fields["instance"].default
    return {"image": image, "command": list(GUARD_COMMAND), "name": name, "detach": True,
            "network_mode": "host", "pid_mode": "host", "cap_drop": ["ALL"], "cap_add": list(GUARD_CAPABILITIES),
            "device_cgroup_rules": list(DEVICE_RULES),
            "read_only": True, "tmpfs": {"/tmp": ""}, "restart_policy": {"Name": "always"},
            "volumes": {"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                        homes_volume(instance): {"bind": str(IMAGES_DIR), "mode": "rw"},
                        "/dev": {"bind": "/dev", "mode": "rw"}},
            "environment": dict(environment), "labels": {"org.gluonlab.role": "node-guard"}}


def _reject(chain: str, match: str = "") -> list[str]:
    match = f" {match}" if match else ""
    return [f"-A {chain}{match} -p tcp -j REJECT --reject-with tcp-reset",
            f"-A {chain}{match} -j REJECT --reject-with icmp-port-unreachable"]


def in_rules(hub_ips: Sequence[str]) -> list[str]:
    """The server's INPUT chain (iptables-restore lines, as ``iptables -S`` prints them)."""
    rules = [f"-A {IN_CHAIN} -i lo -j ACCEPT",
             f"-A {IN_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"]
    rules += [f"-A {IN_CHAIN} -s {ip}/32 -j ACCEPT" for ip in hub_ips]
    return rules + _reject(IN_CHAIN)


def out_rules(hub_ips: Sequence[str], internet: bool) -> list[str]:
    """The server's OUTPUT chain."""
    rules = [f"-A {OUT_CHAIN} -o lo -j ACCEPT",
             f"-A {OUT_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"]
    rules += [f"-A {OUT_CHAIN} -d {ip}/32 -p tcp -m multiport --dports {HUB_PROXY_PORT},{HUB_API_PORT} -j ACCEPT"
              for ip in hub_ips]
    for net in PRIVATE_NETS:
        rules += _reject(OUT_CHAIN, f"-d {net}")
    return rules + ([f"-A {OUT_CHAIN} -j ACCEPT"] if internet else _reject(OUT_CHAIN))


def jump_rules(instance: str) -> dict[str, str]:
    tag = comment(instance)
    return {"INPUT": f"-A INPUT -m comment --comment {tag} -j {IN_CHAIN}",
            "OUTPUT": f"-A OUTPUT -m comment --comment {tag} -j {OUT_CHAIN}"}


# ------------------------------------------------------------------ the hub's address


def dns_query(name: str, query_id: int) -> bytes:
    """A DNS query for the A records of *name* (RFC 1035 4.1), recursion desired."""
    labels = b"".join(bytes([len(part)]) + part.encode("ascii") for part in name.rstrip(".").split("."))
    return struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack(">HH", 1, 1)


def _skip_name(data: bytes, offset: int) -> int:
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:  # a pointer ends the name
            return offset + 2
        if length == 0:
            return offset + 1
        offset += 1 + length


def dns_a_records(data: bytes, query_id: int) -> list[str]:
    """The IPv4 addresses in a DNS answer to :func:`dns_query` (empty for NXDOMAIN)."""
    ident, flags, questions, answers = struct.unpack(">HHHH", data[:8])
    if ident != query_id or not flags & 0x8000:
        raise ValueError("not the answer to our DNS query")
    offset = 12
    for _ in range(questions):
        offset = _skip_name(data, offset) + 4
    found = []
    for _ in range(answers):
        offset = _skip_name(data, offset)
        rtype, _rclass, _ttl, length = struct.unpack(">HHIH", data[offset:offset + 10])
        offset += 10
        if rtype == 1 and length == 4:
            found.append(socket.inet_ntoa(data[offset:offset + 4]))
        offset += length
    return sorted(found)


def resolve_here(name: str, server: str = DOCKER_DNS, port: int = 53, timeout: float = 2.0) -> list[str]:
    """Ask *server* (Docker's embedded DNS of the namespace this runs in) for *name*."""
    query_id = int.from_bytes(struct.pack(">d", time.time())[-2:], "big")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(dns_query(name, query_id), (server, port))
        return dns_a_records(sock.recv(4096), query_id)


# ------------------------------------------------------------------ one container's namespace


class Namespace:
    """A container's network namespace, entered with nsenter for each command."""

    def __init__(self, pid: int, binary: str):
        self.prefix = ["nsenter", f"--net=/proc/{pid}/ns/net", "--"]
        self.ipt = Iptables(binary, prefix=self.prefix)

    def resolve(self, name: str) -> list[str]:
        code = "import sys; from gluonlab_hub.node_guard import resolve_here; print(' '.join(resolve_here(sys.argv[1])))"
        result = subprocess.run([*self.prefix, sys.executable, "-c", code, name], capture_output=True, text=True,
                                timeout=10)
        if result.returncode != 0:
            raise GuardError(f"looking up {name} on the lab network: {result.stderr.strip()[-300:]}")
        return result.stdout.split()

    def ensure(self, instance: str, hub_ips: Sequence[str], internet: bool) -> bool:
        """This namespace's chains and jumps as they should be; True when something was written."""
        changed = ensure_chain(self.ipt, IN_CHAIN, in_rules(hub_ips))
        changed |= ensure_chain(self.ipt, OUT_CHAIN, out_rules(hub_ips, internet))
        for parent, wanted in jump_rules(instance).items():
            rules = [_normal(r) for r in (self.ipt.listing(parent) or [])[1:]]
            if rules[:1] != [_normal(wanted)] or rules.count(_normal(wanted)) != 1:
                while _normal(wanted) in rules:
                    self.ipt.run("-D", *wanted.split()[1:])
                    rules.remove(_normal(wanted))
                self.ipt.run("-I", parent, "1", *wanted.split()[2:])
                changed = True
        return changed

    def state(self, instance: str, hub_ips: Sequence[str]) -> str:
        """"isolated", "isolated-no-internet", "missing" or "stale" (rules for another hub address)."""
        parents = {parent: [_normal(r) for r in (self.ipt.listing(parent) or [])[1:2]]
                   for parent in jump_rules(instance)}
        if any(rules != [_normal(jump_rules(instance)[parent])] for parent, rules in parents.items()):
            return "missing"
        have_in, have_out = ([_normal(r) for r in (self.ipt.listing(c) or [])[1:]] for c in (IN_CHAIN, OUT_CHAIN))
        if have_in != [_normal(r) for r in in_rules(hub_ips)]:
            return "stale"
        for state, internet in (("isolated", True), ("isolated-no-internet", False)):
            if have_out == [_normal(r) for r in out_rules(hub_ips, internet)]:
                return state
        return "stale"


class NodeGuard(GuardLoop):
    """Keeps the rules in every server of one lab on this node."""

    EVENT_FILTERS = {"type": ["container"], "event": ["start"]}
    HEALTH_FILE = HEALTH_FILE

    def __init__(self, instance: str, hub_host: str, internet: bool, client=None, binary: Optional[str] = None, *,
                 home_release_wait: float):
        import docker

        self.instance, self.hub_host, self.internet = instance, hub_host, internet
        self.home_release_wait = home_release_wait
        self.client = client or docker.from_env()
        self.binary = binary or Iptables.detect()
        self.hub_ips: list[str] = []
        self.wake = threading.Event()
        #: (container, PID) whose gate this guard has opened: one try each.
        self.gated: set[tuple[str, int]] = set()
        #: (container, PID) -> when it first found its home still held by the user's previous server.
        self.home_busy_since: dict[tuple[str, int], float] = {}

    def servers(self) -> list[tuple[str, int]]:
        """(container name, PID) of this lab's running servers on this node."""
        found = self.client.containers.list(filters={"label": f"{LABEL_INSTANCE}={self.instance}",
                                                     "status": "running"})
        return [(c.name, c.attrs["State"]["Pid"]) for c in found if c.attrs["State"].get("Pid")]

    def find_hub(self, namespace: Namespace) -> None:
        try:
            found = namespace.resolve(self.hub_host)
        except (GuardError, subprocess.TimeoutExpired) as error:
            log.warning("%s; keeping the last known hub address %s", error, self.hub_ips or "(none)")
            return
        if found and found != self.hub_ips:
            log.info("the hub (%s) is at %s on the lab network", self.hub_host, ", ".join(found))
            self.hub_ips = found

    def servers_and_hub(self) -> list[tuple[str, int]]:
        """:meth:`servers`, after looking the hub up from the first one's namespace."""
        servers = self.servers()
        if servers:
            self.find_hub(Namespace(servers[0][1], self.binary))
        return servers

    def apply(self) -> int:
        """One check of every server here; the number of servers guarded."""
        guarded = 0
        servers = self.servers_and_hub()
        self.gated &= set(servers)
        self.home_busy_since = {k: v for k, v in self.home_busy_since.items() if k in set(servers)}
        for name, pid in servers:
            try:
                if Namespace(pid, self.binary).ensure(self.instance, self.hub_ips, self.internet):
                    log.info("rules written in %s: hub %s, internet %s", name, ", ".join(self.hub_ips) or
                             "not found yet (closed to all)", "on" if self.internet else "off")
                guarded += 1
                if self.hub_ips and (name, pid) not in self.gated:
                    # Only rules that let the hub in let the server start: without them it would
                    # start unreachable and fail later with a vaguer message. One try each, but
                    # for a home its user's previous server has not let go yet.
                    home = self.mount_home(name, pid)
                    if home is None:
                        continue
                    self.gated.add((name, pid))
                    if home and open_gate(pid):
                        log.info("%s may start: its rules are in place", name)
            except (GuardError, OSError) as error:
                # A server that stopped while we wrote: gone from the next listing.
                log.warning("%s: %s", name, error)
        return guarded

    def mount_home(self, name: str, pid: int) -> Optional[bool]:
        """The server's sized home mounted in it (node_homes.py), when its home volume is one;
        False when it is not to start (the reason written in it for its start command); None
        while the home is still held by the user's previous server (tried again in a second,
        for up to home_release_wait seconds)."""
        try:
            mounts = self.client.containers.get(name).attrs.get("Mounts") or []
            home = sized_home(mounts, lambda volume: self.client.volumes.get(volume).attrs.get("Labels") or {})
            if home is None:
                return True
            report = mount_home(pid, home)
        except HomeBusy as error:
            first = self.home_busy_since.setdefault((name, pid), time.monotonic())
            if time.monotonic() - first < self.home_release_wait:
                log.info("%s: waiting for its home to be let go (%s)", name, error)
                threading.Timer(HOME_RETRY_S, self.wake.set).start()
                return None
            log.warning("%s: its home cannot be mounted, not starting it: %s", name, error)
            refuse(pid, HOME_FAILED_EXIT, str(error))
            return False
        except Exception as error:  # noqa: BLE001  (any failure refuses this one server, with its reason)
            status = getattr(error, "status", HOME_FAILED_EXIT) if isinstance(error, HomeError) else HOME_FAILED_EXIT
            log.warning("%s: its home cannot be mounted, not starting it: %s", name, error)
            refuse(pid, status, str(error))
            return False
        log.info("%s: home %s mounted (%d MiB%s)", name, home.volume, report["size"] // 1024**2,
                 ", new" if report["created"] else "")
        return True

    def status(self) -> dict:
        servers = self.servers_and_hub()
        return {"instance": self.instance, "hub": self.hub_ips,
                "servers": {name: Namespace(pid, self.binary).state(self.instance, self.hub_ips)
                            for name, pid in servers}}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gluonlab_hub.node_guard", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="check and write the rules once, then exit")
    mode.add_argument("--status", action="store_true", help="print (JSON) each server's rules, change nothing")
    args = parser.parse_args(argv)
    settings = load_settings("gluonlab node guard")
    if settings is None:
        return 2
    if settings.network_isolation != "1":
        print("gluonlab node guard: GLUONLAB_NETWORK_ISOLATION=0, nothing to guard (never in a room)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s node-guard %(levelname)s %(message)s")
    try:
        guard = NodeGuard(settings.instance, settings.hub_connect_host, settings.user_internet == "1",
                          home_release_wait=home_release_wait_s(settings.netguard_interval))
        if args.once:
            guard.apply()
            return 0
        if args.status:
            state = guard.status()
            print(json.dumps(state))
            return 0 if all(s.startswith("isolated") for s in state["servers"].values()) else 1
    except GuardError as error:
        print(f"gluonlab node guard: {error}", file=sys.stderr)
        return 1
    guard.run_forever(settings.netguard_interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
