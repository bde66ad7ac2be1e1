"""Work that must run once on every Swarm node that may run servers, from the manager.

On Swarm a volume is local to its node, so what the hub's own engine does on one host (fill the
course data, export and remove a home) must run on each worker. :func:`run_on_every_node`
creates a *global* service whose tasks are never restarted (a Swarm *job* retries a failed task
until it succeeds, so a node that refuses would never finish: seen, about 40 tries in 25 s),
waits until each node's task has ended, reads what each printed (the service's logs, by task),
and removes the service. Used by course_data.py and accounts/swarm_homes.py.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import docker
from docker.types import ServiceMode

#: Task states after which a task runs no more (Swarm's names).
DONE_STATES = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}
POLL_S = 1.0
#: How long a new global service may have no task before no node is taken to match it.
NO_NODE_S = 10.0


class JobError(RuntimeError):
    """The work could not run on every node; the message says what to do."""


@dataclass
class NodeResult:
    """One node's task: where it ran, how it ended, what it printed."""

    node: str
    state: str
    exit_code: int
    error: str = ""
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "complete" and self.exit_code == 0


def global_once(**service: Any) -> dict[str, Any]:
    """``create_service`` keyword arguments of a once-per-node service: *service* in global mode."""
    return {**service, "mode": ServiceMode("global")}


def run_on_every_node(client: docker.DockerClient, spec: dict[str, Any], timeout: float,
                      what: str, every_node: bool = False) -> list[NodeResult]:
    """Run the service *spec* (``create_service`` keyword arguments, :func:`global_once`) to its
    end on every node it may run on; each node's result, in hostname order. A task on a node that
    is down counts as ended (state "node down"), so a lost node does not hold the work up. With
    *every_node*, a node that is down or drained and ran no task is a result too (state "not
    reached"): work that must not miss a node's files (accounts/swarm_homes.py) fails for it."""
    try:
        for service in client.api.services(filters={"name": spec["name"]}):
            if service["Spec"]["Name"] == spec["name"]:  # a run cut short earlier: over or no longer wanted
                client.api.remove_service(service["ID"])
        service_id = client.api.create_service(**spec)["ID"]
    except docker.errors.APIError as error:
        raise JobError(f"cannot create the {what} service on the Swarm: {error.explanation or error}") from None
    constraints = constraints_of(spec)
    try:
        started = time.monotonic()
        while True:
            tasks = client.api.tasks(filters={"service": service_id})
            desired = (client.api.services(filters={"id": service_id}, status=True) or [{}])[0] \
                .get("ServiceStatus", {}).get("DesiredTasks", 0)
            nodes = client.api.nodes()
            down = {n["ID"] for n in nodes if (n.get("Status") or {}).get("State") != "ready"}
            if tasks and len(tasks) >= desired and all(t["Status"]["State"] in DONE_STATES or t.get("NodeID") in down
                                                       for t in tasks):
                return _results(client, service_id, tasks, nodes, every_node, constraints)
            waited = time.monotonic() - started
            if waited > timeout:
                raise TimedOut(f"{what} did not finish on every node within {timeout:.0f} s (stopped)",
                               _results(client, service_id, tasks, nodes, every_node, constraints))
            if not tasks and not desired and waited > NO_NODE_S:
                # Every node that may run servers down or drained: each is a result of its own.
                unreached = _results(client, service_id, [], nodes, every_node, constraints)
                if unreached:
                    return unreached
                raise JobError(f"no node may run servers ({_constraints(spec)}): nothing to {what}")
            time.sleep(POLL_S)
    finally:
        client.api.remove_service(service_id)


class TimedOut(JobError):
    """Not every node finished in time; ``results`` holds what had ended (and what had not)."""

    def __init__(self, message: str, results: list[NodeResult]) -> None:
        super().__init__(message)
        self.results = results


def constraints_of(spec: dict[str, Any]) -> list[str]:
    return ((spec.get("task_template") or {}).get("Placement") or {}).get("Constraints") or []


def _constraints(spec: dict[str, Any]) -> str:
    return ", ".join(constraints_of(spec)) or "no constraints"


