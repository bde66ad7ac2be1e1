"""Gluon Lab doctor: checks an install and prints PASS/WARN/FAIL with symptom, diagnosis, remedy.

Started by scripts/doctor.sh (which documents the options in --help). Runs with any Python
>= 3.6; the Python being *checked* (python3 on PATH, or --python) is probed in child
processes by doctor_probe.py, so a crash there becomes a FAIL line instead of a traceback.
Exit codes: 0 no FAIL, 1 at least one FAIL, 2 the doctor itself could not run.
"""
import argparse
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import doctor_parse as P  # noqa: E402  (needs the path above)

PROBE = os.path.join(HERE, "doctor_probe.py")
PROBE_MARK = "@@GLUONLAB-DOCTOR@@"
MIN_MXNET_DEFAULT = "1.9.1"
DEFAULT_GPU_IMAGE = "gluonlab/notebook:cpu"
NGC_HINT = {
    "zh": "改用 `ngc` 镜像变体 (image variant)：NOTEBOOK_VARIANT=ngc docker compose build (gluonlab/notebook:ngc)，其中的 MXNet 由 NVIDIA NGC 为 CUDA 12 构建，支持 Hopper (sm_90)",
    "en": "use the `ngc` image variant: NOTEBOOK_VARIANT=ngc docker compose build (gluonlab/notebook:ngc); its MXNet is NVIDIA's NGC build for CUDA 12, with Hopper (sm_90) kernels",
}
CU80_HINT = {
    "zh": "Kepler 到 Pascal 的 GPU 用 `cu80` 镜像变体 (legacy)：NOTEBOOK_VARIANT=cu80 docker compose build (mxnet-cu80 1.5.0)",
    "en": "for Kepler to Pascal GPUs use the legacy `cu80` image variant: NOTEBOOK_VARIANT=cu80 docker compose build (mxnet-cu80 1.5.0)",
}
CONDA_DIRS = ("~/miniconda3", "~/anaconda3", "~/miniforge3", "~/mambaforge", "/opt/conda",
              "/opt/miniconda3", "/opt/anaconda3")
TUNA_CONDA = "https://mirrors.tuna.tsinghua.edu.cn/anaconda/pkgs/main"
TUNA_PYPI = "https://pypi.tuna.tsinghua.edu.cn/simple"

LANG = "zh"


def tr(zh, en):
    """Pick the message for --lang. Chinese keeps English terms in parentheses on purpose:
    those are what users paste into search engines."""
    return zh if LANG == "zh" else en


class DoctorError(Exception):
    """The doctor itself cannot run (bad option value): exit code 2."""


# ---------------------------------------------------------------------------------------------
# Report


class Report(object):
    def __init__(self):
        self.checks = []
        self.skipped = []
        self.facts = {}

    def add(self, name, status, found, symptom=None, diagnosis=None, remedy=None):
        assert status in ("PASS", "WARN", "FAIL")
        self.checks.append({"name": name, "status": status, "found": found,
                            "symptom": symptom, "diagnosis": diagnosis,
                            "remedy": list(remedy or [])})

    def skip(self, name, why):
        self.skipped.append({"name": name, "why": why})

    def counts(self):
        c = {"PASS": 0, "WARN": 0, "FAIL": 0}
        for ch in self.checks:
            c[ch["status"]] += 1
        return c

    def exit_code(self):
        return 1 if self.counts()["FAIL"] else 0

    def text(self):
        lines = [tr("Gluon Lab doctor 自检 (self-check)", "Gluon Lab doctor (self-check)")]
        labels = (tr("症状 (symptom)", "symptom"), tr("诊断 (diagnosis)", "diagnosis"),
                  tr("处理 (remedy)", "remedy"))
        for ch in self.checks:
            lines.append("%-4s  %-13s %s" % (ch["status"], ch["name"], ch["found"]))
            if ch["status"] == "PASS":
                continue
            if ch["symptom"]:
                lines.append("      %s: %s" % (labels[0], ch["symptom"]))
            if ch["diagnosis"]:
                lines.append("      %s: %s" % (labels[1], ch["diagnosis"]))
            if ch["remedy"]:
                lines.append("      %s:" % labels[2])
                lines.extend("        %s" % r for r in ch["remedy"])
        c = self.counts()
        lines.append(tr("结果 (summary): %d PASS, %d WARN, %d FAIL",
                        "summary: %d PASS, %d WARN, %d FAIL") % (c["PASS"], c["WARN"], c["FAIL"]))
        return "\n".join(lines)

    def json(self):
        c = self.counts()
        return json.dumps({"tool": "gluonlab-doctor", "format": 1, "lang": LANG,
                           "summary": {"pass": c["PASS"], "warn": c["WARN"], "fail": c["FAIL"]},
                           "exit_code": self.exit_code(), "checks": self.checks,
                           "skipped": self.skipped, "facts": self.facts},
                          ensure_ascii=False, indent=2)


# ---------------------------------------------------------------------------------------------
# Running things


def run(cmd, timeout, env=None):
    """(returncode, combined output). 127 when the program is missing, 124 on timeout."""
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    except OSError as e:
        return 127, str(e)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        return 124, (out or b"").decode("utf-8", "replace") + "\n[timed out after %ss]" % timeout
    return p.returncode, (out or b"").decode("utf-8", "replace")


def first_line(text, limit=160):
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line[:limit]
    return ""


def last_line(text, limit=200):
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:limit] if lines else ""


def probe(python, part, timeout):
    """Run doctor_probe.py `part` with the checked Python: (data or None, raw output)."""
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    rc, out = run([python, "-B", PROBE, part], timeout, env=env)
    for line in reversed(out.splitlines()):
        if line.startswith(PROBE_MARK):
            try:
                return json.loads(line[len(PROBE_MARK):]), out
            except ValueError:
                break
    return None, "[exit %d] %s" % (rc, out)


def jupyter_python():
    """The Python that runs `jupyter lab`: the interpreter in its launcher's #! line.

    It can differ from python3 on PATH: the ngc image runs the server from /opt/venv
    (Python 3.11) while python3 is NGC's own Python with MXNet."""
    launcher = shutil.which("jupyter-lab")
    if not launcher:
        return None
    try:
        with open(launcher, "rb") as f:
            first = f.readline(300).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    interp = first[2:].strip().split()[0] if first[2:].strip() else ""
    if os.path.basename(interp) == "env" or not os.access(interp, os.X_OK):
        return None
    return interp


# ---------------------------------------------------------------------------------------------
# Checks


