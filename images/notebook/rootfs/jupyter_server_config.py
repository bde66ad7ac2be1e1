# Jupyter Server settings baked into every Gluon Lab notebook image.
c = get_config()  # noqa: F821  (injected by Jupyter)

# Open notedown-style .md tutorials as notebooks: jupytext's contents manager pairs text
# notebooks with the notebook model (notedown's own manager does not work with JupyterLab 4).
# The server extension module is jupyterlab_jupytext ("jupytext" itself has no loader and
# fails with ExtensionLoadingError at every start).
c.ServerApp.jpserver_extensions = {"jupyterlab_jupytext": True}
c.ContentsManager.allow_hidden = False

# Teaching lab: no news/update pings to the internet from every attendee's browser.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"

# Resource-usage panel: show memory against the container limit the hub sets.
c.ResourceUseDisplay.track_cpu_percent = True

# A full home (its own size-limited file system under the hub: gluonlab_hub/homes.py) makes every
# save fail with "No space left on device" inside a generic "Unexpected error" 500. Say instead,
# in both languages, what happened and what to do; JupyterLab shows the message in its
# "File Save Error" dialog. This wraps jupytext's contents manager (which turns every error,
# ours included, into that 500), so the jupytext extension keeps it as it is.
import errno  # noqa: E402
import sqlite3  # noqa: E402

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager  # noqa: E402
from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class  # noqa: E402
from tornado import web  # noqa: E402

HOME_FULL = ("你的主目录已满，文件没有保存。请删除不再需要的文件（例如 ~/.mxnet 里的数据集、旧的模型参数），"
             "然后再保存；终端里 du -sh ~/* ~/.[!.]* 可以看到哪些文件最大。"
             " / Your home folder is full, so the file was not saved. Delete files you no longer need (e.g. data "
             "sets in ~/.mxnet, old model parameters), then save again; in a terminal, du -sh ~/* ~/.[!.]* shows "
             "what is largest.")


def _disk_full(error):
    while error is not None:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        # Saving also signs the notebook in ~/.local/share/jupyter/nbsignatures.db: on a full
        # home SQLite says so in its own words (SQLITE_FULL), not as an OSError.
        if isinstance(error, sqlite3.OperationalError) and "disk is full" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


class LabContentsManager(build_async_jupytext_contents_manager_class(AsyncLargeFileManager)):
    async def save(self, model, path=""):
        try:
            return await super().save(model, path)
        except Exception as error:
            if _disk_full(error):
                # 507 Insufficient Storage: the request was fine, the home has no room for it.
                raise web.HTTPError(507, HOME_FULL) from error
            raise


c.ServerApp.contents_manager_class = LabContentsManager


# Warm kernels (README "Warm kernels"): a kernel with MXNet imported waits for the first notebook;
# kernels get thread counts from the container's CPU limit. The module is on the server's path
# only (this file is read by the server, never by kernels).
import sys  # noqa: E402

sys.path.insert(0, "/opt/gluonlab/lib")
c.ServerApp.kernel_manager_class = "gluonlab_kernels.WarmKernelManager"
c.ServerApp.jpserver_extensions["gluonlab_kernels"] = True
