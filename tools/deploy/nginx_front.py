"""Starts nginx with tools/deploy/nginx.conf in front of two local replicas,
on other ports: what the server test and tools/bench/serve_bench.py run."""
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def start_nginx(nginx, work, replica_ports, listen_port, stderr=subprocess.DEVNULL):
    """nginx.conf with its upstreams at replica_ports and its listener at
    listen_port, written into the folder work, run from there; returns the process."""
    with open(os.path.join(HERE, "nginx.conf")) as f:
        conf = f.read()
    a, b = replica_ports
    conf = conf.replace("127.0.0.1:8081", f"127.0.0.1:{a}").replace("127.0.0.1:8082", f"127.0.0.1:{b}")
    conf = conf.replace("listen 127.0.0.1:8080", f"listen 127.0.0.1:{listen_port}")
    path = os.path.join(work, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return subprocess.Popen([nginx, "-c", path, "-p", work], stdout=subprocess.DEVNULL, stderr=stderr)
