#!/usr/bin/env python3
"""selattn serve, driven by the official `openai` Python client as a user would:
completions and chat, streaming and not, stop strings, seeds, usage counts,
error objects, 16 concurrent streams equal to the same requests run alone, a
client that disconnects mid-stream, admission under a KV memory limit, the API
key, malformed requests, and two replicas behind nginx. Everything on loopback.

  python3 tests/server/server_test.py --bin build/bin/selattn [--model DIR]

Exits 77 (ctest: skipped) when the `openai` package is missing.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

sys.path.insert(0, os.path.join(ROOT, "tests", "common"))
sys.path.insert(0, os.path.join(ROOT, "tools", "deploy"))
from nginx_front import start_nginx  # noqa: E402
from pyenv import require  # noqa: E402

(openai,) = require("openai")

ARGS = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `selattn serve` process on a free port, stopped (SIGTERM) at the end."""

    def __init__(self, *extra):
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        cmd = [ARGS.bin, "serve", "--port", str(self.port), "-t", "1"] + (["-m", ARGS.model] if ARGS.model else [])
        self.proc = subprocess.Popen(cmd + list(extra), stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the server exited: " + self.output())
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not come up: " + self.output())

    def output(self):
        if self.log.closed:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data, dict(r.getheaders())

    def get(self, path):
        return self.request("GET", path)

    def metrics(self):
        out = {}
        for line in self.get("/metrics")[1].decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def client(self, **kw):
        kw.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=f"http://127.0.0.1:{self.port}/v1", api_key=kw.pop("api_key", "none"),
                             timeout=120, **kw)

    def stop(self):
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        finally:
            self.log.close()
        return code


