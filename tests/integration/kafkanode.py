"""A one-node Apache Kafka (KRaft) of a test's own, beside the shared stack: for listeners the
stack does not have (SASL_SSL). Uses the jars `scripts/stack up` resolved (AUDITLOG_KAFKA_LIBS)."""
import base64
import subprocess
import uuid

from conftest import ROOT, free_port, read_env, wait_until

LOG4J = ROOT / "scripts" / "kafka" / "log4j2.properties"


class KafkaNode:
    """listeners: {NAME: security protocol}; each gets a free port. `extra` is appended to
    server.properties; `format_args` go to the storage tool (e.g. --add-scram)."""

    def __init__(self, directory, listeners, extra="", format_args=()):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.classpath = read_env()["AUDITLOG_KAFKA_LIBS"] + "/*"
        self.ports = {name: free_port() for name in listeners}
        controller = free_port()
        internal = next(iter(listeners))
        self.props = self.dir / "server.properties"
        self.props.write_text("\n".join([
            "process.roles=broker,controller", "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller}",
            "listeners=" + ",".join([f"{n}://127.0.0.1:{p}" for n, p in self.ports.items()]
                                    + [f"CONTROLLER://127.0.0.1:{controller}"]),
            "advertised.listeners=" + ",".join(f"{n}://127.0.0.1:{p}" for n, p in self.ports.items()),
            "listener.security.protocol.map=" + ",".join([f"{n}:{sp}" for n, sp in listeners.items()]
                                                          + ["CONTROLLER:PLAINTEXT"]),
            f"inter.broker.listener.name={internal}", "controller.listener.names=CONTROLLER",
            f"log.dirs={self.dir / 'data'}", "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
            "auto.create.topics.enable=false", "group.initial.rebalance.delay.ms=0", extra]) + "\n")
        while (cluster := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
            pass
        self.log = open(self.dir / "kafka.log", "a")
        subprocess.run(self.java("kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(self.props), *format_args),
                       check=True, stdout=self.log, stderr=subprocess.STDOUT, timeout=120)
        self.proc = subprocess.Popen(self.java("kafka.Kafka", str(self.props), heap="-Xmx512m"),
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def java(self, main, *args, heap="-Xmx256m"):
        return ["java", heap, "-XX:+UseG1GC", f"-Dlog4j2.configurationFile={LOG4J}", "-cp", self.classpath, main, *args]

    def bootstrap(self, listener):
        return f"127.0.0.1:{self.ports[listener]}"

    def wait_ready(self, listener):
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap(listener), "log_level": 0})
        wait_until(f"the test broker's {listener} listener", lambda: self.proc.poll() is None
                   and admin.list_topics(timeout=2), timeout=90, interval=0.5)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
