"""The front end's side: tools that run on the cluster's services, called through deployment handles.

``remote_tools(context)`` gives the same eight tools as ``tools.default_tools`` (same names,
schemas and descriptions), each of whose ``execute`` sends the call to its service and
brings the result back into the session's own artifact store. Progress, text pieces and
spoken sentences arrive as they happen; stopping the turn cancels the remote call.

A replica that dies mid-call is retried once on another replica (what was already shown
or played is not repeated); then the person hears that the service is restarting. A
service whose queue is full answers at once that it is busy (``ServiceBusy``: the web
APIs turn it into 429 with ``Retry-After``), never an unbounded wait.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from typing import Any

from agent.cluster import APP_PREFIX, ID, MADE_PATTERN, SERVICE_NAMES, SERVICES, service_of, swap_ids
from agent.errors import ConfigError, PolychatError, ServiceBusy, ToolError, TurnCancelled

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2  # how often a waiting call looks at the turn's stop signal
RETRY_AFTER_SECONDS = 5  # what a busy service suggests


class ServiceRestarting(ToolError):
    """A service's replica died twice in one call (it is being replaced)."""


_connected: str | None = None
_connect_lock = threading.Lock()
_handles: dict[str, Any] = {}


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` (``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``) once per process.

    Raises:
        ConfigError: Ray is not installed, or the cluster cannot be reached (one sentence).
    """
    global _connected
    with _connect_lock:
        if _connected == address:
            return
        try:
            import ray
        except ImportError as e:
            raise ConfigError(
                "POLYCHAT_CLUSTER is set but Ray is not installed; install it with pip install 'polychat[cluster]', "
                "or unset POLYCHAT_CLUSTER to run the tools in this process."
            ) from e
        unreachable = _unreachable(address)
        if unreachable:
            raise ConfigError(
                f"The Ray cluster at {address} cannot be reached ({unreachable}); start it with 'ray start --head', "
                f"fix POLYCHAT_CLUSTER (or --cluster), or unset it to run the tools in this process."
            )
        try:
            if not ray.is_initialized():
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
                         configure_logging=False)
            for name in ("ray", "ray.serve"):  # its routers' start-up lines are not the person's business
                logging.getLogger(name).setLevel(logging.WARNING)
        except Exception as e:  # noqa: BLE001 - unreachable, refused, version mismatch: one sentence
            first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            raise ConfigError(
                f"The Ray cluster at {address} cannot be reached ({first}); start it with 'ray start --head', "
                f"fix POLYCHAT_CLUSTER (or --cluster), or unset it to run the tools in this process."
            ) from e
        _connected = address


CONNECT_TIMEOUT_SECONDS = 3.0  # Ray itself waits minutes for a head that is not there


def _unreachable(address: str) -> str:
    """Why nothing answers at ``HOST:PORT`` (or ``ray://HOST:PORT``) within seconds; "" when it answers."""
    import socket

    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return ""  # "auto", or a form Ray reads itself
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_SECONDS):
            return ""
    except OSError as e:
        return e.strerror or type(e).__name__


def handle(service: str) -> Any:
    """The deployment handle of ``service`` (cached)."""
    found = _handles.get(service)
    if found is not None:
        return found
    from ray import serve

    try:
        found = serve.get_app_handle(APP_PREFIX + service)
    except Exception as e:  # noqa: BLE001 - not deployed, Serve not started
        raise ToolError(
            f"The {SERVICE_NAMES[service]} is not running on the cluster; deploy it with "
            f"'polychat cluster deploy CONFIG.yaml'."
        ) from e
    _handles[service] = found
    return found


def remote_tools(context: Any) -> list[Any]:
    """The eight tools bound to ``context``, those of the cluster's services running remotely."""
    from tools import TOOL_CLASSES, make_tool

    connect(context.settings.cluster)
    made = []
    for name in TOOL_CLASSES:
        local = make_tool(name, context)
        if service_of(name) is None:
            made.append(local)
            continue
        made.append(_remote_class(type(local))(context=context))
    return made


def remote_tool(name: str, context: Any) -> Any:
    """One tool bound to ``context``, running on its service."""
    from tools import make_tool

    connect(context.settings.cluster)
    return _remote_class(type(make_tool(name, context)))(context=context)


_classes: dict[type, type] = {}


def _remote_class(cls: type) -> type:
    """A subclass of a tool whose ``execute`` calls the tool's service (same name, schema, description)."""
    found = _classes.get(cls)
    if found is None:
        def execute(self: Any, **args: Any) -> Any:
            return call(self.name, self.context, args)

        found = _classes[cls] = type(f"Remote{cls.__name__}", (cls,), {"execute": execute})
    return found


# --------------------------------------------------------------------------- one call


def call(tool: str, context: Any, args: dict[str, Any]) -> Any:
    """Run ``tool`` on its service and bring its result home (a ``ToolResult`` in ``context``'s store).

    Raises:
        TurnCancelled: the turn was stopped (the remote call is cancelled too).
        ServiceBusy: the service's queue is full.
        ServiceRestarting: its replica died, and again on the retry.
        PolychatError: the tool's own error, with its sentence.
    """
    service = service_of(tool)
    assert service is not None
    request = _request(tool, context, args)
    relayed = {"audio": 0, "text": 0}  # what was already shown or played, not repeated by a retry
    for attempt in (1, 2):
        try:
            return _stream(service, request, context, relayed)
        except (TurnCancelled, PolychatError):
            raise
        except Exception as e:  # noqa: BLE001 - sorted below into busy, died, or a fault of the call
            kind = _failure(e)
            if kind == "busy":
                ahead = _queued(e)
                raise ServiceBusy(
                    f"The {SERVICE_NAMES[service]} is busy{f' ({ahead} ahead of you)' if ahead else ''}; "
                    f"try again in a moment.", RETRY_AFTER_SECONDS
                ) from e
            if kind == "died" and attempt == 1:
                log.warning("A %s replica died during %s (%s); retrying once.", service, tool, type(e).__name__)
                continue
            if kind == "died":
                raise ServiceRestarting(
                    f"The {SERVICE_NAMES[service]} is restarting; try again in a moment."
                ) from e
            raise ToolError(f"{tool} failed on the cluster ({type(e).__name__}); try again in a moment.") from e
    raise AssertionError("unreachable")


def _request(tool: str, context: Any, args: dict[str, Any]) -> dict[str, Any]:
    """The call as the service reads it: arguments, and the bytes of each artifact they name."""
    inputs, seen = [], set()
    for value in args.values():
        for found in ID.findall(value) if isinstance(value, str) else []:
            if found in seen or found not in context.artifacts:
                continue
            seen.add(found)
            artifact = context.artifacts.get(found)
            inputs.append({"id": artifact.id, "kind": artifact.kind, "name": artifact.name,
                           "data": artifact.path.read_bytes()})
    return {
        "tool": tool, "args": args, "inputs": inputs, "overrides": dict(context.overrides),
        "turn": context.turn, "step": context.step, "spoken_chars_left": context.spoken_chars_left,
    }


def _stream(service: str, request: dict[str, Any], context: Any, relayed: dict[str, int]) -> Any:
    """Send the call, relay what comes back while it runs, and return its result."""
    generator = handle(service).options(stream=True).run.remote(request)
    arrived: queue.Queue[tuple[str, Any]] = queue.Queue()

    def pump() -> None:
        try:
            for item in generator:
                arrived.put(("item", item))
            arrived.put(("end", None))
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
            arrived.put(("error", e))

    threading.Thread(target=pump, daemon=True, name=f"polychat-{service}-stream").start()
    seen = {"audio": 0, "text": 0}
    while True:
        try:
            kind, value = arrived.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if context.cancel is not None and context.cancel.is_set():
                generator.cancel()
                raise TurnCancelled() from None
            continue
        if kind == "error":
            raise value
        if kind == "end":
            raise ToolError(f"The {SERVICE_NAMES[service]} ended {request['tool']} without a result; try again.")
        item = value
        if item["type"] == "progress":
            try:
                context.report(item["label"], item["done"], item["total"])
            except TurnCancelled:
                generator.cancel()
                raise
        elif item["type"] in ("audio", "text"):
            seen[item["type"]] += 1
            if seen[item["type"]] <= relayed[item["type"]]:
                continue  # a retry says again what the dead replica already said
            relayed[item["type"]] += 1
            if item["type"] == "text":
                context.partial_text(item["piece"])
            elif context.on_audio is not None:
                import numpy as np

                context.on_audio(item["words"], np.frombuffer(item["samples"], dtype=np.float32), item["rate"])
        elif item["type"] == "cancelled":
            raise TurnCancelled()
        elif item["type"] == "error":
            raise _error_class(item["class"])(item["error"])
        elif item["type"] == "result":
            return _result(item, context, request["tool"])


def _error_class(name: str) -> type[PolychatError]:
    import agent.errors as errors

    found = getattr(errors, name, None)
    return found if isinstance(found, type) and issubclass(found, PolychatError) else ToolError


def _result(item: dict[str, Any], context: Any, tool: str) -> Any:
    """The service's result with its artifacts added to this session's store, under this session's ids."""
    from tools.base import ToolResult

    artifacts = [
        context.artifacts.add_bytes(made["data"], kind=made["kind"], name=made.get("name"),
                                    **context.generated(tool))
        for made in item["artifacts"]
    ]

    def home(found: str) -> str:
        return artifacts[int(MADE_PATTERN.fullmatch(found).group(1))].id  # type: ignore[union-attr]

    return ToolResult(text=swap_ids(item["text"], home, MADE_PATTERN), artifacts=artifacts,
                      data=swap_ids(item["data"], home, MADE_PATTERN))


def _failure(error: BaseException) -> str:
    """``busy`` (the queue is full), ``died`` (the replica or its node went away) or ``other``."""
    names = {type(error).__name__} | {t.__name__ for t in type(error).__mro__}
    if "BackPressureError" in names:
        return "busy"
    if names & {"ActorDiedError", "RayActorError", "ActorUnavailableError", "ReplicaUnavailableError",
                "DeploymentUnavailableError", "NodeDiedError", "WorkerCrashedError", "OwnerDiedError"}:
        return "died"
    return "other"


def _queued(error: BaseException) -> int | None:
    found = re.search(r"num_queued_requests=(\d+)", str(error))
    return int(found.group(1)) if found else None


STATS_TIMEOUT_SECONDS = 3  # a replica busy to its limit cannot answer; Ray's records stand in


def _replica_actors(service: str) -> list[dict[str, Any]]:
    """Where a service's replicas run, from Ray's own actor records (when they are too busy to say)."""
    try:
        from ray.util.state import list_actors, list_nodes

        nodes = {n.node_id: n.node_ip for n in list_nodes()}
        actors = list_actors(filters=[("class_name", "=", f"ServeReplica:{APP_PREFIX}{service}:{service}"),
                                      ("state", "=", "ALIVE")])
    except Exception as e:  # noqa: BLE001 - an older Ray, or the state API unreachable
        log.debug("No actor records for %s: %s", service, e)
        return []
    return [{"service": service, "host": nodes.get(a.node_id, a.node_id), "pid": a.pid, "ongoing": None,
             "stopped": None, "batches": [], "models": ["(busy: no answer)"]} for a in actors]


def status() -> list[dict[str, Any]]:
    """Each service's deployment: status, replicas (and where they run, what they hold)."""
    from ray import serve

    rows = []
    applications = serve.status().applications
    for service in SERVICES:
        app = applications.get(APP_PREFIX + service)
        if app is None:
            rows.append({"service": service, "status": "not deployed", "replicas": 0, "where": []})
            continue
        deployment = app.deployments.get(service)
        replicas = sum(deployment.replica_states.values()) if deployment is not None else 0
        where: list[dict[str, Any]] = []
        try:
            for _ in range(max(1, replicas) * 3):  # the router spreads calls; ask until each replica answered
                stats = handle(service).stats.remote().result(timeout_s=STATS_TIMEOUT_SECONDS)
                if stats["pid"] not in {w["pid"] for w in where}:
                    where.append(stats)
                if len(where) >= replicas:
                    break
        except Exception as e:  # noqa: BLE001 - busy to its limit, or starting: Ray's own records say where
            log.debug("No stats from %s: %s", service, e)
        if len(where) < replicas:
            where += [w for w in _replica_actors(service) if w["pid"] not in {x["pid"] for x in where}]
        rows.append({"service": service, "status": str(app.status.value if hasattr(app.status, "value") else
                                                        app.status),
                     "replicas": replicas, "where": where})
    return rows
