"""The netguard's rules as text (no engine, no firewall): what each chain lets through and in
which order. The rules' effect on real traffic is tests/integration/hostile_room/test_network.py."""
from __future__ import annotations

from gluonlab_hub import netguard

FWD, IN = netguard.chain_names("gluonlab")
BR = "br-0123456789ab"


def verdicts(rules: list[str]) -> list[str]:
    return [r.split(" -j ", 1)[1] for r in rules]


def test_chain_names_fit_iptables_and_differ_per_instance():
    for name in netguard.chain_names("a" * 41):
        assert len(name) <= 28
    assert netguard.chain_names("lab-a") != netguard.chain_names("lab-b")
    assert netguard.chain_names("lab-a") == netguard.chain_names("lab-a")


def test_users_reach_only_the_hubs_api_and_proxy_and_the_rest_is_refused():
    rules = netguard.forward_rules(FWD, BR, ["172.30.0.2"], internet=True, isolate=True)
    hub_ports = [r for r in rules if "-d 172.30.0.2/32" in r]
    assert hub_ports == [f"-A {FWD} -d 172.30.0.2/32 -o {BR} -p tcp -m multiport --dports 8000,8081 -j ACCEPT"]
    # Same bridge (other users), DNAT (host's published ports) and link-local are refused after it.
    after = rules[rules.index(hub_ports[0]) + 1:]
    assert [r for r in after if f"-o {BR}" in r] and all("REJECT" in r for r in after[:-1])
    assert any("--ctstate DNAT" in r for r in after) and any("169.254.0.0/16" in r for r in after)
    assert rules[-1] == f"-A {FWD} -j RETURN", "internet on: Docker's own rules decide the rest"


def test_the_hub_may_open_connections_to_users_and_is_listed_first():
    rules = netguard.forward_rules(FWD, BR, ["172.30.0.2"], internet=True, isolate=True)
    assert rules[:2] == [f"-A {FWD} -s 172.30.0.2/32 -o {BR} -j ACCEPT", f"-A {FWD} -s 172.30.0.2/32 -j RETURN"]


def test_without_a_running_hub_nobody_on_the_bridge_is_let_through():
    rules = netguard.forward_rules(FWD, BR, [], internet=True, isolate=True)
    assert not [r for r in rules if "ACCEPT" in r and "ESTABLISHED" not in r]


def test_internet_off_refuses_everything_but_the_hub():
    rules = netguard.forward_rules(FWD, BR, ["172.30.0.2"], internet=False, isolate=True)
    assert "RETURN" not in verdicts(rules)[2:]
    assert rules[-1] == f"-A {FWD} -j REJECT --reject-with icmp-port-unreachable"


def test_the_hosts_own_addresses_are_closed_to_users_but_not_to_the_hub_or_replies():
    rules = netguard.input_rules(IN, ["172.30.0.2"], isolate=True)
    assert rules[0] == f"-A {IN} -s 172.30.0.2/32 -j RETURN"
    assert "RELATED,ESTABLISHED" in rules[1]
    assert verdicts(rules)[-2:] == ["REJECT --reject-with tcp-reset", "REJECT --reject-with icmp-port-unreachable"]


def test_isolation_off_is_plain_docker():
    assert netguard.forward_rules(FWD, BR, ["172.30.0.2"], internet=False, isolate=False) == [
        f"-A {FWD} -o {BR} -j ACCEPT", f"-A {FWD} -j RETURN"]
    assert netguard.input_rules(IN, [], isolate=False) == [f"-A {IN} -j RETURN"]


def test_jumps_are_tagged_with_the_instance_so_they_can_be_found_and_removed():
    jumps = netguard.jump_rules("gluonlab", BR)
    assert set(jumps) == {"DOCKER-USER", "INPUT"}
    assert all("--comment gluonlab:gluonlab" in r and f"-i {BR}" in r for r in jumps.values())


