"""Settings from the environment (prefix GROWTHLOOP_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from growthloop.core.crypto import PIIKeyError, parse_keys

DEV_SECRET = "dev-insecure-secret-change-me"  # noqa: S105 - refused outside dev


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GROWTHLOOP_", extra="ignore")

    env: str = Field("dev", description="dev | test | prod")
    data_dir: Path = Path("./data")
    database_url: str | None = None
    events_url: str | None = None
    redis_url: str | None = None
    # Every key this deployment writes in Redis starts with it: several deployments (or
    # test runs) can share one Redis.
    redis_prefix: str = Field("gl:", pattern=r"^[\w:.-]{1,64}$")
    secret_key: str = DEV_SECRET
    # PII encryption keys, "kid:base64key,kid2:base64key" (32-byte keys, the last one
    # encrypts; `growthloop compliance rotate-keys` moves old values onto it). Unset: one
    # key derived from secret_key (see growthloop.core.crypto).
    pii_keys: str | None = None

    dev_login: bool = False
    sandbox: bool = False

    payment_window_minutes: int = Field(15, ge=1, le=24 * 60)
    member_token_days: int = Field(30, ge=1)
    admin_token_hours: int = Field(12, ge=1)
    sweep_interval_seconds: float = Field(5.0, gt=0)
    run_sweeper: bool = True
    log_level: str = "INFO"
    # auto: readable lines at a terminal, JSON otherwise; json | text force one.
    log_format: Literal["auto", "json", "text"] = "auto"
    db_pool_size: int = Field(30, ge=1, le=500, description="per process; PostgreSQL only")
    admin_login_attempts_per_minute: int = Field(10, ge=1)
    stock_backend: str = Field(
        "auto",
        pattern="^(auto|memory|sql|redis)$",
        description="campaign stock: auto = redis with a Redis URL, else memory on SQLite, "
        "else sql",
    )
    # Flash-sale purchase attempts per 10 s. Many shoppers share one address behind a
    # carrier's NAT or a campus network, so the per-address limit is loose.
    flash_sale_attempts_per_member: int = Field(20, ge=1)
    flash_sale_attempts_per_ip: int = Field(2000, ge=1)
    # 注销: days a deletion request waits (the member may cancel) before it is carried out;
    # always within the 15 working days the rules allow.
    deletion_cooling_days: int = Field(7, ge=0, le=15)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env not in {"dev", "test"} and self.secret_key == DEV_SECRET:
            raise ValueError(
                "GROWTHLOOP_SECRET_KEY must be set to a random value outside dev "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        if len(self.secret_key) < 16:
            raise ValueError("GROWTHLOOP_SECRET_KEY must be at least 16 characters")
        if self.pii_keys:
            try:
                parse_keys(self.pii_keys)
            except PIIKeyError as e:
                raise ValueError(str(e)) from None
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'growthloop.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
