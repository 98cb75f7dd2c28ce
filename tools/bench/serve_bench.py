#!/usr/bin/env python3
"""Aggregate decode throughput of `selattn serve` against llama.cpp's llama-server
at 1, 4 and 16 concurrent streams, and how many 2048-token conversations fit
in one KV memory limit with the full cache and with a budget.

Throughput: each of N clients sends one completion (a short prompt,
max_tokens new tokens, end of text ignored, greedy) at the same moment; the
figure is all generated tokens / wall time from the first send to the last
reply, median of --rounds. Both servers get the same threads and N parallel
slots; selattn runs its f16 K/V (like llama.cpp's default), llama-server the
GGUF of the same weights.

Capacity: a selattn server with --kv-memory-limit set to the pages of
`--capacity-full` full-cache conversations of 2048 positions is sent 64 such
conversations at once (prompt + max_tokens = 2048), first with the full
cache, then with kv_budget 64; the figure is the most requests running at
once (GET /metrics), as the admission by KV pages allows.

  python3 tools/bench/serve_bench.py --selattn build/bin/selattn --model DIR [--gguf FILE --llama-server BIN]
      [--streams 1,4,16] [--tokens 128] [--threads 2] [--rounds 3] [--kv-budget 64] [--capacity]
      [--replicas /usr/sbin/nginx]

Replicas: the most streams, through one replica with all the threads, then
through two replicas with half the threads each behind nginx
(tools/deploy/nginx.conf).
"""
import argparse
import concurrent.futures
import http.client
import json
import socket
import statistics
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, path, body, timeout=600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {data[:300]!r}")
    return json.loads(data)


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def wait_up(port, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            if get(port, "/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not come up")


def metrics(port):
    out = {}
    for line in get(port, "/metrics")[1].decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def start(cmd, port):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(port, proc)
    return proc


def throughput(port, streams, tokens, rounds, extra):
    body = dict(prompt="Once upon a time, in a land far away,", max_tokens=tokens, temperature=0, ignore_eos=True,
                **extra)
    post(port, "/v1/completions", dict(body, max_tokens=8))  # warm-up
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(streams) as pool:
            replies = list(pool.map(lambda _: post(port, "/v1/completions", body), range(streams)))
        wall = time.perf_counter() - t0
        made = sum(r["usage"]["completion_tokens"] for r in replies)
        rates.append(made / wall)
    return statistics.median(rates)


def capacity(selattn, model, threads, full_conversations):
    """Most 2048-position conversations running at once under one KV limit."""
    out = {}
    for label, extra in (("full cache", {}), ("kv_budget 64", {"kv_policy": "selective", "kv_budget": 64})):
        port = free_port()
        # Pages of one full-cache conversation: layers x 2048 / 16 slots; the
        # limit in MiB from the server's own page size (GET /metrics).
        probe = start([selattn, "serve", "-m", model, "--port", str(port), "-t", str(threads)], port)
        m = metrics(port)
        probe.terminate()
        probe.wait()
        with open(model + "/config.json") as f:
            n_layer = json.load(f)["n_layer"]
        pages = n_layer * 2048 // 16
        limit_mib = full_conversations * pages * m["selattn_kv_page_bytes"] / (1 << 20)
        proc = start([selattn, "serve", "-m", model, "--port", str(port), "-t", str(threads), "--parallel", "64",
                      "--max-queue", "64", "--kv-memory-limit", f"{limit_mib:.6f}"], port)
        try:
            body = dict(prompt="Once", max_tokens=2046, temperature=0.8, ignore_eos=True, **extra)
            peak = 0
            with concurrent.futures.ThreadPoolExecutor(64) as pool:
                futures = [pool.submit(post, port, "/v1/completions", body) for _ in range(64)]
                deadline = time.time() + 20
                while time.time() < deadline and not all(f.done() for f in futures):
                    peak = max(peak, int(metrics(port)["selattn_active_requests"]))
                    time.sleep(0.05)
                proc.terminate()  # ends the rest: only the peak matters
                for f in futures:
                    try:
                        f.result()
                    except Exception:
                        pass
            out[label] = peak
        finally:
            proc.terminate()
            proc.wait()
    return out


def replicas(selattn, model, threads, nginx, streams, tokens, rounds):
    """Aggregate t/s at `streams` streams: one replica with all the threads, and
    two replicas with half each behind nginx (tools/deploy/nginx.conf)."""
    import os
    import shutil
    import tempfile
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = {}
    port = free_port()
    proc = start([selattn, "serve", "-m", model, "--port", str(port), "-t", str(threads), "--parallel",
                  str(streams), "--kv-type", "f16"], port)
    try:
        out["1 replica"] = throughput(port, streams, tokens, rounds, {})
    finally:
        proc.terminate()
        proc.wait()
    ports = [free_port(), free_port()]
    procs = [start([selattn, "serve", "-m", model, "--port", str(p), "-t", str(max(1, threads // 2)), "--parallel",
                    str(streams), "--kv-type", "f16"], p) for p in ports]
    work = tempfile.mkdtemp()
    front = free_port()
    sys.path.insert(0, os.path.join(root, "tools", "deploy"))
    from nginx_front import start_nginx
    ng = start_nginx(nginx, work, ports, front)
    try:
        wait_up(front, ng)
        out["2 replicas behind nginx"] = throughput(front, streams, tokens, rounds, {})
    finally:
        ng.terminate()
        ng.wait()
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--selattn", required=True)
    ap.add_argument("--model", required=True, help="model folder for selattn")
    ap.add_argument("--weights", default="file")
    ap.add_argument("--gguf", help="the same weights as GGUF, for llama-server")
    ap.add_argument("--llama-server")
    ap.add_argument("--streams", default="1,4,16")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kv-budget", type=int, default=64)
    ap.add_argument("--capacity", action="store_true", help="also measure conversations per KV limit")
    ap.add_argument("--replicas", metavar="NGINX", help="also: one replica vs two behind this nginx binary")
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args()
    streams = [int(s) for s in args.streams.split(",")]
    most = max(streams)
    rows = []

    port = free_port()
    proc = start([args.selattn, "serve", "-m", args.model, "--port", str(port), "-t", str(args.threads), "--parallel",
                  str(most), "--kv-type", "f16", "--weights", args.weights], port)
    try:
        for n in streams:
            rows.append(("selattn", "full cache", n, throughput(port, n, args.tokens, args.rounds, {})))
            budget = {"kv_policy": "selective", "kv_budget": args.kv_budget}
            rows.append(("selattn", f"kv_budget {args.kv_budget}", n,
                         throughput(port, n, args.tokens, args.rounds, budget)))
            print(rows[-2], rows[-1], file=sys.stderr, flush=True)
    finally:
        proc.terminate()
        proc.wait()

    if args.llama_server and args.gguf:
        port = free_port()
        proc = start([args.llama_server, "-m", args.gguf, "--port", str(port), "-t", str(args.threads), "-np",
                      str(most), "-c", str(most * 1024), "--no-webui"], port)
        try:
            for n in streams:
                rows.append(("llama-server", "full cache", n, throughput(port, n, args.tokens, args.rounds, {})))
                print(rows[-1], file=sys.stderr, flush=True)
        finally:
            proc.terminate()
            proc.wait()

    print(f"| engine | KV | streams | aggregate t/s | per stream t/s |")
    print("|---|---|---:|---:|---:|")
    for engine, kv, n, rate in rows:
        print(f"| {engine} | {kv} | {n} | {rate:,.1f} | {rate / n:,.1f} |")
    result = {"rows": [dict(engine=e, kv=k, streams=n, tok_s=r) for e, k, n, r in rows]}
    if args.capacity:
        cap = capacity(args.selattn, args.model, args.threads, 2)
        result["capacity"] = cap
        print(f"\n2048-position conversations running at once in the KV memory of 2 full caches: "
              f"{cap['full cache']} with the full cache, {cap['kv_budget 64']} with kv_budget 64")
    if args.replicas:
        rep = replicas(args.selattn, args.model, args.threads, args.replicas, most, args.tokens, args.rounds)
        result["replicas"] = rep
        print(f"\n{most} streams: " + ", ".join(f"{k} {v:,.1f} t/s" for k, v in rep.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
