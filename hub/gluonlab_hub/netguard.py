"""Network guard: host firewall rules that keep attendees' containers apart.

Runs as the compose service ``netguard`` (host network, NET_ADMIN, the Docker socket), in the
hub image. For this lab's bridge network it keeps two chains in the host's filter table:

* ``GLUONLAB-FWD-<id>``, jumped to from Docker's ``DOCKER-USER`` for traffic *from* the bridge:
  the hub may open connections to users' servers; a user's container may open connections to
  the hub's API and proxy only, never to another container (any port), never to a port Docker
  publishes on a host address (DNAT), never to 169.254.0.0/16, and, with
  GLUONLAB_USER_INTERNET=0, to nothing outside the bridge.
* ``GLUONLAB-IN-<id>``, jumped to from ``INPUT`` for traffic from the bridge to the host's own
  addresses (bridge gateway, every host interface, the Docker API on TCP): refused for all but
  the hub and replies.

The lab network also has Docker's ``enable_icc=false``, so without these rules containers on
it cannot talk to each other at all (hub included): a missing guard breaks spawns instead of
opening the room. Rules do not change per user, so spawning costs nothing extra. Each chain is
written in one ``iptables-restore --noflush`` transaction and only when it differs from what
the kernel has; it is checked every GLUONLAB_NETGUARD_INTERVAL seconds and at once on Docker
events (hub restarted with a new address, dockerd restarted, network re-created).

``python -m gluonlab_hub.netguard --remove`` deletes this instance's rules; ``--status`` prints,
as JSON, whether they are in place (``doctor.sh --host`` reads it) without changing anything.
Each successful check writes the time to HEALTH_FILE, which the compose health check reads.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterable, Optional, Sequence

# Ports of the hub container that users' servers may open: the hub API and the public proxy.
# jupyterhub_config.py binds them; the proxy's own API (8001) stays closed to users.
HUB_API_PORT = 8081
HUB_PROXY_PORT = 8000
HUB_ROLE_LABEL = "org.gluonlab.role"
METADATA_NET = "169.254.0.0/16"
HEALTH_FILE = Path("/tmp/gluonlab-netguard.ok")
BRIDGE_NF = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")

log = logging.getLogger("gluonlab.netguard")


class GuardError(RuntimeError):
    """The guard cannot do its job; the message says what to fix on the host."""


def chain_names(instance: str) -> tuple[str, str]:
    """(forward chain, input chain) for *instance*: short (iptables allows 28 characters) and
    stable, so a new guard finds and replaces the rules of the last one."""
    tag = hashlib.sha256(instance.encode()).hexdigest()[:8].upper()
    return f"GLUONLAB-FWD-{tag}", f"GLUONLAB-IN-{tag}"


def comment(instance: str) -> str:
    return f"gluonlab:{instance}"


def forward_rules(chain: str, bridge: str, hub_ips: Sequence[str], internet: bool, isolate: bool) -> list[str]:
    """The forward chain, for packets that entered from *bridge* (iptables-restore lines)."""
    if not isolate:
        # Plain Docker behaviour (measurement and debugging only): undo enable_icc=false.
        return [f"-A {chain} -o {bridge} -j ACCEPT", f"-A {chain} -j RETURN"]
    rules = []
    for ip in hub_ips:
        # The hub opens connections to users' servers; elsewhere Docker's own rules decide.
        rules += [f"-A {chain} -s {ip}/32 -o {bridge} -j ACCEPT", f"-A {chain} -s {ip}/32 -j RETURN"]
    rules.append(f"-A {chain} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    for ip in hub_ips:
        rules.append(f"-A {chain} -d {ip}/32 -o {bridge} -p tcp -m multiport --dports "
                     f"{HUB_PROXY_PORT},{HUB_API_PORT} -j ACCEPT")
    # Other containers on the bridge (any port, and the hub's other ports).
    rules += [f"-A {chain} -o {bridge} -p tcp -j REJECT --reject-with tcp-reset",
              f"-A {chain} -o {bridge} -j REJECT --reject-with icmp-port-unreachable"]
    # Ports Docker publishes on the host's addresses (DNAT): the host's, not the internet.
    rules += [f"-A {chain} -p tcp -m conntrack --ctstate DNAT -j REJECT --reject-with tcp-reset",
              f"-A {chain} -m conntrack --ctstate DNAT -j REJECT --reject-with icmp-port-unreachable"]
    rules += [f"-A {chain} -d {METADATA_NET} -p tcp -j REJECT --reject-with tcp-reset",
              f"-A {chain} -d {METADATA_NET} -j REJECT --reject-with icmp-port-unreachable"]
    if internet:
        rules.append(f"-A {chain} -j RETURN")
    else:
        rules += [f"-A {chain} -p tcp -j REJECT --reject-with tcp-reset",
                  f"-A {chain} -j REJECT --reject-with icmp-port-unreachable"]
    return rules


def input_rules(chain: str, hub_ips: Sequence[str], isolate: bool) -> list[str]:
    """The input chain, for packets from the bridge to one of the host's own addresses."""
    if not isolate:
        return [f"-A {chain} -j RETURN"]
    rules = [f"-A {chain} -s {ip}/32 -j RETURN" for ip in hub_ips]
    rules += [f"-A {chain} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
              f"-A {chain} -p tcp -j REJECT --reject-with tcp-reset",
              f"-A {chain} -j REJECT --reject-with icmp-port-unreachable"]
    return rules


