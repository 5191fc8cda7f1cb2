"""Organisations (SMEs, large enterprises, research institutes, key projects)."""

from api import models as m
from api.crud_router import catalog_router

router = catalog_router("org", m.Org, m.OrgCreate, m.OrgUpdate, m.OrgPublic, own_only=True)
