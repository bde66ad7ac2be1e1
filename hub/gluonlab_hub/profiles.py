"""Server profiles: the kinds of server an attendee may start (CPU seat, whole GPUs, a MIG slice).

The admin lists them in a YAML file (GLUONLAB_PROFILES_FILE), validated once when the hub starts;
a mistake stops the hub with the file's line and the field named. Without a file there is one
profile built from the settings (the image, limits and GPU policy of a single-variant lab), no
choice is shown and a spawn starts at once, as before profiles existed.

    profiles:
      - name: cpu
        display_name: {zh: CPU 座位, en: CPU seat}
        variant: cpu                 # image gluonlab/notebook:<variant>
      - name: mig-small
        display_name: {zh: GPU 切片 (1g.10gb), en: GPU slice (1g.10gb)}
        variant: ngc
        gpu: 1g.10gb                 # none | N whole GPUs | one MIG slice of this profile
        cpu_limit: 2
        mem_limit: 8G
        groups: [students]           # JupyterHub groups that may use it (empty: everyone)
        idle_gpu_minutes: 20         # stop the server after this long at 0 % GPU (0: never)
    idle_gpu_exempt_groups: [instructors]

The schema is pydantic (like the settings); the loader keeps each YAML node's line so that a
validation error reads ``profiles.yml line 9, profiles[1].gpu: ...``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["GpuRequest", "Profile", "ProfileSet", "ProfilesError", "ProfileRefused", "load", "parse"]

import jinja2
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .gpus import GpuRequest
from .settings import VARIANTS, Settings, notebook_image_for

_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"
_SIZE = r"^\d+(\.\d+)?[kKmMgG]?$"
#: The profile a lab without a profiles file has.
DEFAULT_PROFILE = "default"
#: Default minutes at 0 % GPU before a GPU server is stopped (per profile: idle_gpu_minutes).
IDLE_GPU_MINUTES = 20


class ProfilesError(ValueError):
    """The profiles file cannot be used; the message names the file, line and field."""


class ProfileRefused(ValueError):
    """A user asked for a profile they may not use (or that does not exist); ``str()`` is for them."""


class DisplayName(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    zh: str = Field(min_length=1, max_length=80)
    en: str = Field(min_length=1, max_length=80)


class Profile(BaseModel):
    """One kind of server. Unset image/limits are the settings' (filled by :func:`load`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True,
                              arbitrary_types_allowed=True)
    name: str = Field(pattern=_NAME)
    display_name: DisplayName
    variant: Literal[VARIANTS] | None = None
    gpu: GpuRequest = GpuRequest()
    cpu_limit: float | None = Field(None, gt=0)
    mem_limit: str | None = Field(None, pattern=_SIZE)
    groups: tuple[str, ...] = ()
    idle_gpu_minutes: int = Field(IDLE_GPU_MINUTES, ge=0)
    #: Filled from the variant (or the settings' image): never written in the file.
    image: str = Field("", exclude=True)

    @field_validator("gpu", mode="before")
    @classmethod
    def _gpu(cls, value: Any) -> GpuRequest:
        return GpuRequest.parse(value)

    @field_validator("image", mode="before")
    @classmethod
    def _no_image(cls, value: Any) -> Any:
        if value:
            raise ValueError("choose the image with variant: (cpu, cu117, ngc, cu80); an image name is not accepted")
        return value

    def label(self) -> str:
        return f"{self.display_name.zh} / {self.display_name.en}"

    def allows(self, groups: Iterable[str]) -> bool:
        return not self.groups or bool(set(self.groups) & set(groups))


class ProfilesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    profiles: list[Profile] = Field(min_length=1)
    idle_gpu_exempt_groups: tuple[str, ...] = ("instructors",)


