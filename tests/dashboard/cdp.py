"""A small Chrome DevTools Protocol client: Debian's headless chromium driven over a websocket.

No browser download and no extra dependency: the system ``/usr/bin/chromium`` is started with
``--remote-debugging-port=0`` and a fresh profile directory, the port is read from the
profile's ``DevToolsActivePort`` file and the page target is driven with aiohttp's websocket
client. Clicks are real mouse events (``Input.dispatchMouseEvent``) at the element's centre.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = Path(os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


class CDPError(RuntimeError):
    """A DevTools command failed, or the page did not get where a test waited for."""


class Page:
    """One browser tab: send commands, evaluate JavaScript, click, type, screenshot."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self.errors: list[str] = []  # uncaught exceptions and console.error calls
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            if "id" in data:
                fut = self._pending.pop(data["id"], None)
                if fut is not None and not fut.done():
                    if "error" in data:
                        fut.set_exception(CDPError(f"{data['error']}"))
                    else:
                        fut.set_result(data.get("result", {}))
            elif data.get("method") == "Runtime.exceptionThrown":
                details = data["params"]["exceptionDetails"]
                self.errors.append(str(details.get("exception", {}).get("description") or details.get("text")))
            elif data.get("method") == "Runtime.consoleAPICalled" and data["params"].get("type") == "error":
                self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in data["params"]["args"]))
            elif data.get("method") == "Log.entryAdded" and data["params"]["entry"].get("level") == "error":
                entry = data["params"]["entry"]
                if entry.get("source") != "network":  # 4xx answers the page handles itself
                    self.errors.append(entry.get("text", ""))
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(CDPError("the browser connection closed"))

    async def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        """Send one command and return its result."""
        msg_id = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        await self.ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        return await asyncio.wait_for(fut, timeout)

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression (promises are awaited)."""
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                      "awaitPromise": True})
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def goto(self, url: str, timeout: float = 30) -> None:
        """Navigate and wait until the document has loaded."""
        await self.send("Page.navigate", {"url": url})
        await self.wait_for("document.readyState === 'complete'", timeout, what=f"load of {url}")

    async def wait_for(self, expression: str, timeout: float = 20, what: str | None = None) -> Any:
        """Poll (bounded) until ``expression`` is truthy in the page (objects count); return its value."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            with contextlib.suppress(CDPError):
                value = await self.evaluate(expression)
                if value not in (None, False, 0, ""):  # a DOM node comes back as {}
                    return value
            await asyncio.sleep(0.1)
        raise CDPError(f"timed out after {timeout}s waiting for {what or expression}; last value {value!r}")

    async def click(self, selector: str, timeout: float = 20) -> None:
        """A real mouse click at the centre of the first visible, enabled element matching ``selector``."""
        sel = json.dumps(selector)
        box = await self.wait_for(
            f"""(() => {{ const e = document.querySelector({sel});
                if (!e || e.disabled || e.offsetParent === null) return null;
                e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();
                const x = r.x + r.width / 2, y = r.y + r.height / 2;
                return e.contains(document.elementFromPoint(x, y)) ? {{x, y}} : null; }})()""",
            timeout, what=f"a clickable {selector}")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"],
                                                         "button": "left", "clickCount": 1})

    async def type_into(self, selector: str, text: str) -> None:
        """Focus ``selector``, clear it, and type ``text`` as keyboard input."""
        await self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                            "e.focus(); e.select && e.select(); })()")
        await self.send("Input.insertText", {"text": text})

    async def text(self, selector: str) -> str:
        return str(await self.evaluate(
            f"(document.querySelector({json.dumps(selector)}) || {{}}).innerText || ''"))

    async def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (not only the viewport)."""
        metrics = await self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1}
        result = await self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                            "clip": clip})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(result["data"]))
        return path


async def _read_port(profile: Path, proc: asyncio.subprocess.Process, timeout: float) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise CDPError(f"chromium exited with {proc.returncode} before DevTools was up")
        if marker.exists():
            lines = marker.read_text().splitlines()
            if lines and lines[0].strip().isdigit():
                return int(lines[0])
        await asyncio.sleep(0.05)
    raise CDPError("chromium did not open its DevTools port in time")


@contextlib.asynccontextmanager
async def launch(workdir: Path, *, width: int = 1400, height: int = 1000,
                 timeout: float = 30) -> AsyncIterator[Page]:
    """Start headless chromium with a new empty profile in ``workdir``; yield its page; stop it."""
    profile = workdir / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    log = (workdir / "chromium.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank",
        stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )
    session = aiohttp.ClientSession()
    page: Page | None = None
    try:
        port = await _read_port(profile, proc, timeout)
        async with session.get(f"http://127.0.0.1:{port}/json/list") as r:
            targets = await r.json()
        target = next(t for t in targets if t.get("type") == "page")
        ws = await session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        page = Page(ws)
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            await page.send(domain)
        await page.send("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        yield page
    finally:
        if page is not None:
            await page.ws.close()
            page._reader.cancel()
        await session.close()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the browser we started and its helpers
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        log.close()
