"""Fail loudly when the PostgreSQL or Redis that the tests need cannot be reached,
and create the CI database."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg  # type: ignore[import-untyped]
from redis.asyncio import Redis
from sqlalchemy.engine import make_url


async def main() -> int:
    pg_url = os.environ["GROWTHLOOP_TEST_DATABASE_URL"]
    redis_url = os.environ["GROWTHLOOP_TEST_REDIS_URL"]
    url = make_url(pg_url)
    try:
        conn = await asyncpg.connect(
            url.set(drivername="postgresql", database="postgres").render_as_string(False),
            timeout=10,
        )
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", url.database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{url.database}"')
        await conn.close()
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"FATAL: PostgreSQL at {url.host}:{url.port} is unreachable: {exc}", file=sys.stderr)
        return 1
    try:
        redis = Redis.from_url(redis_url, socket_connect_timeout=5)
        await redis.ping()
        await redis.aclose()
    except Exception as exc:
        print(f"FATAL: Redis at {redis_url} is unreachable: {exc}", file=sys.stderr)
        return 1
    print(f"services ok: PostgreSQL {url.host}:{url.port}/{url.database}, Redis {redis_url}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
