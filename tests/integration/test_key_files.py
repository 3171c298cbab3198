"""Issue 22: key files that cannot be confused (docs/FORMAT.md §10a).

Secret and public keys name their kind in their first line; every loader refuses the other kind and
files of earlier releases, naming the file (and the conversion command); `keygen` refuses an --out
whose public key would overwrite it. Each test checks the exit code and the message a person sees.
"""
import json
import os
import re
import stat
import subprocess
from pathlib import Path

from chaincheck import key_id, load_public, load_secret
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[2]
SECRET = "auditlog-ed25519-secret-key-v1"
PUBLIC = "auditlog-ed25519-public-key-v1"


def keygen(stack, out):
    r = stack.run("keygen", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return r


def run(stack, cfg, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    return subprocess.run([stack.bin, "--config", str(cfg), *args], capture_output=True, text=True, timeout=60, env=env)


def write_legacy_pair(tmp, name):
    secret = Ed25519PrivateKey.generate()
    seed = secret.private_bytes_raw()
    pub = secret.public_key().public_bytes_raw()
    key, public = tmp / f"{name}.key", tmp / f"{name}.pub"
    key.write_text(seed.hex() + "\n")
    key.chmod(0o600)
    public.write_text(pub.hex() + "\n")
    return key, public, pub


def test_keygen_writes_files_that_name_their_kind_where_the_readme_says(stack, tmp_path):
    r = keygen(stack, tmp_path / "sealer.key")
    assert f"public key: {tmp_path / 'sealer.pub'}" in r.stdout, r.stdout
    secret, public = (tmp_path / "sealer.key").read_text(), (tmp_path / "sealer.pub").read_text()
    assert secret.splitlines()[0] == SECRET and re.fullmatch(r"[0-9a-f]{64}", secret.splitlines()[1])
    assert public.splitlines()[0] == PUBLIC and public.endswith("\n") and len(public.splitlines()) == 2
    assert stat.S_IMODE((tmp_path / "sealer.key").stat().st_mode) == 0o600
    pub = load_public(tmp_path / "sealer.pub")
    assert load_secret(tmp_path / "sealer.key").public_key().public_bytes_raw() == pub
    assert f"key id:     {key_id(pub).hex()}" in r.stdout
    row = next(line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `auditlog keygen"))
    assert "`--out sealer.key` writes `sealer.pub`" in row and "`--out x.pub` is refused" in row, row


def test_keygen_refuses_an_out_whose_public_key_would_overwrite_it(stack, tmp_path):
    out = tmp_path / "x.pub"
    r = stack.run("keygen", "--out", str(out))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"key file {out}: the public key goes beside the secret key with the extension .pub, which is this very file" in r.stderr
    assert not out.exists()


def test_a_public_key_is_refused_as_a_signing_key_even_at_mode_0600(stack, tmp_path):
    keygen(stack, tmp_path / "sealer.key")
    public = tmp_path / "sealer.pub"
    public.chmod(0o600)
    cfg = stack.write_config(tmp_path / "c.toml", "t", sealer={"key_file": str(public), "metrics_listen": ""})
    r = run(stack, cfg, "seal")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"key file {public}: holds a public key (auditlog-ed25519-public-key-v1), not the secret key" in r.stderr


def test_a_secret_key_is_refused_where_public_keys_are_listed(stack, tmp_path):
    keygen(stack, tmp_path / "sealer.key")
    keygen(stack, tmp_path / "archiver.key")
    secret = tmp_path / "sealer.key"
    message = f"key file {secret}: holds a SECRET key (auditlog-ed25519-secret-key-v1) where public keys are listed"
    s3 = {"endpoint": stack.s3, "bucket": "audit-archive", "force_path_style": True}
    archiver = {"key_file": str(tmp_path / "archiver.key"), "seal_keys": [str(secret)], "metrics_listen": ""}
    cfg = stack.write_config(tmp_path / "a.toml", "t", s3=s3, archiver=archiver)
    for args in (["archive"], ["verify"]):
        r = run(stack, cfg, *args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert message in r.stderr, (args, r.stderr)
    sealer = {"key_file": str(tmp_path / "archiver.key"), "trusted_keys": [str(secret)], "metrics_listen": ""}
    r = run(stack, stack.write_config(tmp_path / "s.toml", "t", sealer=sealer), "seal")
    assert r.returncode == 2 and message in r.stderr, r.stderr
    registry = tmp_path / "keys.toml"
    registry.write_text('[[keys]]\nfile = "sealer.key"\nrole = "sealer"\n')
    proof = tmp_path / "proof.json"
    proof.write_text("{}")
    r = stack.run("verify-proof", str(proof), "--keys", str(registry))
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_keys_of_earlier_releases_are_refused_with_the_command_that_converts_them(stack, tmp_path):
    key, public, pub = write_legacy_pair(tmp_path, "old")
    cfg = stack.write_config(tmp_path / "c.toml", "t", sealer={"key_file": str(key), "metrics_listen": ""})
    r = run(stack, cfg, "seal")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "is in the key format of earlier releases (64 hex digits without a header)" in r.stderr
    command = f"auditlog keygen --convert {key} --kind secret"
    assert r.stderr.rstrip().endswith(command), r.stderr
    # The command as printed (with this build's binary) converts the pair and prints the key id.
    c = stack.run(*command.split()[1:])
    assert c.returncode == 0, c.stderr
    assert f"converted:  {key}\nconverted:  {public}\nkey id:     {key_id(pub).hex()}" in c.stdout
    assert load_secret(key).public_key().public_bytes_raw() == pub and load_public(public) == pub
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = stack.run("keygen", "--convert", str(key), "--kind", "secret")
    assert again.returncode == 2 and "is already a secret key file; nothing to convert" in again.stderr


def test_a_legacy_public_key_cannot_be_converted_into_a_secret_one(stack, tmp_path):
    _, public, pub = write_legacy_pair(tmp_path, "peer")
    registry = tmp_path / "keys.toml"
    registry.write_text('[[keys]]\nfile = "peer.pub"\nrole = "sealer"\n')
    proof = tmp_path / "proof.json"
    proof.write_text("{}")
    r = stack.run("verify-proof", str(proof), "--keys", str(registry))
    assert r.returncode == 2 and f"auditlog keygen --convert {public} --kind public" in r.stderr, r.stderr
    wrong = stack.run("keygen", "--convert", str(public), "--kind", "secret")
    assert wrong.returncode == 2 and "a file named .pub is a public key: convert it with --kind public" in wrong.stderr
    ok = stack.run("keygen", "--convert", str(public), "--kind", "public")
    assert ok.returncode == 0 and f"key id:     {key_id(pub).hex()}" in ok.stdout, ok.stderr
    r = stack.run("verify-proof", str(proof), "--keys", str(registry))
    assert r.returncode == 1 and "is not a proof" in r.stdout, (r.stdout, r.stderr)
    json.loads(proof.read_text())
