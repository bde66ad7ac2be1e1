# Gluon Lab: at the start of every Python kernel (and interactive python in a terminal), warn
# when the home folder is over 90 % full. PYTHONSTARTUP points here (start-notebook.sh). Under
# the hub each home is its own size-limited file system (gluonlab_hub/homes.py); once it is
# full, saving a notebook fails. In a notebook the warning shows once, in the first cell's output,
# and the home is measured then, not at the kernel's start: a warm kernel (gluonlab_kernels.py) is
# started long before an attendee's first cell, and its home may have filled in between.
def _gluonlab_home_warning():
    import os
    import shutil

    home = os.path.expanduser("~")
    try:
        if not os.path.ismount(home):
            return None
        usage = shutil.disk_usage(home)
    except OSError:
        return None
    percent = 100.0 * (usage.total - usage.free) / usage.total if usage.total else 0.0
    if percent < 90:
        return None
    free, total = usage.free // 2 ** 20, usage.total // 2 ** 20
    return ("注意：主目录已用 %.0f%%（剩余 %d MiB，共 %d MiB）。请删除不再需要的文件（例如 ~/.mxnet 里的数据集），"
            "否则笔记本将无法保存。/ Warning: your home folder is %.0f%% full (%d MiB of %d MiB free). Delete files "
            "you no longer need (e.g. data sets in ~/.mxnet), or saving notebooks will fail."
            % (percent, free, total, percent, free, total))


def _gluonlab_show_home_warning():
    import sys

    measure = _gluonlab_home_warning
    try:
        shell = get_ipython()  # noqa: F821  (defined in IPython kernels)
    except NameError:
        message = measure()
        if message is not None:
            print(message, file=sys.stderr)
        return

    # pre_run_cell fires for the attendee's cells only: silent runs (the warm-up) do not fire it.
    def show(*_args):
        shell.events.unregister("pre_run_cell", show)
        message = measure()
        if message is not None:
            print(message, file=sys.stderr)

    shell.events.register("pre_run_cell", show)


_gluonlab_show_home_warning()
del _gluonlab_home_warning, _gluonlab_show_home_warning