def jump_rules(instance: str, bridge: str) -> dict[str, str]:
    """Parent chain -> the rule (as ``iptables -S`` prints it) that sends *bridge* to our chain."""
    fwd, inp = chain_names(instance)
    tag = comment(instance)
    return {"DOCKER-USER": f"-A DOCKER-USER -i {bridge} -m comment --comment {tag} -j {fwd}",
            "INPUT": f"-A INPUT -i {bridge} -m comment --comment {tag} -j {inp}"}


class Iptables:
    """The host's iptables, through the backend Docker uses (nft or legacy: rules in the other
    one would be a second, unordered firewall)."""

    def __init__(self, binary: Optional[str] = None, prefix: Sequence[str] = ()):
        self.binary = binary or self.detect()
        # A command that runs the next in another network namespace (the node guard's nsenter).
        self.prefix = list(prefix)

    @staticmethod
    def detect() -> str:
        for binary in ("iptables-nft", "iptables-legacy", "iptables"):
            try:
                if subprocess.run([binary, "-w", "-S", "DOCKER-USER"], capture_output=True).returncode == 0:
                    return binary
            except FileNotFoundError:
                continue
        raise GuardError("the host's firewall has no DOCKER-USER chain: is dockerd running with its "
                         "iptables support on (the default; not --iptables=false)?")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([*self.prefix, self.binary, "-w", *args], capture_output=True, text=True)
        if check and result.returncode != 0:
            raise GuardError(f"{self.binary} {' '.join(args)}: {result.stderr.strip()}")
        return result

    def listing(self, chain: str) -> Optional[list[str]]:
        result = self.run("-S", chain, check=False)
        return result.stdout.splitlines() if result.returncode == 0 else None

    def restore(self, lines: Iterable[str]) -> None:
        restore = f"{self.binary}-restore"  # iptables-nft-restore, iptables-legacy-restore
        text = "*filter\n" + "".join(f"{line}\n" for line in lines) + "COMMIT\n"
        result = subprocess.run([*self.prefix, restore, "-w", "--noflush"], input=text, capture_output=True,
                                text=True)
        if result.returncode != 0:
            raise GuardError(f"{restore}: {result.stderr.strip()}\n{text}")


def _normal(rule: str) -> str:
    # The rules above are written as ``iptables -S`` prints them; only quoting may differ.
    return " ".join(shlex.split(rule))


def ensure_chain(ipt: Iptables, chain: str, rules: list[str]) -> bool:
    """Make *chain* hold exactly *rules*; True when it had to be (re)written."""
    current = ipt.listing(chain)
    if current is not None and [_normal(r) for r in current[1:]] == [_normal(r) for r in rules]:
        return False
    # Declaring the chain flushes it inside the same transaction: no moment without rules.
    ipt.restore([f":{chain} - [0:0]", *rules])
    return True


