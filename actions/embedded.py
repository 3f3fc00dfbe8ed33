"""The embedded service runs the dialogue through the same rasa-sdk actions, in-process,
with rasa-sdk's ActionExecutor (no action server, no network hop)."""
from __future__ import annotations

import asyncio
import functools
from typing import Optional

from rasa_sdk.executor import ActionExecutor

from assistant.state import DialogueState

from .actions import OPTION_PREFIX


@functools.lru_cache(maxsize=1)
def executor() -> ActionExecutor:
    ex = ActionExecutor()
    ex.register_package("actions")
    return ex


def tracker_payload(state: Optional[DialogueState], text: str, region: str, channel: str) -> dict:
    slots = {"region": region, "channel": channel, "yici_state": state.to_dict() if state else None}
    return {"sender_id": "embedded", "slots": slots, "latest_message": {"text": text, "intent": {}, "entities": []},
            "events": [], "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": None}


def run_turn(state: Optional[DialogueState], region: str, channel: str, text: str = "",
             option: Optional[str] = None) -> tuple[DialogueState, dict]:
    """One turn through `action_yici_turn`: (new state, the bot's response with buttons/custom)."""
    message = OPTION_PREFIX + option if option is not None else text
    call = {"next_action": "action_yici_turn", "sender_id": "embedded",
            "tracker": tracker_payload(state, message, region, channel), "domain": {}, "version": "3.0"}
    result = asyncio.run(executor().run(call))
    events = {e["name"]: e["value"] for e in result.events if e.get("event") == "slot"}
    response = result.responses[-1] if result.responses else {}
    new_state = DialogueState.from_dict(events["yici_state"]) if "yici_state" in events else state
    return new_state, response
