"""The FastAPI service: JSON API under /api/v1, the demo host page with the citizen widget at
/, the hotline console at /console and the kiosk at /kiosk.

Routes only translate HTTP to api.service.Service and back; errors are always JSON with a
stable code and a Chinese message.
"""
from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Callable, Optional

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import schemas as S
from .config import Settings, from_env
from .service import ApiError, Service
from .store import Store

HERE = Path(__file__).parent
log = logging.getLogger("yici.api")
ERRORS = {k: {"model": S.ErrorResponse} for k in (400, 401, 403, 404, 409, 413, 415, 422, 429)}
HTTP_CODES = {400: ("bad_request", "请求体无法解析（应为 UTF-8 编码的 JSON）。"), 404: ("not_found", "没有这个地址。"), 405: ("method_not_allowed", "不支持该请求方法。"),
              413: ("too_large", "请求内容过大。")}


class SafeJSONResponse(JSONResponse):
    """JSON that cannot fail to encode: a lone surrogate echoed from the input becomes '?'."""

    def render(self, content) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8", "replace")


def problem_text(e: dict) -> str:
    """pydantic's error, said in Chinese for the person reading it."""
    kind, ctx = e.get("type", ""), e.get("ctx") or {}
    if kind == "missing":
        return "缺少"
    if kind == "extra_forbidden":
        return "是不认识的字段"
    if kind in ("string_too_long", "too_long"):
        return f"过长（最多{ctx.get('max_length', '')}字）" if kind == "string_too_long" else "过长"
    if kind in ("string_too_short", "too_short"):
        return "不能为空"
    if kind == "literal_error":
        return f"取值应为 {ctx.get('expected', '')}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = next(iter(ctx.values()), "")
        return f"超出范围（{ {'greater_than_equal': '≥', 'less_than_equal': '≤', 'greater_than': '>', 'less_than': '<'}[kind]}{bound}）"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return "类型不对"
    return "无效"


def build_service(settings: Settings) -> Service:
    """The embedded default: knowledge from the repository (pickled per version under the cache),
    the index in-process, sessions in the configured store."""
    from knowledge.loader import load_cached

    from assistant.search.dense import DEFAULT_CACHE
    from assistant.search.identify import Identifier

    from .store import open_store

    cache = settings.cache_dir or DEFAULT_CACHE
    kb = load_cached(cache, settings.data_dir)
    last: list = []

    def identifier(kb):  # one model for every knowledge version; unchanged texts keep their vectors
        previous = last[0] if last else None
        found = Identifier(kb, previous.model if previous else None, cache_dir=cache, progress=True, reuse=previous)
        last[:1] = [found]
        return found

    return Service(kb, identifier, open_store(settings), base_url=settings.base_url, data_dir=settings.data_dir)


class RateLimiter:
    """Token bucket per client address, kept in the session store: the workers (and hosts) that
    share a store share the limit, instead of each granting it anew. A store that cannot be
    reached lets the request through (the request itself then fails or succeeds on its own)."""

    def __init__(self, per_minute: int, store: Callable[[], Store]):
        self.per_minute, self.store = per_minute, store

    def allow(self, client: str) -> bool:
        try:
            return self.store().take_token(client, self.per_minute)
        except Exception:  # noqa: BLE001 - a limiter outage must not take the service down
            log.warning("rate limiter unavailable; request allowed", exc_info=True)
            return True