def ensure_jumps(ipt: Iptables, instance: str, bridge: str) -> bool:
    """One jump per parent chain, first in it, for the current bridge; stale ones (a network
    re-created under a new bridge name) removed."""
    changed = False
    for parent, wanted in jump_rules(instance, bridge).items():
        ours = [r for r in ipt.listing(parent) or [] if comment(instance) in r]
        for rule in ours:
            if _normal(rule) != _normal(wanted):
                ipt.run("-D", *shlex.split(rule)[1:])
                changed = True
        # Ours must come before every rule that is not a lab's jump (other labs' jumps may come
        # first: each matches its own bridge, so their order does not matter, and insisting on
        # the first place would make two guards on one host swap places forever).
        rules = [_normal(r) for r in (ipt.listing(parent) or [])[1:]]
        before = rules[:rules.index(_normal(wanted))] if _normal(wanted) in rules else None
        if before is None or any("--comment gluonlab:" not in r for r in before):
            ipt.run("-D", *shlex.split(wanted)[1:], check=False)
            ipt.run("-I", parent, "1", *shlex.split(wanted)[2:])
            changed = True
    return changed


def remove(ipt: Iptables, instance: str) -> None:
    """Delete this instance's jumps and chains (a lab taken down for good)."""
    for parent in ("DOCKER-USER", "INPUT"):
        for rule in ipt.listing(parent) or []:
            if comment(instance) in rule:
                ipt.run("-D", *shlex.split(rule)[1:])
    for chain in chain_names(instance):
        if ipt.listing(chain) is not None:
            ipt.run("-F", chain)
            ipt.run("-X", chain)


def rules_state(ipt: Iptables, instance: str, bridge: str, hub_ips: Sequence[str]) -> str:
    """What the kernel has for this lab: "isolated" (internet on), "isolated-no-internet",
    "open" (GLUONLAB_NETWORK_ISOLATION=0), "missing" (no chains or no jumps) or "stale" (rules for
    another bridge or hub address: the guard is not keeping them up to date)."""
    fwd, inp = chain_names(instance)
    current = ipt.listing(fwd)
    parents = {parent: [_normal(r) for r in ipt.listing(parent) or []] for parent in ("DOCKER-USER", "INPUT")}
    jumps_in = all(_normal(rule) in parents[parent] for parent, rule in jump_rules(instance, bridge).items())
    if current is None or ipt.listing(inp) is None or not jumps_in:
        ours = any(comment(instance) in rule for rules in parents.values() for rule in rules)
        return "stale" if current is not None and ours else "missing"
    have = [_normal(r) for r in current[1:]]
    for state, internet, isolate in (("isolated", True, True), ("isolated-no-internet", False, True),
                                     ("open", True, False)):
        if have == [_normal(r) for r in forward_rules(fwd, bridge, hub_ips, internet, isolate)]:
            return state
    return "stale"


class GuardLoop:
    """The loop both guards run: a check every *interval* seconds and at once on the Docker
    events in EVENT_FILTERS; HEALTH_FILE gets the time of each check that found its network
    (``apply`` returned anything but False), which the health checks read."""

    EVENT_FILTERS: dict = {}
    HEALTH_FILE: Path = HEALTH_FILE

    def apply(self):  # pragma: no cover - each guard has its own
        raise NotImplementedError

    def watch_events(self) -> None:
        """Wake the loop on events that can change the rules; reconnect after dockerd restarts."""
        while True:
            try:
                for _event in self.client.events(decode=True, filters=self.EVENT_FILTERS):
                    self.wake.set()
            except Exception as error:  # the stream ends when dockerd stops
                log.warning("Docker events: %s; reconnecting", error)
            self.wake.set()
            time.sleep(1)

    def run_forever(self, interval: float) -> None:
        threading.Thread(target=self.watch_events, daemon=True).start()
        while True:
            try:
                if self.apply() is not False:
                    self.HEALTH_FILE.write_text(str(int(time.time())))
            except Exception as error:  # keep guarding: the next check may succeed
                log.error("%s", error)
            self.wake.wait(interval)
            self.wake.clear()


def load_settings(who: str):
    """The settings from the environment, or None after printing what to fix (exit code 2)."""
    from gluonlab_hub.settings import Settings, SettingsError

    try:
        return Settings.from_env()
    except SettingsError as error:
        print(f"{who}: configuration error:\n{error}", file=sys.stderr)
        return None


