"""``polychat cluster deploy|status|remove``: the tools as Ray Serve deployments on a Ray cluster.

``deploy`` reads a Ray Serve config file (the format ``serve deploy`` reads; see
``cluster.example.yaml``): one application per service, ``import_path:
agent.cluster.services:build``, and its deployment's options (replicas, CPUs, GPUs,
autoscaling, max ongoing and queued requests). The front end then runs with
``polychat serve --cluster ADDRESS``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from agent.errors import ConfigError

DEPLOYMENT_OPTIONS = (
    "num_replicas", "ray_actor_options", "autoscaling_config", "max_ongoing_requests", "max_queued_requests",
    "health_check_period_s", "health_check_timeout_s", "graceful_shutdown_timeout_s", "max_replicas_per_node",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cluster", help="run the tools as Ray Serve deployments on a Ray cluster")
    sub = parser.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    deploy = sub.add_parser("deploy", help="deploy the services a Serve config file describes")
    deploy.add_argument("config", type=Path, metavar="CONFIG.yaml")
    deploy.add_argument("--address", help="the Ray cluster (default: POLYCHAT_CLUSTER, else the running local one)")
    deploy.set_defaults(handler=run_deploy)
    status = sub.add_parser("status", help="the services: status, replicas, where they run, what they hold")
    status.add_argument("--address")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=run_status)
    remove = sub.add_parser("remove", help="take polychat's services off the cluster")
    remove.add_argument("--address")
    remove.set_defaults(handler=run_remove)


def _address(args: argparse.Namespace) -> str:
    from agent.config import get_settings

    return args.address or get_settings().cluster or os.environ.get("RAY_ADDRESS") or "auto"


def read_config(path: Path) -> list[dict[str, Any]]:
    """The polychat applications of a Serve config file: name, args and deployment options each.

    Raises:
        ConfigError: the file is missing, not YAML, or names no polychat service (one sentence).
    """
    import yaml

    from agent.cluster import APP_PREFIX, SERVICES

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"The cluster config {path} cannot be read ({e.strerror}); check the path.") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"The cluster config {path} is not valid YAML ({str(e).splitlines()[0]}); fix it.") from e
    applications = (data or {}).get("applications") if isinstance(data, dict) else None
    if not isinstance(applications, list) or not applications:
        raise ConfigError(f"The cluster config {path} has no 'applications' list; start from cluster.example.yaml.")
    found = []
    for app in applications:
        args = dict(app.get("args") or {})
        service = args.get("service")
        if app.get("import_path") != "agent.cluster.services:build" or service not in SERVICES:
            raise ConfigError(
                f"The application {app.get('name')!r} in {path} is not a polychat service; give it "
                f"import_path agent.cluster.services:build and args.service one of {', '.join(SERVICES)}."
            )
        options = dict(args.get("options") or {})
        for deployment in app.get("deployments") or []:
            options.update({k: v for k, v in deployment.items() if k in DEPLOYMENT_OPTIONS})
        found.append({"name": app.get("name") or APP_PREFIX + service, "service": service,
                      "settings": args.get("settings") or {}, "options": options})
    return found


def run_deploy(args: argparse.Namespace) -> int:
    from ray import serve

    from agent.cluster import APP_PREFIX
    from agent.cluster.remote import connect
    from agent.cluster.services import build

    apps = read_config(args.config)
    for app in apps:
        if app["name"] != APP_PREFIX + app["service"]:
            raise ConfigError(f"Name the application of the {app['service']} service {APP_PREFIX + app['service']} "
                              f"(not {app['name']!r}); the front end finds it by that name.")
    address = _address(args)
    connect(address)
    for app in apps:
        print(f"deploying {app['name']} …", flush=True)
        serve.run(build({"service": app["service"], "settings": app["settings"], "options": app["options"]}),
                  name=app["name"], route_prefix=None)
        print(f"{app['name']}: running.", flush=True)
    print(f"Now start the front end with: polychat serve --cluster {address}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from agent.cluster.remote import connect, status

    connect(_address(args))
    rows = status()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'SERVICE':<12} {'STATUS':<14} {'REPLICAS':>8}  WHERE (host pid: ongoing calls; models loaded)")
    for row in rows:
        where = "; ".join(f"{w['host']} {w['pid']}: {'?' if w['ongoing'] is None else w['ongoing']} ongoing"
                          + (f" ({', '.join(w['models'])})" if w["models"] else "") for w in row["where"])
        print(f"{row['service']:<12} {row['status']:<14} {row['replicas']:>8}  {where}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from ray import serve

    from agent.cluster import APP_PREFIX, SERVICES
    from agent.cluster.remote import connect

    connect(_address(args))
    present = serve.status().applications
    for service in SERVICES:
        if APP_PREFIX + service in present:
            serve.delete(APP_PREFIX + service)
            print(f"{APP_PREFIX + service}: removed.")
    return 0
