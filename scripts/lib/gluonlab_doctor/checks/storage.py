"""home-space: room left in the home folder where it is its own file system (under the hub each
attendee's home is one, of GLUONLAB_HOME_SIZE: gluonlab_hub/homes.py)."""
import os

from ..registry import check

WARN_PERCENT = 90
# Below this a save of a notebook with outputs, or a pip install, fails: as good as full.
FULL_FREE_MIB = 16


@check("home-space", group="jupyter", help="(lab servers) room left in the home folder, its own size-limited file system")
def home_space(ctx):
    t = ctx.t
    home = os.path.expanduser("~")
    if not os.path.ismount(home):
        ctx.not_applicable()  # on the root file system: the disk check (--host) speaks for it
    st = os.statvfs(home)
    size = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    percent = 100.0 * (size - free) / size if size else 100.0
    found = t("home_space.found", path=home, used=(size - free) / 2.0 ** 20, size=size / 2.0 ** 20,
              percent=percent, free=free / 2.0 ** 20)
    remedy = [t("cmd.home_space.du"), t("home_space.remedy.delete"), t("home_space.remedy.staff")]
    if free < FULL_FREE_MIB * 2 ** 20 or percent >= 99:
        return ctx.fail(found, t("home_space.full.symptom"), t("home_space.diagnosis"), remedy)
    if percent >= WARN_PERCENT:
        return ctx.warn(found, t("home_space.almost.symptom"), t("home_space.diagnosis"), remedy)
    return ctx.passed(found)