@dataclass(frozen=True)
class ProfileSet:
    """The hub's profiles, in the file's order (the first is the default choice)."""

    profiles: tuple[Profile, ...]
    idle_gpu_exempt_groups: tuple[str, ...] = ()
    from_file: bool = False

    def names(self) -> list[str]:
        return [p.name for p in self.profiles]

    def get(self, name: str) -> Profile:
        for profile in self.profiles:
            if profile.name == name:
                return profile
        raise KeyError(name)

    def images(self) -> list[str]:
        """Every image a profile starts: DockerSpawner's allowed_images, nothing else."""
        return sorted({p.image for p in self.profiles})

    def for_groups(self, groups: Iterable[str]) -> list[Profile]:
        groups = list(groups)
        return [p for p in self.profiles if p.allows(groups)]

    def choose(self, name: str | None, groups: Iterable[str]) -> Profile:
        """The profile ``name`` (default: the first one the groups allow) if the groups allow it.

        Raises :class:`ProfileRefused` with a bilingual message for the attendee.
        """
        groups = list(groups)
        allowed = self.for_groups(groups)
        if name is None:
            if not allowed:
                raise ProfileRefused("没有可用的服务器类型，请联系讲师。/ No server profile is open to your groups; "
                                     "ask the instructor to add you to one.")
            return allowed[0]
        if name not in self.names():
            raise ProfileRefused(f"没有名为 {name!r} 的服务器类型。/ There is no server profile {name!r}; "
                                 f"choose one of: {', '.join(p.name for p in allowed) or 'none'}.")
        profile = self.get(name)
        if not profile.allows(groups):
            raise ProfileRefused(f"您所在的组不能使用 {name!r}。/ Profile {name!r} is not open to your groups "
                                 f"(it is for: {', '.join(profile.groups)}); choose one of: "
                                 f"{', '.join(p.name for p in allowed) or 'none'}.")
        return profile

    def idle_reclaim_minutes(self, profile: Profile, groups: Iterable[str]) -> int:
        """Minutes at 0 % GPU before this user's server is stopped; 0 = never."""
        if profile.gpu.kind == "none" or set(groups) & set(self.idle_gpu_exempt_groups):
            return 0
        return profile.idle_gpu_minutes


# ---------------------------------------------------------------------------- spawn form

#: Templates of the hub's own pages (the spawn form's profile choice, the admin GPU page).
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
_FORMS = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True)


def render_form(offered: Iterable[Profile], seats: Mapping[str, int | None], selected: str | None = None) -> str:
    """The spawn page's profile choice (templates/spawn_profiles.html): one radio button per
    profile with its free seats (None: no limit); full profiles cannot be chosen."""
    return _FORMS.get_template("spawn_profiles.html").render(profiles=list(offered), seats=seats, selected=selected)


# ------------------------------------------------------------------------------- loading


def default_profiles(settings: Settings) -> ProfileSet:
    """The one profile of a lab without a profiles file: the settings' image and limits, one GPU
    when a GPU policy is set (what the allocator gave every server before profiles), no idle
    GPU reclaim (the activity culler alone, as before)."""
    gpu = GpuRequest("whole", 1) if settings.gpu_policy != "none" else GpuRequest()
    profile = Profile(name=DEFAULT_PROFILE, display_name=DisplayName(zh="默认", en="Default"),
                      variant=settings.notebook_variant, gpu=gpu, cpu_limit=settings.cpu_limit,
                      mem_limit=settings.mem_limit, idle_gpu_minutes=0)
    return ProfileSet((profile.model_copy(update={"image": settings.notebook_image}),))


