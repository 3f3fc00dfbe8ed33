"""Service settings from the environment, with embedded defaults (SQLite file, in-process index).

Every setting has a default that works on a fresh machine; deployments override by env vars.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VAR = Path(os.environ.get("YICI_VAR_DIR", REPO / "var"))


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""  # base URL printed in QR codes and SMS; default http://host:port
    store: str = "sqlite"  # sqlite | redis
    db_path: Path = VAR / "yici.sqlite3"
    redis_url: str = "redis://127.0.0.1:6379/0"
    session_ttl_hours: float = 72.0  # idle sessions expire (and are deleted) after this
    retention_days: float = 30.0  # stored conversations (masked) and analytics events are kept this long
    rate_per_minute: int = 120  # citizen requests per client per minute
    operator_tokens: list[str] = field(default_factory=list)  # console (12345 operators)
    admin_tokens: list[str] = field(default_factory=list)  # knowledge reload, analytics
    cors_origins: list[str] = field(default_factory=lambda: ["*"])  # pages that may embed the widget
    data_dir: Path | None = None  # knowledge data folder; default the one in the repository
    cache_dir: Path | None = None  # search index cache; default var/cache

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


def _tokens(name: str) -> list[str]:
    return [t.strip() for t in os.environ.get(name, "").split(",") if t.strip()]


def from_env() -> Settings:
    env = os.environ.get
    s = Settings(
        host=env("YICI_HOST", "127.0.0.1"),
        port=int(env("YICI_PORT", "8000")),
        public_url=env("YICI_PUBLIC_URL", ""),
        store=env("YICI_STORE", "sqlite"),
        db_path=Path(env("YICI_DB", str(VAR / "yici.sqlite3"))),
        redis_url=env("YICI_REDIS_URL", "redis://127.0.0.1:6379/0"),
        session_ttl_hours=float(env("YICI_SESSION_TTL_HOURS", "72")),
        retention_days=float(env("YICI_RETENTION_DAYS", "30")),
        rate_per_minute=int(env("YICI_RATE_PER_MINUTE", "120")),
        operator_tokens=_tokens("YICI_OPERATOR_TOKENS"),
        admin_tokens=_tokens("YICI_ADMIN_TOKENS"),
        cors_origins=_tokens("YICI_CORS_ORIGINS") or ["*"],
        data_dir=Path(env("YICI_DATA_DIR")) if env("YICI_DATA_DIR") else None,
        cache_dir=Path(env("YICI_CACHE_DIR")) if env("YICI_CACHE_DIR") else None,
    )
    if not s.operator_tokens or not s.admin_tokens:
        generated = _generated_tokens(s.db_path.parent / "tokens.json")
        s.operator_tokens = s.operator_tokens or [generated["operator"]]
        s.admin_tokens = s.admin_tokens or [generated["admin"]]
    return s


def _generated_tokens(path: Path) -> dict:
    """Embedded default: random tokens made once and kept beside the database (mode 600),
    so a fresh install is never open to anyone who guesses a default password."""
    if path.exists():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens = {"operator": secrets.token_urlsafe(18), "admin": secrets.token_urlsafe(18)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(tokens, f)
    return tokens
