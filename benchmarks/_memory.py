"""Peak memory of a process tree while it runs: the benchmark scripts' one sampler (psutil)."""

from __future__ import annotations

import contextlib
import threading


class TreeMemory:
    """Peak summed RSS (every ``interval`` s) and PSS (every ``pss_every``-th sample; 0: never)
    of some processes and all their descendants, sampled in a thread while the block runs."""

    def __init__(self, pids: list[int], *, interval: float = 0.1, pss_every: int = 5) -> None:
        self.pids, self.interval, self.pss_every = pids, interval, pss_every
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        roots = [psutil.Process(p) for p in self.pids]
        tick = 0
        while not self._stop.wait(self.interval):
            # RSS is cheap; PSS reads smaps_rollup (~10-30 ms a process): only now and then, so
            # that the sampling itself takes little of the cores being measured.
            full = self.pss_every > 0 and tick % self.pss_every == 0
            tick += 1
            rss = pss = count = 0
            for root in roots:
                with contextlib.suppress(psutil.Error):
                    for proc in [root, *root.children(recursive=True)]:
                        with contextlib.suppress(psutil.Error):
                            mem = proc.memory_full_info() if full else proc.memory_info()
                            rss += mem.rss
                            pss += getattr(mem, "pss", mem.rss) if full else 0
                            count += 1
            self.peak_rss = max(self.peak_rss, rss)
            if full:
                self.peak_pss = max(self.peak_pss, pss)
            self.peak_processes = max(self.peak_processes, count)