def load(settings: Settings) -> ProfileSet:
    """The hub's profiles: GLUONLAB_PROFILES_FILE if set, else :func:`default_profiles`."""
    if not settings.profiles_file:
        return default_profiles(settings)
    path = Path(settings.profiles_file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ProfilesError(f"GLUONLAB_PROFILES_FILE={str(path)!r} cannot be read ({error.strerror}); "
                            "mount the file into the hub container or unset the setting") from None
    return parse(text, settings, source=str(path))


def parse(text: str, settings: Settings, source: str = "profiles.yml") -> ProfileSet:
    """Validate a profiles file's text against the schema and the settings (see module doc)."""
    data, lines = _load_yaml(text, source)
    try:
        parsed = ProfilesFile.model_validate(data)
    except ValidationError as error:
        raise ProfilesError("\n".join(_located(e, lines, source) for e in error.errors())) from None
    problems = []
    resolved = []
    seen: set[str] = set()
    for n, profile in enumerate(parsed.profiles):
        if profile.name in seen:
            problems.append(f"{source} line {lines[('profiles', n, 'name')]}, profiles[{n}].name: profile name "
                            f"{profile.name!r} is used twice; names must be unique")
        seen.add(profile.name)
        where = f"{source} line {lines.get(('profiles', n, 'gpu'), lines.get(('profiles', n), 1))}, profiles[{n}].gpu"
        if profile.gpu.kind != "none" and settings.gpu_policy == "none":
            problems.append(f"{where}: profile {profile.name!r} asks for {profile.gpu.describe()} but "
                            "GLUONLAB_GPU_POLICY=none; set it to exclusive or shared")
        if profile.gpu.kind == "whole" and profile.gpu.count > 1 and settings.gpu_policy == "shared":
            problems.append(f"{where}: profile {profile.name!r} asks for {profile.gpu.count} GPUs, which the "
                            "shared policy cannot give; use 1 or GLUONLAB_GPU_POLICY=exclusive")
        variant = profile.variant or settings.notebook_variant
        image = settings.notebook_image if variant == settings.notebook_variant else notebook_image_for(variant)
        resolved.append(profile.model_copy(update={
            "variant": variant, "image": image,
            "cpu_limit": profile.cpu_limit if profile.cpu_limit is not None else settings.cpu_limit,
            "mem_limit": profile.mem_limit or settings.mem_limit}))
    if problems:
        raise ProfilesError("\n".join(problems))
    return ProfileSet(tuple(resolved), parsed.idle_gpu_exempt_groups, from_file=True)


def check_against_pool(found: ProfileSet, allocator: Any) -> None:
    """At hub start, after GPU discovery: every GPU profile can be served by this host's pool
    (``allocator``: the hub's GpuAllocator). Raises :class:`ProfilesError` naming the profile."""
    problems = []
    for profile in found.profiles:
        request = profile.gpu
        if request.kind == "mig" and request.mig_profile not in allocator.mig_profiles():
            have = ", ".join(allocator.mig_profiles()) or "none (no GPU in MIG mode with instances)"
            problems.append(f"profile {profile.name!r} asks for a MIG {request.mig_profile} slice, but this "
                            f"host's MIG slices are: {have}; use one of those (nvidia-smi -L lists them) or "
                            "GLUONLAB_GPUS=auto so that slices are discovered (or list its MIG- UUIDs there)")
        elif request.kind == "whole" and allocator.seats(request) == 0:
            problems.append(f"profile {profile.name!r} asks for {request.describe()}, but this host has "
                            f"{allocator.seats(GpuRequest('whole', 1))} whole GPU(s) to hand out "
                            "(GPUs in MIG mode are only handed out as slices)")
    if problems:
        raise ProfilesError("\n".join(problems))


def _located(error: dict[str, Any], lines: dict[tuple, int], source: str) -> str:
    loc = tuple(error["loc"])
    line = 1
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            line = lines[loc[:cut]]
            break
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field (a typo?); see the fields in README \"GPU profiles and MIG\""
    return f"{source} line {line}, {field}: {message}"


def _load_yaml(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    """The file's data, and the 1-based line of every key and list item by its path."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ProfilesError(f"{source}{line}: not valid YAML: {getattr(error, 'problem', None) or error}") from None
    if node is None:
        raise ProfilesError(f"{source}: the file is empty; list at least one profile under 'profiles:'")
    lines: dict[tuple, int] = {}
    constructor = yaml.SafeLoader("")

    def walk(n: yaml.Node, path: tuple) -> Any:
        lines.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in n.value:
                key = constructor.construct_object(key_node, deep=True)
                if key in out:
                    raise ProfilesError(f"{source} line {key_node.start_mark.line + 1}: key {key!r} appears twice "
                                        "in the same block; keep one")
                lines[path + (key,)] = key_node.start_mark.line + 1
                out[key] = walk(value_node, path + (key,))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [walk(item, path + (i,)) for i, item in enumerate(n.value)]
        return constructor.construct_object(n, deep=True)

    return walk(node, ()), lines
