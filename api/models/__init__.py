"""The service's tables and API models, re-exported from one place (``from api.models import Pool``)."""

from api.models.catalog import *  # noqa: F403
from api.models.money import *  # noqa: F403
from api.models.quotes import *  # noqa: F403
from api.models.work import *  # noqa: F403
