use super::*;

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("auditlog-keys-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("dir");
    dir
}

fn message(r: Result<impl std::fmt::Debug, SealerError>) -> String {
    r.err().map(|e| e.to_string()).unwrap_or_default()
}

#[test]
fn generate_load_and_refuse_loose_permissions() {
    let dir = dir("gen");
    let secret = dir.join("sealer.key");
    let (public, id) = generate(&secret).expect("generate");
    assert_eq!(public, dir.join("sealer.pub"));
    let sk = load_signing_key(&secret).expect("load secret");
    let pk = load_verifying_key(&public).expect("load public");
    assert_eq!(sk.verifying_key(), pk);
    assert_eq!(KeyId::of(&pk), id);
    assert!(generate(&secret).is_err(), "must not overwrite");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(message(load_signing_key(&secret)).contains("chmod 600"));
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn each_loader_refuses_the_other_kind_and_names_the_file() {
    let dir = dir("kinds");
    let secret = dir.join("s.key");
    let (public, _) = generate(&secret).expect("generate");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Even at mode 0600 a public key is no signing key.
        fs::set_permissions(&public, fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let e = message(load_signing_key(&public));
    assert!(
        e.contains(&public.display().to_string()) && e.contains("holds a public key"),
        "{e}"
    );
    let e = message(load_verifying_key(&secret));
    assert!(
        e.contains(&secret.display().to_string()) && e.contains("holds a SECRET key"),
        "{e}"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn keygen_refuses_an_out_whose_public_key_would_overwrite_it() {
    let dir = dir("collide");
    let out = dir.join("x.pub");
    let e = message(generate(&out));
    assert!(e.contains("which is this very file"), "{e}");
    assert!(!out.exists(), "nothing may be written");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn legacy_files_are_refused_with_the_command_and_convert() {
    let dir = dir("legacy");
    let secret = dir.join("old.key");
    let public = dir.join("old.pub");
    let seed = [5u8; 32];
    let pk = SigningKey::from_bytes(&seed).verifying_key();
    write_private(&secret, &format!("{}\n", chain::hex::encode(&seed))).expect("write");
    fs::write(&public, format!("{}\n", chain::hex::encode(pk.as_bytes()))).expect("write");
    let e = message(load_signing_key(&secret));
    assert!(
        e.contains(&format!(
            "auditlog keygen --convert {} --kind secret",
            secret.display()
        )),
        "{e}"
    );
    let e = message(load_verifying_key(&public));
    assert!(e.contains("--kind public"), "{e}");
    // A public key cannot be converted into a secret one.
    assert!(message(convert(&public, KeyKind::Secret)).contains("--kind public"));
    let (written, id) = convert(&secret, KeyKind::Secret).expect("convert");
    assert_eq!(written, vec![secret.clone(), public.clone()]);
    assert_eq!(id, KeyId::of(&pk));
    assert_eq!(
        load_signing_key(&secret).expect("secret").verifying_key(),
        pk
    );
    assert_eq!(load_verifying_key(&public).expect("public"), pk);
    assert!(message(convert(&secret, KeyKind::Secret)).contains("already a secret key file"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&secret).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_secret_whose_pub_beside_it_differs_is_not_converted() {
    let dir = dir("mismatch");
    let a = dir.join("a.key");
    write_private(&a, &format!("{}\n", chain::hex::encode(&[1u8; 32]))).expect("write");
    fs::write(
        dir.join("a.pub"),
        format!("{}\n", chain::hex::encode(&[2u8; 32])),
    )
    .expect("w");
    let e = message(convert(&a, KeyKind::Secret));
    assert!(e.contains("does not hold this key's public half"), "{e}");
    let _ = fs::remove_dir_all(&dir);
}
