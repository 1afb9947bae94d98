"""The local stack: moto, the TikTok emulator, the dispatcher and the OAuth HTTP front in one process.

Python API (tests, the demo and ``python -m tiktok_local up`` use it)::

    from tiktok_local.stack import LocalStack

    with LocalStack.start(workdir=tmp_path, time_scale=0.002) as stack:
        stack.aws_endpoint_url      # moto, http://127.0.0.1:<port>
        stack.region                # us-east-1 (account 123456789012, fake credentials)
        stack.names                 # bucket, queue URLs, tables, secret names: the stack.json keys
        stack.emulator              # the EmulatorServer (state, faults, api_base_url, ...)
        stack.dispatcher            # tiktok_local.dispatcher.Dispatcher (inject_timeout, ...)
        stack.http_front_url        # the OAuth routes as API Gateway HTTP API v2
        stack.client("sqs")         # a boto3 client for moto
        stack.wait_idle(30)         # True once every queue is drained and nothing runs

Everything is created from ``template.yaml`` (see ``tiktok_local.resources``); each function's
environment comes from its template ``Environment.Variables`` with refs resolved to the local
names. Handlers run in this process, so the union of the functions' variables is set in
``os.environ`` (plus ``AWS_ENDPOINT_URL``, fake credentials and ``AWS_DEFAULT_REGION``) for the
stack's lifetime and restored afterwards; ``POWERTOOLS_SERVICE_NAME`` is ``tiktok-connector-local``
for all of them (the layer's one Powertools logger serves every function of a process; each line's
``function_name`` tells them apart). ``TIKTOK_API_BASE_URL`` / ``TIKTOK_AUTH_URL``,
when set in the environment, replace the emulator's addresses; ``OAUTH_REDIRECT_URI`` is the HTTP
front's ``/oauth/callback``.

Time scale: visibility timeouts (and Lambda's asynchronous retry waits) are multiplied by
``time_scale`` (default :data:`DEFAULT_TIME_SCALE`, so the template's 390–750 s become 2–4 s;
scaled-down values are capped at 5 s);
everything else — receive counts, ``maxReceiveCount``, redrive — is real. ``stack.json`` records it.

``workdir/.local/stack.json`` is written atomically (temporary file + ``os.replace``) once every
service is ready; it names the serving process (``pid``). A stack refuses to start when a live
stack already owns that file (:class:`~tiktok_local.stack_file.StackAlreadyRunning`), and on stop
it removes only the file it wrote itself, and only while the file still holds what it wrote: a
stack started with ``write_stack_json=False`` (the demo, ``make run``) never touches the file of a
``make up`` running beside it. One stack per process at a time (it owns ``os.environ`` and moto's
in-process backends).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
import requests
from botocore.config import Config
from moto.server import ThreadedMotoServer

from tiktok_local.dispatcher import Dispatcher, FunctionBinding, Handler, enrich_moto_s3_events
from tiktok_local.http_front import HttpFront
from tiktok_local.resources import (
    REGION,
    STACK_NAME,
    CreatedResources,
    FunctionSpec,
    TemplateModel,
    connection_secret_value,
    create_resources,
    seed_connection,
)
from tiktok_local.sqs_move_tasks import enable_moto_message_move_tasks
from tiktok_local.stack_file import (
    REPO_ROOT,
    default_workdir,
    refuse_if_running,
    remove_if_unchanged,
    stack_json_path,
)

log = logging.getLogger("tiktok_local.stack")

DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
# 750 s (chunk queue) x 0.005 = 3.75 s -> 4 s; 390 s (events) -> 2 s.
DEFAULT_TIME_SCALE = 0.005
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
REQUIRED_KEYS = (
    "aws_endpoint_url",
    "region",
    "segments_bucket",
    "events_queue_url",
    "chunk_queue_url",
    "events_dlq_url",
    "chunk_dlq_url",
    "jobs_table",
    "audiences_table",
    "connect_url",
    "tiktok_api_base_url",
    "tiktok_auth_url",
)
# Queue name (after "<stack>-") -> stack.json key, where the generic rule would read badly.
_QUEUE_KEYS = {
    "chunks": "chunk_queue_url",
    "chunks-dlq": "chunk_dlq_url",
    "events": "events_queue_url",
    "events-dlq": "events_dlq_url",
    "ranges": "ranges_queue_url",
    "ranges-dlq": "ranges_dlq_url",
}
_SECRET_KEYS = {"app": "app_secret_name", "oauth-state-key": "state_key_secret_name"}
_ACTIVE = threading.Lock()


@dataclass
class Ports:
    """Where to listen; 0 = an ephemeral port. ``prefer_*`` are tried first and may be taken."""

    moto: int = 0
    emulator: int = 0
    http_front: int = 0

    @classmethod
    def preferred(cls) -> Ports:
        return cls(_free_or_zero(4566), _free_or_zero(4700), _free_or_zero(3000))


def _free_or_zero(port: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return 0
    return port


def _reset_process_caches() -> None:
    """Point the layer's cached clients, settings and secret providers at the current env."""
    from aws_lambda_powertools.utilities.parameters import base as parameters_base

    from tiktok_connector import aws, settings

    aws.reset_clients()
    settings.reset_settings()
    parameters_base.DEFAULT_PROVIDERS.clear()


