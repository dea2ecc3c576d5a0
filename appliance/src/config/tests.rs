use super::*;

fn load(toml_text: &str, env: &[(&str, &str)]) -> Result<Config, Vec<String>> {
    let dir = std::env::temp_dir().join(format!("outpost-config-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).map_err(|e| vec![e.to_string()])?;
    let path = dir.join("outpost.toml");
    std::fs::write(&path, toml_text).map_err(|e| vec![e.to_string()])?;
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let result = Config::load(Some(&path), env);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[test]
fn defaults_fill_everything_but_the_database_url() {
    let config = load("[database]\nurl = \"postgres:///outpost\"\n", &[]).unwrap();
    assert_eq!(config.server.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(i64::from(config.database.pool_size), cores() * 2);
    assert_eq!(config.server.workers as i64, cores());
    assert_eq!(config.session.idle_timeout_minutes, 480);
    assert!(!config.server.secure_cookies());
}

#[test]
fn environment_overrides_the_file() {
    let config = load(
        "[database]\nurl = \"postgres:///a\"\npool_size = 4\n",
        &[("OUTPOST_DATABASE_POOL_SIZE", "9"), ("OUTPOST_SERVER_PUBLIC_URL", "https://op.example/")],
    )
    .unwrap();
    assert_eq!(config.database.pool_size, 9);
    assert_eq!(config.server.public_url.as_deref(), Some("https://op.example"));
    assert!(config.server.secure_cookies());
}

#[test]
fn every_problem_is_listed_by_key() {
    let problems = load(
            "[server]\nbind = \"nowhere\"\ncolour = \"blue\"\n[database]\npool_size = 0\n[session]\nidle_timeout_minutes = \"soon\"\n",
            &[("OUTPOST_LOGIN_MAX_FAILURES", "1000"), ("OUTPOST_NOPE_X", "1")],
        )
        .unwrap_err();
    let text = problems.join("\n");
    for expected in [
        "server.bind: \"nowhere\" is not an address:port",
        "server.colour: no such setting",
        "database.url: is required",
        "database.pool_size: 0 is out of range (1 to 512)",
        "session.idle_timeout_minutes: must be a whole number",
        "login.max_failures: 1000 is out of range (1 to 100)",
        "OUTPOST_NOPE_X: no such setting (nope.x)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(problems.len(), 7, "{text}");
}

#[test]
fn trusted_proxies_come_as_a_list_or_a_string_and_bad_ones_are_named() {
    let from_file =
        load("[server]\ntrusted_proxies = [\"10.0.0.5\", \"::1\"]\n[database]\nurl = \"x\"\n", &[]).unwrap();
    assert_eq!(from_file.server.trusted_proxies.len(), 2);
    let from_env =
        load("[database]\nurl = \"x\"\n", &[("OUTPOST_SERVER_TRUSTED_PROXIES", "10.0.0.5, 10.0.0.6")]).unwrap();
    assert_eq!(from_env.server.trusted_proxies.len(), 2);
    let problems = load("[server]\ntrusted_proxies = [\"10.0.0.5\", \"proxy.local\"]\n[database]\nurl = \"x\"\n", &[])
        .unwrap_err();
    assert_eq!(problems, vec!["server.trusted_proxies: \"proxy.local\" is not an IP address".to_owned()]);
}

#[test]
fn tls_needs_both_files_and_files_that_load() {
    let only_certificate = load("[server]\ntls_certificate = \"/x.pem\"\n[database]\nurl = \"x\"\n", &[]).unwrap_err();
    assert_eq!(
        only_certificate,
        vec!["server.tls_private_key: is required when server.tls_certificate is set".to_owned()]
    );
    let junk = std::env::temp_dir().join(format!("outpost-junk-{}.pem", rand::random::<u64>()));
    std::fs::write(&junk, "not a certificate").unwrap();
    let text = format!(
        "[server]\ntls_certificate = \"{0}\"\ntls_private_key = \"{0}\"\n[database]\nurl = \"x\"\n",
        junk.display()
    );
    let problems = load(&text, &[]).unwrap_err().join("\n");
    std::fs::remove_file(&junk).unwrap();
    assert!(
        problems.contains("server.tls_certificate:") && problems.contains("holds no PEM certificate"),
        "{problems}"
    );
    assert!(
        problems.contains("server.tls_private_key:") && problems.contains("no usable PEM private key"),
        "{problems}"
    );
}

#[test]
fn unreadable_and_malformed_files_are_named() {
    let missing = Config::load(Some(Path::new("/nonexistent/outpost.toml")), []).unwrap_err();
    assert!(missing[0].starts_with("/nonexistent/outpost.toml: cannot be read"));
    let malformed = load("[database\n", &[]).unwrap_err();
    assert!(malformed[0].contains("is not valid TOML"), "{malformed:?}");
}

#[test]
fn the_database_url_never_appears_in_debug_output() {
    let config = load("[database]\nurl = \"postgres://u:hunter2@db/outpost\"\n", &[]).unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn quickstart_keeps_its_database_and_address_but_takes_other_overrides() {
    let env = [
        ("OUTPOST_LOG_LEVEL".to_owned(), "warn".to_owned()),
        ("OUTPOST_SERVER_BIND".to_owned(), "0.0.0.0:80".to_owned()),
        ("OUTPOST_DATABASE_URL".to_owned(), "postgres://elsewhere/x".to_owned()),
    ];
    let data = std::path::Path::new("/srv/outpost-data");
    let config = Config::quickstart("host=/private dbname=outpost".to_owned(), 9000, data, env).unwrap();
    assert_eq!(config.log_level, "warn");
    assert!(
        matches!(&config.storage.backend, StorageBackend::Local { dir } if dir == &data.join("objects")),
        "quickstart keeps files in its data folder"
    );
    assert_eq!(config.server.bind.to_string(), "127.0.0.1:9000");
    assert_eq!(config.database.url, "host=/private dbname=outpost");
}

#[test]
fn the_shipped_config_documents_every_key_and_loads() {
    let shipped = include_str!("../../../packaging/outpost.toml");
    for (key, _) in KEYS {
        let name = key.split_once('.').map(|(_, name)| name).unwrap();
        assert!(
            shipped.contains(&format!("\n{name} = ")) || shipped.contains(&format!("\n# {name} = ")),
            "packaging/outpost.toml does not document {key}"
        );
    }
    assert!(load(shipped, &[]).is_ok(), "{:?}", load(shipped, &[]).err());
}

#[test]
fn storage_settings_are_checked_by_key() {
    let s3 =
        load("[database]\nurl = \"x\"\n[storage]\nbackend = \"s3\"\ns3_endpoint = \"minio:9000\"\n", &[]).unwrap_err();
    let text = s3.join("\n");
    assert!(text.contains("storage.s3_endpoint: \"minio:9000\" must start with http:// or https://"), "{text}");
    assert!(text.contains("storage.s3_access_key: is required"), "{text}");
    assert!(text.contains("storage.s3_secret_key: is required"), "{text}");
    let other = load("[database]\nurl = \"x\"\n[storage]\nbackend = \"ftp\"\nmax_upload_mb = 0\n", &[]).unwrap_err();
    let text = other.join("\n");
    assert!(text.contains("storage.backend: \"ftp\" must be local or s3"), "{text}");
    assert!(text.contains("storage.max_upload_mb"), "{text}");
    let fine = load("[database]\nurl = \"x\"\n", &[("OUTPOST_STORAGE_MAX_UPLOAD_MB", "2048")]).unwrap();
    assert_eq!(fine.storage.max_upload_bytes, 2048 * 1024 * 1024);
}

#[test]
fn certificate_files_must_exist_and_hold_a_certificate() {
    let not_pem = std::env::temp_dir().join(format!("outpost-not-pem-{}", rand::random::<u64>()));
    std::fs::write(&not_pem, "hello").unwrap();
    let problems = load(
        "[database]\nurl = \"x\"\n",
        &[("OUTPOST_WEBHOOKS_CA_FILE", "/nonexistent/ca.pem"), ("OUTPOST_MAIL_CA_FILE", not_pem.to_str().unwrap())],
    )
    .unwrap_err();
    let _ = std::fs::remove_file(&not_pem);
    let text = problems.join("\n");
    assert!(text.contains("webhooks.ca_file: /nonexistent/ca.pem cannot be read"), "{text}");
    assert!(text.contains("mail.ca_file:") && text.contains("holds no PEM certificate"), "{text}");
}

#[test]
fn directory_and_single_sign_on_settings_are_checked_by_key() {
    let ldap = load(
        "[database]\nurl = \"x\"\n[ldap]\nurl = \"ldaps://dir:636\"\nsecurity = \"starttls\"\nuser_filter = \"(uid=x)\"\n",
        &[],
    )
    .unwrap_err()
    .join("\n");
    for problem in [
        "ldap.url: \"ldaps://dir:636\" does not fit ldap.security",
        "ldap.user_filter: must contain {username}",
        "ldap.bind_dn: is required when ldap.url is set",
        "ldap.bind_password: is required when ldap.url is set",
        "ldap.user_base: is required when ldap.url is set",
        "ldap.group_base: is required when ldap.url is set",
    ] {
        assert!(ldap.contains(problem), "{problem} in {ldap}");
    }
    let oidc = load("[database]\nurl = \"x\"\n[oidc]\nissuer = \"idp.example.com\"\n", &[]).unwrap_err().join("\n");
    for problem in [
        "oidc.issuer: \"idp.example.com\" must start with https://",
        "oidc.client_id: is required when oidc.issuer is set",
        "oidc.client_secret: is required when oidc.issuer is set",
        "oidc.redirect_url: is required when oidc.issuer is set",
    ] {
        assert!(oidc.contains(problem), "{problem} in {oidc}");
    }
    let api = load("[database]\nurl = \"x\"\n[api]\nrequests_per_minute = 0\n", &[]).unwrap_err().join("\n");
    assert!(api.contains("api.requests_per_minute: 0 is out of range"), "{api}");
}

#[test]
fn a_redirect_to_https_needs_tls() {
    let problems = load("[database]\nurl = \"x\"\n[server]\nredirect_http_from = \"0.0.0.0:80\"\n", &[]).unwrap_err();
    assert_eq!(
        problems,
        ["server.redirect_http_from: redirects to HTTPS need server.tls_certificate and server.tls_private_key"]
    );
}
