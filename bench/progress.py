"""A sweep's progress as it trains: runs done of the total, the current run, the time left; a live bar on a
terminal, one plain line per run otherwise (a log file, CI), and one line for a worker death the sweep dealt with."""

from __future__ import annotations

import os
import sys
import time


class Progress:
    """runs done / total, current run, ETA: a live bar on a terminal, one plain line per run otherwise."""

    def __init__(self, total: int, quiet: bool, workers: int = 1, clock=time.monotonic):
        self.total, self.done, self.quiet, self.workers, self.clock = total, 0, quiet, max(1, workers), clock
        self.start, self.run_seconds = clock(), 0.0
        self.counts = {"ok": 0, "diverged": 0, "failed": 0}
        self.live = sys.stdout.isatty() and not os.environ.get("CI") and not quiet
        self.bar = None
        if self.live and total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

            self.bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
            self.bar.start()
            self.task = self.bar.add_task("runs", total=total)

    def eta(self) -> str:
        """Time left: the runs' own mean time over the workers training them side by side, or the rate since the
        start where that is shorter (the rate alone counts the workers' start-up, about 5 s of importing Lightning,
        into the first runs: the quick suite's first lines said 26 min for a 5-minute sweep)."""
        if not self.done:
            return "?"
        per_run = min((self.clock() - self.start) / self.done, self.run_seconds / self.done / self.workers)
        left = per_run * (self.total - self.done)
        return f"{int(left // 60)}m{int(left % 60):02d}s"

    def update(self, summary: dict) -> None:
        self.done += 1
        self.run_seconds += summary.get("wall_seconds") or 0.0
        self.counts[summary["status"]] = self.counts.get(summary["status"], 0) + 1
        score = summary.get("normalized_score")
        tuning = f" {summary['tuning']}" if summary.get("tuning") else ""
        line = (f"[{self.done}/{self.total}] {summary['status']:<8} {summary['task_label']} {summary['combo']}{tuning}"
                + (f" score={score:.3f}" if score is not None else ""))
        line += f" ({summary['wall_seconds']:.1f}s, ETA {self.eta()})"
        if summary["status"] == "failed" and summary.get("error"):
            line += f"\n    error: {summary['error']}"
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=summary["task_label"])
            if summary["status"] != "ok":
                self.bar.console.print(line)
        elif not self.quiet:
            print(line, flush=True)

    def recovery(self, suspects: int, recovered: int, failed: int) -> None:
        """One line for a worker death the sweep has dealt with: of the `suspects` runs in flight when it died, each
        rerun alone, `recovered` ended as they would have without it and `failed` died again (recorded failed).
        Counted in counts["recovered"]."""
        self.counts["recovered"] = self.counts.get("recovered", 0) + recovered
        line = (f"a worker process died (killed, or out of memory?) with {suspects} run(s) in flight: each rerun "
                f"alone, {recovered} trained to the end, {failed} died again and recorded failed")
        if self.bar is not None:
            self.bar.console.print(line)
        elif not self.quiet:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
