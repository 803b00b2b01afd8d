from __future__ import annotations

from fastapi import APIRouter

from growthloop.core.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, tags=["promotions"])
