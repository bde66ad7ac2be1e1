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


# --------------------------------------------------------------- the hub and the spawner
import asyncio  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import docker  # noqa: E402
from jupyterhub.objects import Hub  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from tornado import web  # noqa: E402
from traitlets.config import Config  # noqa: E402

from gluonlab_hub import gpus as g  # noqa: E402
from gluonlab_hub.hub_config import configure  # noqa: E402
from gluonlab_hub.spawner import LabDockerSpawner  # noqa: E402

MIG_UUID = "MIG-1e2d3c4b-5a69-5788-96a5-b4c3d2e1f00{}"
TWO_CPU = ("profiles:\n"
           "  - name: cpu\n    display_name: {zh: CPU 座位, en: CPU seat}\n"
           "  - name: big\n    display_name: {zh: 大, en: Big}\n    variant: cu117\n    cpu_limit: 4\n")


def workshop_pool() -> g.GpuAllocator:
    """The hand-made MIG host of tests/fixtures/gpu-host-mig: GPU 0 in slices, GPU 1 whole."""
    gpus = [g.Gpu("0", 0, mig_mode=True), g.Gpu("1", 1, name="NVIDIA H100 80GB HBM3")]
    gpus += [g.Gpu(MIG_UUID.format(n), n - 1, name="NVIDIA H100 80GB HBM3", mig_profile="1g.10gb", parent_index=0)
             for n in range(2, 4)]
    return g.GpuAllocator(gpus, policy="exclusive")


def spawner(name: str, groups: list[str], pool: g.GpuAllocator, found: p.ProfileSet) -> LabDockerSpawner:
    user = SimpleNamespace(name=name, id=1, url=f"/user/{name}/", escaped_name=name,
                           groups=[SimpleNamespace(name=x) for x in groups])
    return LabDockerSpawner(user=user, hub=Hub(), gpu_allocator=pool, profiles=found, prefix="gluonlab",
                            client_kwargs={"base_url": "unix:///nonexistent/docker.sock"})


def workshop() -> p.ProfileSet:
    return p.load(settings(GLUONLAB_PROFILES_FILE=str(WORKSHOP)))


def test_a_chosen_profile_sets_image_limits_and_takes_its_slice() -> None:
    pool = workshop_pool()
    ana = spawner("ana", ["students"], pool, workshop())
    ana.apply_profile({"profile": "mig-small"})
    assert (ana.image, ana.mem_limit, ana.cpu_limit) == ("gluonlab/notebook:ngc", 8 << 30, 2.0)
    with pytest.raises(docker.errors.DockerException):  # no engine: fails after allocating
        asyncio.run(ana.start())
    assert ana.gpu_ids == [MIG_UUID.format(2)] and pool.assignments() == {}  # a failed start gives it back
    created, _ = ana.lab_create_kwargs({"image": ana.image, "host_config": {}})
    assert created["labels"]["gluonlab.profile"] == "mig-small"
    assert created["labels"]["gluonlab.gpus"] == MIG_UUID.format(2)
    env = ana.get_env()
    assert env["GLUONLAB_GPU_DESCRIPTION"] == "MIG 1g.10gb slice 1 of GPU 0 (NVIDIA H100 80GB HBM3)"
    assert env["GLUONLAB_PROFILE"] == "GPU 切片 1g.10gb / GPU slice 1g.10gb"


def test_a_profiles_memory_takes_dockers_units_in_either_case(tmp_path) -> None:
    path = tmp_path / "profiles.yml"
    path.write_text("profiles:\n"
                    "  - name: small\n    display_name: {zh: 小, en: Small}\n    variant: cpu\n    mem_limit: 768m\n"
                    "  - name: big\n    display_name: {zh: 大, en: Big}\n    variant: cpu\n    mem_limit: 1.5G\n",
                    encoding="utf-8")
    found = p.load(settings(GLUONLAB_PROFILES_FILE=str(path)))
    seen = {}
    for name in ("small", "big"):
        server = spawner("bo", [], workshop_pool(), found)
        server.apply_profile({"profile": name})
        seen[name] = server.mem_limit
    assert seen == {"small": 768 << 20, "big": 3 << 29}


