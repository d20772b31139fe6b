"""Run an API: `python -m shared.serve [uvicorn's options] --factory MODULE:create_app`.

uvicorn's command line exactly (every option it takes), with one difference: its server
looks up its state once a second instead of ten times a second. uvicorn's loop wakes
every 100 ms only to refresh the Date header (once a second) and see whether it is told
to stop; ten wake-ups a second cost an idle API about 0.2 % of a core, which over the
platform's five APIs is more than everything else an idle platform does. Requests are
served by the event loop as they come, whatever the tick; a stop is noticed within the
second (then uvicorn's graceful shutdown runs as before).
"""

from __future__ import annotations

import asyncio
import importlib

import uvicorn.server

TICK_SECONDS = 1.0
# uvicorn refreshes the Date header on every tenth tick of its own (once a second):
# counting ten of its ticks per tick of ours refreshes it on each.
_UVICORN_TICKS_PER_TICK = 10


class Server(uvicorn.server.Server):
    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + _UVICORN_TICKS_PER_TICK) % 864000
            await asyncio.sleep(TICK_SECONDS)
            should_exit = await self.on_tick(counter)


# The modules where uvicorn's command line makes its servers: one process, or each of
# several workers (--workers N). By name: the package's `uvicorn.main` is its command,
# not this module.
_MAKERS = ("uvicorn.main", "uvicorn.supervisors.multiprocess")


def install() -> None:
    for name in _MAKERS:
        module = importlib.import_module(name)
        if not issubclass(Server, getattr(module, "Server", ())):
            raise RuntimeError(f"{name}.Server is not uvicorn's server: cannot replace it")
        setattr(module, "Server", Server)  # noqa: B010 - a module's attribute


def main() -> None:
    install()
    importlib.import_module("uvicorn.main").main()


if __name__ == "__main__":
    main()
