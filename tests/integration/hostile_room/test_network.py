"""A hostile room, network side: from attendee A's server (a `docker exec` in A's container, as
A's own terminal would run it) every connection to what is not the hub is refused, on the real
compose stack and the host's real firewall (README "Network isolation").

Each refusal has a control that shows the target is really there: the listener answers the
host or the hub, so a "refused" from A is the guard's doing, not an empty port. Probes that
would leave this machine if the guard failed (169.254.169.254, an outside address) are sent
only after the test has read, from the host's firewall, the rule that rejects them here.

Not tested: a restart of dockerd (the engine is shared with other test runs). Instead the test
deletes the guard's rules and sees them back within the guard's interval, as they would be
after Docker rewrote its chains.
"""
from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import docker
import pytest
import requests

from labclient import HubClient, LabStack, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.integration]

INTERVAL = 3  # GLUONLAB_NETGUARD_INTERVAL for this stack: rules come back within it
PROBE = """
import json, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    socket.create_connection((host, port), timeout=3).close()
    print(json.dumps("open"))
except ConnectionRefusedError:
    print(json.dumps("refused"))
except (socket.timeout, TimeoutError):
    print(json.dumps("timeout"))
except OSError as error:
    print(json.dumps(f"error: {error}"))
"""
HUB_IMAGE = "gluonlab/hub:latest"


def host_iptables(*args: str) -> str:
    """The host's iptables through the backend Docker uses, from a host-network container
    (as the netguard does), so the test works wherever the lab does."""
    code = ("import sys; from gluonlab_hub.netguard import Iptables; "
            "r = Iptables().run(*sys.argv[1:], check=False); print(r.stdout, end=''); sys.exit(r.returncode)")
    return subprocess.run(["docker", "run", "--rm", "--network", "host", "--cap-drop", "ALL", "--cap-add",
                           "NET_ADMIN", "--cap-add", "NET_RAW", HUB_IMAGE, "python3", "-c", code, *args],
                          capture_output=True, text=True, timeout=60).stdout


def chains(instance: str) -> tuple[str, str]:
    out = subprocess.run(["docker", "run", "--rm", HUB_IMAGE, "python3", "-c",
                          "import sys; from gluonlab_hub.netguard import chain_names; print(*chain_names(sys.argv[1]))",
                          instance], capture_output=True, text=True, check=True, timeout=60).stdout.split()
    return out[0], out[1]


class Listener:
    """A real TCP service on the Docker host (all addresses), answering HTTP 200."""

    def __init__(self):
        class Ok(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("0.0.0.0", 0), Ok)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def stack():
    lab = LabStack(extra_env={"GLUONLAB_NETGUARD_INTERVAL": str(INTERVAL), "GLUONLAB_USER_INTERNET": "1"})
    with lab.running(print_logs=("hub", "netguard")):  # down() also removes the guard's host rules
        yield lab


@pytest.fixture(scope="module")
def room(stack):
    """Attendees alice (A) and bob (B) with running servers; B serves `python3 -m http.server 9000`."""
    hub = HubClient(stack.url)
    assert hub.login("admin", stack.admin_password).status_code == 302
    hub.create_token("admin")
    for name in ("alice", "bob"):
        assert hub.api("POST", f"/users/{name}").status_code in (201, 409)
        hub.start_server(name)
    containers = {c.name[len(stack.instance) + 1:]: c for c in stack.user_containers()}
    a, b = containers["alice"], containers["bob"]
    b.exec_run(["python3", "-m", "http.server", "9000"], detach=True)
    net = docker.from_env().networks.get(stack.instance)
    ip = {name: c.attrs["NetworkSettings"]["Networks"][stack.instance]["IPAddress"]
          for name, c in (("alice", a), ("bob", b))}
    room = {"hub": hub, "a": a, "b": b, "ip": ip, "gateway": net.attrs["IPAM"]["Config"][0]["Gateway"],
            "fwd": chains(stack.instance)[0]}
    wait_until(lambda: probe_from_hub(stack, ip["bob"], 9000) == "open", 30, what="bob's http.server")
    return room


