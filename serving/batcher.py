"""Dynamic batching: the pending windows of all streams go through the model together.

Each stream submits its next window and awaits its frames. The batcher takes
whatever is queued, waits at most `max_wait_ms` (counted from the oldest
window's arrival) for more, up to `max_batch_size`, and runs them in one
forward pass on the inference thread. While a pass runs, the next batch
gathers, so under load batches fill without waiting.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from dataclasses import dataclass

import torch

from asr.streaming.options import FRAME_MS
from asr.streaming.stream import Window, window_log_probs
from asr.transcribe import Transcriber
from serving.metrics import Metrics
from serving.options import BatchOptions


@dataclass
class _Pending:
    window: Window
    future: asyncio.Future
    queued: float


class Batcher:
    def __init__(self, transcriber: Transcriber, options: BatchOptions, executor: Executor, metrics: Metrics):
        self.transcriber = transcriber
        self.options = options
        self.executor = executor  # one thread: forward passes run one at a time, in order
        self.metrics = metrics
        self.forward_calls = 0
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def decode(self, window: Window) -> torch.Tensor:
        """The window's chunk frames as log-probabilities (frames, vocab), from a shared forward pass."""
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(window, future, time.monotonic()))
        return await future  # cancelling the caller cancels the future, and the batcher skips it

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = batch[0].queued + self.options.max_wait_ms / 1000
            while len(batch) < self.options.max_batch_size:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), left))
                except TimeoutError:
                    break
            batch = [p for p in batch if not p.future.done()]  # streams cancelled meanwhile
            if not batch:
                continue
            started = time.monotonic()
            for p in batch:
                self.metrics.queue_seconds.observe(started - p.queued)
            try:
                outputs = await loop.run_in_executor(self.executor, window_log_probs, self.transcriber, [p.window for p in batch])
            except Exception as error:  # e.g. out of GPU memory: fail these streams, keep serving the others
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(error)
                continue
            elapsed = time.monotonic() - started
            self.forward_calls += 1
            # Each second of a stream once: the chunk's frames, not the lookahead that the next window decodes again.
            new_audio = sum(0 if p.window.provisional else len(o) if p.window.keep_to is None else p.window.keep_to - p.window.keep_from
                            for p, o in zip(batch, outputs)) * FRAME_MS / 1000
            self.metrics.batch_size.observe(len(batch))
            self.metrics.forward_seconds.observe(elapsed)
            self.metrics.audio_seconds.labels("StreamingRecognize").inc(new_audio)
            if new_audio > 0:
                self.metrics.real_time_factor.observe(elapsed / new_audio)
            for p, output in zip(batch, outputs):
                if not p.future.done():
                    p.future.set_result(output)
