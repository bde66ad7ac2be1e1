"""The profiles file (hub/gluonlab_hub/profiles.py): schema, errors with line and field, the
default profile that reproduces a lab without a file, and who may use which profile."""
from __future__ import annotations

from pathlib import Path

import pytest

from gluonlab_hub import profiles as p
from gluonlab_hub.settings import Settings

WORKSHOP = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "workshop.yml"
GPU_ENV = {"GLUONLAB_GPU_POLICY": "exclusive", "NOTEBOOK_VARIANT": "ngc", "GLUONLAB_GPUS": "0"}


def settings(**env: str) -> Settings:
    return Settings.from_env({**GPU_ENV, **env})


def test_without_a_file_one_profile_reproduces_the_settings() -> None:
    s = Settings.from_env({"GLUONLAB_MEM_LIMIT": "6G", "GLUONLAB_NOTEBOOK_IMAGE": "example/lab:1"})
    only = p.load(s)
    assert not only.from_file and only.names() == ["default"]
    [profile] = only.profiles
    assert (profile.image, profile.mem_limit, profile.cpu_limit) == ("example/lab:1", "6G", s.cpu_limit)
    assert profile.gpu == p.GpuRequest() and profile.idle_gpu_minutes == 0
    assert only.images() == ["example/lab:1"]
    # With a GPU policy the one profile takes one GPU, as every server did before profiles.
    assert p.load(settings()).profiles[0].gpu == p.GpuRequest("whole", 1)


def test_the_workshop_file_loads_with_images_limits_and_groups(tmp_path) -> None:
    found = p.load(settings(GLUONLAB_PROFILES_FILE=str(WORKSHOP)))
    assert found.from_file and found.names() == ["cpu", "mig-small", "whole-gpu"]
    cpu, mig, whole = found.profiles
    assert (cpu.image, cpu.gpu.kind, cpu.groups) == ("gluonlab/notebook:cpu", "none", ())
    assert (mig.image, mig.gpu, mig.cpu_limit, mig.mem_limit) == (
        "gluonlab/notebook:ngc", p.GpuRequest("mig", 1, "1g.10gb"), 2.0, "8G")
    assert whole.gpu == p.GpuRequest("whole", 1)
    assert found.images() == ["gluonlab/notebook:cpu", "gluonlab/notebook:ngc"]
    assert cpu.label() == "CPU 座位 / CPU seat"


def test_who_may_use_which_profile() -> None:
    found = p.load(settings(GLUONLAB_PROFILES_FILE=str(WORKSHOP)))
    assert [x.name for x in found.for_groups(["students"])] == ["cpu", "mig-small"]
    assert found.choose(None, []).name == "cpu"
    assert found.choose("mig-small", ["students"]).name == "mig-small"
    with pytest.raises(p.ProfileRefused, match=r"Profile 'whole-gpu' is not open to your groups \(it is for: "
                                               r"instructors\); choose one of: cpu, mig-small"):
        found.choose("whole-gpu", ["students"])
    with pytest.raises(p.ProfileRefused, match="There is no server profile 'huge'"):
        found.choose("huge", ["students"])


def test_idle_reclaim_minutes_per_profile_and_exempt_group() -> None:
    found = p.load(settings(GLUONLAB_PROFILES_FILE=str(WORKSHOP)))
    cpu, mig, whole = found.profiles
    assert found.idle_reclaim_minutes(mig, ["students"]) == p.IDLE_GPU_MINUTES == 20
    assert found.idle_reclaim_minutes(mig, ["students", "instructors"]) == 0
    assert found.idle_reclaim_minutes(cpu, []) == 0  # CPU seats: only the activity culler
    assert found.idle_reclaim_minutes(whole, ["instructors"]) == 0


@pytest.mark.parametrize("text, needle", [
    ("profiles:\n  - name: a\n    display_name: {zh: 甲, en: A}\n    gpu: 1g.10\n",
     "profiles.yml line 4, profiles[0].gpu: '1g.10' is not a GPU request"),
    ("profiles:\n  - name: a\n    display_name: {zh: 甲}\n",
     "profiles.yml line 3, profiles[0].display_name.en: Field required"),
    ("profiles:\n  - name: a\n    display_name: {zh: 甲, en: A}\n  - name: b\n    display_name: {zh: 乙, en: B}\n"
     "    memlimit: 4G\n", "profiles.yml line 6, profiles[1].memlimit: unknown field"),
    ("profiles:\n  - name: a\n    display_name: {zh: 甲, en: A}\n    variant: cu999\n",
     "profiles.yml line 4, profiles[0].variant: Input should be 'cpu', 'cu117', 'ngc' or 'cu80'"),
    ("profiles:\n  - name: a\n    display_name: {zh: 甲, en: A}\n    image: evil/miner\n",
     "profiles.yml line 4, profiles[0].image: choose the image with variant:"),
    ("profiles:\n  - name: a\n    name: b\n", "profiles.yml line 3: key 'name' appears twice"),
    ("profiles:\n  - name: a\n    display_name: {zh: 甲, en: A}\n  - name: a\n    display_name: {zh: 乙, en: B}\n",
     "profiles.yml line 4, profiles[1].name: profile name 'a' is used twice"),
    ("profiles: [\n", "profiles.yml line 2: not valid YAML"),
    ("", "profiles.yml: the file is empty"),
    ("profiles: []\n", "profiles.yml line 1, profiles: List should have at least 1 item"),
])
def test_mistakes_name_the_line_and_the_field(text, needle) -> None:
    with pytest.raises(p.ProfilesError) as error:
        p.parse(text, settings())
    assert needle in str(error.value)


def test_gpu_profiles_need_a_gpu_policy_and_shared_gives_one_gpu_each() -> None:
    text = "profiles:\n  - name: a\n    display_name: {zh: 甲, en: A}\n    gpu: 2\n"
    with pytest.raises(p.ProfilesError, match=r"line 4, profiles\[0\].gpu: profile 'a' asks for 2 GPUs but "
                                              "GLUONLAB_GPU_POLICY=none"):
        p.parse(text, Settings.from_env({}))
    with pytest.raises(p.ProfilesError, match="shared policy cannot give"):
        p.parse(text, settings(GLUONLAB_GPU_POLICY="shared"))


def test_an_unreadable_file_names_the_setting(tmp_path) -> None:
    with pytest.raises(p.ProfilesError, match=r"GLUONLAB_PROFILES_FILE='.*/missing.yml' cannot be read"):
        p.load(settings(GLUONLAB_PROFILES_FILE=str(tmp_path / "missing.yml")))


@pytest.mark.parametrize("value, want", [
    ("none", p.GpuRequest()), (0, p.GpuRequest()), (None, p.GpuRequest()), (2, p.GpuRequest("whole", 2)),
    ("3g.40gb", p.GpuRequest("mig", 1, "3g.40gb")), ("1g.10gb+me", p.GpuRequest("mig", 1, "1g.10gb+me")),
])
def test_gpu_requests(value, want) -> None:
    assert p.GpuRequest.parse(value) == want


@pytest.mark.parametrize("value", [True, -1, "gpu", "1g", "2.5"])
def test_bad_gpu_requests(value) -> None:
    with pytest.raises(ValueError):
        p.GpuRequest.parse(value)
