"""Where the gateway's CPU goes per request: py-spy on the gateway under wrk load.

    .venv/bin/python bench/profile.py                    # non-streaming, c=64, 20 s
    .venv/bin/python bench/profile.py --stream --seconds 30
    .venv/bin/python bench/profile.py --variant redis    # a features.py variant
    .venv/bin/python bench/profile.py --variant cache-miss --against base --concurrency 16

Starts the mock upstream and the gateway (pinned as in ``run.py``), samples
the gateway with py-spy (``--nonblocking``: the gateway is never paused) while
wrk loads it, and prints the heaviest functions, by their own samples and
including what they call, as a share of the gateway's CPU and in microseconds
per request. The collapsed stacks are kept for flame graphs (``--keep``).

By default the gateway runs ``run.py``'s config with the master key. With
``--variant``, it runs that ``features.py`` variant's config instead, called
with a virtual key, every request's body different (so a cache misses), and for
the Redis variants ``REDIS_URL`` with a prefix of its own, deleted at the end.
Sampling goes on for a few seconds after the load stops, so work the gateway
defers past a request (and still has to do) is in the profile too. With
``--against``, that variant is profiled as well, the two alternating over
``--rounds`` runs each, and the differences are printed in µs per request: by
package (own time) and by function (including callees).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import configs
import features
import harness
import loadgen
import procs
from harness import HERE, REPO, free_port, mock_requests

PY_SPY = HERE / ".venv-tools/bin/py-spy"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=int, default=0, help="upstream latency, ms")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=997, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--python", default=str(REPO / ".venv/bin/python"))
    parser.add_argument("--gateway-src", help="run the gateway from this src/ directory")
    parser.add_argument("--py-spy", default=str(PY_SPY))
    parser.add_argument("--keep", help="write the collapsed stacks here")
    parser.add_argument(
        "--variant",
        choices=list(features.VARIANTS),
        help="run this features.py variant (virtual key, varying bodies) instead of run.py's "
        "config with the master key",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--tail", type=float, default=8.0, help="seconds sampled after the load stops"
    )
    parser.add_argument(
        "--against",
        choices=list(features.VARIANTS),
        help="also profile this features.py variant and print where --variant spends more",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="with --against: runs of each, alternating"
    )
    parser.add_argument("--proxy-core", default="0")
    parser.add_argument("--load-core", default="1")
    return parser.parse_args()


def frame_name(frame: str) -> str:
    """``handle (gateway/api/inference.py:42)`` -> ``gateway/api/inference.py:handle``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{name}" if path else name


def package(name: str) -> str:
    """``gateway/api/inference.py:f`` -> ``gateway/api``; ``aiohttp/client.py:f`` -> ``aiohttp``."""
    path = name.split(":", 1)[0]
    parts = path.split("/")
    if parts[0] == "gateway" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0] if len(parts) > 1 else "(native or builtin)"


MAIN, THREADS = "main", "threads"


def summarize(collapsed: str) -> dict[str, tuple[Counter[str], Counter[str], int]]:
    """Samples per function, own and including callees, apart for the main thread (the
    event loop) and for the other threads (thread pools): ``{MAIN: (own, inclusive,
    samples), THREADS: ...}``."""
    found: dict[str, tuple[Counter[str], Counter[str], int]] = {}
    for group in (MAIN, THREADS):
        found[group] = (Counter(), Counter(), 0)
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        group = THREADS if any(f.startswith("threading.py:") for f in frames) else MAIN
        own, inclusive, total = found[group]
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
        found[group] = (own, inclusive, total + count)
    return found