def _suffix(name: str, stack_name: str) -> str:
    return name[len(stack_name) + 1 :] if name.startswith(f"{stack_name}-") else name


@dataclass
class LocalStack:
    """A running local stack. Build it with :meth:`start`; see the module docstring."""

    workdir: Path
    time_scale: float
    model: TemplateModel
    dispatcher: Dispatcher
    emulator: Any
    http_front: HttpFront | None
    names: dict[str, Any]
    created: CreatedResources
    _moto: ThreadedMotoServer
    _clients: dict[str, Any] = field(default_factory=dict)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock)
    _teardown: list[Callable[[], None]] = field(default_factory=list)
    _stopped: bool = False
    # The text of the stack.json this stack wrote (None: it wrote none).
    _stack_json_written: str | None = None

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        *,
        workdir: Path | str | None = None,
        time_scale: float = DEFAULT_TIME_SCALE,
        template: Path | str = DEFAULT_TEMPLATE,
        ports: Ports | None = None,
        with_emulator: bool = True,
        handler_overrides: dict[str, str | Handler] | None = None,
        write_stack_json: bool = True,
        concurrency_cap: int = 4,
        env_overrides: dict[str, str] | None = None,
        run_schedules: bool = False,
    ) -> LocalStack:
        """Start every service, create the resources, then write ``.local/stack.json``.

        ``run_schedules``: the dispatcher also runs the template's ``Schedule`` events, every
        ``rate()`` period times ``time_scale`` (off unless a test asks; ``tiktok_local.schedules``).

        ``handler_overrides`` replaces a function's handler (key: logical id or function name)
        — tests use it to drive the real template wiring with tiny handlers. ``env_overrides``
        win over the template's function variables (e.g. ``POWERTOOLS_LOG_LEVEL``).
        """
        if not _ACTIVE.acquire(blocking=False):
            raise RuntimeError("a LocalStack is already running in this process")
        ports = ports or Ports()
        workdir = Path(workdir) if workdir is not None else default_workdir()
        cleanup: list[Callable[[], None]] = [_ACTIVE.release]
        try:
            return cls._start(
                cleanup,
                workdir=workdir,
                time_scale=time_scale,
                template=Path(template),
                ports=ports,
                with_emulator=with_emulator,
                handler_overrides=handler_overrides or {},
                write_stack_json=write_stack_json,
                concurrency_cap=concurrency_cap,
                env_overrides=env_overrides or {},
                run_schedules=run_schedules,
            )
        except BaseException:
            for undo in reversed(cleanup):
                with contextlib.suppress(Exception):
                    undo()
            raise

    @classmethod
    def _start(
        cls,
        cleanup: list[Callable[[], None]],
        *,
        workdir: Path,
        time_scale: float,
        template: Path,
        ports: Ports,
        with_emulator: bool,
        handler_overrides: dict[str, str | Handler],
        write_stack_json: bool,
        concurrency_cap: int,
        env_overrides: dict[str, str],
        run_schedules: bool = False,
    ) -> LocalStack:
        if write_stack_json:
            refuse_if_running(stack_json_path(workdir))
        tiktok_api_override = os.environ.get("TIKTOK_API_BASE_URL")
        tiktok_auth_override = os.environ.get("TIKTOK_AUTH_URL")
        model = TemplateModel.from_file(template, stack_name=STACK_NAME)
        functions = model.functions()

        # 1. moto (its request handler logs every request through werkzeug's logger)
        werkzeug_log = logging.getLogger("werkzeug")
        if werkzeug_log.level == logging.NOTSET:
            werkzeug_log.setLevel(logging.WARNING)
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=ports.moto, verbose=False)
        moto.start()
        cleanup.append(lambda: _stop_moto(moto))
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
        cleanup.append(enrich_moto_s3_events())
        cleanup.append(serialize_moto_dynamodb())
        cleanup.append(enable_moto_message_move_tasks())  # SQS redrive: `tiktok-connector dlq`

        # 2. the process environment AWS clients read
        saved = _apply_env(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                **FAKE_CREDENTIALS,
            },
            remove=("AWS_PROFILE",),
        )
        cleanup.append(lambda: _restore_env(saved))
        _reset_process_caches()
        cleanup.append(_reset_process_caches)

        # 3. the TikTok emulator
        emulator = None
        app_credentials = {"app_id": "", "secret": ""}
        if with_emulator:
            from tiktok_local.emulator import EmulatorConfig, EmulatorServer

            emulator = EmulatorServer(config=EmulatorConfig.local_stack()).start(
                host="127.0.0.1", port=ports.emulator
            )
            cleanup.append(emulator.stop)
            app_credentials = {
                "app_id": emulator.config.app_id,
                "secret": emulator.config.app_secret,
            }

        # 4. AWS resources from the template
        client_config = Config(max_pool_connections=32, retries={"max_attempts": 3})
        session = boto3.session.Session()
        clients: dict[str, Any] = {}

        def client(service: str) -> Any:
            # One session, one client per service: building a session costs ~0.1 s.
            if service not in clients:
                clients[service] = session.client(  # type: ignore[call-overload]
                    service, endpoint_url=endpoint, region_name=REGION, config=client_config
                )
            return clients[service]

        created = create_resources(
            model, client, time_scale=time_scale, app_credentials=app_credentials
        )

        bindings = {spec.logical_id: _binding(spec, model, handler_overrides) for spec in functions}

        # 5. the OAuth HTTP front
        http_front = None
        http_specs = [spec for spec in functions if spec.http_routes]
        if len(http_specs) > 1:
            raise ValueError("the local HTTP front serves one function's HttpApi routes")
        for spec in http_specs:
            front = HttpFront(bindings[spec.logical_id], spec.http_routes)
            if not front.function.available():
                log.warning("%s does not exist yet: its routes answer 500", spec.handler)
            http_front = front.start(port=ports.http_front)
            cleanup.append(front.stop)
        http_front_url = http_front.url if http_front is not None else ""

        # 6. function environments (their union goes into os.environ)
        tiktok_api = tiktok_api_override or (emulator.api_base_url if emulator else None)
        tiktok_auth = tiktok_auth_override or (emulator.auth_url if emulator else None)
        if tiktok_api:
            model.overrides["TIKTOK_API_BASE_URL"] = tiktok_api
        if tiktok_auth:
            model.overrides["TIKTOK_AUTH_URL"] = tiktok_auth
        if http_front_url:
            model.overrides["OAUTH_REDIRECT_URI"] = f"{http_front_url}/oauth/callback"
        # Connection settings changes apply within seconds locally (a minute deployed).
        model.overrides["CONNECTIONS_MAX_AGE"] = "5"
        union: dict[str, str] = {}
        for spec in functions:
            env = model.function_environment(spec)
            for key, value in env.items():
                if key == "POWERTOOLS_SERVICE_NAME":
                    continue
                if key in union and union[key] != value:
                    log.warning("functions disagree on %s; using the first value", key)
                    continue
                union[key] = value
        union.setdefault("TIKTOK_API_BASE_URL", tiktok_api or "")
        union.setdefault("TIKTOK_AUTH_URL", tiktok_auth or "")
        union["POWERTOOLS_SERVICE_NAME"] = f"{STACK_NAME}-local"
        union.setdefault("POWERTOOLS_METRICS_NAMESPACE", "TikTokConnector")
        union.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon locally
        # A job waiting for TikTok looks again after delays scaled like the visibility timeouts
        # (the emulator's processing windows are short here too: EmulatorConfig.local_stack).
        for name, seconds in (("FIRST", 60), ("MAX", 900)):
            union.setdefault(
                f"TIKTOK_WAIT_{name}_DELAY_SECONDS", str(math.ceil(seconds * time_scale))
            )
        union.update(env_overrides)
        saved_functions_env = _apply_env({k: v for k, v in union.items() if v != ""})
        cleanup.append(lambda: _restore_env(saved_functions_env))
        _reset_process_caches()

        # 7. the event connection `default`, against the emulator
        connections_prefix = union.get("CONNECTIONS_SECRET_PREFIX") or f"{STACK_NAME}/connections/"
        connection_secret = None
        if emulator is not None:
            pixel = next(
                (sid for sid, kind in emulator.config.event_sources.items() if kind == "web"),
                "CDEMOPIXEL000000000A",
            )
            connection_secret = seed_connection(
                client,
                prefix=connections_prefix,
                name="default",
                value=connection_secret_value(
                    pixel_code=pixel, access_token=emulator.state.issue_token()
                ),
            )

        # 8. the dispatcher
        dispatcher = Dispatcher(
            client("sqs"), region=REGION, time_scale=time_scale, concurrency_cap=concurrency_cap
        )
        sqs = client("sqs")
        notification_configs = []
        for spec in functions:
            binding = bindings[spec.logical_id]
            for source in spec.sqs_sources:
                dispatcher.add_sqs_source(
                    binding,
                    queue_url=created.queue_urls[source.queue_logical_id],
                    batch_size=source.batch_size,
                    maximum_concurrency=source.maximum_concurrency,
                    report_batch_item_failures=source.report_batch_item_failures,
                )
            if run_schedules:
                for schedule in spec.schedules:
                    dispatcher.add_schedule(binding, schedule)
            for index, s3_source in enumerate(spec.s3_sources):
                if not binding.available():
                    dispatcher.add_s3_source(binding, notification_queue_url="")  # logs the skip
                    continue
                queue_name = f"{STACK_NAME}-local-s3-{spec.logical_id}-{index}"[:80]
                url = sqs.create_queue(
                    QueueName=queue_name, Attributes={"VisibilityTimeout": "30"}
                )["QueueUrl"]
                arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                    "Attributes"
                ]["QueueArn"]
                rules = [{"Name": "prefix", "Value": s3_source.prefix}]
                if s3_source.suffix:
                    rules.append({"Name": "suffix", "Value": s3_source.suffix})
                notification_configs.append(
                    {
                        "Id": f"{spec.logical_id}-{index}",
                        "QueueArn": arn,
                        "Events": s3_source.events,
                        "Filter": {"Key": {"FilterRules": rules}},
                    }
                )
                dispatcher.add_s3_source(
                    binding,
                    notification_queue_url=url,
                    maximum_retry_attempts=spec.maximum_retry_attempts,
                    on_failure_queue_url=created.queue_urls.get(spec.on_failure_queue or ""),
                )
        if notification_configs:
            client("s3").put_bucket_notification_configuration(
                Bucket=created.bucket,
                NotificationConfiguration={"QueueConfigurations": notification_configs},
            )
            # S3 sends a test event to each new destination; the dispatcher drops it.
        dispatcher.start()
        cleanup.append(dispatcher.stop)

        names = _names(
            model,
            created,
            endpoint=endpoint,
            http_front_url=http_front_url,
            tiktok_api=tiktok_api or "",
            tiktok_auth=tiktok_auth or "",
            emulator_url=emulator.base_url if emulator is not None else "",
            connections_prefix=connections_prefix,
            time_scale=time_scale,
            union=union,
        )
        if connection_secret:
            names["default_connection_secret"] = connection_secret
        names["pid"] = os.getpid()
        stack = cls(
            _clients=clients,
            workdir=workdir,
            time_scale=time_scale,
            model=model,
            dispatcher=dispatcher,
            emulator=emulator,
            http_front=http_front,
            names=names,
            created=created,
            _moto=moto,
        )
        if write_stack_json:
            refuse_if_running(stack.stack_json_path)  # another `up` may have won the race
            stack._stack_json_written = write_json_atomically(stack.stack_json_path, names)
        # From here on stop() owns the teardown.
        stack._teardown = list(cleanup)
        cleanup.clear()
        return stack

    # -- conveniences -------------------------------------------------------------------------
    @property
    def aws_endpoint_url(self) -> str:
        return str(self.names["aws_endpoint_url"])

    @property
    def region(self) -> str:
        return REGION

    @property
    def http_front_url(self) -> str:
        return str(self.names["http_front_url"])

    @property
    def stack_json_path(self) -> Path:
        return stack_json_path(self.workdir)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on moto (cached; boto3 clients are thread-safe)."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = boto3.session.Session().client(  # type: ignore[call-overload]
                    service,
                    endpoint_url=self.aws_endpoint_url,
                    region_name=REGION,
                    aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                )
            return self._clients[service]

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once every queue is drained and no invocation runs (see ``Dispatcher``)."""
        return self.dispatcher.wait_idle(timeout)

    # -- teardown -----------------------------------------------------------------------------
    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.dispatcher.signal_stop()  # pollers wind down while the servers shut
        if self._stack_json_written is not None:
            remove_if_unchanged(self.stack_json_path, self._stack_json_written)
        for undo in reversed(self._teardown):
            try:
                undo()
            except Exception:
                log.exception("error while stopping the local stack")

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _binding(
    spec: FunctionSpec, model: TemplateModel, overrides: dict[str, str | Handler]
) -> FunctionBinding:
    handler = overrides.get(spec.logical_id, overrides.get(spec.function_name, spec.handler))
    return FunctionBinding(
        function_name=spec.function_name,
        handler=handler,
        timeout=spec.timeout,
        memory_size=spec.memory_size,
        region=model.region,
        account_id=model.account_id,
    )


def _names(
    model: TemplateModel,
    created: CreatedResources,
    *,
    endpoint: str,
    http_front_url: str,
    tiktok_api: str,
    tiktok_auth: str,
    emulator_url: str,
    connections_prefix: str,
    time_scale: float,
    union: dict[str, str],
) -> dict[str, Any]:
    stack = model.stack_name
    names: dict[str, Any] = {
        "stack_name": stack,
        "aws_endpoint_url": endpoint,
        "region": model.region,
        "account_id": model.account_id,
        "segments_bucket": created.bucket,
    }
    for url in created.queue_urls.values():
        suffix = _suffix(url.rsplit("/", 1)[-1], stack)
        key = _QUEUE_KEYS.get(suffix, suffix.replace("-", "_") + "_queue_url")
        names[key] = url
    for table in created.tables.values():
        names[_suffix(table, stack).replace("-", "_") + "_table"] = table
    for secret in created.secret_names.values():
        suffix = secret.split("/", 1)[1] if secret.startswith(f"{stack}/") else secret
        names[_SECRET_KEYS.get(suffix, suffix.replace("-", "_") + "_secret_name")] = secret
    names.update(
        {
            "authorizations_secret_prefix": union.get(
                "AUTHORIZATIONS_SECRET_PREFIX", f"{stack}/authorizations/"
            ),
            "connections_secret_prefix": connections_prefix,
            "http_front_url": http_front_url,
            "connect_url": f"{http_front_url}/connect" if http_front_url else "",
            "callback_url": f"{http_front_url}/oauth/callback" if http_front_url else "",
            "tiktok_api_base_url": tiktok_api,
            "tiktok_auth_url": tiktok_auth,
            "emulator_url": emulator_url,
            "time_scale": time_scale,
        }
    )
    return names


def write_json_atomically(path: Path, data: dict[str, Any]) -> str:
    """Write ``data`` so readers see the old file or the whole new one, never a part.

    Returns the text written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return text