class FakeIptables:
    """The parent chains as lists of rule text: enough to check where ensure_jumps puts a jump."""

    def __init__(self, chains: dict[str, list[str]]):
        self.chains = chains

    def listing(self, chain):
        return [f"-N {chain}", *self.chains[chain]]

    def run(self, op, chain, *rest, check=True):
        rule = " ".join((f"-A {chain}", *(rest[1:] if op == "-I" else rest)))
        if op == "-D" and rule in self.chains[chain]:
            self.chains[chain].remove(rule)
        elif op == "-I":
            self.chains[chain].insert(int(rest[0]) - 1, rule)


def test_two_labs_on_one_host_do_not_fight_over_the_first_place():
    ipt = FakeIptables({"DOCKER-USER": ["-A DOCKER-USER -j RETURN"], "INPUT": ["-A INPUT -j ACCEPT"]})
    assert netguard.ensure_jumps(ipt, "lab-a", "br-aaaaaaaaaaaa")
    assert netguard.ensure_jumps(ipt, "lab-b", "br-bbbbbbbbbbbb")
    # Both in place before Docker's RETURN; a second round changes nothing for either.
    assert not netguard.ensure_jumps(ipt, "lab-a", "br-aaaaaaaaaaaa")
    assert not netguard.ensure_jumps(ipt, "lab-b", "br-bbbbbbbbbbbb")
    assert ipt.chains["DOCKER-USER"][-1] == "-A DOCKER-USER -j RETURN" and len(ipt.chains["DOCKER-USER"]) == 3


def test_a_jump_for_an_old_bridge_is_replaced_and_a_foreign_rule_first_is_overtaken():
    old = netguard.jump_rules("lab-a", "br-old000000000")["DOCKER-USER"]
    ipt = FakeIptables({"DOCKER-USER": ["-A DOCKER-USER -j ACCEPT", old], "INPUT": ["-A INPUT -j ACCEPT"]})
    assert netguard.ensure_jumps(ipt, "lab-a", "br-new000000000")
    assert ipt.chains["DOCKER-USER"] == [netguard.jump_rules("lab-a", "br-new000000000")["DOCKER-USER"],
                                         "-A DOCKER-USER -j ACCEPT"]
    assert ipt.chains["INPUT"][0] == netguard.jump_rules("lab-a", "br-new000000000")["INPUT"]


class ChainsIptables(FakeIptables):
    """FakeIptables where a chain may be missing (iptables -S fails: None)."""

    def listing(self, chain):
        return None if chain not in self.chains else super().listing(chain)


def installed(instance, bridge, hubs, internet=True, isolate=True):
    fwd, inp = netguard.chain_names(instance)
    jumps = netguard.jump_rules(instance, bridge)
    return {"DOCKER-USER": [jumps["DOCKER-USER"], "-A DOCKER-USER -j RETURN"],
            "INPUT": [jumps["INPUT"], "-A INPUT -j ACCEPT"],
            fwd: netguard.forward_rules(fwd, bridge, hubs, internet, isolate),
            inp: netguard.input_rules(inp, hubs, isolate)}


def test_the_status_tells_isolated_open_missing_and_stale_rules_apart():
    hubs = ["172.30.0.2"]
    state = netguard.rules_state
    assert state(ChainsIptables(installed("lab", BR, hubs)), "lab", BR, hubs) == "isolated"
    assert state(ChainsIptables(installed("lab", BR, hubs, internet=False)), "lab", BR, hubs) == "isolated-no-internet"
    assert state(ChainsIptables(installed("lab", BR, hubs, isolate=False)), "lab", BR, hubs) == "open"
    assert state(ChainsIptables({"DOCKER-USER": ["-A DOCKER-USER -j RETURN"], "INPUT": []}), "lab", BR, hubs) == "missing"
    # The hub came back with a new address, or the network under a new bridge, and nobody rewrote the rules.
    assert state(ChainsIptables(installed("lab", BR, hubs)), "lab", BR, ["172.30.0.9"]) == "stale"
    assert state(ChainsIptables(installed("lab", "br-old000000000", hubs)), "lab", BR, hubs) == "stale"
    # Docker rewrote its chains (a dockerd restart): our chains are there, the jumps are not.
    rules = installed("lab", BR, hubs)
    rules["DOCKER-USER"], rules["INPUT"] = ["-A DOCKER-USER -j RETURN"], []
    assert state(ChainsIptables(rules), "lab", BR, hubs) == "missing"
