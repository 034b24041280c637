"""TaskQueue for Python: send tasks to PowerShell workers, wait for them, read their records.

Written from docs/PROTOCOL.md (version 1) over redis-py. A task sent here is the same task `Send-TqTask` sends:
a script or a command, with arguments, a priority, a delay, a unique key, dependencies and, with a keyring, a
signature. The workers are TaskQueue's PowerShell workers (`Start-TqWorker`).

    import redis, taskqueue
    tq = taskqueue.TaskQueue(redis.Redis(host="127.0.0.1", port=6379))
    task = tq.send("ops", script="param($h) Test-Connection $h -Count 1 -Quiet", args=["web01"])
    record = tq.wait(task, timeout=60)       # the success record (a dict); TaskFailed carries a failure record
    print(record["output"])

Sharded queues (`Set-TqQueue -Shards`) are refused: place tasks on them with the PowerShell module.
"""

import base64
import datetime
import fnmatch
import hashlib
import hmac
import json
import os
import time
import uuid
from collections import namedtuple

__all__ = ["TaskQueue", "Task", "TaskFailed", "UniqueKeyHeld", "DependencyNotFound", "PROTOCOL_VERSION"]

#: The envelope version this client writes (docs/PROTOCOL.md, "Versions and compatibility").
PROTOCOL_VERSION = 1

#: A task as sent: its queue and id. Pass it to wait(), result(), failure(), or depends_on= of another send().
Task = namedtuple("Task", ["queue", "id"])

_SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")
_LEVELS = {None: "", "Normal": "", "High": "high", "Low": "low"}
_POLICIES = ("Cancel", "Run")


class TaskFailed(Exception):
    """The task failed for good; .record is its failure record (a dict: reason, message, attempts, ...)."""

    def __init__(self, record):
        super().__init__("Task %s of queue '%s' failed (%s): %s" % (
            record.get("id"), record.get("queue"), record.get("reason"), record.get("message")))
        self.record = record


class UniqueKeyHeld(Exception):
    """A live task holds the unique key; .holder is its id. Nothing was stored."""

    def __init__(self, queue, key, holder):
        super().__init__("Queue '%s' has a live task with unique key '%s': %s" % (queue, key, holder))
        self.holder = holder


class DependencyNotFound(Exception):
    """A task named in depends_on does not exist (nor its failure record). Nothing was stored."""


def _key(queue, name):
    return "tq:{%s}:%s" % (queue, name)


def _check_queue(queue):
    if not queue or len(queue) > 100 or any(not (c.isascii() and (c.isalnum() or c in "-_.")) for c in queue):
        raise ValueError("'%s' is not a valid queue name (1 to 100 characters of A-Z a-z 0-9 - _ .)" % queue)


