"""`auditlog publish` and the CLI's handling of bad input."""
import json
import time

from conftest import make_event


def write_lines(path, n, bad_lines=()):
    bad = set(bad_lines)
    with open(path, "w") as f:
        for line in range(1, n + 1):
            if line in bad:
                f.write(json.dumps(make_event("acme", line, outcome="meh")) + "\n")
            else:
                f.write(json.dumps(make_event(f"tenant-{line % 7}", line)) + "\n")
    return path


def test_100k_line_file_with_3_bad_lines_names_them_and_publishes_nothing(stack, tmp_path):
    topic = stack.create_topic()
    cfg = stack.write_config(tmp_path / "c.toml", topic)
    src = write_lines(tmp_path / "events.ndjson", 100_000, bad_lines=(17, 50_001, 99_999))
    r = stack.run("publish", str(src), config=cfg)
    assert r.returncode != 0
    assert "3 of 100000 events" in r.stderr and "nothing was published" in r.stderr, r.stderr
    assert "lines 17, 50001, 99999" in r.stderr, r.stderr
    assert f"{src}:50001: outcome: [enum]" in r.stderr, r.stderr
    assert sum(stack.end_offsets(topic).values()) == 0


def test_valid_file_is_published_and_read_back(stack, tmp_path):
    topic = stack.create_topic()
    cfg = stack.write_config(tmp_path / "c.toml", topic)
    src = write_lines(tmp_path / "events.ndjson", 5_000)
    r = stack.run("publish", str(src), config=cfg)
    assert r.returncode == 0, r.stderr
    assert "published 5000 of 5000 events" in r.stdout
    sent = [json.loads(line)["event_id"] for line in src.read_text().splitlines()]
    got = [json.loads(m.value())["event_id"] for m in stack.read_all(topic)]
    assert sorted(got) == sorted(sent)


def test_publish_from_stdin(stack, tmp_path):
    topic = stack.create_topic()
    cfg = stack.write_config(tmp_path / "c.toml", topic)
    lines = "".join(json.dumps(make_event("acme", i)) + "\n" for i in range(10))
    r = stack.run("publish", "-", config=cfg, input=lines)
    assert r.returncode == 0, r.stderr
    assert sum(stack.end_offsets(topic).values()) == 10


def test_unreachable_broker_fails_fast_with_a_clear_message(stack, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[kafka]\nbootstrap_servers = "127.0.0.1:1"\nrequest_timeout_ms = 2000\n')
    src = write_lines(tmp_path / "events.ndjson", 10)
    started = time.monotonic()
    r = stack.run("publish", str(src), config=cfg, timeout=60)
    assert r.returncode == 1
    assert "127.0.0.1:1" in r.stderr and "unreachable" in r.stderr, r.stderr
    assert time.monotonic() - started < 30


def test_missing_topic_is_named(stack, tmp_path):
    cfg = stack.write_config(tmp_path / "c.toml", "no.such.topic")
    src = write_lines(tmp_path / "events.ndjson", 3)
    r = stack.run("publish", str(src), config=cfg)
    assert r.returncode == 1
    assert "topic no.such.topic does not exist" in r.stderr, r.stderr


def test_bad_config_names_the_field_and_exits_2(stack, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[ingest]\nlisten = "everywhere"\n')
    r = stack.run("ingest", config=cfg)
    assert r.returncode == 2
    assert "ingest.listen" in r.stderr, r.stderr
    cfg.write_text('[kafka]\nbootstrap_server = "x:1"\n')
    r = stack.run("config", config=cfg)
    assert r.returncode == 2
    assert "bootstrap_server" in r.stderr and str(cfg) in r.stderr, r.stderr


def test_topics_create_is_idempotent_and_describe_shows_offsets(stack, tmp_path):
    name = "test.topics-cli-" + str(time.time_ns())
    cfg = stack.write_config(tmp_path / "c.toml", name)
    r = stack.run("topics", "create", "--partitions", "3", config=cfg)
    assert r.returncode == 0 and "created topic" in r.stdout, r.stderr
    r = stack.run("topics", "create", "--partitions", "3", config=cfg)
    assert r.returncode == 0 and "already exists" in r.stdout, r.stderr
    r = stack.run("topics", "describe", "--json", config=cfg)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert [p["partition"] for p in info["partitions"]] == [0, 1, 2]
    assert all(p["high"] == 0 for p in info["partitions"])
