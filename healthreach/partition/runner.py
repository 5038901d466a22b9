"""Run any part function over many parts as Dask tasks, keeping each finished part on disk.

A part is any picklable object with `key` (a file stem), `label` (what progress messages call it)
and `digest` (a hash of everything its result depends on). Each part runs as one task on
`dask.distributed` (a `LocalCluster` of single-threaded worker processes, or an existing scheduler):
the worker reads the part from `<folder>/<key>.input.pkl`, runs the function, writes the result to
`<key>.pkl` and then `<key>.sha256`, so a hash file that matches always stands beside a whole result,
whatever kills the worker in between. A repeated run skips the parts whose hash still matches
(resume). With a remote scheduler the folder must be on a file system the workers share.
"""
from __future__ import annotations

import logging
import os
import pickle
import resource
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from healthreach._errors import InputError, UsageError

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


class Part(Protocol):
    key: str
    label: str
    digest: str


@dataclass(frozen=True)
class Finished:
    """A part's result as kept on disk, with what it cost."""

    digest: str
    value: Any
    seconds: float
    peak_rss_mb: float
    """Peak resident memory (MB) of the worker process when the part finished."""


@dataclass
class RunReport:
    """What happened to the parts: finished (with costs), resumed from disk, failed after retries."""

    finished: dict[str, Finished] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0


def peak_rss_mb() -> float:
    """Peak resident memory (MB) of this process so far.

    Linux's VmHWM belongs to the process's own address space; `ru_maxrss` is not used because a worker
    started by fork and exec inherits its parent's figure (the driver holding the province's roads).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def run_here(part: Part, fn: Callable[[Any], Any]) -> Finished:
    """Run `fn(part)` in this process and time it."""
    started = time.perf_counter()
    value = fn(part)
    return Finished(part.digest, value, round(time.perf_counter() - started, 3), round(peak_rss_mb(), 1))


def _atomic(write: Callable[[Any], None], path: Path, mode: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _pickle(value: Any, path: Path) -> None:
    _atomic(lambda s: pickle.dump(value, s, protocol=pickle.HIGHEST_PROTOCOL), path, "wb")


def is_done(folder: Path, part: Part) -> bool:
    """True when the part's result is on disk and was computed from the same inputs."""
    digest_file, result_file = folder / f"{part.key}.sha256", folder / f"{part.key}.pkl"
    return (digest_file.is_file() and result_file.is_file()
            and digest_file.read_text(encoding="utf-8").strip() == part.digest)


def load(folder: Path, key: str) -> Finished:
    """A finished part from the folder."""
    with (folder / f"{key}.pkl").open("rb") as stream:
        finished: Finished = pickle.load(stream)
    return finished


def part_task(input_path: str, fn: Callable[[Any], Any]) -> tuple[str, float]:
    """Dask task: read a part, run `fn` on it, write `<key>.pkl` then `<key>.sha256`.

    A task run again (Dask recomputes a finished task whose worker died before the driver collected
    it) reuses the result already written. Returns (key, seconds): the result itself stays on disk.
    """
    source = Path(input_path)
    with source.open("rb") as stream:
        part: Part = pickle.load(stream)
    folder = source.parent
    if is_done(folder, part):
        return part.key, load(folder, part.key).seconds
    finished = run_here(part, fn)
    _pickle(finished, folder / f"{part.key}.pkl")
    _atomic(lambda s: s.write(part.digest), folder / f"{part.key}.sha256", "w")
    return part.key, finished.seconds


def run_parts(parts: Iterable[Part], folder: Path, fn: Callable[[Any], Any], *, workers: int | None = None,
              scheduler: str | None = None, retries: int = 2, progress: Progress | None = None
              ) -> tuple[list[Finished], RunReport]:
    """Run `fn` on every part not already finished in `folder`; results in the order of `parts`.

    A local cluster of `workers` single-threaded processes, or the cluster at `scheduler`. At most two
    parts per worker wait in the queue, so the driver never holds every part at once. A part that
    fails is retried `retries` times; if any still fails, InputError names every one of them (the
    finished parts stay in `folder` for the next run).
    """
    from dask.distributed import Client, LocalCluster, as_completed

    say = progress or (lambda _msg: None)
    if scheduler is None and (workers is None or workers < 1):
        raise UsageError(f"--workers {workers}: expected a number of worker processes >= 1, or --scheduler")
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    report = RunReport()
    keys: list[str] = []
    cluster = None
    # The in-process scheduler logs every worker event at INFO; the caller's progress display says enough.
    noisy = logging.getLogger("distributed")
    level = noisy.level
    noisy.setLevel(max(level, logging.WARNING))
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            noisy.setLevel(level)
            raise UsageError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc})") from None
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        capacity = 2 * max(1, len(client.scheduler_info().get("workers", {})), workers or 1)
        queue = as_completed()
        pending: dict[str, Part] = {}
        source: Iterator[Part] = iter(parts)

        def feed() -> None:
            while len(pending) < capacity:
                part = next(source, None)
                if part is None:
                    return
                keys.append(part.key)
                if is_done(folder, part):
                    report.resumed.append(part.label)
                    say(f"{part.label}: already done, skipped")
                    continue
                path = folder / f"{part.key}.input.pkl"
                _pickle(part, path)
                future = client.submit(part_task, str(path), fn, key=f"part-{part.key}-{part.digest[:12]}",
                                       retries=retries, pure=False)
                pending[future.key] = part
                queue.add(future)

        feed()
        while pending:
            future = next(queue)
            part = pending.pop(future.key)
            if future.status == "finished":
                _, seconds = future.result()
                done = len(keys) - len(pending) - len(report.failed)
                say(f"{part.label} done ({done} finished, {seconds:.1f} s)")
                (folder / f"{part.key}.input.pkl").unlink(missing_ok=True)
            else:
                try:
                    error = future.exception()
                except Exception as exc:  # a cancelled future (scheduler lost) has no exception to fetch
                    error = exc
                report.failed[part.label] = f"{type(error).__name__}: {error}"
                say(f"{part.label} FAILED after {retries} retries: {error}")
                log.error("%s failed: %s", part.label, error)
            future.release()
            feed()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        noisy.setLevel(level)
    if report.failed:
        lines = "\n".join(f"  {label}: {error}" for label, error in report.failed.items())
        raise InputError(f"{len(report.failed)} of {len(keys)} parts failed (finished parts are kept in "
                         f"{folder} and skipped when the run is repeated):\n{lines}")
    results = [load(folder, key) for key in keys]
    report.finished = {key: finished for key, finished in zip(keys, results)}
    report.wall_s = round(time.perf_counter() - started, 3)
    return results, report