def probe(container, host: str, port: int) -> str:
    result = container.exec_run(["python3", "-c", PROBE, host, str(port)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.decode().strip().splitlines()[-1])


def probe_from_hub(stack: LabStack, host: str, port: int) -> str:
    out = stack.compose("exec", "-T", "hub", "python3", "-c", PROBE, host, str(port)).stdout
    return json.loads(out.strip().splitlines()[-1])


def host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines() if " lo " not in line]


def refused(result: str) -> bool:
    return result in ("refused", "timeout")


# --- Other attendees ------------------------------------------------------------------------
def test_attendee_cannot_reach_another_attendees_http_server(stack, room):
    assert probe_from_hub(stack, room["ip"]["bob"], 9000) == "open", "control: bob's server listens"
    assert refused(probe(room["a"], room["ip"]["bob"], 9000))
    assert refused(probe(room["a"], f"{stack.instance}-bob", 9000)), "by container name too"


def test_attendee_cannot_reach_another_attendees_jupyter_server(stack, room):
    assert probe_from_hub(stack, room["ip"]["bob"], 8888) == "open", "control: the hub reaches bob's Jupyter"
    assert refused(probe(room["a"], room["ip"]["bob"], 8888))


def test_attendee_cannot_reach_another_attendee_on_any_port(stack, room):
    # A port bob opens later is closed to alice as well (the rule is not a port list).
    room["b"].exec_run(["python3", "-m", "http.server", "6006"], detach=True)
    wait_until(lambda: probe_from_hub(stack, room["ip"]["bob"], 6006) == "open", 30, what="bob's second port")
    assert refused(probe(room["a"], room["ip"]["bob"], 6006))


# --- The Docker host --------------------------------------------------------------------------
def test_attendee_cannot_reach_services_on_the_docker_host_via_the_gateway_or_any_host_address(stack, room):
    listener = Listener()
    try:
        addresses = [room["gateway"], *host_addresses()]
        assert probe_from_hub(stack, room["gateway"], listener.port) == "open", "control: the listener answers"
        for address in addresses:
            assert refused(probe(room["a"], address, listener.port)), f"alice reached {address}:{listener.port}"
    finally:
        listener.close()


def test_attendee_cannot_reach_a_port_another_container_publishes_on_the_host(stack, room):
    client = docker.from_env()
    other = client.containers.run(HUB_IMAGE, ["python3", "-m", "http.server", "9000"], detach=True, remove=True,
                                  ports={"9000/tcp": None}, name=f"{stack.instance}-published")
    try:
        other.reload()
        port = int(other.attrs["NetworkSettings"]["Ports"]["9000/tcp"][0]["HostPort"])
        address = host_addresses()[0]
        wait_until(lambda: requests.get(f"http://{address}:{port}/", timeout=3).ok, 30,
                   what="control: the published port answers the host")
        assert refused(probe(room["a"], address, port))
    finally:
        other.remove(force=True)


def test_attendee_has_no_docker_socket_and_cannot_reach_the_docker_api_over_tcp(room):
    result = room["a"].exec_run(["sh", "-c", "ls -l /var/run/docker.sock /run/docker.sock 2>&1; env | grep -c DOCKER_HOST"])
    assert b"No such file" in result.output and result.output.strip().endswith(b"0"), result.output
    for port in (2375, 2376):
        assert refused(probe(room["a"], room["gateway"], port))


def test_attendee_cannot_reach_link_local_or_cloud_metadata_addresses(stack, room):
    # The rule that rejects 169.254.0.0/16 on this machine must be in place before the probe is sent.
    rules = host_iptables("-S", room["fwd"])
    assert "-d 169.254.0.0/16 -p tcp -j REJECT" in rules, rules
    assert probe(room["a"], "169.254.169.254", 80) == "refused"


def test_attendee_cannot_forge_the_hubs_address_with_raw_packets(room):
    # The rules trust the hub's source address; forging it needs a raw socket (NET_RAW) or an
    # address change (NET_ADMIN), and the attendee's container has no capabilities.
    code = ("import socket\ntry:\n    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)\n"
            "    print('raw socket opened')\nexcept PermissionError:\n    print('denied')")
    assert room["a"].exec_run(["python3", "-c", code]).output.decode().strip() == "denied"
    result = room["a"].exec_run(["sh", "-c", "grep CapEff /proc/self/status"])
    assert result.output.decode().split() == ["CapEff:", "0000000000000000"], result.output


