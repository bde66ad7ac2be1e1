"""The checks, one module per area. Importing this package registers them, in this order,
which is the order they run and print in (a check may need facts only from earlier ones)."""
from . import python_env, conda, mxnet, gpu, jupyter, storage, host, hub  # noqa: F401 (registers the checks)

AREAS = (python_env, conda, mxnet, gpu, jupyter, storage, host, hub)