def create_app(settings: Optional[Settings] = None, service: Optional[Service] = None) -> FastAPI:
    settings = settings or from_env()
    holder: dict[str, Service] = {}
    limiter = RateLimiter(settings.rate_per_minute, lambda: holder["service"].store)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        holder["service"] = service or build_service(settings)
        log.info("ready: knowledge %s", holder["service"].kb.version)
        yield

    app = FastAPI(title="一次告知 API", version="1.0.0", lifespan=lifespan, default_response_class=SafeJSONResponse,
                  description="政务服务“一件事”导办：会话问答、个性化一次告知清单、检索与评价。错误均为 JSON："
                              "{\"error\": {\"code\": 稳定代码, \"message\": 中文说明}}。")
    # The widget is embedded in other sites' pages; no cookies cross origins (operators send a
    # bearer token), so allowing any origin exposes nothing a plain request could not get.
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                       allow_methods=["GET", "POST", "PATCH"], allow_headers=["Content-Type", "Authorization"],
                       max_age=600)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def svc() -> Service:
        return holder["service"]

    # ------------------------------------------------------------------ errors
    def error(status: int, code: str, message: str, headers: Optional[dict] = None, **extra) -> JSONResponse:
        headers = {**(headers or {}), **({"Retry-After": "60"} if status == 429 else {})}
        return SafeJSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status,
                                headers=headers or None)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return error(exc.status, exc.code, exc.message, **(exc.detail or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        fields = []
        for e in errors:
            # union members (TextMessage/OptionMessage) are part of the location, not field names
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body" and not str(p)[:1].isupper())
            fields.append({"field": where, "problem": problem_text(e), "type": e.get("type")})
        kinds = {e.get("type") for e in errors}
        if kinds & {"json_invalid", "json_type"}:
            message = "请求体不是有效的 JSON。"
        elif request.url.path.endswith("/messages") and kinds <= {"missing", "extra_forbidden", "model_type",
                                                                   "model_attributes_type", "dict_type"}:
            message = "请提供 text（文字）或 option（选项）其中之一。"
        else:
            message = "请求参数有误：" + "；".join(dict.fromkeys(
                f"{f['field'] or '请求体'}{f['problem']}" for f in fields[:5]))
        return error(422, "invalid_request", message, fields=fields[:20])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code, message = HTTP_CODES.get(exc.status_code, ("http_error", f"请求无法处理（HTTP {exc.status_code}）。"))
        return error(exc.status_code, code, message, headers=exc.headers)  # e.g. Allow on a 405

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception):  # never a bare 500 page; the cause goes to the log
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error(500, "internal_error", "服务内部错误，请稍后再试。")

    # ------------------------------------------------------------------ access
    def citizen(request: Request) -> None:
        client = request.client.host if request.client else "-"
        if not limiter.allow(client):
            raise ApiError(429, "rate_limited", "请求过于频繁，请稍后再试。")

    def _token(request: Request) -> str:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return request.cookies.get("yici_token", "")

    def operator(request: Request) -> None:
        token = _token(request)
        if not token:
            raise ApiError(401, "auth_required", "请先登录（坐席口令）。")
        if token not in settings.operator_tokens and token not in settings.admin_tokens:
            raise ApiError(403, "forbidden", "口令无效或无权访问。")

    def admin(request: Request) -> None:
        token = _token(request)
        if not token:
            raise ApiError(401, "auth_required", "请先登录（管理口令）。")
        if token not in settings.admin_tokens:
            raise ApiError(403, "forbidden", "需要管理员口令。")

    # ------------------------------------------------------------------ citizen API
    v1 = "/api/v1"

    @app.post(f"{v1}/sessions", response_model=S.SessionReply, status_code=201, responses=ERRORS,
              dependencies=[Depends(citizen)], tags=["会话"], summary="开始会话")
    def create_session(body: S.SessionCreate):
        return svc().create_session(body.region, body.channel)

    @app.get(f"{v1}/sessions/{{session_id}}", response_model=S.SessionReply, responses=ERRORS,
             dependencies=[Depends(citizen)], tags=["会话"], summary="会话当前状态（页面刷新后恢复）")
    def get_session(session_id: str):
        return svc().get_session(session_id)

    @app.post(f"{v1}/sessions/{{session_id}}/messages", response_model=S.SessionReply, responses=ERRORS,
              dependencies=[Depends(citizen)], tags=["会话"], summary="发送文字或选项")
    def post_message(session_id: str, body: S.MessageIn):
        if isinstance(body, S.TextMessage):
            return svc().message(session_id, text=body.text)
        return svc().message(session_id, option=body.option)

    @app.patch(f"{v1}/sessions/{{session_id}}/selection", response_model=S.Checklist, responses=ERRORS,
               dependencies=[Depends(citizen)], tags=["会话"], summary="勾选或取消可选事项，返回重算的清单")
    def patch_selection(session_id: str, body: S.Selection):
        return svc().set_selection(session_id, body.root)

    @app.get(f"{v1}/sessions/{{session_id}}/checklist", responses={**ERRORS, 200: {
        "content": {"application/json": {}, "text/html": {}, "text/plain": {}}}},
             dependencies=[Depends(citizen)], tags=["会话"], summary="一次告知清单（json/html/text/speech）")
    def get_checklist(session_id: str, format: S.ChecklistFormat = Query("json", description="json | html（A4 可打印，浏览器可另存为PDF）| text（短信）| speech（语音播报）"),
                      long: bool = Query(False, description="text 格式时输出完整版而非短信版")):
        content, media = svc().checklist(session_id, format, long)
        if format == "json":
            return SafeJSONResponse(content)
        return Response(content, media_type=media)

    @app.post(f"{v1}/sessions/{{session_id}}/feedback", status_code=201, responses=ERRORS,
              dependencies=[Depends(citizen)], tags=["会话"], summary="好差评")
    def post_feedback(session_id: str, body: S.FeedbackIn):
        return svc().feedback(session_id, body.rating, body.comment)

    @app.get(f"{v1}/regions", response_model=list[S.Region], tags=["目录"], summary="地区列表")
    def regions():
        return svc().regions()

    @app.get(f"{v1}/regions/{{region}}/scenarios", response_model=list[S.ScenarioSummary], responses=ERRORS,
             tags=["目录"], summary="地区发布的一件事")
    def region_scenarios(region: str):
        return svc().scenarios(region)

    # ------------------------------------------------------------------ operator API (console)
    @app.get(f"{v1}/scenarios/{{scenario_id}}", responses=ERRORS, dependencies=[Depends(operator)],
             tags=["坐席"], summary="一件事的完整指南（所有情形）")
    def scenario_guide(scenario_id: str, region: str = Query(..., min_length=1, max_length=64)):
        return svc().scenario_guide(scenario_id, region)

    @app.get(f"{v1}/search", responses=ERRORS, dependencies=[Depends(operator)], tags=["坐席"],
             summary="检索一件事和单项事项")
    def search(q: str = Query(..., max_length=500), region: str = Query(..., min_length=1, max_length=64)):
        return svc().search(q, region)

    @app.get(f"{v1}/matters/{{key:path}}", responses=ERRORS, dependencies=[Depends(operator)], tags=["坐席"],
             summary="单项事项指南")
    def matter_guide(key: str, region: str = Query(..., min_length=1, max_length=64)):
        return svc().matter_guide(key, region)

    @app.post(f"{v1}/auth/check", responses=ERRORS, dependencies=[Depends(operator)], tags=["坐席"],
              summary="验证坐席口令")
    def auth_check():
        return {"ok": True}

    # ------------------------------------------------------------------ admin API
    @app.post(f"{v1}/admin/reload", responses=ERRORS, dependencies=[Depends(admin)], tags=["管理"],
              summary="重新加载知识库（有误则拒绝并保留原版本）")
    def reload():
        return svc().reload()

    @app.get(f"{v1}/admin/analytics", responses=ERRORS, dependencies=[Depends(admin)], tags=["管理"],
             summary="未匹配的提问、各问卷流失点、评价")
    def analytics(days: float = Query(30.0, gt=0, le=3650)):
        return svc().analytics(days)

    @app.get("/healthz", tags=["运维"])
    def healthz():
        s = svc()
        found = s.engine.identifier  # packaged.StartingModel answers via its engine until then
        ready = all(getattr(m, "ready", True) for m in (found.model, found.companion))
        return {"status": "ok", "knowledge_version": s.kb.version, "store": s.store.ping(),
                "sentence_transformers": ready}

    # ------------------------------------------------------------------ pages
    def page(request: Request, name: str, **ctx) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"regions": svc().regions(), **ctx})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def demo(request: Request, region: str = "dongying"):
        return page(request, "demo.html", region=region)

    @app.get("/console", response_class=HTMLResponse, include_in_schema=False)
    def console(request: Request):
        return page(request, "console.html")

    @app.get("/kiosk", response_class=HTMLResponse, include_in_schema=False)
    def kiosk(request: Request, region: str = "dongying"):
        return page(request, "kiosk.html", region=region)

    @app.get("/robots.txt", response_class=PlainTextResponse, include_in_schema=False)
    def robots():
        return "User-agent: *\nDisallow: /api/\n"

    return app