def _apply_env(values: dict[str, str], remove: tuple[str, ...] = ()) -> dict[str, str | None]:
    saved: dict[str, str | None] = {}
    for key in (*values, *remove):
        if key not in saved:
            saved[key] = os.environ.get(key)
    for key in remove:
        os.environ.pop(key, None)
    os.environ.update(values)
    return saved


def _restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _stop_moto(moto: ThreadedMotoServer) -> None:
    with contextlib.suppress(Exception):
        host, port = moto.get_host_and_port()
        requests.post(f"http://{host}:{port}/moto-api/reset", timeout=10)
    moto.stop()
    server = getattr(moto, "_server", None)
    if server is not None:
        server.server_close()


def serialize_moto_dynamodb() -> Callable[[], None]:
    """Run moto's DynamoDB operations one at a time; returns the function that undoes it.

    DynamoDB applies each write to an item atomically, conditions included. moto's server
    handles requests on threads and updates items in place without a lock, so two concurrent
    ``UpdateItem`` calls on one job item (two ranges recorded, two chunks marked done) could
    interleave: a lost ``ADD``, a condition checked against a half-written item, or an HTTP 500
    ("dictionary changed size during iteration"). Jobs then stayed ``running`` forever. A lock
    around each DynamoDB action restores DynamoDB's guarantee (moto runs in this process).
    """
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, "_tiktok_local", False):
        return lambda: None
    lock = threading.Lock()

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    call_action._tiktok_local = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]

    def restore() -> None:
        DynamoHandler.call_action = original  # type: ignore[method-assign]

    return restore


@contextlib.contextmanager
def running_stack(**kwargs: Any) -> Iterator[LocalStack]:
    """``with running_stack(...) as stack:`` — :meth:`LocalStack.start` as a context manager."""
    stack = LocalStack.start(**kwargs)
    try:
        yield stack
    finally:
        stack.stop()
