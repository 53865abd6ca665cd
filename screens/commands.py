"""Command palette entries about runs: "attach: <run>", "stop: <run>", "resume: <run>"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from screens.context import screen_context
from workbench.runs import FINAL_STATES, RunInfo


class RunCommands(Provider):
    """One command per applicable action per run, from the app's latest scan."""

    def _commands(self) -> Iterator[tuple[str, Callable[[], object], str]]:
        services = screen_context(self.app).services
        infos: list[RunInfo] = list(services.runs)
        for info in infos:
            run_id = info.run.run_id
            where = f"{info.state}, step {info.step}/{info.max_steps}"
            yield f"attach: {run_id}", partial(services.attach_run, run_id), f"follow it in Monitor ({where})"
            if info.alive:
                yield (
                    f"stop: {run_id}",
                    partial(services.request_stop, run_id),
                    "stop it cleanly (asks first)",
                )
            elif info.state in FINAL_STATES and info.state != "completed":
                yield (
                    f"resume: {run_id}",
                    partial(services.request_resume, run_id),
                    f"continue from its checkpoint at step {info.resume_step}"
                    if info.resume_step
                    else "no checkpoint: train again from step 0 (asks first)",
                )

    async def discover(self) -> Hits:
        for text, callback, help_text in self._commands():
            yield DiscoveryHit(text, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, text=text, help=help_text)
