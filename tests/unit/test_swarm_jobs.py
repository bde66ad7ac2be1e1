"""swarm_jobs: which nodes a once-per-node run must reach, and how a node that ran nothing is
reported (the Swarm itself: tests/swarm)."""
from __future__ import annotations

import pytest

from gluonlab_hub.swarm_jobs import _placement, _results, may_run


def node(node_id: str, role: str = "worker", state: str = "ready", availability: str = "active",
         labels: dict | None = None) -> dict:
    return {"ID": node_id, "Spec": {"Role": role, "Availability": availability, "Labels": labels or {}},
            "Status": {"State": state},
            "Description": {"Hostname": node_id, "Platform": {"OS": "linux", "Architecture": "x86_64"},
                            "Engine": {"Labels": {"zone": "room-a"}}}}


@pytest.mark.parametrize(("constraints", "expected"), [
    ([], True),
    (["node.role==worker"], True),
    (["node.role == manager"], False),
    (["node.role!=manager"], True),
    (["node.hostname==W1"], True),            # Swarm compares without case
    (["node.labels.gluonlab.gpu==true"], True),
    (["node.labels.gluonlab.gpu==false"], False),
    (["node.labels.missing!=x"], True),        # a missing label is not equal to anything
    (["node.labels.missing==x"], False),
    (["engine.labels.zone==room-a"], True),
    (["node.platform.os==windows"], False),
    (["node.role==worker", "node.labels.gluonlab.gpu==false"], False),
    (["node.some.future.attribute==x"], True),  # unknown: counted as a match, never hides a node
])
def test_placement_constraints_are_matched_as_swarm_does(constraints, expected):
    assert may_run(node("w1", labels={"gluonlab.gpu": "true"}), _placement(constraints)) is expected


class Api:
    def service_logs(self, service_id, **kwargs):
        return b""


class Client:
    api = Api()


def test_every_node_reports_a_drained_paused_or_down_node_that_could_have_run_the_work():
    nodes = [node("manager", role="manager", availability="drain"), node("w1"),
             node("w2", availability="drain"), node("w3", availability="pause"), node("w4", state="down")]
    tasks = [{"ID": "t1", "NodeID": "w1", "Status": {"State": "complete", "ContainerStatus": {"ExitCode": 0}}}]
    results = _results(Client(), "service", tasks, nodes, every_node=True, constraints=["node.role==worker"])
    assert [(r.node, r.state, r.error) for r in results] == [
        ("w1", "complete", ""),
        ("w2", "not reached", "the node is drained"),
        ("w3", "not reached", "the node is paused"),
        ("w4", "not reached", "the node is down"),
    ]  # the drained manager runs no servers (the constraint): nothing of it is missed
    assert results[0].ok and not any(r.ok for r in results[1:])
    # Without the constraint, the drained manager is one the work could miss, too.
    unconstrained = _results(Client(), "service", tasks, nodes, every_node=True, constraints=[])
    assert ("manager", "not reached", "the node is drained") in [(r.node, r.state, r.error) for r in unconstrained]


class EmptySwarmApi(Api):
    """A Swarm whose nodes that may run the work are all down or drained: no task ever appears."""

    def __init__(self, nodes):
        self._nodes, self.removed = nodes, []

    def services(self, filters=None, status=False):
        return []

    def create_service(self, **spec):
        return {"ID": "service"}

    def tasks(self, filters=None):
        return []

    def nodes(self):
        return self._nodes

    def remove_service(self, service_id):
        self.removed.append(service_id)


def test_when_every_node_is_down_or_drained_each_is_named(monkeypatch):
    import gluonlab_hub.swarm_jobs as jobs
    from docker.types import ContainerSpec, Placement, TaskTemplate

    monkeypatch.setattr(jobs, "NO_NODE_S", 0.0)
    monkeypatch.setattr(jobs, "POLL_S", 0.01)
    spec = jobs.global_once(name="work", task_template=TaskTemplate(
        container_spec=ContainerSpec(image="x"), placement=Placement(constraints=["node.role==worker"])))
    client = Client()
    client.api = EmptySwarmApi([node("manager", role="manager"), node("w1", state="down"),
                                node("w2", availability="drain")])
    results = jobs.run_on_every_node(client, spec, timeout=5, what="home removal", every_node=True)
    assert [(r.node, r.state, r.error) for r in results] == [("w1", "not reached", "the node is down"),
                                                            ("w2", "not reached", "the node is drained")]
    assert client.api.removed == ["service"]
    # Work that may miss such nodes (course data) still says there is nowhere to run.
    with pytest.raises(jobs.JobError, match=r"no node may run servers \(node.role==worker\)"):
        jobs.run_on_every_node(client, spec, timeout=5, what="fill", every_node=False)
