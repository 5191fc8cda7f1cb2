"""Data-centre sites."""

from api import models as m
from api.crud_router import catalog_router

router = catalog_router("site", m.Site, m.SiteCreate, m.SiteUpdate, m.SitePublic)