class Doctor(object):
    def __init__(self, args):
        self.a = args
        self.r = Report()
        self.where = args.where
        if self.where == "auto":
            in_lab = os.path.isdir("/opt/gluonlab/content") or bool(os.environ.get("GLUONLAB_VARIANT"))
            self.where = "container" if in_lab else "host" if shutil.which("docker") else "laptop"
        self.r.facts["where"] = self.where
        self.python = None
        self.base = None
        self.mx = None
        self.gpus = []
        self.smi_ok = False
        self.wheel = None        # name of the installed mxnet distribution
        self.wheel_cuda = None   # (major, minor) the mxnet build needs, None for CPU
        self.cuda_build = False

    def py_cmd(self):
        """How the remedy lines name the checked Python (absolute path: copy-paste safe)."""
        return self.python or "python3"

    # -- python -----------------------------------------------------------------------------
    def check_python(self):
        name = self.a.python or shutil.which("python3") or shutil.which("python")
        if self.a.python and os.sep not in self.a.python:
            name = shutil.which(self.a.python)
        if not name:
            self.r.add("python", "FAIL", tr("PATH 中没有 python3 / python", "no python3 / python on PATH"),
                       tr("终端提示 `python3: command not found`", "`python3: command not found`"),
                       tr("没有安装 Python，或其目录不在 PATH 中", "Python is not installed or not on PATH"),
                       [tr("安装 Miniconda 后: conda create -n gluon python=3.11",
                           "install Miniconda, then: conda create -n gluon python=3.11"),
                        tr("或 Debian/Ubuntu: sudo apt-get install python3 python3-venv",
                           "or on Debian/Ubuntu: sudo apt-get install python3 python3-venv")])
            return
        self.python = name
        data, raw = probe(name, "base", self.a.timeout)
        if data is None:
            self.r.add("python", "FAIL", tr("%s 无法运行检查脚本: %s", "%s cannot run the probe: %s") % (name, last_line(raw)),
                       tr("运行 python 即报错或退出", "python errors out or exits at start"),
                       tr("这个解释器损坏或版本过旧 (早于 2.7)", "this interpreter is broken or older than 2.7"),
                       [tr("用 conda 或 python.org 安装 Python 3.11", "install Python 3.11 with conda or from python.org")])
            return
        self.base = data
        py = data["python"]
        ver = tuple(py["version"])
        self.r.facts["python"] = py
        found = "Python %s (%s)" % (P.version_tuple_str(ver), py["executable"] or name)
        verdict = P.python_supported(ver)
        if verdict == "ok":
            self.r.add("python", "PASS", found)
            return
        rem = [tr("conda: conda create -n gluon python=3.11 && conda activate gluon",
                  "conda: conda create -n gluon python=3.11 && conda activate gluon"),
               tr("venv: python3.11 -m venv ~/gluon-venv && source ~/gluon-venv/bin/activate",
                  "venv: python3.11 -m venv ~/gluon-venv && source ~/gluon-venv/bin/activate"),
               tr("或直接用实验室的 Docker 镜像 (gluonlab/notebook)", "or use the lab's Docker image (gluonlab/notebook)")]
        if verdict == "too-new":
            self.r.add("python", "FAIL", found,
                       tr("pip install numpy==1.23.5 报 `No matching distribution` 或编译失败 (build failed)",
                          "pip install numpy==1.23.5 says `No matching distribution` or fails to build"),
                       tr("MXNet 1.9.1 需要 numpy < 1.24，而 numpy 1.23 只有 Python 3.8–3.11 的 wheel；Python %d.%d 太新"
                          % ver[:2],
                          "MXNet 1.9.1 needs numpy < 1.24, and numpy 1.23 ships wheels for Python 3.8-3.11 only; "
                          "Python %d.%d is too new" % ver[:2]), rem)
        else:
            self.r.add("python", "FAIL", found,
                       tr("安装 numpy/mxnet 失败或 import 报语法错误", "installing numpy/mxnet fails or imports raise SyntaxError"),
                       tr("MXNet 1.9.1 + numpy 1.23 需要 Python 3.8–3.11", "MXNet 1.9.1 + numpy 1.23 need Python 3.8-3.11"),
                       rem)

    # -- pip --------------------------------------------------------------------------------
    def check_pip(self):
        if not self.base:
            self.r.skip("pip", "no usable python")
            return
        py = self.py_cmd()
        mine = self.base.get("pip", {})
        if "error" in mine:
            self.r.add("pip", "FAIL", tr("%s 没有 pip 模块", "%s has no pip module") % py,
                       tr("`%s -m pip` 报 `No module named pip`", "`%s -m pip` says `No module named pip`") % py,
                       tr("这个 Python 没有安装 pip (Debian 的 python3 默认不带)", "this Python has no pip (Debian's python3 ships without it)"),
                       ["%s -m ensurepip --upgrade" % py,
                        tr("或 Debian/Ubuntu: sudo apt-get install python3-pip", "or on Debian/Ubuntu: sudo apt-get install python3-pip"),
                        tr("或 conda: conda install pip", "or with conda: conda install pip")])
            return
        ver = P.parse_version(mine["version"])
        problems = []
        mine_loc = os.path.realpath(mine["location"])
        for cmd in ("pip", "pip3"):
            path = shutil.which(cmd)
            if not path:
                continue
            rc, out = run([path, "--version"], self.a.timeout)
            info = P.parse_pip_version(out)
            if rc != 0 or not info:
                problems.append((cmd, path, None, first_line(out)))
                continue
            if os.path.realpath(info["location"]) != mine_loc:
                problems.append((cmd, path, info, None))
        self.r.facts["pip"] = mine
        if problems:
            cmd, path, info, err = problems[0]
            bindir = os.path.dirname(self.base["python"]["executable"] or py)
            if info:
                found = tr("`%s` (%s) 属于 Python %s (%s)，不属于 %s",
                           "`%s` (%s) belongs to Python %s (%s), not to %s") % (
                    cmd, path, info["python"], info["location"], self.base["python"]["executable"])
            else:
                found = tr("`%s --version` 失败: %s", "`%s --version` fails: %s") % (cmd, err)
            self.r.add("pip", "FAIL", found,
                       tr("`%s install mxnet` 成功了，但 `import mxnet` 仍报 ModuleNotFoundError" % cmd,
                          "`%s install mxnet` succeeds, yet `import mxnet` says ModuleNotFoundError" % cmd),
                       tr("pip 与 python 不是同一个解释器 (interpreter)：包被装进了另一个 Python",
                          "pip and python belong to different interpreters: packages go to another Python"),
                       [tr("安装时总是用: %s -m pip install mxnet==1.9.1", "always install with: %s -m pip install mxnet==1.9.1") % py,
                        tr("让 `%s` 指向同一个 Python: export PATH=\"%s:$PATH\" && hash -r",
                           "make `%s` match: export PATH=\"%s:$PATH\" && hash -r") % (cmd, bindir),
                        tr("用 conda 时: conda activate <环境名> 后再 conda install pip",
                           "with conda: conda activate <env>, then conda install pip")])
            return
        if ver and P.version_lt(ver, P.PIP_MIN):
            self.r.add("pip", "FAIL", "pip %s (%s)" % (mine["version"], py),
                       tr("`pip install mxnet==1.9.1` 报 `No matching distribution found`",
                          "`pip install mxnet==1.9.1` says `No matching distribution found`"),
                       tr("pip < 19.3 不认识 MXNet wheel 的 manylinux2014 标签",
                          "pip < 19.3 does not understand the manylinux2014 tag of MXNet's wheels"),
                       ["%s -m pip install --upgrade pip" % py])
            return
        self.r.add("pip", "PASS", tr("pip %s，与 %s 一致", "pip %s, same interpreter as %s") % (mine["version"], py))

    # -- numpy ------------------------------------------------------------------------------
    def check_numpy(self):
        if not self.base:
            self.r.skip("numpy", "no usable python")
            return
        py = self.py_cmd()
        fix = '%s -m pip install "numpy==%s"' % (py, P.NUMPY_PIN)
        npy = self.base.get("numpy", {})
        if "error" in npy:
            self.r.add("numpy", "FAIL", tr("未安装 numpy", "numpy is not installed"),
                       "`import mxnet` -> ModuleNotFoundError: No module named 'numpy'",
                       tr("MXNet 依赖 numpy", "MXNet depends on numpy"), [fix])
            return
        ver = P.parse_version(npy["version"])
        if ver and not P.version_lt(ver, P.NUMPY_BELOW):
            self.r.add("numpy", "FAIL", "numpy %s" % npy["version"],
                       tr("`import mxnet` 报 AttributeError: module 'numpy' has no attribute 'bool'",
                          "`import mxnet` raises AttributeError: module 'numpy' has no attribute 'bool'"),
                       tr("MXNet 1.9.1 使用了 numpy 1.24 删除的别名 (np.bool 等)，需要 numpy < 1.24",
                          "MXNet 1.9.1 uses aliases numpy 1.24 removed (np.bool etc.): it needs numpy < 1.24"),
                       [fix])
            return
        if ver and P.version_lt(ver, P.NUMPY_MIN):
            self.r.add("numpy", "FAIL", "numpy %s" % npy["version"],
                       tr("`import mxnet` 报错", "`import mxnet` fails"),
                       tr("MXNet 1.9.1 需要 numpy > 1.16", "MXNet 1.9.1 needs numpy > 1.16"), [fix])
            return
        self.r.add("numpy", "PASS", "numpy %s (< 1.24)" % npy["version"])

    # -- conda ------------------------------------------------------------------------------
    def env_file(self):
        """(path, explicit): --env-file, ./environment.yml, or the lab's own file next to the
        scripts (content/environment.yml in a checkout or image). Only an explicit or local
        file means "this user follows the conda route"; the lab's file is just the reference."""
        if self.a.env_file:
            if not os.path.isfile(self.a.env_file):
                raise DoctorError(tr("--env-file %s 不存在", "--env-file %s does not exist") % self.a.env_file)
            return self.a.env_file, True
        for c in ("environment.yml", "environment.yaml"):
            if os.path.isfile(c):
                return c, True
        lab = os.path.normpath(os.path.join(HERE, "..", "..", "content", "environment.yml"))
        if os.path.isfile(lab):
            return lab, False
        return None, False

    def check_conda(self):
        conda = shutil.which("conda")
        env_file, explicit = self.env_file()
        if conda:
            rc, out = run([conda, "--version"], self.a.timeout)
            ver = P.parse_conda_version(out)
            if rc != 0 or not ver:
                self.r.add("conda", "FAIL", tr("`conda --version` 失败: %s", "`conda --version` fails: %s") % first_line(out),
                           tr("conda 命令报错", "conda commands error out"),
                           tr("conda 安装损坏 (常见于中断的更新)", "the conda install is broken (often an interrupted update)"),
                           [tr("重新安装 Miniconda (保留 envs 目录)", "reinstall Miniconda (keep the envs folder)")])
                return
            self.r.add("conda", "PASS", "conda %s (%s)" % (ver, conda))
            if env_file:
                self.check_conda_env(conda, env_file)
            return
        if self.where == "container":
            self.r.add("conda", "PASS", tr("实验室容器不需要 conda：Python 环境是 /opt/venv",
                                           "not needed in the lab container: the Python environment is /opt/venv"))
            return
        installed = [os.path.expanduser(d) for d in CONDA_DIRS
                     if os.path.isfile(os.path.join(os.path.expanduser(d), "bin", "conda"))]
        path_fix = [tr("让 conda 写入 shell 启动文件，然后重开终端: %s/bin/conda init bash",
                       "let conda set up your shell, then open a new terminal: %s/bin/conda init bash"),
                    tr("或仅当前终端: source %s/etc/profile.d/conda.sh",
                       "or for this terminal only: source %s/etc/profile.d/conda.sh")]
        if installed:
            d = installed[0]
            self.r.add("conda", "FAIL", tr("conda 装在 %s，但不在 PATH 中", "conda is installed in %s but not on PATH") % d,
                       "`conda: command not found`",
                       tr("安装时没有运行 `conda init`，或新终端没有加载 ~/.bashrc",
                          "`conda init` was not run at install time, or the new shell did not read ~/.bashrc"),
                       [line % d for line in path_fix])
            return
        install = [tr("安装 Miniconda (国内可用清华镜像): https://mirrors.tuna.tsinghua.edu.cn/anaconda/miniconda/",
                      "install Miniconda: https://docs.conda.io/en/latest/miniconda.html"),
                   tr("若已安装: ~/miniconda3/bin/conda init bash，然后重开终端",
                      "if it is installed: ~/miniconda3/bin/conda init bash, then open a new terminal")]
        if env_file and explicit:
            self.r.add("conda", "FAIL", tr("未找到 conda，但有环境文件 %s", "conda not found, but there is an environment file %s") % env_file,
                       "`conda: command not found`",
                       tr("conda 没有安装，或安装目录不在 PATH 中", "conda is not installed, or its folder is not on PATH"),
                       install)
            return
        self.r.add("conda", "WARN", tr("未找到 conda (只用 pip 时无妨)", "conda not found (fine if you use pip only)"),
                   "`conda: command not found`",
                   tr("conda 没有安装或不在 PATH 中；用 pip 安装时不需要 conda",
                      "conda is not installed or not on PATH; the pip route does not need it"),
                   install)

    def check_conda_env(self, conda, env_file):
        with open(env_file) as f:
            name = P.parse_env_file_name(f.read())
        if not name:
            self.r.add("conda-env", "WARN", tr("%s 没有 name: 字段", "%s has no name: field") % env_file,
                       None, tr("无法判断要检查哪个环境", "cannot tell which environment to check"),
                       [tr("在 %s 顶部加 name: gluon", "add name: gluon at the top of %s") % env_file])
            return
        rc, out = run([conda, "env", "list", "--json"], self.a.timeout)
        try:
            envs = json.loads(out[out.index("{"):])["envs"]
        except (ValueError, KeyError):
            self.r.add("conda-env", "FAIL", tr("`conda env list --json` 失败: %s", "`conda env list --json` fails: %s") % first_line(out),
                       None, tr("conda 安装损坏", "the conda install is broken"),
                       [tr("重新安装 Miniconda", "reinstall Miniconda")])
            return
        match = [e for e in envs if os.path.basename(e.rstrip("/")) == name]
        create = ["conda env create -f %s" % env_file]
        mirrors = [tr("创建失败 (超时/HTTP 错误) 时换镜像: conda config --add channels %s && conda config --set show_channel_urls yes",
                      "if create fails (timeouts, HTTP errors), use a mirror: conda config --add channels %s && conda config --set show_channel_urls yes") % TUNA_CONDA,
                   tr("pip 部分也换镜像: pip config set global.index-url %s", "and for the pip part: pip config set global.index-url %s") % TUNA_PYPI]
        if not match:
            self.r.add("conda-env", "FAIL", tr("环境 %s (来自 %s) 不存在", "environment %s (from %s) does not exist") % (name, env_file),
                       "`conda activate %s` -> EnvironmentNameNotFound" % name,
                       tr("还没有创建，或上次创建失败", "it was never created, or creating it failed"),
                       create + mirrors)
            return
        prefix = match[0]
        if not (os.path.exists(os.path.join(prefix, "bin", "python")) or
                os.path.exists(os.path.join(prefix, "python.exe"))):
            self.r.add("conda-env", "FAIL", tr("环境 %s 不完整: %s 中没有 python", "environment %s is half-created: no python in %s") % (name, prefix),
                       tr("`conda env create` 中途失败后 activate 可用，但 import 全部失败",
                          "after a failed `conda env create`, activate works but every import fails"),
                       tr("上次创建中途中断，留下了半个环境", "an interrupted create left half an environment behind"),
                       ["conda env remove -n %s  (%s: rm -rf %s)" % (name, tr("不行时", "if that fails"), prefix)] + create + mirrors)
            return
        active = os.environ.get("CONDA_DEFAULT_ENV")
        if active != name:
            self.r.add("conda-env", "WARN", tr("环境 %s 已存在，但当前激活的是 %s", "environment %s exists, but the active one is %s") % (name, active or "none"),
                       tr("import mxnet 失败或版本不对", "import mxnet fails or finds another version"),
                       tr("包装在 %s 里，当前终端用的是别的环境" % name, "the packages live in %s; this shell uses another environment" % name),
                       ["conda activate %s" % name])
            return
        self.r.add("conda-env", "PASS", tr("环境 %s 已激活 (%s)", "environment %s is active (%s)") % (name, prefix))

    # -- mxnet ------------------------------------------------------------------------------
    def install_line(self):
        """The pip command that installs the right MXNet wheel on this machine."""
        return "%s -m pip install mxnet==1.9.1" % self.py_cmd()

    def check_mxnet(self):
        if not self.base:
            self.r.skip("mxnet", "no usable python")
            return
        py = self.py_cmd()
        data, raw = probe(py, "mxnet", max(self.a.timeout, 120))
        dists = self.base.get("dists", {})
        self.r.facts["mxnet_dists"] = dists
        if data is None:
            self.r.add("mxnet", "FAIL", tr("import mxnet 让 Python 崩溃: %s", "import mxnet crashes Python: %s") % last_line(raw),
                       tr("`import mxnet` 直接退出 (Segmentation fault / Illegal instruction)",
                          "`import mxnet` kills Python (Segmentation fault / Illegal instruction)"),
                       tr("库文件损坏或与这台机器的 CPU/驱动不匹配", "the library is corrupt or does not match this CPU/driver"),
                       ["%s -m pip install --force-reinstall --no-deps %s==1.9.1" % (py, sorted(dists)[0] if dists else "mxnet")])
            return
        self.mx = data
        if "import_error" in data:
            self.mxnet_import_failed(data, dists)
            return
        ver = data.get("version") or "?"
        feats = data.get("features", [])
        self.cuda_build = "CUDA" in feats
        self.wheel = sorted(dists)[0] if dists else None
        cuda_dists = [d for d in dists if P.wheel_cuda(d)]
        if cuda_dists:
            self.wheel = cuda_dists[0]
        if self.cuda_build:
            self.wheel_cuda = P.wheel_cuda(self.wheel) or P.parse_cuda_env(os.environ.get("CUDA_VERSION"))
            build = "CUDA %s" % (P.version_tuple_str(self.wheel_cuda) if self.wheel_cuda else "?")
            if "CUDNN" in feats:
                build += " + cuDNN"
        else:
            build = "CPU"
        self.r.facts["mxnet"] = {"version": ver, "build": build, "wheel": self.wheel, "features": feats}
        found = "mxnet %s, %s (%s)" % (ver, build, self.wheel or tr("非 pip 安装", "not from pip"))
        pv = P.parse_version(ver)
        wheel_l = (self.wheel or "").lower()
        legacy = P.LEGACY_LAST.get(wheel_l)
        if (pv and wheel_l == P.LAB_LEGACY_WHEEL and tuple(pv[:3]) == legacy
                and P.version_lt(pv, P.parse_version(self.a.min_mxnet))):
            self.r.add("mxnet", "WARN", found,
                       tr("个别教程用到的新特性或修复缺失", "features and fixes some tutorials rely on may be missing"),
                       tr("%s %s 是这一系列的最后版本 (Kepler 到 Pascal 的 GPU 用)，比教程要求的 %s 旧"
                          % (self.wheel, ver, self.a.min_mxnet),
                          "%s %s is the last release of its family (for Kepler to Pascal GPUs), older than the %s the tutorials target"
                          % (self.wheel, ver, self.a.min_mxnet)),
                       [tr("Maxwell 及更新的 GPU: %s -m pip uninstall -y %s && %s -m pip install mxnet-cu117==1.9.1",
                           "Maxwell or newer GPU: %s -m pip uninstall -y %s && %s -m pip install mxnet-cu117==1.9.1")
                        % (py, self.wheel, py)])
            self.check_mxnet_compute(data)
            return
        if pv and P.version_lt(pv, P.parse_version(self.a.min_mxnet)):
            wheel = self.wheel or "mxnet"
            rem = ["%s -m pip install --upgrade %s==1.9.1" % (py, wheel)]
            diag = tr("Gluon Lab 的教程需要 mxnet >= %s" % self.a.min_mxnet,
                      "the Gluon Lab tutorials need mxnet >= %s" % self.a.min_mxnet)
            if legacy:
                last = P.version_tuple_str(legacy)
                diag += tr("；%s 这一系列最后的版本是 %s" % (wheel, last), "; the %s family stops at %s" % (wheel, last))
                rem = ["%s -m pip uninstall -y %s" % (py, wheel),
                       tr("Maxwell 及更新的 GPU: %s -m pip install mxnet-cu117==1.9.1；否则: %s",
                          "Maxwell or newer GPU: %s -m pip install mxnet-cu117==1.9.1; otherwise: %s") % (py, self.install_line())]
            self.r.add("mxnet", "FAIL", found,
                       tr("教程中的代码报 AttributeError 或找不到算子 (operator)",
                          "tutorial code raises AttributeError or misses operators"), diag, rem)
            return
        if len(dists) > 1:
            self.r.add("mxnet", "WARN", found + tr("；同时装了 %s", "; also installed: %s") % ", ".join(sorted(dists)),
                       tr("import mxnet 得到的构建 (build) 与预期不同", "import mxnet gives an unexpected build"),
                       tr("多个 mxnet 包互相覆盖同一个目录", "several mxnet packages overwrite the same folder"),
                       ["%s -m pip uninstall -y %s" % (py, " ".join(sorted(dists))),
                        tr("然后只装一个: %s", "then install exactly one: %s") % self.install_line()])
        else:
            self.r.add("mxnet", "PASS", found)
        self.check_mxnet_compute(data)

    def check_mxnet_compute(self, data):
        py = self.py_cmd()
        if data.get("cpu_compute") == 12.0:
            self.r.add("mxnet-compute", "PASS", tr("mx.nd.ones((2,3))*2 求和 = 12 (CPU)", "mx.nd.ones((2,3))*2 sums to 12 (CPU)"))
        else:
            self.r.add("mxnet-compute", "FAIL", data.get("cpu_compute_error") or "sum = %r" % data.get("cpu_compute"),
                       tr("最简单的 NDArray 运算失败", "the simplest NDArray computation fails"),
                       tr("MXNet 安装损坏", "the MXNet install is broken"),
                       ["%s -m pip install --force-reinstall %s==1.9.1" % (py, self.wheel or "mxnet")])

    def mxnet_import_failed(self, data, dists):
        py = self.py_cmd()
        err = data["import_error"]
        cause = P.classify_import_error(data.get("traceback", "") + "\n" + err)
        found = "import mxnet: %s" % first_line(err)
        sysname = self.base["python"].get("system")
        machine = self.base["python"].get("machine")
        if cause == "missing":
            rem = [self.install_line(),
                   tr("NVIDIA GPU (Maxwell 到 Ampere/Ada，驱动 >= 515): %s -m pip install mxnet-cu117==1.9.1",
                      "NVIDIA GPU (Maxwell to Ampere/Ada, driver >= 515): %s -m pip install mxnet-cu117==1.9.1") % py,
                   tr("Hopper (H100): ", "Hopper (H100): ") + NGC_HINT[LANG]]
            diag = tr("这个 Python (%s) 里没有安装 mxnet" % py, "mxnet is not installed in this Python (%s)" % py)
            if sysname == "Darwin" and machine == "arm64":
                diag += tr("；Apple Silicon 上没有 MXNet 1.9.1 的 arm64 wheel，pip 会报 `No matching distribution found`",
                           "; there is no arm64 macOS wheel of MXNet 1.9.1: pip says `No matching distribution found`")
                rem = [tr("用 Docker 运行实验室镜像，或用 x86_64 的 Python (Rosetta): CONDA_SUBDIR=osx-64 conda create -n gluon python=3.11",
                          "run the lab image with Docker, or an x86_64 Python under Rosetta: CONDA_SUBDIR=osx-64 conda create -n gluon python=3.11")]
            elif sysname == "Windows":
                diag += tr("；MXNet 1.9.1 没有 Windows wheel (`No matching distribution found`)",
                           "; MXNet 1.9.1 has no Windows wheel (`No matching distribution found`)")
                rem = [tr("在 WSL2 (Ubuntu) 中安装，或用 Docker 运行实验室镜像",
                          "install inside WSL2 (Ubuntu), or run the lab image with Docker")]
            else:
                diag += tr("。若 pip 报 `No matching distribution found for mxnet==1.9.1`：只有 Linux x86_64/aarch64 与 macOS x86_64 有 wheel，且 pip 需 >= 19.3",
                           ". If pip says `No matching distribution found for mxnet==1.9.1`: wheels exist only for "
                           "Linux x86_64/aarch64 and macOS x86_64, and pip must be >= 19.3")
            self.r.add("mxnet", "FAIL", found, "ModuleNotFoundError: No module named 'mxnet'", diag, rem)
            return
        table = {
            "no-cuda-driver": (tr("装的是 GPU 版 (%s)，但这台机器没有 NVIDIA 驱动 (libcuda.so.1)",
                                  "a GPU build (%s) is installed, but this machine has no NVIDIA driver (libcuda.so.1)") % (", ".join(sorted(dists)) or "mxnet-cu*"),
                               ["%s -m pip uninstall -y %s" % (py, " ".join(sorted(dists)) or "mxnet"), self.install_line(),
                                tr("或在 GPU 机器上安装 NVIDIA 驱动", "or install the NVIDIA driver on a GPU machine")]),
            "cuda-libs": (tr("缺少 CUDA 运行库 (CUDA libraries)，与 wheel 的 CUDA 版本不匹配",
                             "CUDA libraries are missing or do not match the wheel's CUDA version"),
                          ["%s -m pip install --force-reinstall %s==1.9.1" % (py, sorted(dists)[0] if dists else "mxnet")]),
            "system-libs": (tr("缺少系统库 libgomp (OpenMP)", "the system library libgomp (OpenMP) is missing"),
                            ["sudo apt-get install libgomp1 libquadmath0"]),
            "numpy-too-new": (tr("numpy >= 1.24 删除了 MXNet 1.9.1 用到的 np.bool", "numpy >= 1.24 removed np.bool, which MXNet 1.9.1 uses"),
                              ['%s -m pip install "numpy==%s"' % (py, P.NUMPY_PIN)]),
            "numpy-missing": (tr("没有安装 numpy", "numpy is not installed"),
                              ['%s -m pip install "numpy==%s"' % (py, P.NUMPY_PIN)]),
        }
        diag, rem = table.get(cause, (tr("import 失败，见上面的错误", "the import fails; see the error above"),
                                      ["%s -m pip install --force-reinstall %s==1.9.1" % (py, sorted(dists)[0] if dists else "mxnet")]))
        self.r.add("mxnet", "FAIL", found, tr("`import mxnet` 报错", "`import mxnet` raises an error"), diag, rem)

    # -- GPU --------------------------------------------------------------------------------
    def check_gpu(self):
        smi = shutil.which("nvidia-smi")
        no_gpu_rem = ([tr("CPU 教程不受影响；如需 GPU，请管理员在 hub 中为你分配 GPU 配置 (profile)",
                          "CPU tutorials work as they are; for a GPU ask the admin for a GPU profile in the hub")]
                      if self.where == "container" else
                      [tr("CPU 教程不受影响 (mx.cpu())；GPU 机器请安装 NVIDIA 驱动 (会带上 nvidia-smi)",
                          "CPU tutorials work as they are (mx.cpu()); on a GPU machine install the NVIDIA driver (it brings nvidia-smi)")])
        if not smi:
            if self.cuda_build:
                self.r.add("gpu", "FAIL", tr("没有 GPU (找不到 nvidia-smi)，但装的是 GPU 版 %s", "no GPU (nvidia-smi not found), but the GPU build %s is installed") % self.wheel,
                           tr("mx.gpu(0) 报 CUDA 错误", "mx.gpu(0) raises a CUDA error"),
                           tr("没有 NVIDIA 驱动或容器启动时没有 --gpus", "no NVIDIA driver, or the container was started without --gpus"),
                           ["%s -m pip uninstall -y %s && %s" % (self.py_cmd(), self.wheel, self.install_line())] + no_gpu_rem)
            else:
                self.r.add("gpu", "WARN", tr("没有 GPU (no GPU)：找不到 nvidia-smi，MXNet 使用 CPU", "no GPU: nvidia-smi not found, MXNet uses the CPU"),
                           tr("mx.context.num_gpus() 为 0", "mx.context.num_gpus() is 0"),
                           tr("这台机器或容器没有可用的 NVIDIA GPU", "this machine or container has no NVIDIA GPU available"),
                           no_gpu_rem)
            return
        rc, out = run([smi, "--query-gpu=" + ",".join(P.QUERY_FIELDS), "--format=csv,noheader,nounits"], self.a.timeout)
        if rc != 0:
            cause = P.classify_smi_failure(out, rc)
            diag, rem = {
                "version-mismatch": (tr("内核驱动与用户态库版本不一致 (Driver/library version mismatch)，常见于升级驱动后未重启",
                                        "kernel driver and user-space library differ (Driver/library version mismatch), usually after a driver upgrade without reboot"),
                                     [tr("重启机器: sudo reboot", "reboot: sudo reboot")]),
                "no-driver": (tr("NVIDIA 内核驱动没有加载", "the NVIDIA kernel driver is not loaded"),
                              ["sudo modprobe nvidia", tr("不行则重装驱动: sudo ubuntu-drivers install", "if that fails, reinstall the driver: sudo ubuntu-drivers install")]),
                "no-devices": (tr("驱动已加载但没有看到 GPU (容器未加 --gpus，或 GPU 掉线)",
                                  "the driver is loaded but sees no GPU (container without --gpus, or the GPU fell off the bus)"),
                               [tr("容器: docker run --gpus all ...；主机: sudo dmesg | grep -i nvidia", "containers: docker run --gpus all ...; hosts: sudo dmesg | grep -i nvidia")]),
                "permissions": (tr("当前用户无权访问 /dev/nvidia*", "this user may not open /dev/nvidia*"),
                                ["ls -l /dev/nvidia*", tr("把用户加入 video 组: sudo usermod -aG video $USER", "add the user to the video group: sudo usermod -aG video $USER")]),
            }.get(cause, (tr("nvidia-smi 异常", "nvidia-smi misbehaves"), ["nvidia-smi -q | less"]))
            self.r.add("gpu", "FAIL", "nvidia-smi: %s [exit %d]" % (first_line(out), rc),
                       tr("nvidia-smi 报错", "nvidia-smi errors out"), diag, rem)
            return
        try:
            rows = P.parse_query_gpu(out)
        except ValueError as e:
            self.r.add("gpu", "FAIL", str(e), None, tr("nvidia-smi 输出无法解析", "cannot parse nvidia-smi output"),
                       [tr("升级 NVIDIA 驱动", "upgrade the NVIDIA driver")])
            return
        if not rows:
            self.r.add("gpu", "WARN", tr("nvidia-smi 没有列出 GPU (no GPU)", "nvidia-smi lists no GPU (no GPU)"),
                       None, tr("驱动已安装但没有 GPU 可用", "the driver is installed but no GPU is available"), no_gpu_rem)
            return
        rc2, banner = run([smi], self.a.timeout)
        b = P.parse_smi_banner(banner) if rc2 == 0 else None
        rc3, cc_out = run([smi, "--query-gpu=compute_cap", "--format=csv,noheader"], self.a.timeout)
        ccs = [P.parse_compute_cap(line) for line in cc_out.splitlines()] if rc3 == 0 else []
        for i, row in enumerate(rows):
            cc = ccs[i] if i < len(ccs) and ccs[i] else P.compute_capability_from_name(row["name"])
            row["compute_capability"] = cc
        self.gpus = rows
        self.smi_ok = True
        self.driver = P.parse_version(rows[0]["driver_version"])
        self.r.facts["gpus"] = rows
        self.r.facts["driver_cuda"] = b["cuda_version"] if b else None
        desc = "; ".join("%s %s, %s MiB, sm_%s" % (r["index"], r["name"], r["memory.total"], r["compute_capability"] or "?")
                         for r in rows)
        self.r.add("gpu", "PASS", tr("%d 个 GPU: %s; 驱动 (driver) %s, CUDA %s", "%d GPU(s): %s; driver %s, CUDA %s") % (
            len(rows), desc, rows[0]["driver_version"], b["cuda_version"] if b else "?"))
        self.check_gpu_driver()
        self.check_gpu_arch()
        self.check_gpu_mxnet()

    def check_gpu_driver(self):
        if not self.cuda_build or not self.wheel_cuda:
            return
        verdict, need = P.driver_supports(self.wheel_cuda, self.driver)
        cu = P.version_tuple_str(self.wheel_cuda)
        drv = self.gpus[0]["driver_version"]
        need_s = P.driver_str(need) if need else "?"
        found = tr("驱动 %s，%s 需要 CUDA %s (驱动 >= %s)", "driver %s; %s needs CUDA %s (driver >= %s)") % (drv, self.wheel, cu, need_s)
        upgrade = tr("升级驱动到 >= %s: sudo ubuntu-drivers install (或 sudo apt-get install nvidia-driver-535)",
                     "upgrade the driver to >= %s: sudo ubuntu-drivers install (or sudo apt-get install nvidia-driver-535)") % need_s
        if verdict == "ok":
            self.r.add("gpu-driver", "PASS", found)
        elif verdict == "minor-compat":
            self.r.add("gpu-driver", "WARN", found,
                       tr("大多数运算正常，个别算子报 `cudaErrorUnsupportedPtxVersion` 或 PTX JIT 失败",
                          "most operators work; a few fail with `cudaErrorUnsupportedPtxVersion` or PTX JIT errors"),
                       tr("依靠 CUDA 小版本兼容 (minor version compatibility) 运行，功能受限",
                          "runs through CUDA minor version compatibility, with a limited feature set"),
                       [upgrade])
        elif verdict == "too-old":
            alt = [c for c in ((11, 7), (11, 2)) if P.driver_supports(c, self.driver)[0] == "ok"]
            rem = [upgrade]
            if alt:
                rem.append(tr("或换成与驱动匹配的 wheel: %s -m pip uninstall -y %s && %s -m pip install mxnet-cu%d%d==1.9.1",
                              "or a wheel this driver supports: %s -m pip uninstall -y %s && %s -m pip install mxnet-cu%d%d==1.9.1")
                           % ((self.py_cmd(), self.wheel, self.py_cmd()) + alt[0]))
            else:
                rem.append(tr("或先用 CPU 版: %s -m pip uninstall -y %s && %s",
                              "or use the CPU build meanwhile: %s -m pip uninstall -y %s && %s") % (self.py_cmd(), self.wheel, self.install_line()))
            self.r.add("gpu-driver", "FAIL", found,
                       tr("mx.gpu(0) 上的运算报 `CUDA driver version is insufficient for CUDA runtime version`",
                          "work on mx.gpu(0) fails with `CUDA driver version is insufficient for CUDA runtime version`"),
                       tr("驱动 %s 最高支持 CUDA %s，比 wheel 的 CUDA %s 旧", "driver %s supports CUDA up to %s, older than the wheel's CUDA %s") % (
                           drv, P.version_tuple_str(P.driver_max_cuda(self.driver) or (0,)), cu),
                       rem)
        else:
            self.r.add("gpu-driver", "WARN", found, None,
                       tr("不认识这个 CUDA 版本，无法判断", "unknown CUDA version: cannot judge"), [upgrade])

    def check_gpu_arch(self):
        if not self.cuda_build:
            return
        key = tuple(self.wheel_cuda or ())
        archs = P.WHEEL_ARCHS.get(key) if P.wheel_cuda(self.wheel or "") else None
        if archs is None:
            # Not a pip wheel (e.g. NGC's own build): it was compiled for the GPUs of its CUDA.
            return
        ptx = P.WHEEL_PTX.get(key)
        arch_s = ",".join("sm_%d" % a for a in archs) + (" + PTX compute_%d" % ptx if ptx else "")
        worst = None
        for g in self.gpus:
            cc = g["compute_capability"]
            verdict = P.arch_supported(cc, archs, ptx)
            if verdict != "yes" and worst is None:
                worst = (g, cc, verdict)
        if worst is None:
            self.r.add("gpu-arch", "PASS", tr("GPU 架构在 %s 的内核 (%s) 之内", "GPU architecture covered by %s kernels (%s)") % (self.wheel, arch_s))
            return
        g, cc, verdict = worst
        found = "%s (%s, sm_%s): %s %s %s" % (g["name"], P.arch_name(cc), cc or "?", self.wheel,
                                              tr("只含", "has only"), arch_s)
        if cc is None:
            self.r.add("gpu-arch", "WARN", found, None,
                       tr("无法判断这块 GPU 的计算能力 (compute capability)", "cannot tell this GPU's compute capability"),
                       ["nvidia-smi --query-gpu=name,compute_cap --format=csv"])
        elif verdict == "ptx":
            self.r.add("gpu-arch", "WARN", found,
                       tr("第一次在 GPU 上运算要等几分钟 (PTX JIT 编译)，之后正常",
                          "the first GPU operations take minutes (PTX JIT compilation), later ones are normal"),
                       tr("这个旧 wheel 没有 %s (sm_%d) 的内核，由驱动从 PTX 即时编译" % (P.arch_name(cc), cc),
                          "this old wheel has no %s (sm_%d) kernels; the driver JIT-compiles them from PTX" % (P.arch_name(cc), cc)),
                       [tr("Maxwell 到 Ada 的 GPU 换用 mxnet-cu117==1.9.1 (cu117 变体)", "on Maxwell to Ada GPUs use mxnet-cu117==1.9.1 (the cu117 variant)"),
                        tr("Hopper: ", "Hopper: ") + NGC_HINT[LANG]])
        elif cc > max(archs):
            self.r.add("gpu-arch", "WARN", found,
                       tr("mx.gpu(0) 上的算子报 `no kernel image is available for execution on the device`",
                          "operators on mx.gpu(0) fail with `no kernel image is available for execution on the device`"),
                       tr("这个 wheel 没有为 %s (sm_%d) 编译内核，也不带 PTX" % (P.arch_name(cc), cc),
                          "the wheel has no kernels for %s (sm_%d) and ships no PTX" % (P.arch_name(cc), cc)),
                       [NGC_HINT[LANG]])
        else:
            self.r.add("gpu-arch", "FAIL", found,
                       tr("GPU 上的运算报 `no kernel image is available`", "GPU work fails with `no kernel image is available`"),
                       tr("%s 不支持 %s (sm_%d)；支持它的 mxnet-cu80 只到 1.5.0" % (self.wheel, P.arch_name(cc), cc),
                          "%s does not support %s (sm_%d); mxnet-cu80, which does, stops at 1.5.0" % (self.wheel, P.arch_name(cc), cc)),
                       [CU80_HINT[LANG],
                        tr("或用 CPU 版: %s", "or the CPU build: %s") % self.install_line()])

    def check_gpu_mxnet(self):
        if self.mx is None or "import_error" in self.mx:
            return
        if not self.cuda_build:
            cc = max(g["compute_capability"] or 0 for g in self.gpus)
            if cc >= 90:
                rem = [NGC_HINT[LANG]]
            elif 0 < cc < 50:
                rem = [CU80_HINT[LANG]]
            else:
                rem = ["%s -m pip uninstall -y %s && %s -m pip install mxnet-cu117==1.9.1" % (self.py_cmd(), self.wheel or "mxnet", self.py_cmd())]
            self.r.add("gpu-mxnet", "WARN", tr("有 GPU，但 mxnet 是 CPU 版", "a GPU is present, but mxnet is the CPU build"),
                       tr("训练很慢，mx.gpu(0) 报 `GPU support is disabled`", "training is slow; mx.gpu(0) says `GPU support is disabled`"),
                       tr("装的是 CPU 版 wheel (mxnet)，不是 mxnet-cu117", "the CPU wheel (mxnet) is installed, not mxnet-cu117"), rem)
            return
        if "gpu_compute" in self.mx:
            self.r.add("gpu-mxnet", "PASS", tr("mx.nd.zeros((2,2), ctx=mx.gpu(0)) 成功; num_gpus=%s", "mx.nd.zeros((2,2), ctx=mx.gpu(0)) works; num_gpus=%s")
                       % self.mx.get("num_gpus"))
            return
        err = self.mx.get("gpu_compute_error", "?")
        if "no kernel image" in err:
            diag, rem = tr("wheel 不含这块 GPU 的内核", "the wheel has no kernels for this GPU"), [NGC_HINT[LANG]]
        elif "insufficient" in err:
            diag, rem = tr("驱动比 wheel 的 CUDA 旧", "the driver is older than the wheel's CUDA"), [tr("见 gpu-driver", "see gpu-driver")]
        else:
            diag, rem = (tr("MXNet 看不到 GPU (容器没有 --gpus，或 CUDA_VISIBLE_DEVICES 为空)",
                            "MXNet sees no GPU (container without --gpus, or CUDA_VISIBLE_DEVICES empty)"),
                         ["echo $CUDA_VISIBLE_DEVICES", "docker run --gpus all ..."])
        self.r.add("gpu-mxnet", "FAIL", "mx.nd.zeros(ctx=mx.gpu(0)): %s" % last_line(err),
                   tr("GPU 上的第一个运算就失败", "the first operation on the GPU fails"), diag, rem)

    # -- Jupyter ----------------------------------------------------------------------------
    def check_jupyter(self):
        if not self.base:
            self.r.skip("jupyter", "no usable python")
            return
        py = jupyter_python() or self.py_cmd()
        data, raw = probe(py, "jupyter", max(self.a.timeout, 60))
        if data is None:
            self.r.add("jupyter", "FAIL", tr("检查 Jupyter 时 Python 崩溃: %s", "Python crashed while checking Jupyter: %s") % last_line(raw),
                       None, None, ["%s -m pip install --force-reinstall jupyterlab jupytext notedown" % py])
            return
        mods = ("jupyterlab", "jupytext", "notedown")
        # "No module named 'notedown'" = not installed; any other error = installed but broken.
        missing = [m for m in mods if "No module named '%s'" % m in data[m].get("error", "")]
        broken = [m for m in mods if "error" in data[m] and m not in missing]
        have = ", ".join("%s %s" % (m, data[m]["version"]) for m in mods if "version" in data[m])
        status = "FAIL" if self.where == "container" else "WARN"
        if broken:
            m = broken[0]
            err = last_line(data[m]["error"])
            if "pkg_resources" in err:
                diag = tr("%s 需要 pkg_resources，而 setuptools 82 起不再提供它" % m,
                          "%s imports pkg_resources, which setuptools dropped in version 82" % m)
                rem = ['%s -m pip install "setuptools<82"' % py]
            else:
                diag = tr("%s 已安装，但 import 失败" % m, "%s is installed but fails to import" % m)
                rem = ["%s -m pip install --force-reinstall %s" % (py, m)]
            self.r.add("jupyter", status, "import %s: %s%s" % (m, err, ("; " + have) if have else ""),
                       tr("`import %s` 或 `%s` 命令报错", "`import %s` or the `%s` command fails") % (m, m), diag, rem)
        elif missing:
            self.r.add("jupyter", status, tr("缺少 %s%s", "missing %s%s") % (", ".join(missing), ("; " + have) if have else ""),
                       tr("`jupyter lab` 找不到，或 .md 教程打开后是纯文本", "`jupyter lab` is not found, or .md tutorials open as plain text"),
                       tr("这些包没有装在 %s 里" % py, "these packages are not installed in %s" % py),
                       ["%s -m pip install jupyterlab jupytext notedown" % py])
        else:
            where = "" if py == self.py_cmd() else tr(" (Jupyter 服务器的 Python: %s)", " (the Jupyter server's Python: %s)") % py
            self.r.add("jupyter", "PASS", have + where)
        if "md_jupytext_cells" in data or "md_jupytext_error" in data:
            if data.get("md_jupytext_cells") == 2:
                extra = tr("，notedown 也可读" if data.get("md_notedown_cells") else "", ", notedown too" if data.get("md_notedown_cells") else "")
                self.r.add("jupyter-md", "PASS", tr("Markdown 笔记本可以打开 (jupytext 读出 2 个单元格)", "markdown notebooks open (jupytext reads 2 cells)") + extra)
            else:
                self.r.add("jupyter-md", "FAIL", data.get("md_jupytext_error") or "cells=%r" % data.get("md_jupytext_cells"),
                           tr(".md 教程无法作为笔记本打开", ".md tutorials do not open as notebooks"),
                           tr("jupytext 安装损坏或版本不兼容", "jupytext is broken or incompatible"),
                           ["%s -m pip install --force-reinstall jupytext" % py])

    # -- host -------------------------------------------------------------------------------
    def check_host(self):
        docker = shutil.which("docker")
        if not docker:
            self.r.add("docker", "FAIL", tr("找不到 docker 命令", "docker command not found"),
                       "`docker: command not found`", tr("没有安装 Docker 引擎", "the Docker engine is not installed"),
                       ["sudo apt-get install docker.io", tr("或用 Ansible playbook 部署主机", "or provision the host with the Ansible playbook")])
            return
        rc, out = run([docker, "version", "--format", "{{.Server.Version}}"], self.a.timeout)
        if rc != 0 or not out.strip() or "Cannot connect" in out:
            cause = P.classify_docker_error(out)
            diag, rem = {
                "permission": (tr("当前用户不能访问 /var/run/docker.sock", "this user may not use /var/run/docker.sock"),
                               ["sudo usermod -aG docker $USER", tr("然后重新登录", "then log out and in again")]),
                "daemon-down": (tr("Docker 守护进程 (dockerd) 没有运行", "the Docker daemon (dockerd) is not running"),
                                ["sudo systemctl start docker", "sudo journalctl -u docker --since -10min"]),
            }.get(cause, (tr("docker 命令失败", "the docker command fails"), ["docker info"]))
            self.r.add("docker", "FAIL", "docker version: %s" % last_line(out), tr("docker 命令报错", "docker commands fail"), diag, rem)
            return
        self.r.add("docker", "PASS", tr("Docker 引擎 %s 可以访问", "Docker engine %s reachable") % out.strip().splitlines()[-1])
        if self.gpus or self.a.gpu_image_given:
            self.check_docker_gpus(docker)
        self.check_disk(docker)

    def check_docker_gpus(self, docker):
        image = self.a.gpu_image
        script = "if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L; else echo NO-NVIDIA-SMI; fi"
        rc, out = run([docker, "run", "--rm", "--gpus", "all", "--network", "none", "--entrypoint", "",
                       image, "sh", "-c", script], max(self.a.timeout, 120))
        toolkit_fix = ["sudo apt-get install nvidia-container-toolkit",
                       "sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker"]
        if rc == 0:
            listed = P.parse_smi_list(out)
            if listed:
                self.r.add("docker-gpus", "PASS", tr("`docker run --gpus all` 可用，容器内看到 %d 个 GPU", "`docker run --gpus all` works; the container sees %d GPU(s)") % len(listed))
            else:
                self.r.add("docker-gpus", "WARN", tr("`--gpus all` 被接受，但容器里没有 NVIDIA 工具/库 (image %s)", "`--gpus all` is accepted, but no NVIDIA tools/libraries appear in the container (image %s)") % image,
                           tr("容器里 nvidia-smi 找不到，mx.gpu(0) 失败", "nvidia-smi is missing inside containers; mx.gpu(0) fails"),
                           tr("NVIDIA Container Toolkit 的 hook 没有注入驱动 (未配置，或只是占位 stub)",
                              "the NVIDIA Container Toolkit hook injected no driver files (not configured, or a stub)"),
                           toolkit_fix)
            return
        cause = P.classify_docker_error(out)
        if cause == "no-image":
            self.r.add("docker-gpus", "WARN", tr("无法测试 --gpus: 本机没有镜像 %s", "cannot test --gpus: image %s is not on this host") % image,
                       None, tr("测试需要一个本地镜像", "the test needs a local image"),
                       [tr("先构建镜像，或用 --gpu-image 指定本地镜像", "build the images first, or name a local image with --gpu-image")])
            return
        self.r.add("docker-gpus", "FAIL", "docker run --gpus all: %s" % last_line(out),
                   tr("用户容器启动失败或没有 GPU", "user containers fail to start or get no GPU"),
                   tr("NVIDIA Container Toolkit 没有安装或没有配置到 Docker", "the NVIDIA Container Toolkit is not installed or not configured for Docker"),
                   toolkit_fix)

    def check_disk(self, docker):
        rc, out = run([docker, "info", "--format", "{{.DockerRootDir}}"], self.a.timeout)
        path = out.strip().splitlines()[-1] if rc == 0 and out.strip() else "/var/lib/docker"
        probe_path = path
        while not os.path.exists(probe_path) and probe_path not in ("/", ""):
            probe_path = os.path.dirname(probe_path)
        free_gb = shutil.disk_usage(probe_path or "/").free / 2 ** 30
        found = tr("%s 上剩余 %.1f GiB (需要 %d GiB)", "%.1f GiB free on %s (need %d GiB)")
        args = (path, free_gb, self.a.min_free_gb) if LANG == "zh" else (free_gb, path, self.a.min_free_gb)
        if free_gb < self.a.min_free_gb:
            self.r.add("disk", "FAIL", found % args,
                       tr("docker build/pull 报 `no space left on device`", "docker build/pull says `no space left on device`"),
                       tr("镜像 (cpu 约 3 GiB，GPU/ngc 变体 10–20 GiB) 放不下", "the images (cpu ~3 GiB, GPU/ngc variants 10-20 GiB) do not fit"),
                       ["docker image prune", "docker builder prune",
                        tr("或把 Docker 的 data-root 移到更大的磁盘 (/etc/docker/daemon.json)", "or move Docker's data-root to a bigger disk (/etc/docker/daemon.json)")])
        else:
            self.r.add("disk", "PASS", found % args)

    def check_hub(self):
        url = self.a.hub_url.rstrip("/")
        api = url + "/hub/api/"
        ctx = ssl.create_default_context()
        try:
            with urllib.request.urlopen(api, timeout=self.a.timeout, context=ctx) as resp:
                body = resp.read(65536).decode("utf-8", "replace")
            version = json.loads(body).get("version")
            if not version:
                raise ValueError("no version")
        except urllib.error.HTTPError as e:
            self.r.add("hub", "FAIL", "%s -> HTTP %d" % (api, e.code),
                       tr("浏览器打开 hub 报错", "the hub page shows an error"),
                       tr("有服务在应答，但不是 JupyterHub API (反向代理 reverse proxy 路径配置错误?)",
                          "something answers, but not the JupyterHub API (reverse proxy path wrong?)"),
                       ["docker compose ps", "docker compose logs --tail 50 hub"])
            return
        except (ValueError, AttributeError):
            self.r.add("hub", "FAIL", tr("%s 的应答不是 JupyterHub API", "%s does not answer like the JupyterHub API") % api,
                       None, tr("URL 指向了别的服务", "the URL points at another service"),
                       [tr("检查 --hub-url (例如 https://lab.example.org)", "check --hub-url (e.g. https://lab.example.org)")])
            return
        except (urllib.error.URLError, socket.timeout, OSError) as e:
            reason = getattr(e, "reason", e)
            text = str(reason)
            if isinstance(reason, ssl.SSLError) or "CERTIFICATE" in text.upper():
                diag = tr("TLS 证书不被信任或不匹配", "the TLS certificate is not trusted or does not match")
                rem = [tr("检查证书: openssl s_client -connect <host>:443 -servername <host>", "inspect it: openssl s_client -connect <host>:443 -servername <host>")]
            else:
                diag = tr("hub 没有运行、端口不对或被防火墙挡住", "the hub is not running, the port is wrong, or a firewall blocks it")
                rem = ["docker compose ps", "docker compose logs --tail 50 hub",
                       tr("在防火墙后面时用 SSH 隧道: scripts/tunnel.sh user@host --remote-port 8000",
                          "behind a firewall, use an SSH tunnel: scripts/tunnel.sh user@host --remote-port 8000")]
            self.r.add("hub", "FAIL", "%s: %s" % (api, text), tr("浏览器无法打开 hub", "the browser cannot open the hub"), diag, rem)
            return
        self.r.add("hub", "PASS", tr("JupyterHub %s 在 %s 应答", "JupyterHub %s answers at %s") % (version, url))

    # ---------------------------------------------------------------------------------------
    def run_all(self):
        skip = set(self.a.skip)
        self.check_python()
        if "python" not in skip:
            self.check_pip()
            self.check_numpy()
        if "conda" not in skip:
            self.check_conda()
        if "mxnet" not in skip:
            self.check_mxnet()
        if "gpu" not in skip:
            self.check_gpu()
        if "jupyter" not in skip:
            self.check_jupyter()
        host = self.a.host if self.a.host is not None else self.where == "host"
        if host and "host" not in skip:
            self.check_host()
        if self.a.hub_url:
            self.check_hub()
        self.note_skipped(skip, host)
        return self.r

    def note_skipped(self, skip, host):
        """List every check that did not run, with why, so --json readers need not guess."""
        done = set(c["name"] for c in self.r.checks) | set(s["name"] for s in self.r.skipped)
        for group, names in CHECK_GROUPS:
            for name in names:
                if name in done:
                    continue
                if group in skip:
                    why = "--skip %s" % group
                elif group == "host" and not host:
                    why = "host checks are off here (where=%s; use --host)" % self.where
                else:
                    why = NOT_APPLICABLE.get(name, "not applicable")
                self.r.skip(name, why)


