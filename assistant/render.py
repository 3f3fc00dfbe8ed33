"""Renderers of a checklist (jinja2): printable HTML, plain text (SMS and long), kiosk speech.

JSON is Checklist.to_dict(). Templates live in assistant/templates/; this module only
prepares what templates cannot do well (numbers spoken in Chinese, the QR code).
"""
from __future__ import annotations

import functools
import io
import re
from pathlib import Path
from typing import Optional

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .checklist import Checklist

TEMPLATES = Path(__file__).parent / "templates"
SMS_LIMIT = 500  # characters: a long SMS (several segments) operators still send in one go


@functools.lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2.html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["spoken"] = spoken
    return env


def _context(checklist: Checklist, url: Optional[str]) -> dict:
    names = {m.id: m.name for m in checklist.sub_matters}
    return {"c": checklist, "url": url, "names": names,
            "to_bring": [m for m in checklist.materials if not m.exempt],
            "exempt": [m for m in checklist.materials if m.exempt],
            "chosen": [m for m in checklist.sub_matters if m.selected]}


def render_html(checklist: Checklist, url: Optional[str] = None) -> str:
    ctx = _context(checklist, url)
    ctx["qr_svg"] = qr_svg(url) if url else None
    return _env().get_template("checklist.html.j2").render(**ctx)


def render_text(checklist: Checklist, url: Optional[str] = None, long: bool = False) -> str:
    """Plain text; the short form fits an SMS an operator sends while the caller waits."""
    name = "checklist_long.txt.j2" if long else "checklist_sms.txt.j2"
    text = _env().get_template(name).render(**_context(checklist, url)).strip()
    if not long and len(text) > SMS_LIMIT:
        tail = f"…详情见{url}" if url else "…（内容较多，请查看完整清单）"
        text = text[: SMS_LIMIT - len(tail)] + tail
    return text


def render_speech(checklist: Checklist) -> str:
    """For the kiosk's speech synthesis: short sentences, no tables, numbers as words."""
    text = _env().get_template("checklist_speech.txt.j2").render(**_context(checklist, None))
    return re.sub(r"\s*\n\s*", "\n", text).strip()


def qr_svg(url: str) -> str:
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=6, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode("utf-8").split("?>", 1)[-1]


_DIGITS = "零一二三四五六七八九"


def number_words(n: int) -> str:
    """Chinese reading of a whole number below 100000000 (20 -> 二十, 105 -> 一百零五)."""
    if n == 0:
        return "零"
    units = [(10000, "万"), (1000, "千"), (100, "百"), (10, "十")]
    out, zero = "", False
    for value, unit in units:
        digit, n = divmod(n, value)
        if digit:
            if zero and out:
                out += "零"
            out += (number_words(digit) if value == 10000 else _DIGITS[digit]) + unit
            zero = False
        elif out:
            zero = True
    if n:
        out += ("零" if zero and out else "") + _DIGITS[n]
    return out[1:] if out.startswith("一十") else out


def spoken(text: str) -> str:
    """Dates and numbers as a speech synthesiser should say them; symbols out."""
    if text is None:
        return ""
    text = re.sub(r"(\d{4})-(\d{1,2})-(\d{1,2})",
                  lambda m: "".join(_DIGITS[int(d)] for d in m.group(1)) + f"年{number_words(int(m.group(2)))}月"
                  f"{number_words(int(m.group(3)))}日", str(text))
    text = re.sub(r"(\d+)\.(\d+)", lambda m: number_words(int(m.group(1))) + "点" + "".join(_DIGITS[int(d)] for d in m.group(2)), text)
    text = re.sub(r"\d+", lambda m: number_words(int(m.group())), text)
    text = text.replace("（", "，").replace("）", "，").replace("(", "，").replace(")", "，")
    text = re.sub(r"[《》“”\"/\\|*#<>]", "", text)
    return re.sub(r"，+", "，", text).strip("，")
