# Gluon Lab's JupyterHub configuration: wiring only. The settings come from the schema
# (gluonlab_hub.settings: environment variables, validated once); what they turn into, one
# function per concern, from gluonlab_hub.hub_config.
from gluonlab_hub.hub_config import configure
from gluonlab_hub.settings import Settings

configure(get_config(), Settings.from_env())  # noqa: F821  (get_config is injected by JupyterHub)
