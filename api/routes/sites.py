"""Data-centre sites."""

from api import models as m
from api.routes.catalog import catalog_router

router = catalog_router("site", m.Site, m.SiteCreate, m.SiteUpdate, m.SitePublic)
