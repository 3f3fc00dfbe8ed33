"""What the HTTP endpoints do, without HTTP: sessions, turns, checklists, guides, search,
feedback, knowledge reload and analytics. The FastAPI layer (app.py) only maps this to routes.

A turn is serialised per session (a lock in this process, compare-and-swap in the store
across processes), so two messages sent at once are both applied, one after the other.
Each session keeps the knowledge version it started on; a reload installs a new version for
new sessions while the old one finishes the ongoing ones.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
import unicodedata
import weakref
from collections import Counter, OrderedDict, deque
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Optional

from assistant import checklist as C
from assistant.dialogue import DialogueError, Engine, Reply
from assistant.render import render_html, render_speech, render_text
from assistant.state import DialogueState
from knowledge.conditions import describe, parse
from knowledge.loader import KnowledgeBase, KnowledgeError

from .privacy import mask
from .store import SessionRecord, Store

log = logging.getLogger("yici.api")

CHANNELS = ("web", "hotline", "kiosk")
FORMATS = {"json": "application/json", "html": "text/html; charset=utf-8", "text": "text/plain; charset=utf-8",
           "speech": "text/plain; charset=utf-8"}
FOLLOW_EVERY = 5.0  # seconds between looks for a knowledge reload made by another process
PURGE_EVERY = 3600.0  # seconds between purges of expired sessions and events
KEEP_VERSIONS = 3  # knowledge versions kept in memory for sessions that started on them


class ApiError(Exception):
    """An error the client can act on: HTTP status, a stable code and a Chinese message."""

    def __init__(self, status: int, code: str, message: str, detail: Optional[dict] = None):
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


def clean(text: str) -> str:
    """Text as typed, minus what no person types: control and format characters, lone
    surrogates (invalid UTF-16 halves that JSON can carry); newlines and tabs become spaces."""
    return "".join(" " if ch in "\n\t\r" else ch for ch in text
                   if ch in "\n\t\r" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))


def not_found(what: str) -> ApiError:
    return ApiError(404, "session_not_found" if what == "session" else f"{what}_not_found",
                    {"session": "会话不存在或已过期，请重新开始。", "region": "未知的地区。",
                     "scenario": "未知的一件事。", "matter": "未知的事项。"}[what])


class Service:
    def __init__(self, kb: KnowledgeBase, identifier_factory: Callable[[KnowledgeBase], object], store: Store,
                 base_url: str = "", today: Optional[dt.date] = None, data_dir: Optional[Path] = None):
        self.store = store
        self.base_url = base_url.rstrip("/")
        self.today = today
        self.data_dir = data_dir
        self._identifier_factory = identifier_factory
        self._engines: "OrderedDict[str, Engine]" = OrderedDict()
        self._reload_lock = threading.Lock()
        self._session_locks: "weakref.WeakValueDictionary[str, threading.Lock]" = weakref.WeakValueDictionary()
        self._locks_guard = threading.Lock()
        self._purged = 0.0
        self.follow_every = FOLLOW_EVERY
        self._followed, self._reload_seen = 0.0, time.time()  # reloads before this start are on disk already
        self._install(kb)

    # ------------------------------------------------------------------ knowledge versions
    def _install(self, kb: KnowledgeBase) -> Engine:
        engine = Engine(kb, self._identifier_factory(kb), today=self.today)
        self._engines[kb.version] = engine
        self._engines.move_to_end(kb.version)
        while len(self._engines) > KEEP_VERSIONS:
            self._engines.popitem(last=False)
        return engine

    @property
    def engine(self) -> Engine:
        return next(reversed(self._engines.values()))

    @property
    def kb(self) -> KnowledgeBase:
        return self.engine.kb

    def _engine_for(self, state: DialogueState) -> Engine:
        return self._engines.get(state.knowledge_version or "", self.engine)

    def reload(self, expect: Optional[str] = None) -> dict:
        """Load the knowledge files again. A broken file raises ApiError with the precise errors
        and the current knowledge keeps serving. `expect`: install only that version (following
        a reload another process made), not whatever the files hold now."""
        from knowledge.loader import load

        with self._reload_lock:
            try:
                kb = load(self.data_dir) if self.data_dir else load()
            except KnowledgeError as exc:
                raise ApiError(422, "knowledge_invalid", "知识库文件有误，未加载，仍使用原版本。",
                               {"errors": [{"file": p.file, "key": p.key, "problem": p.message} for p in exc.problems][:50]}) from exc
            old = self.kb.version
            if expect is not None:
                if kb.version == expect and expect != old:
                    self._install(kb)
                return {"knowledge_version": self.kb.version, "previous": old, "changed": self.kb.version != old}
            if kb.version != old:
                self._install(kb)
            self.store.add_event("reload", {"from": old, "to": kb.version})
            return {"knowledge_version": kb.version, "previous": old, "changed": kb.version != old}

    def _follow_reloads(self) -> None:
        """The admin's reload reaches one process; the others (workers, hosts sharing the store)
        see its event here, at most every `follow_every` seconds, and load the same version."""
        now = time.time()
        if now - self._followed < self.follow_every:
            return
        self._followed = now
        latest = list(self.store.events("reload", since=self._reload_seen))
        if not latest:
            return
        self._reload_seen = latest[-1]["at"]
        if latest[-1]["to"] != self.kb.version:
            try:
                self.reload(expect=latest[-1]["to"])
            except ApiError:
                log.warning("knowledge reload by another process could not be followed; serving %s", self.kb.version)

    # ------------------------------------------------------------------ sessions and turns
    def create_session(self, region: str, channel: str) -> dict:
        if channel not in CHANNELS:
            raise ApiError(422, "unknown_channel", f"未知的渠道：{channel}（可选 web、hotline、kiosk）")
        self._follow_reloads()  # new sessions start on the newest knowledge; ongoing ones keep theirs
        try:
            reply = self.engine.start(region, channel)
        except DialogueError as exc:
            raise ApiError(404 if exc.code == "unknown_region" else 422, exc.code, str(exc)) from exc
        record = SessionRecord(id=secrets.token_urlsafe(16), region=region, channel=channel,
                               state=reply.state.to_dict())
        record.last = self._payload(record.id, reply)
        self.store.create(record)
        self.store.add_event("session", {"region": region, "channel": channel})
        self._purge_now_and_then()
        return record.last

    def _purge_now_and_then(self) -> None:
        """Idle sessions and old events go at most once an hour (retention settings)."""
        now = time.time()
        if now - self._purged >= PURGE_EVERY:
            self._purged = now
            removed = self.store.purge()
            if removed:
                log.info("purged %d expired sessions/events", removed)

    def get_session(self, session_id: str) -> dict:
        return self._record(session_id).last

    def message(self, session_id: str, text: Optional[str] = None, option: Optional[str] = None) -> dict:
        if (text is None) == (option is None):
            raise ApiError(422, "text_or_option", "请提供 text（文字）或 option（选项）其中之一。")
        if text is not None:
            text = mask(clean(text))
        if option is not None:
            option = clean(option)

        def turn(engine: Engine, state: DialogueState) -> Reply:
            return engine.handle(state, text=text, option=option)

        payload = self._turn(session_id, turn)
        self._record_analytics(session_id, payload, text)
        return payload

    def set_selection(self, session_id: str, changes: dict[str, bool]) -> dict:
        return self._turn(session_id, lambda engine, state: engine.select(state, changes))["checklist"]

    def checklist(self, session_id: str, fmt: str = "json", long: bool = False) -> tuple[object, str]:
        if fmt not in FORMATS:
            raise ApiError(422, "unknown_format", f"未知的格式：{fmt}（可选 json、html、text、speech；PDF 请打印 html 格式另存）")
        record = self._record(session_id)
        state = DialogueState.from_dict(record.state)
        if not state.scenario:
            raise ApiError(409, "no_scenario", "还没有确定要办的一件事，暂无清单。")
        engine = self._engine_for(state)
        result = C.build(engine.kb, state.scenario, state.region, state.answers, state.selection, self._today())
        url = self.checklist_url(session_id)
        if fmt == "json":
            return self._checklist_dict(result, session_id), FORMATS[fmt]
        if fmt == "html":
            return render_html(result, url), FORMATS[fmt]
        if fmt == "text":
            return render_text(result, url, long=long), FORMATS[fmt]
        return render_speech(result), FORMATS[fmt]

    def feedback(self, session_id: str, rating: int, comment: str) -> dict:
        record = self._record(session_id)
        self.store.add_event("feedback", {"session": session_id, "rating": rating, "comment": mask(clean(comment))[:500],
                                          "scenario": record.state.get("scenario"), "region": record.region,
                                          "channel": record.channel})
        return {"ok": True, "message": "感谢您的评价！"}

    def checklist_url(self, session_id: str) -> str:
        return f"{self.base_url}/api/v1/sessions/{session_id}/checklist?format=html"

    def _record(self, session_id: str) -> SessionRecord:
        record = self.store.get(session_id) if 8 <= len(session_id) <= 64 else None
        if record is None:
            raise not_found("session")
        return record

    def _lock(self, session_id: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._session_locks.get(session_id)
            if lock is None:
                lock = threading.Lock()
                self._session_locks[session_id] = lock
            return lock

    def _turn(self, session_id: str, turn: Callable[[Engine, DialogueState], Reply]) -> dict:
        lock = self._lock(session_id)  # held in a local: the weak dict keeps it while in use
        for _ in range(8):
            with lock:
                record = self._record(session_id)
                state = DialogueState.from_dict(record.state)
                try:
                    reply = turn(self._engine_for(state), state)
                except DialogueError as exc:
                    raise ApiError(409 if exc.code == "no_scenario" else 422, exc.code, str(exc)) from exc
                record.state = reply.state.to_dict()
                record.last = self._payload(session_id, reply)
                if self.store.save(record):  # another process may have saved first: replay on its state
                    return record.last
            time.sleep(0.01)
        raise ApiError(409, "busy", "该会话正在处理其他消息，请稍后再试。")

    # ------------------------------------------------------------------ payloads
    def _payload(self, session_id: str, reply: Reply) -> dict:
        state = reply.state
        engine = self._engine_for(state)
        scenario = engine.kb.scenarios.get(state.scenario) if state.scenario else None
        question = None
        if reply.question and scenario:
            question = {"id": reply.question, "text": scenario.questions[reply.question].text}
        return {
            "session_id": session_id,
            "reply": reply.text,
            "kind": reply.kind,
            "options": reply.options,
            "region": state.region,
            "channel": state.channel,
            "scenario": state.scenario,
            "scenario_name": scenario.regions[state.region].name if scenario and state.region in scenario.regions else None,
            "question": question,
            "answers": dict(state.answers),
            "answer_summary": C.answer_summary(scenario, state.answers) if scenario else [],
            "done": reply.done and reply.kind == "checklist",
            "checklist": self._checklist_dict(reply.checklist, session_id) if reply.checklist else None,
            "knowledge_version": state.knowledge_version,
        }

    def _checklist_dict(self, result: C.Checklist, session_id: str) -> dict:
        data = result.to_dict()
        data["links"] = {f: f"{self.base_url}/api/v1/sessions/{session_id}/checklist?format={f}" for f in FORMATS}
        return data

    def _record_analytics(self, session_id: str, payload: dict, text: Optional[str]) -> None:
        """What the owner needs to grow the catalogue: unmatched requests, drop-off, completions."""
        base = {"session": session_id, "region": payload["region"], "channel": payload["channel"]}
        if payload["kind"] in ("redirect", "not_published") and text:
            self.store.add_event("unmatched", {**base, "text": text[:200], "reply": payload["kind"]})
        if payload["question"]:
            self.store.add_event("question", {**base, "scenario": payload["scenario"], "question": payload["question"]["id"]})
        if payload["done"]:
            self.store.add_event("done", {**base, "scenario": payload["scenario"]})

    def _today(self) -> dt.date:
        return self.today or dt.date.today()

    # ------------------------------------------------------------------ catalogue, guides, search
    def _region(self, region: str) -> None:
        self._follow_reloads()  # every catalogue, guide and search lookup passes here
        if region not in self.kb.regions or region not in self.kb.catalogue.get("regions", {}):
            raise not_found("region")

    def regions(self) -> list[dict]:
        kb = self.kb
        return [{"id": rid, "name": kb.regions[rid].name, "level": kb.regions[rid].level,
                 "parent": kb.regions[rid].parent, "scenarios": len(kb.scenarios_of(rid))}
                for rid in kb.catalogue.get("regions", {}) if rid in kb.regions]

    def scenarios(self, region: str) -> list[dict]:
        self._region(region)
        return [{"id": s.id, "name": s.regions[region].name, "title": s.title, "kind": s.kind,
                 "lead_department": s.regions[region].lead_department,
                 "sub_matters": len(s.regions[region].sub_matters)} for s in self.kb.scenarios_of(region)]

    def scenario_guide(self, scenario_id: str, region: str) -> dict:
        """Everything about one scenario in a region on one screen: every situation question with
        its options, and the checklist with every case spelled out (no answers given)."""
        self._region(region)
        kb = self.kb
        scenario = kb.scenarios.get(scenario_id)
        if scenario is None:
            raise not_found("scenario")
        publishers = [{"id": r, "name": kb.regions[r].name} for r in kb.publishers(scenario_id)]
        base = {"id": scenario.id, "title": scenario.title, "description": scenario.description, "region": region,
                "region_name": kb.regions[region].name, "publishers": publishers,
                "published": region in scenario.regions, "knowledge_version": kb.version}
        if region not in scenario.regions:
            return {**base, "name": scenario.title, "questions": [], "checklist": None}
        labels = C.labels(scenario)
        questions = [{"id": qid, "text": q.text, "help": q.help,
                      "asked_when": describe(parse(q.ask_if), labels) if q.ask_if else None,
                      "options": [{"value": o.value, "label": o.label} for o in q.options]}
                     for qid, q in scenario.questions.items()]
        result = C.build(kb, scenario_id, region, {}, None, self._today())
        data = result.to_dict()
        return {**base, "name": scenario.regions[region].name,
                "lead_department": scenario.regions[region].lead_department, "questions": questions,
                "checklist": data, "sms_text": render_text(result, None)}

    def search(self, query: str, region: str, limit: int = 5) -> dict:
        self._region(region)
        query = mask(clean(query).strip())[:200]
        if not query:
            return {"query": "", "scenarios": [], "matters": [], "none": True}
        found = self.engine.identifier.identify(query, region)
        scenarios = [{"id": c.scenario, "name": c.name, "score": c.score, "published": c.published,
                      "publishers": [self.kb.regions[r].name for r in c.publishers]}
                     for c in found.candidates[:limit]]
        matters = [{"key": m.key, "name": m.name, "kind": m.kind, "scenario": m.scenario, "score": m.score}
                   for m in found.matters[:limit * 2]]
        return {"query": query, "scenarios": scenarios, "matters": matters, "none": found.best is None,
                "best": found.best.scenario if found.best else None, "not_published": found.not_published}

    def matter_guide(self, key: str, region: str) -> dict:
        """One single matter: a scenario's sub-matter resolved for the region, or a lifecycle matter
        with its departments and the scenarios that include it."""
        self._region(region)
        kb = self.kb
        if key.startswith("lifecycle:"):
            matter_id = key.split(":", 1)[1]
            matter = kb.matters.get(matter_id)
            if matter is None:
                raise not_found("matter")
            chain = kb.region_chain(region)
            departments = next((matter.departments[r] for r in chain if r in matter.departments), {})
            within = [{"scenario": s.id, "name": s.regions[region].name if region in s.regions else s.title,
                       "sub_matter": mid, "published": region in s.regions}
                      for s in kb.scenarios.values() for mid, m in s.matters.items() if matter_id in m.lifecycle]
            return {"key": key, "kind": "lifecycle", "name": matter.name, "stage": matter.stage, "scene": matter.scene,
                    "type": matter.type, "departments": {lvl: d.model_dump() for lvl, d in departments.items()},
                    "sources": [C.source_entry(kb, sid) for sid in matter.sources if sid in kb.sources],
                    "listed_in": [kb.regions[r].name for r in matter.regions if r in kb.regions],
                    "in_scenarios": within, "certainty": matter.certainty, "note": matter.note}
        scenario_id, _, mid = key.partition("/")
        scenario = kb.scenarios.get(scenario_id)
        if scenario is None or mid not in scenario.matters:
            raise not_found("matter")
        if region not in scenario.regions:
            return {"key": key, "kind": "sub_matter", "name": scenario.matters[mid].name, "scenario": scenario_id,
                    "published": False, "publishers": [kb.regions[r].name for r in kb.publishers(scenario_id)]}
        result = C.build(kb, scenario_id, region, {}, None, self._today())
        line = next((m for m in result.sub_matters if m.id == mid), None)
        if line is None:  # defined in the scenario but not listed by this region
            return {"key": key, "kind": "sub_matter", "name": scenario.matters[mid].name, "scenario": scenario_id,
                    "published": False, "publishers": []}
        materials = [m for m in result.materials if mid in m.needed_by]
        return {"key": key, "kind": "sub_matter", "scenario": scenario_id, "published": True,
                "scenario_name": result.scenario_name, "name": line.name, "sub_matter": asdict(line),
                "materials": [asdict(m) for m in materials], "sources": result.sources}

    # ------------------------------------------------------------------ analytics (owner)
    def analytics(self, days: float = 30.0) -> dict:
        """Aggregated kind by kind while the events stream by: memory grows with distinct texts
        and unfinished sessions, not with the month's events."""
        since = time.time() - days * 86400
        sessions = sum(1 for _ in self.store.events("session", since))
        unmatched = Counter(e["text"] for e in self.store.events("unmatched", since))
        finished = {e["session"] for e in self.store.events("done", since)}
        last_question = {e["session"]: (e["scenario"], e["question"]) for e in self.store.events("question", since)
                         if e["session"] not in finished}
        drop: dict[str, Counter] = {}
        for scenario, question in last_question.values():
            drop.setdefault(scenario, Counter())[question] += 1
        ratings: Counter = Counter()
        comments: deque = deque(maxlen=50)
        for e in self.store.events("feedback", since):
            ratings[e["rating"]] += 1
            if e.get("comment"):
                comments.append({"rating": e["rating"], "comment": e["comment"], "scenario": e.get("scenario")})
        total = sum(ratings.values())
        return {
            "since": dt.datetime.fromtimestamp(since).isoformat(timespec="seconds"),
            "sessions": sessions,
            "completed": len(finished),
            "unmatched": [{"text": t, "count": n} for t, n in unmatched.most_common(100)],
            "drop_off": [{"scenario": s, "question": q, "sessions": n} for s, qs in drop.items()
                         for q, n in qs.most_common()],
            "ratings": {"count": total, "average": round(sum(r * n for r, n in ratings.items()) / total, 2) if total else None,
                        "by_rating": {str(r): ratings.get(r, 0) for r in range(1, 6)}},
            "comments": list(comments),
        }
