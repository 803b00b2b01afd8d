"""Imports every domain's models so `Base.metadata` is complete (Alembic, data map, tests)."""

from growthloop.alliance import models as alliance_models
from growthloop.analytics import models as analytics_models
from growthloop.campaigns.bargains import models as bargain_models
from growthloop.campaigns.distribution import models as distribution_models
from growthloop.campaigns.flash_sales import models as flash_sale_models
from growthloop.campaigns.group_buys import models as group_buy_models
from growthloop.campaigns.invites import models as invite_models
from growthloop.campaigns.lotteries import models as lottery_models
from growthloop.campaigns.shares import models as share_models
from growthloop.catalog import models as catalog_models
from growthloop.compliance import models as compliance_models
from growthloop.core import audit, events, idempotency
from growthloop.core import processes as process_models
from growthloop.core.models import Base
from growthloop.core.stock import sql as stock_models
from growthloop.engagement import models as engagement_models
from growthloop.identity import models as identity_models
from growthloop.loyalty import models as loyalty_models
from growthloop.mall import models as mall_models
from growthloop.orders import models as orders_models
from growthloop.payments import models as payments_models
from growthloop.promotions import models as promotions_models

metadata = Base.metadata

__all__ = [
    "alliance_models",
    "analytics_models",
    "audit",
    "bargain_models",
    "catalog_models",
    "compliance_models",
    "distribution_models",
    "engagement_models",
    "events",
    "flash_sale_models",
    "group_buy_models",
    "idempotency",
    "identity_models",
    "invite_models",
    "lottery_models",
    "loyalty_models",
    "mall_models",
    "metadata",
    "orders_models",
    "payments_models",
    "process_models",
    "promotions_models",
    "share_models",
    "stock_models",
]