def _placement(constraints: list[str]) -> list[tuple[str, bool, str]]:
    """Swarm's constraint expressions (``attribute==value``, ``attribute!=value``) as (attribute,
    whether equal is wanted, value)."""
    parsed = []
    for expression in constraints:
        equal = "==" in expression
        attribute, _, value = expression.partition("==" if equal else "!=")
        parsed.append((attribute.strip(), equal, value.strip()))
    return parsed


def may_run(node: dict[str, Any], constraints: list[tuple[str, bool, str]]) -> bool:
    """Whether the service's placement constraints let *node* run a task, compared as Swarm does
    (case-insensitive, on the node's id, hostname, role, platform and node or engine labels).
    A drained node that no constraint allows is not one the work could miss: an admin who drains
    a manager that runs no servers can still remove accounts. An attribute this does not know
    counts as a match, so an unknown constraint never hides a node that holds homes."""
    description = node.get("Description") or {}
    known = {
        "node.id": node.get("ID", ""),
        "node.hostname": description.get("Hostname", ""),
        "node.role": (node.get("Spec") or {}).get("Role", ""),
        "node.platform.os": (description.get("Platform") or {}).get("OS", ""),
        "node.platform.arch": (description.get("Platform") or {}).get("Architecture", ""),
    }
    for attribute, equal, value in constraints:
        if attribute in known:
            actual: Any = known[attribute]
        elif attribute.startswith("node.labels."):
            actual = ((node.get("Spec") or {}).get("Labels") or {}).get(attribute[len("node.labels."):])
        elif attribute.startswith("engine.labels."):
            actual = ((description.get("Engine") or {}).get("Labels") or {}).get(attribute[len("engine.labels."):])
        else:
            continue
        matches = actual is not None and actual.lower() == value.lower()
        if matches != equal:
            return False
    return True


#: A node's availability as a reason it ran no task ("active" is none).
AVAILABILITY_WORDS = {"active": "", "drain": "drained", "pause": "paused"}


def _results(client: docker.DockerClient, service_id: str, tasks: list[dict], nodes: list[dict],
             every_node: bool, constraints: list[str]) -> list[NodeResult]:
    names = {n["ID"]: n["Description"]["Hostname"] for n in nodes}
    down = {n["ID"]: n["Status"].get("State", "unknown") for n in nodes if n["Status"].get("State") != "ready"}
    lines: dict[str, list[str]] = {}
    raw = client.api.service_logs(service_id, stdout=True, stderr=True, details=True, follow=False)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else "".join(
        chunk.decode("utf-8", "replace") for chunk in raw)
    for line in text.splitlines():
        attrs, _, message = line.partition(" ")
        task_id = dict(kv.split("=", 1) for kv in attrs.split(",") if "=" in kv).get("com.docker.swarm.task.id", "")
        lines.setdefault(task_id, []).append(message)
    results = []
    for task in tasks:
        node_id = task.get("NodeID", "")
        status = task["Status"]
        code = (status.get("ContainerStatus") or {}).get("ExitCode") or 0
        state, error = status["State"], status.get("Err") or ""
        if state not in DONE_STATES and node_id in down:
            state, error = "node down", f"the node is {down[node_id]}"
        if state != "complete":
            code = code or 1  # rejected (e.g. a bind source missing there) or never ran: a failure too
        results.append(NodeResult(node=names.get(node_id, node_id or "?"), state=state, exit_code=code,
                                  error=error, lines=lines.get(task["ID"], [])))
    if every_node:
        ran = {t.get("NodeID") for t in tasks}
        allowed = _placement(constraints)
        for node in (n for n in nodes if may_run(n, allowed)):
            availability = (node.get("Spec") or {}).get("Availability", "active")
            problem = down.get(node["ID"]) or AVAILABILITY_WORDS.get(availability, availability)
            if node["ID"] not in ran and problem:
                results.append(NodeResult(node=names[node["ID"]], state="not reached", exit_code=1,
                                          error=f"the node is {problem}"))
    return sorted(results, key=lambda r: r.node)