CHECK_GROUPS = (
    ("always", ("python",)),
    ("python", ("pip", "numpy")),
    ("conda", ("conda", "conda-env")),
    ("mxnet", ("mxnet", "mxnet-compute")),
    ("gpu", ("gpu", "gpu-driver", "gpu-arch", "gpu-mxnet")),
    ("jupyter", ("jupyter", "jupyter-md")),
    ("host", ("docker", "docker-gpus", "disk")),
    ("hub", ("hub",)),
)
NOT_APPLICABLE = {
    "conda-env": "no environment file (./environment.yml or --env-file), or conda is missing",
    "mxnet-compute": "mxnet does not import",
    "gpu-driver": "needs a working GPU and a CUDA build of mxnet with a known CUDA version",
    "gpu-arch": "needs a working GPU and a CUDA pip wheel of mxnet (mxnet-cuXXX)",
    "gpu-mxnet": "needs a working GPU and an importable mxnet",
    "jupyter-md": "jupytext is not installed",
    "docker-gpus": "no GPU on this host (name an image with --gpu-image to test anyway)",
    "disk": "the Docker engine is not reachable",
    "hub": "no --hub-url given",
}
GROUPS = ("python", "conda", "mxnet", "gpu", "jupyter", "host")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="doctor.sh", add_help=False)
    p.add_argument("--lang", choices=("zh", "en"), default=os.environ.get("GLUONLAB_DOCTOR_LANG", "zh"))
    p.add_argument("--json", action="store_true")
    p.add_argument("--python")
    p.add_argument("--env-file")
    p.add_argument("--min-mxnet", default=MIN_MXNET_DEFAULT)
    p.add_argument("--host", dest="host", action="store_true", default=None)
    p.add_argument("--no-host", dest="host", action="store_false")
    p.add_argument("--hub-url")
    p.add_argument("--gpu-image")
    p.add_argument("--min-free-gb", type=int, default=30)
    p.add_argument("--timeout", type=int, default=60)
    p.add_argument("--where", choices=("auto", "laptop", "host", "container"), default="auto")
    p.add_argument("--skip", default="")
    a = p.parse_args(argv)
    a.skip = [s for s in a.skip.split(",") if s]
    bad = [s for s in a.skip if s not in GROUPS]
    if bad:
        p.error("--skip: unknown group(s) %s; choose from %s" % (",".join(bad), ",".join(GROUPS)))
    if P.parse_version(a.min_mxnet) is None:
        p.error("--min-mxnet: %r is not a version like 1.9.1" % a.min_mxnet)
    if a.hub_url and not a.hub_url.startswith(("http://", "https://")):
        p.error("--hub-url must start with http:// or https:// (got %r)" % a.hub_url)
    if a.timeout < 1:
        p.error("--timeout must be >= 1 second")
    a.gpu_image_given = a.gpu_image is not None
    a.gpu_image = a.gpu_image or DEFAULT_GPU_IMAGE
    return a


def main(argv):
    global LANG
    args = parse_args(argv)  # argparse exits with code 2 on bad options
    LANG = args.lang
    try:
        report = Doctor(args).run_all()
    except DoctorError as e:
        sys.stderr.write("doctor: %s\n" % e)
        return 2
    if args.json:
        print(report.json())
    else:
        print(report.text())
    return report.exit_code()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(2)
    except BrokenPipeError:  # `doctor.sh | head`: the reader left, nothing to report
        sys.exit(0)
    except Exception:  # a doctor bug must not look like a FAIL of the user's install (exit 1)
        import traceback
        traceback.print_exc()
        sys.stderr.write("doctor: internal error (exit 2); please report the traceback above\n")
        sys.exit(2)
