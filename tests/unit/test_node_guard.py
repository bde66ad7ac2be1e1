"""The Swarm node guard's rules as text, its DNS lookup of the hub and the gate it opens in a new
server (no engine, no firewall).
The rules' effect on real traffic between servers on two Swarm workers is
tests/swarm/test_swarm_hub.py::test_servers_on_workers_are_kept_apart_by_the_node_guard."""
from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import pytest

from gluonlab_hub import node_guard

HUB = "172.31.1.5"
REPO = Path(__file__).resolve().parents[2]


def verdicts(rules: list[str]) -> list[str]:
    return [r.split(" -j ", 1)[1] for r in rules]


def test_only_the_hub_may_open_connections_to_a_server():
    rules = node_guard.in_rules([HUB])
    accepted = [r for r in rules if r.endswith("-j ACCEPT")]
    assert accepted == [f"-A {node_guard.IN_CHAIN} -i lo -j ACCEPT",
                        f"-A {node_guard.IN_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                        f"-A {node_guard.IN_CHAIN} -s {HUB}/32 -j ACCEPT"]
    # Everything after the accepts is refused, TCP with a reset (an attendee sees "refused" at once).
    assert verdicts(rules[len(accepted):]) == ["REJECT --reject-with tcp-reset", "REJECT --reject-with icmp-port-unreachable"]


def test_before_the_hub_is_found_a_server_accepts_nobody():
    assert not [r for r in node_guard.in_rules([]) if "-s " in r]
    assert not [r for r in node_guard.out_rules([], internet=True) if "--dports" in r]


def test_a_server_reaches_the_hubs_two_ports_and_no_private_address():
    rules = node_guard.out_rules([HUB], internet=True)
    hub = [r for r in rules if f"-d {HUB}/32" in r]
    assert hub == [f"-A {node_guard.OUT_CHAIN} -d {HUB}/32 -p tcp -m multiport --dports 8000,8081 -j ACCEPT"]
    # The hub's rule comes before the private ranges that hold it (the overlay is in 172.16/12).
    assert rules.index(hub[0]) < rules.index(f"-A {node_guard.OUT_CHAIN} -d 172.16.0.0/12 -p tcp -j REJECT "
                                             "--reject-with tcp-reset")
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"):
        assert [v for r, v in zip(rules, verdicts(rules)) if f"-d {net} " in r] == [
            "REJECT --reject-with tcp-reset", "REJECT --reject-with icmp-port-unreachable"], net
    assert rules[-1] == f"-A {node_guard.OUT_CHAIN} -j ACCEPT"
    # Loopback first: Docker's embedded DNS (127.0.0.11) and the server's own kernels.
    assert rules[0] == f"-A {node_guard.OUT_CHAIN} -o lo -j ACCEPT"


def test_without_internet_a_server_reaches_only_the_hub():
    rules = node_guard.out_rules([HUB], internet=False)
    assert verdicts(rules[-2:]) == ["REJECT --reject-with tcp-reset", "REJECT --reject-with icmp-port-unreachable"]
    assert "-A GLUONLAB-SRV-OUT -j ACCEPT" not in rules


def test_jumps_carry_the_instance_and_target_the_chains():
    jumps = node_guard.jump_rules("lab-a")
    assert jumps == {"INPUT": "-A INPUT -m comment --comment gluonlab:lab-a -j GLUONLAB-SRV-IN",
                     "OUTPUT": "-A OUTPUT -m comment --comment gluonlab:lab-a -j GLUONLAB-SRV-OUT"}
    assert max(len(node_guard.IN_CHAIN), len(node_guard.OUT_CHAIN)) <= 28


def answer(query: bytes, records: list[tuple[int, bytes]], flags: int = 0x8180) -> bytes:
    """A DNS answer to *query* as a resolver writes it: the question again, then each record
    named by a pointer to the question's name (offset 12)."""
    query_id = struct.unpack(">H", query[:2])[0]
    body = query[12:]
    out = struct.pack(">HHHHHH", query_id, flags, 1, len(records), 0, 0) + body
    for rtype, data in records:
        out += struct.pack(">HHHIH", 0xC00C, rtype, 1, 600, len(data)) + data
    return out


def test_dns_answers_give_the_a_records_and_skip_others():
    query = node_guard.dns_query("hub", 4242)
    assert query[12:] == b"\x03hub\x00\x00\x01\x00\x01"
    cname = b"\x05other\x00"
    records = [(5, cname), (1, socket.inet_aton("172.31.1.9")), (1, socket.inet_aton("172.31.1.5"))]
    assert node_guard.dns_a_records(answer(query, records), 4242) == ["172.31.1.5", "172.31.1.9"]
    assert node_guard.dns_a_records(answer(query, [], flags=0x8183), 4242) == []  # NXDOMAIN: nothing
    with pytest.raises(ValueError):
        node_guard.dns_a_records(answer(query, records), 4243)


def test_resolve_here_asks_the_given_server_over_udp():
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    asked = []

    def serve():
        query, peer = server.recvfrom(512)
        asked.append(query)
        server.sendto(answer(query, [(1, socket.inet_aton("172.31.7.7"))]), peer)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        # A server here; the guard's subprocess asks Docker's DNS inside a server's namespace.
        found = node_guard.resolve_here("lab.hub", "127.0.0.1", server.getsockname()[1])
    finally:
        thread.join(5)
        server.close()
    assert found == ["172.31.7.7"] and asked[0][12:] == b"\x03lab\x03hub\x00\x00\x01\x00\x01"


def test_the_guard_container_drops_every_capability_but_its_six():
    kwargs = node_guard.guard_container_kwargs("gluonlab/hub:latest", {"GLUONLAB_INSTANCE": "lab"}, "lab-node-guard")
    assert kwargs["cap_drop"] == ["ALL"] and sorted(kwargs["cap_add"]) == ["CHOWN", "NET_ADMIN", "NET_RAW",
                                                                            "SYS_ADMIN", "SYS_CHROOT", "SYS_PTRACE"]
    assert kwargs["pid_mode"] == kwargs["network_mode"] == "host" and kwargs["read_only"]
    assert kwargs["command"] == ["python3", "-m", "gluonlab_hub.node_guard"]
    # Loop devices only, from the host's /dev; the node's sized homes in the instance's volume.
    assert kwargs["device_cgroup_rules"] == ["b 7:* rwm", "c 10:237 rwm"]
    assert kwargs["volumes"]["lab-homes"] == {"bind": "/homes", "mode": "rw"}
    assert kwargs["volumes"]["/dev"]["bind"] == "/dev"
    default = node_guard.guard_container_kwargs("gluonlab/hub:latest", {}, "gluonlab-node-guard")
    assert "gluonlab-homes" in default["volumes"]  # the settings' default instance


def server_root(tmp_path: Path, pid: int = 4242) -> Path:
    """A /proc whose process *pid* has a root file system with a world-writable /tmp."""
    tmp = tmp_path / "proc" / str(pid) / "root" / "tmp"
    tmp.mkdir(parents=True)
    tmp.chmod(0o1777)
    return tmp


def test_the_gate_opens_once_inside_the_servers_own_tmp(tmp_path):
    tmp = server_root(tmp_path)
    assert node_guard.open_gate(4242, proc=tmp_path / "proc") is True
    assert (tmp / Path(node_guard.GATE_FILE).name).read_text() == "rules in place\n"
    assert node_guard.open_gate(4242, proc=tmp_path / "proc") is False  # there already: left as it is


def test_the_gate_never_follows_a_link_planted_in_its_place(tmp_path):
    tmp = server_root(tmp_path)
    target = tmp_path / "elsewhere"
    target.write_text("attendee's file\n")
    (tmp / Path(node_guard.GATE_FILE).name).symlink_to(target)
    assert node_guard.open_gate(4242, proc=tmp_path / "proc") is False
    assert target.read_text() == "attendee's file\n"


def test_a_server_that_is_gone_leaves_the_gate_closed_with_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        node_guard.open_gate(4242, proc=tmp_path / "proc")


def test_a_server_waits_as_long_as_a_guard_may_go_between_checks():
    compose = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    # The netguard's health check allows 3 x interval + 5 s; the gate waits exactly that.
    assert "-lt $$(( 3 * GLUONLAB_NETGUARD_INTERVAL + 5 ))" in compose
    assert node_guard.gate_wait_s(10) == 35 and node_guard.gate_wait_s(1) == 8
