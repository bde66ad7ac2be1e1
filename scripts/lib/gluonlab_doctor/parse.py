"""Pure parsing and compatibility tables for the doctor's checks (no I/O, unit-tested).

Kept free of third-party imports and of syntax newer than Python 3.6, because the doctor
must run on whatever Python a user has on a broken laptop.
"""
import re
import xml.etree.ElementTree as ET

# ---------------------------------------------------------------------------------------------
# Versions


def parse_version(text):
    """'1.23.5' -> (1, 23, 5); '2.0.0rc1' -> (2, 0, 0); '580.159.04' -> (580, 159, 4).

    Only the leading numeric release is compared: pre/post tags do not matter for the
    thresholds the doctor uses (MXNet >= 1.9.1, numpy < 1.24, driver >= 450.80.02).
    Returns None when no leading number is found.
    """
    if text is None:
        return None
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", str(text))
    if not m:
        return None
    return tuple(int(p) for p in m.group(1).split("."))


def version_tuple_str(ver):
    return ".".join(str(p) for p in ver)


def driver_str(ver):
    """NVIDIA prints driver versions with two-digit patch levels: (515, 43, 4) -> '515.43.04'."""
    return ".".join([str(ver[0])] + ["%02d" % p for p in ver[1:]])


def version_lt(a, b):
    """a < b with missing components as zero: (1, 9) == (1, 9, 0)."""
    n = max(len(a), len(b))
    return tuple(a) + (0,) * (n - len(a)) < tuple(b) + (0,) * (n - len(b))


# ---------------------------------------------------------------------------------------------
# Python / numpy / pip facts for MXNet 1.9.1

# MXNet 1.9.1 wheels are py3-none, but they need numpy < 1.24 (np.bool and friends were
# removed in 1.24) and numpy 1.23.x ships wheels for CPython 3.8 to 3.11 only.
PYTHON_MIN = (3, 8)
PYTHON_MAX = (3, 11)
NUMPY_BELOW = (1, 24)
NUMPY_MIN = (1, 16)  # mxnet 1.9.1 setup.py: numpy>1.16.0,<2.0.0
NUMPY_PIN = "1.23.5"
# manylinux2014 tags (the tag of every MXNet 1.9.1 Linux wheel) are understood from pip 19.3.
PIP_MIN = (19, 3)


def python_supported(ver):
    """'ok' | 'too-old' | 'too-new' for a (major, minor[, micro]) tuple."""
    mm = tuple(ver[:2])
    if mm < PYTHON_MIN:
        return "too-old"
    if mm > PYTHON_MAX:
        return "too-new"
    return "ok"


_PIP_RE = re.compile(r"^pip (\S+) from (.+?) \(python (\d+\.\d+)\)\s*$")


def parse_pip_version(text):
    """'pip 23.2.1 from /x/site-packages/pip (python 3.11)' -> dict, or None if not pip."""
    for line in (text or "").splitlines():
        m = _PIP_RE.match(line.strip())
        if m:
            return {"version": m.group(1), "location": m.group(2), "python": m.group(3)}
    return None


def parse_conda_version(text):
    """'conda 24.11.3' -> '24.11.3'."""
    m = re.search(r"conda\s+(\d+(?:\.\d+)*)", text or "")
    return m.group(1) if m else None


def parse_env_file_name(text):
    """The top-level `name:` of a conda environment.yml (no YAML library needed for one key)."""
    for line in (text or "").splitlines():
        m = re.match(r"name\s*:\s*['\"]?([^'\"#\s]+)", line)
        if m:
            return m.group(1)
    return None


# ---------------------------------------------------------------------------------------------
# MXNet wheels, CUDA and GPU architectures

_CU_RE = re.compile(r"^mxnet-cu(\d+)", re.IGNORECASE)


def wheel_cuda(dist_name):
    """'mxnet-cu117' -> (11, 7); 'mxnet-cu80' -> (8, 0); 'mxnet-cu92mkl' -> (9, 2); CPU -> None."""
    m = _CU_RE.match(dist_name or "")
    if not m:
        return None
    digits = m.group(1)
    return (int(digits[:-1]), int(digits[-1]))


