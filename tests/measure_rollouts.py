"""Measure the Monitor's rollout view on a crafted 200-step run: `python tests/measure_rollouts.py`.

The run directory is written here the way the trainer writes it: 200 steps of rollouts.jsonl (by
default 2 groups of 8 completions of about 256 tokens, as a 1B run on a GPU writes them at the default
grpo.rollout_groups_per_step), metrics.jsonl and a status. Under Pilot at 80x24 and 120x40 it measures:

* index: indexing both rollout files whole, as the Monitor's replay does on attach (in its thread), and
  reading one step's line;
* open: from `g` to the first frame showing the latest step's groups;
* step: from Left (or Right) to the first frame showing that step (a read of one line in a thread,
  then the paint), over 40 key presses;
* the bytes per step of rollouts.jsonl.

Prints one JSON object. Figures depend on the machine and its load.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
sys.path[:0] = [str(REPO), str(TESTS)]

from workbench.rewards import REWARDS  # noqa: E402
from workbench.rollouts import build_step  # noqa: E402
from workbench.runs import RolloutIndex, RolloutWriter, RunDir, read_rollouts  # noqa: E402

RUN_ID = "20261201-120000-rollouts-200-abcd"
WORDS = (
    "Lan có 24 quả táo và mua thêm 67 quả nữa nên tổng số táo là 24 cộng 67 bằng 91 quả táo "
    "và sau đó bạn ấy chia đều cho 7 người bạn thì mỗi người được 13 quả"
).split()


def completion(step: int, index: int, tokens: int) -> str:
    """A completion of about `tokens` tokens (a Vietnamese word is about 1.5 tokens), formatted or not."""
    body = " ".join(WORDS[(step + index + i) % len(WORDS)] for i in range(int(tokens / 1.5)))
    if index % 3 == 0:
        return f"<thinking>{body}</thinking><SOLUTION>{91 + index % 2}</SOLUTION>"
    return body


def craft(root: Path, steps: int = 200, groups: int = 2, g: int = 8, tokens: int = 256) -> RunDir:
    """A completed run with `steps` steps of metrics and rollouts (`groups` groups of `g` per step)."""
    path = root / RUN_ID
    path.mkdir(parents=True)
    run = RunDir(path)
    run.config.write_text('name = "rollouts-200"\n[grpo]\nmax_steps = 200\n', encoding="utf-8")
    now = time.time()
    run.write_status(state="completed", step=steps, max_steps=steps, heartbeat=now)
    names = list(REWARDS)[:4]
    writer = RolloutWriter(run)
    with run.metrics.open("w", encoding="utf-8") as metrics:
        for step in range(1, steps + 1):
            count = groups * g
            texts = [completion(step, i, tokens) for i in range(count)]
            answers = ["91"] * count
            scores = {n: REWARDS[n](completions=texts, answer=answers) for n in names}
            record = build_step(
                step=step,
                at=now - 3 * (steps - step),
                names=names,
                weights=[1.0] * 4,
                scores=scores,
                texts=texts,
                prompts=[f"Câu hỏi số {step}-{i // g}: Lan có bao nhiêu quả táo?" for i in range(count)],
                answers=answers,
                num_generations=g,
                groups_wanted=groups,
                lengths=[tokens - (i * 7) % 40 for i in range(count)],
                truncated=[i % 5 == 0 for i in range(count)],
            )
            writer.write(record)
            metrics.write(json.dumps({"step": step, "time": now - 3 * (steps - step), "reward": 1.0}) + "\n")
    writer.close()
    return run


async def measure(root: Path, size: tuple[int, int], held: list[int]) -> dict[str, Any]:
    from textual.app import App
    from tui_helpers import frozen_app

    from screens.monitor import MonitorScreen

    frames: list[float] = []
    original = App._display

    def display(self: App[Any], screen: Any, update: Any) -> None:
        frames.append(time.perf_counter())
        original(self, screen, update)

    App._display = display  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            app = frozen_app(Path(tmp), runs_root=root, initial_mode="monitor")
            async with app.run_test(size=size) as pilot:
                screen = app.screen
                assert isinstance(screen, MonitorScreen)
                app.attached = RUN_ID  # the only run: attached on start already
                while screen.rollout_steps != held:
                    await asyncio.sleep(0.001)
                await pilot.pause(0.5)

                async def until_shown(step: int, key: str) -> float:
                    frames.clear()
                    sent = time.perf_counter()
                    await pilot.press(key)
                    while True:
                        record = screen.rollout_record
                        if record is not None and record.step == step and frames and frames[-1] > sent:
                            return (frames[-1] - sent) * 1000
                        await asyncio.sleep(0.0005)

                opened = await until_shown(held[-1], "g")
                await pilot.pause(0.3)
                lags = []
                for index in range(40):
                    back = index < 20
                    step = held[-2 - index] if back else held[-20 + (index - 20)]
                    lags.append(await until_shown(step, "left" if back else "right"))
                    await pilot.pause(0.05)
    finally:
        App._display = original  # type: ignore[method-assign]
    ordered = sorted(lags)
    return {
        "size": f"{size[0]}x{size[1]}",
        "open_view_ms": round(opened, 1),
        "step_key_to_frame_ms": {
            "median": round(statistics.median(ordered), 1),
            "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 1),
            "max": round(ordered[-1], 1),
        },
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["GRPO_WORKBENCH_HOME"] = home
        root = Path(home) / "runs"
        run = craft(root)
        written = sum(
            len(line.encode()) + 1
            for path in (run.rollouts_rotated, run.rollouts)
            if path.exists()
            for line in path.read_text(encoding="utf-8").splitlines()
        )
        held = [r.step for r in read_rollouts(run)]
        start = time.perf_counter()
        index = RolloutIndex(run)
        index.scan_all()  # what the Monitor's replay does on attach, in its thread
        indexed = time.perf_counter() - start
        start = time.perf_counter()
        for step in held:
            index.read(step)
        read = (time.perf_counter() - start) / len(held)
        figures = {
            "steps": 200,
            "steps_held": f"{held[0]}-{held[-1]} ({len(held)})",
            "rollouts_files_bytes": written,
            "bytes_per_step": round(written / len(held)),
            "index_every_step_ms": round(indexed * 1000, 1),
            "read_one_step_ms": round(read * 1000, 2),
            "views": [
                asyncio.run(measure(root, (80, 24), held)),
                asyncio.run(measure(root, (120, 40), held)),
            ],
            "load_average": os.getloadavg(),
            "cpus": os.cpu_count(),
        }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