@dataclass
class Profile:
    """One or more profiled runs of one gateway setup, summed.

    Each sample is weighted by the CPU its thread really used: the main thread's samples
    share the main thread's CPU time, the other threads' samples theirs (both from
    ``schedstat``). Sample counts alone would overstate a thread pool: py-spy also
    samples a thread that is waiting for the GIL, which uses no CPU.
    """

    label: str
    requests: int = 0  # completed, as wrk counted them
    seconds: float = 0.0
    forwarded: int = 0
    cpu_s: float = 0.0  # the whole process tree
    main_s: float = 0.0  # the serving process's main thread (the event loop)
    threads_s: float = 0.0  # its other threads
    after_s: float = 0.0  # CPU spent after the load stopped
    samples: int = 0
    own: Counter[str] = field(default_factory=Counter)  # CPU seconds
    inclusive: Counter[str] = field(default_factory=Counter)  # CPU seconds

    @property
    def per_req_us(self) -> float:
        return self.cpu_s * 1e6 / self.forwarded if self.forwarded else 0.0

    def us(self, cpu_s: float) -> float:
        """CPU seconds -> µs per request."""
        return cpu_s * 1e6 / self.forwarded if self.forwarded else 0.0

    def share(self, cpu_s: float) -> float:
        return cpu_s / self.cpu_s if self.cpu_s else 0.0

    def packages(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for name, cpu in self.own.items():
            found[package(name)] += cpu
        return found

    def add_samples(self, collapsed: str, main_s: float, threads_s: float) -> None:
        """Weight ``collapsed``'s samples by what each group of threads used."""
        groups = summarize(collapsed)
        for group, cpu in ((MAIN, main_s), (THREADS, threads_s)):
            own, inclusive, total = groups[group]
            if not total:
                continue
            weight = cpu / total
            for name, count in own.items():
                self.own[name] += count * weight
            for name, count in inclusive.items():
                self.inclusive[name] += count * weight
            self.samples += total

    def add(self, other: Profile) -> None:
        self.requests += other.requests
        self.seconds += other.seconds
        self.forwarded += other.forwarded
        self.cpu_s += other.cpu_s
        self.main_s += other.main_s
        self.threads_s += other.threads_s
        self.after_s += other.after_s
        self.samples += other.samples
        self.own.update(other.own)
        self.inclusive.update(other.inclusive)


def profile_once(args: argparse.Namespace, variant_name: str | None) -> tuple[Profile, str]:
    """Start the mock and a gateway, load it while py-spy samples; the profile and the stacks."""
    redis_prefix: harness.RedisPrefix | None = None
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        work = Path(tmp)
        processes = harness.Processes(work)
        mock_port = free_port()
        try:
            processes.start_mock(args.python, {args.latency: mock_port}, args.load_core)
            env: dict[str, str] = {}
            if variant_name:
                variant = features.VARIANTS[variant_name]
                prefix = None
                if variant.redis:
                    prefix = f"bench-profile-{secrets.token_hex(4)}"
                    redis_prefix = harness.RedisPrefix(args.redis_url, prefix)
                    env["REDIS_URL"] = args.redis_url
                env.update(features.variant_env(variant, mock_port))
                config_doc = features.variant_config(variant, mock_port, args.latency, prefix)
            else:
                config_doc = configs.proxy_config({args.latency: mock_port})
            config = configs.write_config(work / "config.yaml", config_doc)
            gateway, port = processes.start_gateway(
                "gateway", args.python, args.gateway_src, config, args.proxy_core, env=env
            )
            api_key = configs.MASTER_KEY
            if variant_name:
                api_key = harness.generate_key(
                    port,
                    configs.MASTER_KEY,
                    features.key_fields(args.latency, features.VARIANTS[variant_name]),
                )
            vary = bool(variant_name)
            body = work / "body.json"
            variant = features.VARIANTS[variant_name] if variant_name else None
            request = variant.request if variant else "chat"
            body.write_bytes(features.request_bytes(request, args.latency, args.stream, nonce=vary))
            run_id = secrets.token_hex(4)
            url = f"http://127.0.0.1:{port}{variant.path if variant else harness.CHAT_PATH}"
            loadgen.run_wrk(
                url,
                body,
                concurrency=16,
                seconds=3,
                api_key=api_key,
                core=args.load_core,
                vary=f"{run_id}.warmup" if vary else None,
            )
            procs.wait_quiet(gateway.pid)
            stacks = work / "stacks.txt"
            spy = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    args.load_core,
                    args.py_spy,
                    "record",
                    "--pid",
                    str(gateway.pid),
                    "--rate",
                    str(args.rate),
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(stacks),
                    "--duration",
                    str(int(args.seconds + args.tail) + 2),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            threading.Event().wait(1.0)  # py-spy attaches
            forwarded = mock_requests(mock_port)
            cpu = procs.cpu_seconds(gateway.pid)
            threads_before = procs.thread_cpu(gateway.pid)
            result = loadgen.run_wrk(
                url,
                body,
                concurrency=args.concurrency,
                seconds=args.seconds,
                api_key=api_key,
                core=args.load_core,
                vary=f"{run_id}.run" if vary else None,
            )
            cpu_during = procs.cpu_seconds(gateway.pid) - cpu
            procs.wait_quiet(gateway.pid)
            cpu = procs.cpu_seconds(gateway.pid) - cpu
            threads = {
                tid: used - threads_before.get(tid, 0.0)
                for tid, used in procs.thread_cpu(gateway.pid).items()
            }
            forwarded = mock_requests(mock_port) - forwarded
            _, spy_err = spy.communicate(timeout=args.seconds + args.tail + 60)
            if not stacks.exists():
                raise RuntimeError(f"py-spy wrote nothing: {spy_err.decode(errors='replace')}")
            collapsed = stacks.read_text(encoding="utf-8", errors="replace")
        finally:
            processes.stop()
            if redis_prefix is not None:
                redis_prefix.delete()
                redis_prefix.close()
    main_s = threads.get(gateway.pid, 0.0)
    found = Profile(
        variant_name or "run.py's config, master key",
        requests=result.requests,
        seconds=result.seconds,
        forwarded=forwarded,
        cpu_s=cpu,
        main_s=main_s,
        threads_s=sum(threads.values()) - main_s,
        after_s=cpu - cpu_during,
    )
    found.add_samples(collapsed, found.main_s, found.threads_s)
    return found, collapsed


def print_profile(found: Profile, args: argparse.Namespace) -> None:
    kind = "20-chunk streams" if args.stream else "non-streaming requests"
    rps = found.requests / found.seconds if found.seconds else 0.0
    print(
        f"{found.label}; {kind}, c={args.concurrency}, upstream {args.latency} ms: "
        f"{rps:,.0f} req/s, {found.per_req_us:.0f} µs of gateway CPU per request "
        f"({found.forwarded} forwarded, {found.samples} samples; {found.after_s:.2f} s of the "
        f"{found.cpu_s:.2f} s CPU came after the load stopped). The event loop's thread: "
        f"{found.us(found.main_s):.0f} µs/req, other threads {found.us(found.threads_s):.0f}, "
        f"other processes (the health process) "
        f"{found.us(found.cpu_s - found.main_s - found.threads_s):.0f}.\n"
    )
    for title, counter in (
        ("own time, by package", found.packages()),
        ("own time", found.own),
        ("including callees", found.inclusive),
    ):
        print(f"top {args.top} by {title}:  share  µs/req  function")
        for name, cpu in counter.most_common(args.top):
            print(f"  {found.share(cpu):6.1%} {found.us(cpu):7.1f}  {name}")
        print()


def print_difference(found: Profile, base: Profile, args: argparse.Namespace) -> None:
    """Where ``found`` spends more CPU per request than ``base``: by package (own time) and
    by function (including callees), in µs per request."""
    print(
        f"{found.label} against {base.label}: {found.per_req_us:.0f} against "
        f"{base.per_req_us:.0f} µs of gateway CPU per request "
        f"({found.per_req_us - base.per_req_us:+.0f} µs, "
        f"{(found.per_req_us / base.per_req_us - 1) * 100 if base.per_req_us else 0:+.1f}%); "
        f"the event loop's thread {found.us(found.main_s) - base.us(base.main_s):+.0f} µs, "
        f"other threads {found.us(found.threads_s) - base.us(base.threads_s):+.0f} µs\n"
    )
    for title, mine, theirs in (
        ("own time, by package", found.packages(), base.packages()),
        ("including callees", found.inclusive, base.inclusive),
    ):
        difference = {
            name: found.us(mine[name]) - base.us(theirs[name]) for name in set(mine) | set(theirs)
        }
        print(f"top {args.top} differences by {title}:  µs/req {found.label} / {base.label}")
        ranked = sorted(difference.items(), key=lambda item: -abs(item[1]))
        for name, delta in ranked[: args.top]:
            print(
                f"  {delta:+7.1f}  {found.us(mine[name]):7.1f} / {base.us(theirs[name]):7.1f}  "
                f"{name}"
            )
        print()


def main() -> int:
    args = parse_args()
    os.sched_setaffinity(0, {int(c) for c in args.load_core.split(",")})
    if not args.against:
        found, collapsed = profile_once(args, args.variant)
        if args.keep:
            Path(args.keep).write_text(collapsed, encoding="utf-8")
        print_profile(found, args)
        return 0
    # Variant and baseline alternate (A B B A ...), so drift on a shared machine hits both.
    found = Profile(args.variant or "run.py's config, master key")
    base = Profile(args.against)
    for round_ in range(args.rounds):
        order = [(args.variant, found), (args.against, base)]
        for name, into in order if round_ % 2 == 0 else order[::-1]:
            once, _ = profile_once(args, name)
            into.add(once)
    print_profile(found, args)
    print_profile(base, args)
    print_difference(found, base, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