def parse_cuda_env(text):
    """NGC images set CUDA_VERSION=12.4.1 (or 12.4.1.003): -> (12, 4)."""
    ver = parse_version(text)
    if not ver or len(ver) < 2:
        return None
    return ver[:2]


# Architectures (compute capability * 10) compiled into the pip wheels, from MXNet's
# config/distribution/linux_cu*.cmake (MXNET_CUDA_ARCH; no +PTX entries, so no JIT fallback).
WHEEL_ARCHS = {
    # mxnet-cu80 (last release 1.5.0) was built with the Makefile default: SASS for every
    # arch CUDA 8's nvcc knows from KNOWN_CUDA_ARCHS, plus PTX of the newest (see WHEEL_PTX).
    (8, 0): (30, 35, 50, 52, 60, 61),
    (10, 2): (30, 50, 60, 70, 75),
    (11, 0): (50, 60, 70, 80),
    (11, 2): (50, 60, 70, 80, 86),
    (11, 7): (50, 60, 70, 80, 86),
    (11, 8): (50, 60, 70, 80, 86),
}

# Wheels that also carry PTX, which the driver JIT-compiles for newer GPUs (slow first start).
WHEEL_PTX = {(8, 0): 61}
# Wheel families whose last release (PyPI) is older than 1.9.1. The lab's legacy cu80 image
# uses mxnet-cu80 1.5.0 on purpose: Kepler to Pascal GPUs have nothing newer.
LEGACY_LAST = {"mxnet-cu75": (1, 2, 1), "mxnet-cu80": (1, 5, 0), "mxnet-cu90": (1, 6, 0),
               "mxnet-cu91": (1, 2, 1), "mxnet-cu92": (1, 7, 0), "mxnet-cu100": (1, 9, 0)}
LAB_LEGACY_WHEEL = "mxnet-cu80"

# Minimum Linux x86_64 driver that shipped with each toolkit (CUDA release notes, Table 3).
CUDA_GA_DRIVER = {
    (8, 0): (375, 26), (9, 0): (384, 81), (9, 1): (390, 46), (9, 2): (396, 26),
    (10, 0): (410, 48), (10, 1): (418, 39), (10, 2): (440, 33),
    (11, 0): (450, 36, 6), (11, 1): (455, 23), (11, 2): (460, 27, 3), (11, 3): (465, 19, 1),
    (11, 4): (470, 42, 1), (11, 5): (495, 29, 5), (11, 6): (510, 39, 1), (11, 7): (515, 43, 4),
    (11, 8): (520, 61, 5),
    (12, 0): (525, 60, 13), (12, 1): (530, 30, 2), (12, 2): (535, 54, 3), (12, 3): (545, 23, 6),
    (12, 4): (550, 54, 14), (12, 5): (555, 42, 2), (12, 6): (560, 28, 3), (12, 8): (570, 26),
    (12, 9): (575, 51, 3), (13, 0): (580, 65, 6),
}
# CUDA minor version compatibility (CUDA 11+): any driver of the major family's first
# release runs newer minors of that family, with a limited feature set (no PTX JIT).
CUDA_FAMILY_MIN_DRIVER = {11: (450, 80, 2), 12: (525, 60, 13), 13: (580, 65, 6)}


def driver_supports(cuda, driver):
    """Does an NVIDIA driver run code built with CUDA `cuda` ((major, minor))?

    Returns (verdict, needed) where verdict is 'ok' (driver >= the toolkit's own driver),
    'minor-compat' (works through minor version compatibility), 'too-old' or 'unknown'.
    `needed` is the driver version that gives full support (tuple) or None.
    """
    cuda = tuple(cuda[:2])
    ga = CUDA_GA_DRIVER.get(cuda)
    if ga is None:
        # An unlisted minor: fall back to the newest listed minor below it.
        lower = [k for k in CUDA_GA_DRIVER if k[0] == cuda[0] and k < cuda]
        ga = CUDA_GA_DRIVER[max(lower)] if lower else None
    if ga is None or driver is None:
        return "unknown", ga
    if not version_lt(driver, ga):
        return "ok", ga
    family_min = CUDA_FAMILY_MIN_DRIVER.get(cuda[0])
    if family_min is not None and not version_lt(driver, family_min):
        return "minor-compat", ga
    return "too-old", ga


