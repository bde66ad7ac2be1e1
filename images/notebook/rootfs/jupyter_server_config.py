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