def test_attendee_has_no_ipv6_path_around_the_ipv4_rules(room):
    # The guard's rules are IPv4; the lab network has no IPv6 and Docker turns it off in the
    # container (no link-local address to reach bob by), which the attendee cannot undo.
    result = room["a"].exec_run(["sh", "-c", "cat /proc/sys/net/ipv6/conf/all/disable_ipv6; cat /proc/net/if_inet6; "
                                 "(echo 0 > /proc/sys/net/ipv6/conf/all/disable_ipv6) 2>/dev/null || echo refused"])
    assert result.output.decode().split() == ["1", "refused"], result.output


# --- What still works ---------------------------------------------------------------------
def test_attendee_still_reaches_the_hub_api_and_the_proxy_but_not_the_proxys_api(room):
    code = ("import urllib.request as u; print(u.urlopen('http://hub:8081/hub/api/', timeout=5).status, "
            "u.urlopen('http://hub:8000/hub/health', timeout=5).status)")
    result = room["a"].exec_run(["python3", "-c", code])
    assert result.output.decode().split() == ["200", "200"], result.output
    assert refused(probe(room["a"], "hub", 8001))


def test_hub_still_proxies_both_attendees_servers(room):
    hub = room["hub"]
    for name in ("alice", "bob"):
        response = hub.user_api("GET", name, "/status")
        assert response.status_code == 200, (name, response.status_code, response.text[:200])


def test_a_new_server_still_starts_and_is_isolated(stack, room):
    hub = room["hub"]
    assert hub.api("POST", "/users/carol").status_code in (201, 409)
    hub.start_server("carol")
    assert hub.user_api("GET", "carol", "/status").status_code == 200
    carol = next(c for c in stack.user_containers() if c.name.endswith("-carol"))
    assert refused(probe(carol, room["ip"]["bob"], 9000))
    hub.stop_server("carol")


# --- The guard keeps its rules ---------------------------------------------------------------
def test_deleted_rules_are_restored_within_the_guards_interval(stack, room):
    ours = [r for r in host_iptables("-S", "DOCKER-USER").splitlines() if room["fwd"] in r]
    assert len(ours) == 1, ours
    # As if Docker had rewritten its chains: the jump and our chain's rules are gone.
    host_iptables("-D", *ours[0].split()[1:])
    host_iptables("-F", room["fwd"])
    # Meanwhile the room stays closed: the lab network drops same-bridge traffic by itself.
    assert refused(probe(room["a"], room["ip"]["bob"], 9000))
    wait_until(lambda: any(room["fwd"] in r for r in host_iptables("-S", "DOCKER-USER").splitlines())
               and "REJECT" in host_iptables("-S", room["fwd"]), 3 * INTERVAL + 10, what="the guard's rules")
    assert refused(probe(room["a"], room["ip"]["bob"], 9000))
    assert room["hub"].user_api("GET", "bob", "/status").status_code == 200


# --- Exam-style room: no internet ----------------------------------------------------------------
def test_with_internet_off_attendee_reaches_only_the_hub(stack, room):
    """GLUONLAB_USER_INTERNET=0. The outside address is 198.51.100.1 (TEST-NET-2): the probe is sent
    only once the rule that rejects all non-hub traffic on this machine is read back, so nothing
    leaves the machine; a REJECT answers "refused" at once, where a packet that left would time out."""
    stack.extra_env["GLUONLAB_USER_INTERNET"] = "0"
    try:
        stack.compose("up", "-d", "netguard")
        fwd = room["fwd"]

        def closed():
            last = host_iptables("-S", fwd).strip().splitlines()[-1:]
            return last == [f"-A {fwd} -j REJECT --reject-with icmp-port-unreachable"]

        wait_until(closed, 60, interval=1, what="the internet-off rules")
        assert probe(room["a"], "198.51.100.1", 80) == "refused"
        result = room["a"].exec_run(["python3", "-c", "import urllib.request as u; "
                                     "print(u.urlopen('http://hub:8081/hub/api/', timeout=5).status)"])
        assert result.output.decode().strip() == "200", result.output
    finally:
        stack.extra_env["GLUONLAB_USER_INTERNET"] = "1"
        stack.compose("up", "-d", "netguard")
    wait_until(lambda: host_iptables("-S", room["fwd"]).strip().endswith("-j RETURN"), 60, interval=1,
               what="the internet-on rules back")
