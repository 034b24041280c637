"""The Python client against real TaskQueue workers (Tests/Pester/PythonClient.Tests.ps1 starts them and runs this).

Environment: TQ_TEST_REDIS (host:port), TQ_TEST_QUEUE (served by an unsigned worker), TQ_TEST_SIGNED_QUEUE (served
by a worker with the keyring TQ_TEST_KEYRING), TQ_TEST_SCRIPTS (the module's src/TaskQueue.Core/Scripts).
"""
import datetime
import os
import sys
import time
import unittest
import uuid

import redis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import taskqueue  # noqa: E402

# One server (host:port), or the nodes of a Redis Cluster (host:port,host:port,...).
NODES = [n.strip() for n in os.environ["TQ_TEST_REDIS"].split(",") if n.strip() and "=" not in n]
QUEUE = os.environ["TQ_TEST_QUEUE"]
SIGNED = os.environ["TQ_TEST_SIGNED_QUEUE"]
KEYRING = os.environ["TQ_TEST_KEYRING"]
SCRIPTS = os.environ["TQ_TEST_SCRIPTS"]


class ClientTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if len(NODES) > 1:
            from redis.cluster import ClusterNode, RedisCluster
            cls.r = RedisCluster(startup_nodes=[ClusterNode(n.rsplit(":", 1)[0], int(n.rsplit(":", 1)[1])) for n in NODES])
        else:
            host, port = NODES[0].rsplit(":", 1)
            cls.r = redis.Redis(host=host, port=int(port))
        cls.tq = taskqueue.TaskQueue(cls.r)

    def test_a_script_task_with_arguments_runs_and_its_success_record_is_read(self):
        task = self.tq.send(QUEUE, script="param($a, $b) $a + $b", args=[2, 3], name="add")
        record = self.tq.wait(task, timeout=60)
        self.assertEqual([5], record["output"])
        self.assertEqual(task.id, record["id"])
        self.assertEqual(QUEUE, record["queue"])
        self.assertEqual("add", record["label"])

    def test_a_command_task_with_named_parameters_runs(self):
        task = self.tq.send(QUEUE, command="Microsoft.PowerShell.Utility\\Write-Output", params={"InputObject": "hello"})
        self.assertEqual(["hello"], self.tq.wait(task, timeout=60)["output"])

    def test_a_failure_raises_with_its_failure_record(self):
        task = self.tq.send(QUEUE, script="throw 'boom'", max_attempts=1)
        with self.assertRaises(taskqueue.TaskFailed) as caught:
            self.tq.wait(task, timeout=60)
        self.assertEqual("boom", caught.exception.record["message"])
        self.assertEqual("Exception", caught.exception.record["reason"])
        self.assertIsNone(self.tq.result(QUEUE, task.id))

    def test_a_running_tasks_log_is_followed_live_in_order(self):
        task = self.tq.send(QUEUE, verbose=True, script="Write-Verbose 'copying'; 'step 1'; Start-Sleep -Seconds 3; Write-Warning 'disk low'")
        arrivals = [(time.monotonic(), e) for e in self.tq.log(task, follow=True, timeout=60)]
        self.assertEqual(["Verbose", "Output", "Warning"], [e["s"] for _, e in arrivals])
        self.assertEqual(["copying", "step 1", "disk low"], [e["m"] for _, e in arrivals])
        self.assertGreater(arrivals[-1][0] - arrivals[0][0], 2)
        self.assertEqual([1, 1, 1], [e["a"] for _, e in arrivals])

    def test_the_log_of_a_task_that_wrote_only_output_comes_from_its_record(self):
        task = self.tq.send(QUEUE, script="'a'; 42")
        self.tq.wait(task, timeout=60)
        self.assertEqual(0, self.r.exists("tq:{%s}:log:%s" % (QUEUE, task.id)))
        entries = list(self.tq.log(task))
        self.assertEqual(["a", "42"], [e["m"] for e in entries])
        self.assertTrue(all(e["fromRecord"] for e in entries))

    def test_a_delayed_task_waits_in_the_schedule_then_runs(self):
        task = self.tq.send(QUEUE, script="'later'", delay=2)
        self.assertIsNotNone(self.r.zscore("tq:{%s}:scheduled" % QUEUE, task.id))
        record = self.tq.wait(task, timeout=60)
        started = datetime.datetime.fromisoformat(record["startedAt"])
        enqueued = datetime.datetime.fromisoformat(record["enqueuedAt"])
        self.assertGreaterEqual((started - enqueued).total_seconds(), 1.9)

    def test_a_priority_is_filed_under_its_level(self):
        task = self.tq.send(QUEUE, script="'urgent'", priority="High", delay=30)
        self.assertEqual(b"high", self.r.hget("tq:{%s}:levels" % QUEUE, task.id))
        with self.assertRaises(ValueError):
            self.tq.send(QUEUE, script="1", priority="Urgent")

    def test_a_unique_key_held_by_a_live_task_refuses_a_second_one(self):
        key = "nightly-" + uuid.uuid4().hex
        first = self.tq.send(QUEUE, script="1", unique_key=key, delay=60)
        with self.assertRaises(taskqueue.UniqueKeyHeld) as caught:
            self.tq.send(QUEUE, script="2", unique_key=key)
        self.assertEqual(first.id, caught.exception.holder)

    def test_a_task_that_depends_on_another_runs_after_it_on_its_record(self):
        first = self.tq.send(QUEUE, script="param($x) $x", args=[20])
        then = self.tq.send(QUEUE, script="$TqDependencies[0].Output[0] + 1", depends_on=[first])
        self.assertEqual([21], self.tq.wait(then, timeout=60)["output"])
        with self.assertRaises(taskqueue.DependencyNotFound):
            self.tq.send(QUEUE, script="1", depends_on=[taskqueue.Task(QUEUE, "no-such-task")])

    def test_a_failed_dependency_cancels_the_task_that_waits_for_it(self):
        first = self.tq.send(QUEUE, script="throw 'no'", max_attempts=1)
        then = self.tq.send(QUEUE, script="'never'", depends_on=[first])
        with self.assertRaises(taskqueue.TaskFailed) as caught:
            self.tq.wait(then, timeout=60)
        self.assertEqual("DependencyFailed", caught.exception.record["reason"])
        self.assertIn("%s/%s" % (QUEUE, first.id), caught.exception.record["message"])

    def test_a_task_signed_with_the_keyring_runs_on_a_signing_worker_and_an_unsigned_one_does_not(self):
        signed = taskqueue.TaskQueue(self.r, keyring=KEYRING).send(SIGNED, script="'signed'")
        self.assertEqual(["signed"], self.tq.wait(signed, timeout=60)["output"])
        unsigned = self.tq.send(SIGNED, script="'unsigned'")
        with self.assertRaises(taskqueue.TaskFailed) as caught:
            self.tq.wait(unsigned, timeout=60)
        self.assertEqual("BadSignature", caught.exception.record["reason"])

    def test_a_sharded_queue_is_refused(self):
        queue = QUEUE + "-sharded"
        self.r.set("tq:{%s}:shards" % queue, 3)
        try:
            with self.assertRaises(NotImplementedError):
                self.tq.send(queue, script="1")
        finally:
            self.r.delete("tq:{%s}:shards" % queue)

    def test_the_scripts_it_ships_are_the_modules_own(self):
        # clients/python/taskqueue/scripts links to the module's own folder: a package built from it ships them.
        here = os.path.join(os.path.dirname(os.path.abspath(taskqueue.__file__)), "scripts")
        for name in ("enqueue.lua", "depend.lua", "hold.lua", os.path.join("lib", "chunks.lua"), os.path.join("lib", "pending.lua")):
            self.assertTrue(os.path.samefile(os.path.join(SCRIPTS, name), os.path.join(here, name)), name)

if __name__ == "__main__":
    unittest.main(verbosity=2)