def driver_max_cuda(driver):
    """The newest CUDA (major, minor) a driver fully supports, from the GA table."""
    best = None
    for cuda, ga in sorted(CUDA_GA_DRIVER.items()):
        if not version_lt(driver, ga):
            best = cuda
    return best


# Compute capability by marketing name, for drivers whose nvidia-smi has no compute_cap
# field (it appeared in R510). Ordered: the first matching pattern wins.
_CC_BY_NAME = [
    (r"\b(B200|B100|GB200)\b", 100),
    (r"\b(H100|H200|H800|H20|GH200)\b", 90),
    (r"\b(L4|L40S?|L20)\b|RTX 40\d\d|RTX \d000 Ada|RTX 4000 SFF Ada", 89),
    (r"\b(A100|A800|A30)\b", 80),
    (r"\b(A10G?|A16|A2|A40)\b|RTX 30\d\d|RTX A\d000", 86),
    (r"\bT4\b|RTX 20\d\d|GTX 16\d\d|Quadro RTX|TITAN RTX", 75),
    (r"\bV100\b|TITAN V", 70),
    (r"\bP100\b", 60),
    (r"\b(P40|P4|P6)\b|GTX 10\d\d|TITAN Xp|TITAN X \(Pascal\)", 61),
    (r"\b(M60|M40|M6)\b|GTX 9\d\d|TITAN X\b", 52),
    (r"\bK80\b", 37),
    (r"\b(K40|K20X?)\b|TITAN Black", 35),
]


def compute_capability_from_name(name):
    """'NVIDIA H100 80GB HBM3' -> 90; unknown -> None."""
    for pattern, cc in _CC_BY_NAME:
        if re.search(pattern, name or ""):
            return cc
    return None


def parse_compute_cap(text):
    """'9.0' (nvidia-smi --query-gpu=compute_cap) -> 90."""
    m = re.match(r"\s*(\d+)\.(\d+)", text or "")
    return int(m.group(1)) * 10 + int(m.group(2)) if m else None


ARCH_NAMES = {3: "Kepler", 5: "Maxwell", 6: "Pascal", 7: "Volta/Turing", 8: "Ampere/Ada",
              9: "Hopper", 10: "Blackwell", 12: "Blackwell"}