def _load_script(name):
    """A script's text with each '--#include x' line replaced by Scripts/lib/x.lua (docs/PROTOCOL.md, "Scripts")."""
    lines = []
    with open(os.path.join(_SCRIPTS, name + ".lua"), encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if line.startswith("--#include "):
                with open(os.path.join(_SCRIPTS, "lib", line[len("--#include "):].strip() + ".lua"), encoding="utf-8") as lib:
                    lines.append(lib.read().rstrip("\r\n"))
            else:
                lines.append(line)
    return "\n".join(lines)


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _now_ms():
    return int(time.time() * 1000)


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


class Keyring:
    """A TaskQueue keyring file (New-TqSigningKey): signs with its signingKey."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            ring = json.load(f)
        keys = {k["id"]: k for k in ring.get("keys", [])}
        if ring.get("signingKey") not in keys:
            raise ValueError("The keyring %s has no signing key." % path)
        self._key = keys[ring["signingKey"]]
        self.key_id = self._key["id"]
        self._secret = base64.b64decode(self._key["secret"])

    def sign(self, queue, body):
        patterns = self._key.get("queues")
        if patterns and not any(fnmatch.fnmatchcase(queue.lower(), p.lower()) for p in patterns):
            raise ValueError("The signing key '%s' may sign only for queues %s, not '%s'." % (self.key_id, ", ".join(patterns), queue))
        mac = base64.b64encode(hmac.new(self._secret, body, hashlib.sha256).digest())
        return b"sig1:" + self.key_id.encode("ascii") + b":" + mac + b"\n" + body


class TaskQueue:
    """Sends tasks to TaskQueue's PowerShell workers through one Redis: a redis.Redis client, or a
    redis.cluster.RedisCluster for a Redis Cluster (every key of a queue shares its hash tag, so each script call
    goes to one node)."""

    def __init__(self, redis_client, keyring=None):
        self._r = redis_client
        self._keyring = Keyring(keyring) if isinstance(keyring, str) else keyring
        self._enqueue = redis_client.register_script(_load_script("enqueue"))
        self._depend = redis_client.register_script(_load_script("depend"))
        self._hold = redis_client.register_script(_load_script("hold"))

    def send(self, queue="default", script=None, command=None, args=None, params=None, priority=None, delay=None,
             at=None, unique_key=None, depends_on=None, on_dependency_failure="Cancel", max_attempts=10, timeout=None,
             continue_on_error=False, name=None, task_id=None, verbose=False, debug=False):
        """Stores one task and returns it as Task(queue, id).

        script: PowerShell source (a script task); command: a command name, optionally Module\\Name (a command task).
        args: positional arguments (a list of JSON values); params: named parameters (a dict, command tasks).
        priority: 'High', 'Normal' or 'Low'. delay (seconds) or at (an aware datetime): when it becomes pending.
        unique_key: refused (UniqueKeyHeld) while a live task holds it. depends_on: Tasks it waits for (they must
        have succeeded; on_dependency_failure 'Run' runs it after a failure too). timeout: seconds an attempt may run.
        verbose, debug: run it with $VerbosePreference / $DebugPreference 'Continue', so that its Verbose / Debug lines
        reach its stream log (log()).
        """
        _check_queue(queue)
        if (script is None) == (command is None):
            raise ValueError("Give a script or a command, not both.")
        if priority not in _LEVELS:
            raise ValueError("priority is 'High', 'Normal' or 'Low', not %r." % (priority,))
        if on_dependency_failure not in _POLICIES:
            raise ValueError("on_dependency_failure is 'Cancel' or 'Run'.")
        if depends_on and (delay or at or unique_key):
            raise ValueError("A task with depends_on takes no delay, at or unique_key.")
        shards = self._r.get(_key(queue, "shards"))
        if shards is not None and int(shards) > 1:
            raise NotImplementedError("Queue '%s' is sharded: send to it with the PowerShell module." % queue)
        task_id = task_id or uuid.uuid4().hex
        envelope = {"v": PROTOCOL_VERSION, "id": task_id, "queue": queue}
        if script is not None:
            envelope.update(kind="script", script=script)
        else:
            envelope.update(kind="command", command=command)
        if args is not None:
            envelope["args"] = list(args)
        if params is not None:
            envelope["params"] = dict(params)
        envelope.update(maxAttempts=int(max_attempts), timeoutMs=int((timeout or 0) * 1000),
                        continueOnError=bool(continue_on_error), enqueuedAt=_now_iso())
        due_ms = 0
        if at is not None or delay:
            when = at or (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delay))
            if when.tzinfo is None:
                raise ValueError("at must be an aware datetime (with a time zone).")
            envelope["notBefore"] = when.isoformat(timespec="milliseconds")
            due_ms = int(when.timestamp() * 1000)
        if unique_key:
            envelope["uniqueKey"] = unique_key
        if name:
            envelope["name"] = name
        if priority in ("High", "Low"):
            envelope["priority"] = priority
        if verbose:
            envelope["verbose"] = True
        if debug:
            envelope["debug"] = True
        dependencies = [d if isinstance(d, Task) else Task(*d) for d in (depends_on or [])]
        if dependencies:
            unique = list(dict.fromkeys(dependencies))
            envelope["dependsOn"] = [{"queue": d.queue, "id": d.id} for d in unique]
            envelope["onDependencyFailure"] = on_dependency_failure
        if self._keyring is not None:
            envelope["kid"] = self._keyring.key_id
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        stored = self._keyring.sign(queue, body) if self._keyring is not None else body
        level = _LEVELS[priority]
        if dependencies:
            self._send_dependent(queue, task_id, stored, level, unique, on_dependency_failure)
        else:
            answer = self._enqueue(keys=[_key(queue, k) for k in
                                         ("tasks", "pending", "unique", "failed", "scheduled", "pending:high", "pending:low", "levels")],
                                   args=[_key(queue, "wake"), task_id, stored, unique_key or "", due_ms, level])[0]
            if isinstance(answer, bytes) or isinstance(answer, str):
                raise UniqueKeyHeld(queue, unique_key, _text(answer))
            if answer == 0:
                raise ValueError("Queue '%s' has a task with id %s already." % (queue, task_id))
            if answer != 1:
                raise RuntimeError("enqueue.lua answered %r." % (answer,))
        self._r.sadd("tq:queues", queue)
        return Task(queue, task_id)

    def _send_dependent(self, queue, task_id, stored, level, dependencies, policy):
        # depend.lua in each dependency's queue, then hold.lua in this one (docs/PROTOCOL.md, docs/WORKFLOWS.md).
        line = "%s\t%s\t%s" % (queue, task_id, policy)
        states = []
        by_queue = {}
        for d in dependencies:
            _check_queue(d.queue)
            by_queue.setdefault(d.queue, []).append(d.id)
        for dep_queue, ids in by_queue.items():
            answers = self._depend(keys=[_key(dep_queue, k) for k in ("dependents", "succeeded", "failed", "tasks")],
                                   args=[line] + ids)
            for dep_id, state in zip(ids, answers):
                state = _text(state)
                if state == "u":
                    raise DependencyNotFound("Queue '%s' has no task %s to depend on." % (dep_queue, dep_id))
                if state not in ("s", "f", "w"):
                    raise RuntimeError("depend.lua answered %r." % (state,))
                states += ["%s/%s" % (dep_queue, dep_id), state]
        mark = "@@dependency@@"
        record = json.dumps({"v": 1, "id": task_id, "queue": queue, "reason": "DependencyFailed", "permanent": True,
                             "message": "The task it depends on, %s, failed; this task was canceled (-OnDependencyFailure Cancel). "
                                        "Retry-TqTask the dependency, then this task." % mark,
                             "failedAt": _now_iso()}, separators=(",", ":"))
        before, after = record.split(mark, 1)
        answer = self._hold(keys=[_key(queue, k) for k in ("tasks", "waiting", "remaining", "settled", "pending", "failed",
                                                            "errors", "pending:high", "pending:low", "levels")],
                            args=[_key(queue, "wake"), task_id, stored, policy, _now_ms(), before, after, level] + states)
        if answer == 0:
            raise ValueError("Queue '%s' has a task with id %s already." % (queue, task_id))
        if answer not in (1, 2, 3):
            raise RuntimeError("hold.lua answered %r." % (answer,))

    def result(self, queue, task_id):
        """The success record of a task (a dict), or None."""
        raw = self._r.hget(_key(queue, "results"), task_id)
        return _record(raw)

    def failure(self, queue, task_id):
        """The failure record of a task that failed for good (a dict), or None (also while it is being retried)."""
        if self._r.zscore(_key(queue, "failed"), task_id) is None:
            return None
        return _record(self._r.hget(_key(queue, "errors"), task_id))

    def log(self, task, follow=False, interval=0.25, timeout=None):
        """The task's stream log (docs/PROTOCOL.md, "Stream logs"): yields one dict per entry, in the order the task
        wrote them: t (unix ms), a (attempt), s (Output, Error, Warning, Verbose, Debug, Information, Progress), m (text),
        and for progress act, st, pc. With follow, reads on every interval seconds until the task has ended (or
        TimeoutError after timeout seconds). Once it has ended, what the log does not hold of its last attempt comes
        from its record, as the protocol says (entries with "fromRecord": True)."""
        key = _key(task.queue, "log:" + task.id)
        deadline = None if timeout is None else time.monotonic() + timeout
        read = 0
        last_attempt, last_has_error = 0, False
        while True:
            # The state first, the log second: a worker writes an attempt's entries before its record.
            ended = self._r.zscore(_key(task.queue, "succeeded"), task.id) is not None or \
                self._r.zscore(_key(task.queue, "failed"), task.id) is not None
            for raw in self._r.lrange(key, read, -1):
                read += 1
                entry = json.loads(_text(raw))
                if entry.get("a") != last_attempt:
                    last_attempt, last_has_error = entry.get("a"), False
                last_has_error = last_has_error or entry.get("s") == "Error"
                yield entry
            if ended:
                for entry in self._from_record(task, last_attempt, last_has_error):
                    yield entry
                return
            if not follow:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("Task %s of queue '%s' did not end within %s s." % (task.id, task.queue, timeout))
            time.sleep(interval)

    def _from_record(self, task, last_attempt, last_has_error):
        record = self.result(task.queue, task.id)
        failed = record is None
        if failed:
            record = _record(self._r.hget(_key(task.queue, "errors"), task.id)) or {}
        attempts = record.get("attempts") or 0
        at = record.get("completedAt") or record.get("failedAt")
        ms = int(datetime.datetime.fromisoformat(at).timestamp() * 1000) if at else _now_ms()
        made = lambda stream, text: {"t": ms, "a": max(attempts, 1), "s": stream, "m": text, "fromRecord": True}
        logged = attempts > 0 and last_attempt >= attempts
        if not logged:
            for item in record.get("output") or []:
                yield made("Output", item if isinstance(item, str) else json.dumps(item, separators=(",", ":")))
        if failed and record and not (logged and last_has_error):
            yield made("Error", record.get("message", ""))

    def wait(self, task, timeout=None, poll=0.05):
        """Waits until the task ended: returns its success record, raises TaskFailed with its failure record, or
        TimeoutError after timeout seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self.result(task.queue, task.id)
            if record is not None:
                return record
            failed = self.failure(task.queue, task.id)
            if failed is not None:
                raise TaskFailed(failed)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("Task %s of queue '%s' did not end within %s s." % (task.id, task.queue, timeout))
            time.sleep(poll)


def _record(raw):
    if raw is None:
        return None
    return json.loads(_text(raw))
