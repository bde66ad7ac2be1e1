"""Shared course data, hub side: the read-only mount in user servers, the setting's checks, and
the fill/check container gluonlab-course-data runs (built without an engine; the real run is
tests/integration/test_course_data_stack.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from traitlets.config import Config

from gluonlab_hub import course_data
from gluonlab_hub.hub_config import configure
from gluonlab_hub.settings import Settings, SettingsError

REPO = Path(__file__).resolve().parents[2]


def settings(**env) -> Settings:
    return Settings.from_env({"GLUONLAB_INSTANCE": "lab1", **env})


def volumes(tmp_path, **env) -> dict:
    c = Config()
    configure(c, Settings.from_env({"GLUONLAB_STATE_DIR": str(tmp_path), "GLUONLAB_INSTANCE": "lab1", **env}),
              registry=CollectorRegistry())
    return c.DockerSpawner.volumes


def test_course_data_is_off_by_default_and_mounted_read_only_when_named(tmp_path):
    assert volumes(tmp_path) == {"lab1-home-{username}": "/home/jovyan"}
    assert volumes(tmp_path, GLUONLAB_COURSE_DATA_VOLUME="room-data") == {
        "lab1-home-{username}": "/home/jovyan",
        "room-data": {"bind": "/opt/gluonlab/course-data", "mode": "ro"},
    }


def test_the_mount_is_where_the_tutorials_look_first():
    sys.path.insert(0, str(REPO / "content"))
    try:
        import datasets
    finally:
        sys.path.remove(str(REPO / "content"))
    assert datasets.COURSE_DATA_DIR == course_data.COURSE_DATA_MOUNT


@pytest.mark.parametrize("value", ["a", "-data", "room data", "data/x"])
def test_a_bad_volume_name_is_refused_with_the_fix(value):
    with pytest.raises(SettingsError) as e:
        settings(GLUONLAB_COURSE_DATA_VOLUME=value)
    assert f"GLUONLAB_COURSE_DATA_VOLUME={value!r} is not valid: use a Docker volume name" in str(e.value)


def test_fill_downloads_on_the_default_bridge_with_the_mirror():
    spec = course_data.container_spec(settings(GLUONLAB_COURSE_DATA_VOLUME="room-data",
                                               MXNET_GLUON_REPO="https://mirror.example/mxnet/"), "fill")
    assert spec["command"] == ["python3", "/opt/gluonlab/content/datasets.py", "--all", "--dest",
                               "/opt/gluonlab/course-data"]
    assert spec["network_mode"] == "bridge" and spec["image"] == "gluonlab/notebook:cpu"
    assert spec["environment"]["MXNET_GLUON_REPO"] == "https://mirror.example/mxnet/"
    assert [(m["Target"], m["Source"], m["Type"], m["ReadOnly"]) for m in spec["mounts"]] == [
        ("/opt/gluonlab/course-data", "room-data", "volume", False)]
    assert spec["user"] == "0" and spec["cap_drop"] == ["ALL"] and spec["security_opt"] == ["no-new-privileges"]


def test_fill_from_a_folder_has_no_network_and_reads_the_folder_only():
    spec = course_data.container_spec(settings(GLUONLAB_COURSE_DATA_VOLUME="room-data"), "fill", "/srv/usb")
    assert spec["network_mode"] == "none"
    assert spec["command"][-2:] == ["--from", "/srv/from"]
    assert [(m["Target"], m["Source"], m["Type"], m["ReadOnly"]) for m in spec["mounts"]] == [
        ("/opt/gluonlab/course-data", "room-data", "volume", False), ("/srv/from", "/srv/usb", "bind", True)]


def test_check_mounts_the_volume_read_only_without_network():
    spec = course_data.container_spec(settings(GLUONLAB_COURSE_DATA_VOLUME="room-data"), "check")
    assert spec["command"][2:4] == ["--check", "--dest"] and spec["network_mode"] == "none"
    assert [m["ReadOnly"] for m in spec["mounts"]] == [True]


def test_command_line_says_what_to_set_before_touching_docker(monkeypatch, capsys):
    monkeypatch.delenv("GLUONLAB_COURSE_DATA_VOLUME", raising=False)
    assert course_data.main(["fill"]) == 2
    assert "GLUONLAB_COURSE_DATA_VOLUME is empty: set it" in capsys.readouterr().err
    monkeypatch.setenv("GLUONLAB_COURSE_DATA_VOLUME", "room-data")
    assert course_data.main(["fill", "--from", "usb/data"]) == 2
    assert "--from usb/data: give an absolute path" in capsys.readouterr().err
    monkeypatch.setenv("GLUONLAB_COURSE_DATA_VOLUME", "x")
    assert course_data.main(["check"]) == 2
    assert "GLUONLAB_COURSE_DATA_VOLUME='x' is not valid" in capsys.readouterr().err


SWARM = {"GLUONLAB_SPAWNER_BACKEND": "swarm", "GLUONLAB_GPU_POLICY": "none"}


def test_on_swarm_the_same_work_runs_once_on_every_node_that_runs_servers():
    spec = course_data.job_spec(settings(GLUONLAB_COURSE_DATA_VOLUME="room-data",
                                         GLUONLAB_SWARM_CONSTRAINTS="node.role==worker,node.labels.gpu==1", **SWARM),
                                "fill", "/srv/usb")
    one = course_data.container_spec(settings(GLUONLAB_COURSE_DATA_VOLUME="room-data"), "fill", "/srv/usb")
    assert spec["name"] == "lab1-course-data-fill" and spec["mode"] == {"global": {}}
    template = spec["task_template"]
    assert template["Placement"]["Constraints"] == ["node.role==worker", "node.labels.gpu==1"]
    # Once per node: a failed node is reported, not retried (a Swarm job would retry it forever).
    assert template["RestartPolicy"]["Condition"] == "none"
    container = template["ContainerSpec"]
    assert container["Command"] == one["command"] and container["User"] == "0"
    assert container["CapabilityDrop"] == ["ALL"]
    assert [(m["Target"], m["Source"], m["Type"], m["ReadOnly"]) for m in container["Mounts"]] == [
        ("/opt/gluonlab/course-data", "room-data", "volume", False), ("/srv/from", "/srv/usb", "bind", True)]
    # The volume a node creates for it carries the same labels as the single host's.
    assert container["Mounts"][0]["VolumeOptions"]["Labels"] == {"org.gluonlab.role": "course-data",
                                                                 "org.gluonlab.instance": "lab1"}


def test_on_swarm_servers_mount_their_nodes_copy_read_only():
    from gluonlab_hub import swarm_spawner

    # (hub_config's wiring of the setting: tests/unit/test_swarm_spawner.py)
    kwargs = swarm_spawner.service_create_kwargs(
        name="lab1-alice", image="img", args=["x"], env={}, labels={}, home_volume="lab1-home-alice",
        home_dir="/home/jovyan", network="lab1", mem_limit=None, cpu_limit=None, pids_limit=10, shm_size="64m",
        constraints=[], gpu_resource="NVIDIA-GPU", want_gpu=False, course_data_volume="room-data")
    mounts = {m["Target"]: m for m in kwargs["task_template"]["ContainerSpec"]["Mounts"]}
    data = mounts["/opt/gluonlab/course-data"]
    assert (data["Source"], data["Type"], data["ReadOnly"], data["VolumeOptions"]["NoCopy"]) == (
        "room-data", "volume", True, True)