def arch_name(cc):
    if cc is None:
        return "unknown"
    if cc == 75:
        return "Turing"
    if cc == 89:
        return "Ada"
    return ARCH_NAMES.get(cc // 10, "sm_%d" % cc)


def arch_supported(cc, archs, ptx=None):
    """Can a GPU of compute capability `cc` run a wheel built for `archs` (SASS) + `ptx`?

    'yes': SASS of the same major with a minor <= the GPU's (cubin compatibility);
    'ptx': no such SASS, but PTX of an older arch that the driver can JIT-compile;
    'no' | 'unknown'.
    """
    if cc is None or archs is None:
        return "unknown"
    for a in archs:
        if a // 10 == cc // 10 and a % 10 <= cc % 10:
            return "yes"
    if ptx is not None and cc >= ptx:
        return "ptx"
    return "no"


# ---------------------------------------------------------------------------------------------
# nvidia-smi outputs

QUERY_FIELDS = ("index", "uuid", "name", "memory.total", "memory.used", "utilization.gpu",
                "driver_version")


def _strip_unit(value):
    return re.sub(r"\s*(MiB|%|W)$", "", value.strip())


def parse_query_gpu(text, fields=QUERY_FIELDS):
    """Rows of `nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]` as dicts.

    With a header the field names come from it (units like ' [MiB]' dropped); without one,
    `fields` names the columns. Values lose their units ('81559 MiB' -> '81559').
    """
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    if not lines:
        return []
    names = list(fields)
    first = [c.strip() for c in lines[0].split(",")]
    if first and (first[0] == "index" or any("[" in c for c in first) or first == names):
        names = [re.sub(r"\s*\[.*\]$", "", c) for c in first]
        lines = lines[1:]
    rows = []
    for line in lines:
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(names):
            raise ValueError("nvidia-smi CSV row has %d fields, expected %d: %r"
                             % (len(cells), len(names), line))
        rows.append({n: _strip_unit(v) for n, v in zip(names, cells)})
    return rows


_BANNER_RE = re.compile(r"Driver Version:\s*(\S+)\s+CUDA Version:\s*(\S+)")


def parse_smi_banner(text):
    """Plain `nvidia-smi`: {'driver_version': '580.159.04', 'cuda_version': '13.0'} or None.

    'CUDA Version' there is the newest CUDA the *driver* supports, not an installed toolkit.
    """
    m = _BANNER_RE.search(text or "")
    if not m:
        return None
    return {"driver_version": m.group(1), "cuda_version": m.group(2)}


def parse_smi_list(text):
    """`nvidia-smi -L` -> [{'index': '0', 'name': ..., 'uuid': ...}]."""
    out = []
    for line in (text or "").splitlines():
        m = re.match(r"GPU (\d+): (.+?) \(UUID: ([^)]+)\)", line.strip())
        if m:
            out.append({"index": m.group(1), "name": m.group(2), "uuid": m.group(3)})
    return out


def parse_smi_xml(text):
    """`nvidia-smi -q -x` -> {'driver_version', 'cuda_version', 'gpus': [...]}."""
    root = ET.fromstring(text)

    def txt(node, path):
        found = node.find(path)
        return found.text.strip() if found is not None and found.text else None

    gpus = []
    for i, gpu in enumerate(root.findall("gpu")):
        total = txt(gpu, "fb_memory_usage/total")
        gpus.append({
            "index": txt(gpu, "minor_number") or str(i),
            "name": txt(gpu, "product_name"),
            "architecture": txt(gpu, "product_architecture"),
            "uuid": txt(gpu, "uuid"),
            "memory.total": _strip_unit(total) if total else None,
            "pci.bus_id": gpu.get("id"),
        })
    return {"driver_version": txt(root, "driver_version"),
            "cuda_version": txt(root, "cuda_version"), "gpus": gpus}


def classify_smi_failure(output, returncode):
    """Map a failing nvidia-smi to a cause key used by the doctor's messages."""
    text = output or ""
    if "Driver/library version mismatch" in text:
        return "version-mismatch"
    if "couldn't communicate with the NVIDIA driver" in text or returncode == 9:
        return "no-driver"
    if "No devices were found" in text or returncode == 6:
        return "no-devices"
    if "Insufficient Permissions" in text or returncode == 4:
        return "permissions"
    return "other"


# ---------------------------------------------------------------------------------------------
# Error texts from mxnet imports and Docker


def classify_import_error(text):
    """Map the text of a failed `import mxnet` to a cause key."""
    t = text or ""
    if "No module named 'mxnet'" in t or 'No module named "mxnet"' in t or "No module named mxnet" in t:
        return "missing"
    if "libcuda.so" in t:
        return "no-cuda-driver"
    if re.search(r"lib(cudart|cublas|cudnn|nccl|nvrtc|cufft|curand|cusolver)", t):
        return "cuda-libs"
    if "libgomp" in t or "libquadmath" in t or "libgfortran" in t:
        return "system-libs"
    if re.search(r"numpy.*has no attribute '(bool|int|float|object)'", t, re.S) or \
            "np.bool" in t:
        return "numpy-too-new"
    if "No module named 'numpy'" in t:
        return "numpy-missing"
    return "other"


def classify_docker_error(text):
    t = text or ""
    if "permission denied" in t and "docker.sock" in t:
        return "permission"
    if "Cannot connect to the Docker daemon" in t or "Is the docker daemon running" in t:
        return "daemon-down"
    if 'could not select device driver "" with capabilities: [[gpu]]' in t:
        return "no-toolkit"
    if "nvidia-container-cli" in t or "nvidia-container-runtime-hook" in t:
        return "toolkit-error"
    if "No such image" in t or "Unable to find image" in t or "pull access denied" in t:
        return "no-image"
    return "other"
