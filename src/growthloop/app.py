"""The FastAPI factory: settings -> runtime -> routers, error handlers, docs, sweeper."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import iter_route_contexts
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from growthloop import all_models, ops
from growthloop.alliance.api import router as alliance_router
from growthloop.analytics.api import router as analytics_router
from growthloop.analytics.compat_api import router as compat_ingest_router
from growthloop.analytics.ingest_api import router as ingest_router
from growthloop.campaigns.bargains.api import router as bargains_router
from growthloop.campaigns.distribution.api import router as distribution_router
from growthloop.campaigns.flash_sales.api import lanes as flash_sale_lanes
from growthloop.campaigns.flash_sales.api import router as flash_sales_router
from growthloop.campaigns.group_buys.api import router as group_buys_router
from growthloop.campaigns.invites.api import router as invites_router
from growthloop.campaigns.lotteries.api import router as lotteries_router
from growthloop.campaigns.shares.api import router as shares_router
from growthloop.catalog.api import router as catalog_router
from growthloop.compliance.api import router as compliance_router
from growthloop.core import processes
from growthloop.core.clock import Clock
from growthloop.core.config import Settings
from growthloop.core.errors import install_error_handlers
from growthloop.core.lanes import FastLanes
from growthloop.core.logs import RequestLogMiddleware
from growthloop.core.route_index import skip_unreachable_routers
from growthloop.core.url_guard import ControlCharacterGuard
from growthloop.engagement.api import router as engagement_router
from growthloop.identity.api import router as identity_router
from growthloop.identity.phone_api import router as phone_router
from growthloop.loyalty.api import router as loyalty_router
from growthloop.mall.api import router as mall_router
from growthloop.orders.api import router as orders_router
from growthloop.payments.api import router as payments_router
from growthloop.payments.api import sandbox_router
from growthloop.profiles.api import router as profiles_router
from growthloop.promotions.api import router as promotions_router
from growthloop.wiring import AppRuntime, build_runtime

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
SWEEPER_LOCK = ".sweeper.lock"

API_DESCRIPTION = """growthloop: the store, members, fission marketing and analytics for
merchants who sell through mini-programs. Money is integer fen; times are ISO 8601 with
offset. Errors are `{"error": {"code", "message", "details"}}`."""


class GrowthloopAPI(FastAPI):
    """FastAPI behind its front: the request id and log line, the control-character guard
    and the fast lanes (`core.lanes`), in that order. A request a lane answers never
    enters Starlette's middleware stack or FastAPI's routing."""

    front: ASGIApp | None = None

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self  # what Starlette sets, for a lane's `request.app`
        await (self.front or self.framework)(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    runtime: AppRuntime | None = None,
    run_sweeper: bool | None = None,
) -> FastAPI:
    settings = settings or Settings()
    rt = runtime or build_runtime(settings, clock)
    sweep = settings.run_sweeper if run_sweeper is None else run_sweeper

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Records the PII keys this process holds; refuses to start without one the data uses.
        heartbeat = await processes.begin(rt.db, "serve", all_models.metadata)
        if sweep:
            # One sweeper among the `serve` processes sharing this data dir.
            rt.sweeper.start(lead_lock=settings.data_dir / SWEEPER_LOCK)
        # FastAPI builds each included router's route table (every route's dependencies
        # and schemas) on the first request that reaches it: seconds of CPU in all, paid
        # here rather than by the first customers.
        built = sum(1 for _route in iter_route_contexts(app.routes))
        log.debug("route tables built: %d routes", built)
        # What start-up made (the models, the routes, the schemas) lives as long as the
        # process: out of the collector's sight, its full passes stop walking it.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await rt.sweeper.stop()
            await heartbeat.stop()
            await rt.counters.close()
            await rt.stock.close()
            await rt.analytics.close()
            await rt.db.dispose()

    app = GrowthloopAPI(
        title="growthloop",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = rt
    install_error_handlers(app)
    lanes = [*ops.lanes(rt), *flash_sale_lanes(rt), *rt.menu_cache.lanes()]
    app.front = RequestLogMiddleware(ControlCharacterGuard(FastLanes(app.framework, lanes)))

    for router in (
        identity_router,
        catalog_router,
        orders_router,
        payments_router,
        loyalty_router,
        promotions_router,
        phone_router,
        alliance_router,
        compliance_router,
        mall_router,
        profiles_router,
        flash_sales_router,
        group_buys_router,
        bargains_router,
        distribution_router,
        invites_router,
        shares_router,
        lotteries_router,
        engagement_router,
        ingest_router,
        compat_ingest_router,
        analytics_router,
    ):
        app.include_router(router)
    if settings.sandbox:
        app.include_router(sandbox_router)

    # Vendored static files (Swagger UI, later ECharts): the docs work with no internet.
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="growthloop API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
        )

    app.include_router(ops.router)
    skip_unreachable_routers(app.router.routes)
    return app