def test_a_forbidden_profile_or_an_image_is_refused_with_a_message() -> None:
    bo = spawner("bo", ["students"], workshop_pool(), workshop())
    with pytest.raises(web.HTTPError) as refused:
        bo.apply_profile({"profile": "whole-gpu"})
    assert refused.value.status_code == 403
    assert "Profile 'whole-gpu' is not open to your groups" in refused.value.log_message
    with pytest.raises(web.HTTPError) as image:
        bo.apply_profile({"profile": "cpu", "image": "evil/miner:latest"})
    assert image.value.status_code == 400 and "not accepted: image" in image.value.log_message
    bo.apply_profile({})  # no choice: the first profile the groups allow
    assert bo.profile.name == "cpu" and bo.gpu_request() == g.GpuRequest()


def test_the_spawn_form_offers_the_groups_profiles_with_free_seats() -> None:
    pool = workshop_pool()
    pool.allocate("someone", g.GpuRequest("mig", 1, "1g.10gb"))
    form = spawner("cy", ["students"], pool, workshop()).profiles_form()
    assert 'value="cpu"' in form and 'value="mig-small"' in form and 'value="whole-gpu"' not in form
    assert "GPU 切片 1g.10gb</strong> / GPU slice 1g.10gb" in form
    assert "空闲座位 / free seats: 1" in form and "不限座位 / open seats" in form
    pool.allocate("other", g.GpuRequest("mig", 1, "1g.10gb"))
    full = spawner("cy", ["students"], pool, workshop()).profiles_form()
    assert "已满 / full" in full and 'value="mig-small"\n           \n           disabled' in full
    # One profile open to the user: no form, the spawn starts at once.
    assert spawner("dee", [], pool, workshop()).profiles_form() == ""
    assert spawner("dee", [], pool, None).profiles_form() == ""
    # A remembered choice no longer open to the user: the form asks again instead of a refusal.
    stale = spawner("dee", [], pool, workshop())
    stale.user_options = {"profile": "mig-small"}
    assert 'value="cpu"' in stale.profiles_form()
    assert LabDockerSpawner(user=SimpleNamespace(name="x", groups=[])).options_from_form(
        {"profile": ["mig-small"]}) == {"profile": "mig-small"}


def configured(tmp_path, **env) -> Config:
    c = Config()
    configure(c, Settings.from_env({"GLUONLAB_STATE_DIR": str(tmp_path), **env}), registry=CollectorRegistry())
    return c


def test_the_hub_config_takes_the_profiles_and_only_their_images(tmp_path) -> None:
    path = tmp_path / "profiles.yml"
    path.write_text(TWO_CPU)
    c = configured(tmp_path, GLUONLAB_PROFILES_FILE=str(path))  # CPU only: no engine asked about GPUs
    assert c.LabDockerSpawner.profiles.names() == ["cpu", "big"]
    assert c.DockerSpawner.allowed_images == ["gluonlab/notebook:cpu", "gluonlab/notebook:cu117"]
    assert c.DockerSpawner.image == "gluonlab/notebook:cpu"
    # Without a file: no profiles trait (no form), the one image.
    plain = configured(tmp_path / "b", NOTEBOOK_VARIANT="cpu")
    assert "profiles" not in plain.LabDockerSpawner and plain.DockerSpawner.allowed_images == ["gluonlab/notebook:cpu"]


def test_a_profile_this_host_cannot_serve_stops_the_hub(tmp_path) -> None:
    listed = g.GpuAllocator([g.Gpu("0", 0)], policy="exclusive")  # GPUs listed by index: no MIG slices known
    with pytest.raises(p.ProfilesError, match=r"^profile 'mig-small' asks for a MIG 1g.10gb slice, but this "
                                              r"host's MIG slices are: none"):
        p.check_against_pool(workshop(), listed)
    only_slices = g.GpuAllocator([g.Gpu("0", 0, mig_mode=True), g.Gpu(MIG_UUID.format(2), 0, mig_profile="1g.10gb",
                                                                    parent_index=0)], policy="exclusive")
    with pytest.raises(p.ProfilesError, match="'whole-gpu' asks for 1 GPU, but this host has 0 whole GPU"):
        p.check_against_pool(workshop(), only_slices)
    p.check_against_pool(workshop(), workshop_pool())  # the MIG host serves every profile
    # The hub stops with the file's mistake before it asks the engine anything.
    bad = tmp_path / "bad.yml"
    bad.write_text("profiles:\n  - name: x\n    display_name: {zh: 甲, en: A}\n    gpus: 1\n")
    with pytest.raises(SystemExit, match=r"bad.yml line 4, profiles\[0\].gpus: unknown field"):
        configured(tmp_path, **GPU_ENV, GLUONLAB_PROFILES_FILE=str(bad))