class Guard(GuardLoop):
    """Keeps one lab's rules in place."""

    EVENT_FILTERS = {"type": ["container", "network"],
                     "event": ["start", "connect", "disconnect", "create", "destroy", "restart"]}

    def __init__(self, instance: str, network: str, internet: bool, isolate: bool, client=None, ipt=None):
        import docker  # the hub image's Docker SDK (DockerSpawner's dependency)

        self.instance, self.network, self.internet, self.isolate = instance, network, internet, isolate
        self.client = client or docker.from_env()
        self.ipt = ipt or Iptables()
        self.wake = threading.Event()

    def lab_network(self):
        """(bridge device, hub addresses), or None while compose has not created the network."""
        import docker

        try:
            net = self.client.networks.get(self.network)
        except docker.errors.NotFound:
            return None
        if net.attrs.get("Driver") != "bridge":
            raise GuardError(f"network {self.network} uses the {net.attrs.get('Driver')} driver; the guard "
                             "protects bridge networks only")
        options = net.attrs.get("Options") or {}
        bridge = options.get("com.docker.network.bridge.name") or f"br-{net.id[:12]}"
        hubs = self.client.containers.list(filters={"network": self.network, "label": [
            f"{HUB_ROLE_LABEL}=hub", f"com.docker.compose.project={self.instance}"]})
        ips = sorted(ip for c in hubs
                     if (ip := (c.attrs["NetworkSettings"]["Networks"].get(self.network) or {}).get("IPAddress")))
        return bridge, ips

    def apply(self) -> bool:
        """One check; True when the rules are in place for the network as it is now."""
        found = self.lab_network()
        if found is None:
            log.info("network %s does not exist yet", self.network)
            return False
        bridge, hub_ips = found
        fwd, inp = chain_names(self.instance)
        changed = ensure_chain(self.ipt, fwd, forward_rules(fwd, bridge, hub_ips, self.internet, self.isolate))
        changed |= ensure_chain(self.ipt, inp, input_rules(inp, hub_ips, self.isolate))
        changed |= ensure_jumps(self.ipt, self.instance, bridge)
        if changed:
            log.info("rules for %s (%s) written: hub %s, internet %s, isolation %s", self.network, bridge,
                     ", ".join(hub_ips) or "not running", "on" if self.internet else "off",
                     "on" if self.isolate else "OFF")
        if BRIDGE_NF.exists() and BRIDGE_NF.read_text().strip() != "1":
            raise GuardError("net.bridge.bridge-nf-call-iptables is 0: traffic between containers on one bridge "
                             "skips the firewall. Run on the host: modprobe br_netfilter && "
                             "sysctl -w net.bridge.bridge-nf-call-iptables=1")
        return True

    def status(self) -> dict:
        """The lab's rules as the kernel has them (nothing is changed)."""
        found = self.lab_network()
        if found is None:
            return {"network": self.network, "exists": False}
        bridge, hub_ips = found
        return {"network": self.network, "exists": True, "bridge": bridge, "hub": hub_ips,
                "rules": rules_state(self.ipt, self.instance, bridge, hub_ips)}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gluonlab_hub.netguard", description=__doc__.split("\n\n")[0])
    parser.add_argument("--remove", action="store_true", help="delete this instance's rules and exit")
    parser.add_argument("--once", action="store_true", help="check and write the rules once, then exit")
    parser.add_argument("--status", action="store_true", help="print (JSON) whether the rules are in place, change nothing")
    args = parser.parse_args(argv)
    settings = load_settings("gluonlab netguard")
    if settings is None:
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s netguard %(levelname)s %(message)s")
    try:
        if args.remove:
            remove(Iptables(), settings.instance)
            return 0
        guard = Guard(settings.instance, settings.network, settings.user_internet == "1",
                      settings.network_isolation == "1")
        if args.once:
            return 0 if guard.apply() else 1
        if args.status:
            state = guard.status()
            print(json.dumps(state))
            return 0 if state.get("rules", "").startswith("isolated") else 1
    except GuardError as error:
        print(f"gluonlab netguard: {error}", file=sys.stderr)
        return 1
    guard.run_forever(settings.netguard_interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