def wait_for(fn, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return True
        time.sleep(0.05)
    return False


class OpenAiApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--parallel", "16")
        cls.api = cls.server.client()

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, cls.server.output()

    def complete(self, **kw):
        kw.setdefault("model", "selattn")
        return self.api.completions.create(**kw)

    def test_completion_text_and_usage(self):
        r = self.complete(prompt="The meaning of the word", max_tokens=12, temperature=0)
        self.assertEqual(r.object, "text_completion")
        self.assertEqual(len(r.choices), 1)
        self.assertEqual(r.choices[0].finish_reason, "length")
        self.assertEqual(r.usage.completion_tokens, 12)
        self.assertGreaterEqual(r.usage.prompt_tokens, 2)  # BOS + the prompt
        self.assertEqual(r.usage.total_tokens, r.usage.prompt_tokens + 12)
        self.assertTrue(r.choices[0].text)

    def test_token_id_prompt(self):
        r = self.complete(prompt=[464, 3616], max_tokens=3, temperature=0)
        self.assertEqual(r.usage.prompt_tokens, 3)
        self.assertEqual(r.usage.completion_tokens, 3)

    def test_stream_equals_whole_reply(self):
        whole = self.complete(prompt="Once upon a time", max_tokens=24, seed=7, temperature=0.9)
        chunks = list(self.complete(prompt="Once upon a time", max_tokens=24, seed=7, temperature=0.9, stream=True))
        self.assertEqual("".join(c.choices[0].text for c in chunks if c.choices), whole.choices[0].text)
        self.assertEqual(chunks[-1].choices[0].finish_reason, "length")

    def test_chat_stream_and_usage(self):
        msgs = [{"role": "system", "content": "You are brief."}, {"role": "user", "content": "Tell me a story"}]
        whole = self.api.chat.completions.create(model="selattn", messages=msgs, max_tokens=20, seed=3)
        self.assertEqual(whole.object, "chat.completion")
        self.assertEqual(whole.choices[0].message.role, "assistant")
        stream = self.api.chat.completions.create(model="selattn", messages=msgs, max_tokens=20, seed=3, stream=True,
                                                  stream_options={"include_usage": True})
        chunks = list(stream)
        self.assertEqual(chunks[0].choices[0].delta.role, "assistant")
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        self.assertEqual(text, whole.choices[0].message.content)
        self.assertEqual(chunks[-1].usage.completion_tokens, whole.usage.completion_tokens)
        self.assertEqual(chunks[-1].usage.prompt_tokens, whole.usage.prompt_tokens)

    def test_stop_string(self):
        free = self.complete(prompt="The meaning of the word", max_tokens=40, temperature=0).choices[0].text
        cut = free[5:12].strip() or free[5:12]
        r = self.complete(prompt="The meaning of the word", max_tokens=40, temperature=0, stop=[cut])
        self.assertEqual(r.choices[0].finish_reason, "stop")
        self.assertEqual(r.choices[0].text, free[: free.index(cut)])
        self.assertNotIn(cut, r.choices[0].text)

    def test_seed_reproducible(self):
        a = self.complete(prompt="In the year", max_tokens=16, seed=1234, temperature=1.0, top_p=0.9)
        b = self.complete(prompt="In the year", max_tokens=16, seed=1234, temperature=1.0, top_p=0.9)
        self.assertEqual(a.choices[0].text, b.choices[0].text)

    def test_kv_extensions(self):
        r = self.complete(prompt="The meaning of the word", max_tokens=40, temperature=0,
                          extra_body={"kv_policy": "selective", "kv_budget": 16})
        self.assertEqual(r.usage.completion_tokens, 40)

    def test_error_objects(self):
        cases = [dict(n=2), dict(presence_penalty=1.0), dict(temperature=5), dict(max_tokens=-1),
                 dict(extra_body={"kv_policy": "lru", "kv_budget": 4}), dict(extra_body={"kv_budget": 0,
                                                                                          "kv_policy": "selective"}),
                 dict(extra_body={"kv_policy": "h2o"}), dict(prompt="word " * 5000)]
        for kw in cases:
            kw.setdefault("prompt", "hi")
            with self.subTest(kw=str(kw)[:60]):
                with self.assertRaises(openai.BadRequestError) as e:
                    self.complete(max_tokens=kw.pop("max_tokens", 4), **kw)
                body = e.exception.body
                self.assertIsInstance(body, dict)
                self.assertTrue(body.get("message"))
                self.assertEqual(body.get("type"), "invalid_request_error")
        with self.assertRaises(openai.BadRequestError) as e:
            self.complete(prompt="word " * 5000, max_tokens=4)
        self.assertEqual(e.exception.body.get("code"), "context_length_exceeded")
        with self.assertRaises(openai.NotFoundError):
            self.api.embeddings.create(model="selattn", input="x")

    def test_models_and_health(self):
        models = self.api.models.list()
        self.assertEqual(len(models.data), 1)
        self.assertEqual(self.server.get("/health")[0], 200)

    def test_concurrent_streams_equal_each_alone(self):
        prompts = [f"Story number {i}: once" for i in range(16)]

        def run(i, stream):
            kw = dict(model="selattn", prompt=prompts[i], max_tokens=24, seed=100 + i, temperature=0.8)
            if not stream:
                return self.complete(**kw).choices[0].text
            return "".join(c.choices[0].text for c in self.complete(stream=True, **kw) if c.choices)

        alone = [run(i, False) for i in range(16)]
        steps_before = self.server.metrics()["selattn_decode_steps_total"]
        tokens_before = self.server.metrics()["selattn_decode_batch_tokens_total"]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            together = list(pool.map(lambda i: run(i, True), range(16)))
        self.assertEqual(together, alone)
        m = self.server.metrics()
        steps = m["selattn_decode_steps_total"] - steps_before
        tokens = m["selattn_decode_batch_tokens_total"] - tokens_before
        self.assertGreater(tokens / steps, 2.0, "the streams were not batched together")

    def test_disconnect_frees_pages(self):
        before = self.server.metrics().get('selattn_requests_total{outcome="cancelled"}', 0)
        c = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        body = json.dumps({"prompt": "Once", "max_tokens": 1500, "stream": True, "temperature": 0.8})
        c.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read1(256)  # the stream has started
        self.assertTrue(wait_for(lambda: self.server.metrics()["selattn_active_requests"] == 1))
        self.assertGreater(self.server.metrics()["selattn_kv_pages_in_use"], 0)
        c.sock.close()
        c.close()
        self.assertTrue(wait_for(lambda: self.server.metrics()["selattn_active_requests"] == 0))
        m = self.server.metrics()
        self.assertEqual(m["selattn_kv_pages_in_use"], 0)
        self.assertEqual(m['selattn_requests_total{outcome="cancelled"}'], before + 1)

    def test_malformed_requests_never_crash(self):
        rng = random.Random(5)
        bodies = [b"", b"{", b"[]", b"null", b'{"prompt": 5}', b'{"prompt": ["a", "b"]}', b'{"prompt": [[1, 2]]}',
                  b'{"prompt": [-1]}', b'{"prompt": [999999999]}', b'{"prompt": "x", "max_tokens": "9"}',
                  b'{"prompt": "x", "max_tokens": 1e300}', b'{"prompt": "x", "stop": [1]}',
                  b'{"prompt": "x", "stop": ["a","b","c","d","e"]}', b'{"prompt": "x", "seed": -4}',
                  b'{"prompt": "\\ud800"}', b'{"messages": []}', b'{"messages": [{"role": "robot"}]}',
                  b'{"messages": [{"role": "user", "content": 7}]}', b'{"prompt": "x", "stream": "yes"}',
                  "\u00ff\u00fe".encode("latin-1"), bytes(rng.randrange(256) for _ in range(300))]
        bodies += [json.dumps({"prompt": "x", k: v}).encode() for k in ("top_p", "top_k", "min_p", "temperature")
                   for v in (-1, 1e9, "a", None, [1])]
        for path in ("/v1/completions", "/v1/chat/completions"):
            for body in bodies:
                status, data, _ = self.server.request("POST", path, body=body,
                                                      headers={"Content-Type": "application/json"})
                self.assertTrue(200 <= status < 500, (path, body[:40], status, data[:200]))
                if status >= 400:
                    self.assertIn("error", json.loads(data))
        big = b'{"prompt": "' + b"a" * (2 << 20) + b'"}'
        self.assertEqual(self.server.request("POST", "/v1/completions", body=big)[0], 413)
        self.assertEqual(self.server.get("/health")[0], 200)


class Limits(unittest.TestCase):
    def test_admission_by_kv_pages_queues_then_refuses(self):
        # Bundled model: 4 layers, 16-slot pages of 16 x 256 x 2 floats = 32 KiB;
        # a limit of 15 MiB = 480 pages. A full-cache request of 2 + 898 tokens
        # may hold 4 x 57 = 228 pages: two fit, the third waits, the queue holds
        # one, a fifth gets 503; one that may reach 2048 tokens (4 x 128 = 512
        # pages) can never fit: 400.
        s = Server("--kv-memory-limit", "15", "--max-queue", "1", "--parallel", "8")
        try:
            api = s.client()
            with self.assertRaises(openai.BadRequestError):
                api.completions.create(model="m", prompt="x", max_tokens=2000)

            def long_stream():
                return "".join(c.choices[0].text for c in api.completions.create(
                    model="m", prompt="Once", max_tokens=898, temperature=0.8, seed=1, stream=True,
                    extra_body={"ignore_eos": True}) if c.choices)

            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                first = []
                for want in ("selattn_active_requests", "selattn_active_requests", "selattn_queue_depth"):
                    before = s.metrics()[want]
                    first.append(pool.submit(long_stream))
                    self.assertTrue(wait_for(lambda: s.metrics()[want] == before + 1), want)
                m = s.metrics()
                self.assertEqual(m["selattn_active_requests"], 2)
                self.assertEqual(m["selattn_kv_pages_promised"], 456)
                status, data, headers = s.request("POST", "/v1/completions",
                                                  body=json.dumps({"prompt": "x", "max_tokens": 898}))
                self.assertEqual(status, 503, data)
                self.assertEqual(headers.get("Retry-After"), "1")
                texts = [f.result() for f in first]
            self.assertEqual(len(set(texts)), 1)  # the queued one ran later, unchanged
            # A budget of 8 holds ceil(9 / 16) = 1 page a layer: eight fit at once
            # (the client retries the 503s of the one-place queue after Retry-After).
            patient = s.client(max_retries=20)
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                done = list(pool.map(lambda _: patient.completions.create(
                    model="m", prompt="Once", max_tokens=58, extra_body={"kv_policy": "selective", "kv_budget": 8,
                                                                           "ignore_eos": True}),
                    range(8)))
            self.assertTrue(all(r.usage.completion_tokens == 58 for r in done))
            self.assertEqual(s.metrics()["selattn_kv_pages_in_use"], 0)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_api_key(self):
        s = Server("--api-key", "sekret")
        try:
            with self.assertRaises(openai.AuthenticationError):
                s.client(api_key="wrong").completions.create(model="m", prompt="x", max_tokens=2)
            r = s.client(api_key="sekret").completions.create(model="m", prompt="x", max_tokens=2)
            self.assertEqual(r.usage.completion_tokens, 2)
            self.assertEqual(s.get("/metrics")[0], 401)
            self.assertEqual(s.get("/health")[0], 200)
        finally:
            s.stop()


class ScaleOut(unittest.TestCase):
    def test_two_replicas_behind_nginx(self):
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if nginx is None:
            self.skipTest("nginx is not installed (tools/test.sh installs nginx-light)")
        a, b = Server(), Server()
        work = tempfile.mkdtemp()
        port = free_port()
        proc = start_nginx(nginx, work, (a.port, b.port), port, stderr=subprocess.PIPE)
        try:
            api = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)
            self.assertTrue(wait_for(lambda: _up(port)), proc.stderr.read().decode() if proc.poll() else "")
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                texts = list(pool.map(lambda i: "".join(
                    c.choices[0].text for c in api.completions.create(
                        model="m", prompt="Once", max_tokens=16, seed=9, temperature=0.8, stream=True) if c.choices),
                    range(8)))
            self.assertEqual(len(set(texts)), 1)  # any replica gives the same answer
            served = [s.metrics()['selattn_requests_total{outcome="finished"}'] for s in (a, b)]
            self.assertEqual(sum(served), 8)
            self.assertTrue(all(n > 0 for n in served), f"one replica took everything: {served}")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            a.stop()
            b.stop()
            shutil.rmtree(work, ignore_errors=True)


def _up(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/health")
        ok = c.getresponse().status == 200
        c.close()
        return ok
    except OSError:
        return False


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", default="")
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
