//! Users and user groups (role-based access control) through the real SDK and real TLS connections: two users
//! with different access strings in a group attached to a replication group can each do exactly what their
//! access string allows, on the primary and on a replica; `ModifyUser` changes that live; removing a user from
//! the group, or the group from the replication group, removes it from the nodes; AUTH ↔ user groups moves as
//! AWS documents; every rule answers with AWS's error.

mod common;

use std::time::Duration;

use aws_sdk_elasticache::types::AuthTokenUpdateStrategyType;
use aws_sdk_elasticache::Client;
use common::*;

const APP_PW: &str = "app-password-0123456789";
const WRITER_PW: &str = "writer-password-0123456789";
const TOKEN: &str = "back-to-a-token-0123456789";

/// What a new connection gets for `cmd`: Ok(reply as text) or Err(error code/text).
async fn run(c: &redis::Client, cmd: &[&str]) -> Result<String, String> {
    let mut conn = client_conn_with_timeout(c, Duration::from_secs(2))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut q = redis::cmd(cmd[0]);
    for a in &cmd[1..] {
        q.arg(*a);
    }
    q.query_async::<redis::Value>(&mut conn)
        .await
        .map(|v| format!("{v:?}"))
        .map_err(|e| e.to_string())
}

async fn denied(c: &redis::Client, cmd: &[&str]) -> bool {
    run(c, cmd).await.is_err()
}

async fn create_user(c: &Client, id: &str, name: &str, access: &str, password: Option<&str>) {
    let mut req = c
        .create_user()
        .user_id(id)
        .user_name(name)
        .engine("redis")
        .access_string(access);
    req = match password {
        Some(p) => req.passwords(p),
        None => req.no_password_required(true),
    };
    req.send().await.expect("create user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_do_exactly_what_their_access_string_allows() {
    let d = Daemon::start();
    let c = d.client();
    let ca = d.data_dir().join("tls").join("ca.pem");

    create_user(&c, "locked-default", "default", "off -@all", None).await;
    create_user(&c, "app", "app", "on ~app:* +get", Some(APP_PW)).await;
    create_user(&c, "writer", "writer", "on ~* +@all", Some(WRITER_PW)).await;
    create_user(&c, "app-twin", "app", "on ~* +get", Some(APP_PW)).await;

    // The rules of users and user groups.
    assert_eq!(
        result_code(
            c.create_user()
                .user_id("app")
                .user_name("x")
                .engine("redis")
                .access_string("on")
                .no_password_required(true)
                .send()
                .await
        ),
        "UserAlreadyExists"
    );
    assert_eq!(
        result_code(
            c.create_user()
                .user_id("weak")
                .user_name("weak")
                .engine("redis")
                .access_string("on ~* +@all")
                .passwords("short")
                .send()
                .await
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        result_code(
            c.create_user()
                .user_id("sneaky")
                .user_name("sneaky")
                .engine("redis")
                .access_string("on >clearpassword ~* +@all")
                .no_password_required(true)
                .send()
                .await
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        result_code(
            c.create_user()
                .user_id("nopw")
                .user_name("nopw")
                .engine("redis")
                .access_string("on ~* +@all")
                .send()
                .await
        ),
        // AWS: "Input Authentication type: null is not in the allowed list: …"
        "InvalidParameterValue"
    );
    assert_eq!(
        result_code(
            c.create_user_group()
                .user_group_id("ug-x")
                .engine("redis")
                .user_ids("app")
                .send()
                .await
        ),
        "DefaultUserRequired"
    );
    assert_eq!(
        result_code(
            c.create_user_group()
                .user_group_id("ug-x")
                .engine("redis")
                .user_ids("default")
                .user_ids("ghost")
                .send()
                .await
        ),
        "UserNotFound"
    );
    assert_eq!(
        result_code(
            c.create_user_group()
                .user_group_id("ug-x")
                .engine("redis")
                .user_ids("default")
                .user_ids("app")
                .user_ids("app-twin")
                .send()
                .await
        ),
        "DuplicateUserName"
    );
    assert_eq!(
        result_code(c.delete_user().user_id("default").send().await),
        "DefaultUserAssociatedToUserGroup"
    );
    assert_eq!(
        result_code(
            c.modify_user()
                .user_id("ghost")
                .access_string("on")
                .send()
                .await
        ),
        "UserNotFound"
    );
    assert_eq!(
        result_code(c.describe_user_groups().user_group_id("ghost").send().await),
        "UserGroupNotFound"
    );

    let out = c
        .create_user_group()
        .user_group_id("ug1")
        .engine("redis")
        .user_ids("locked-default")
        .user_ids("app")
        .user_ids("writer")
        .send()
        .await
        .expect("create user group");
    assert_eq!(out.status(), Some("creating"));
    wait_user_group_active(&c, "ug1").await;

    // User groups need TLS (required).
    let e = c
        .create_replication_group()
        .replication_group_id("rbac-plain")
        .replication_group_description("no tls")
        .user_group_ids("ug1")
        .send()
        .await;
    assert_eq!(result_code(e), "InvalidParameterCombination");

    c.create_replication_group()
        .replication_group_id("rbac")
        .replication_group_description("rbac")
        .num_cache_clusters(2)
        .transit_encryption_enabled(true)
        .user_group_ids("ug1")
        .send()
        .await
        .expect("create with a user group");
    let g = wait_available(&c, "rbac", Duration::from_secs(30)).await;
    assert_eq!(g.user_group_ids(), ["ug1".to_string()]);
    let ug = c
        .describe_user_groups()
        .user_group_id("ug1")
        .send()
        .await
        .expect("ug");
    let ug_arn = ug.user_groups()[0].arn().expect("arn").to_string();
    let tags = tag_and_list(&c, &ug_arn).await;
    assert_eq!(tags[0].value(), Some("cache"));
    assert_eq!(
        ug.user_groups()[0].replication_groups(),
        ["rbac".to_string()]
    );
    let users = c
        .describe_users()
        .user_id("app")
        .send()
        .await
        .expect("users");
    assert_eq!(users.users()[0].user_group_ids(), ["ug1".to_string()]);
    assert_eq!(
        users.users()[0]
            .authentication()
            .and_then(|a| a.password_count()),
        Some(1)
    );

    let (p, r) = (primary_addr(&g), replica_addr(&g));
    let writer = tls_client_as(&p, &ca, Some("writer"), Some(WRITER_PW));
    let app = tls_client_as(&p, &ca, Some("app"), Some(APP_PW));
    let anon = tls_client_as(&p, &ca, None, None);
    run(&writer, &["SET", "app:1", "one"])
        .await
        .expect("writer sets app:1");
    run(&writer, &["SET", "other:1", "secret"])
        .await
        .expect("writer sets other:1");
    assert!(run(&app, &["GET", "app:1"])
        .await
        .expect("app reads app:*")
        .contains("one"));
    assert!(denied(&app, &["SET", "app:2", "x"]).await, "app cannot SET");
    assert!(
        denied(&app, &["GET", "other:1"]).await,
        "app cannot read other:*"
    );
    assert!(
        denied(&anon, &["GET", "app:1"]).await,
        "the default user is off"
    );
    assert!(
        denied(&writer, &["CONFIG", "GET", "maxmemory"]).await,
        "+@all still excludes @admin"
    );
    assert!(
        denied(
            &tls_client_as(&p, &ca, Some("app"), Some(WRITER_PW)),
            &["GET", "app:1"]
        )
        .await,
        "wrong password"
    );
    // The same users on a replica.
    let app_r = tls_client_as(&r, &ca, Some("app"), Some(APP_PW));
    eventually(
        "app reads on the replica",
        Duration::from_secs(5),
        || async {
            match run(&app_r, &["GET", "app:1"]).await {
                Ok(v) if v.contains("one") => Ok(()),
                other => Err(other),
            }
        },
    )
    .await;
    assert!(denied(&app_r, &["GET", "other:1"]).await);

    // ModifyUser: live on every node of every group holding the user.
    let out = c
        .modify_user()
        .user_id("app")
        .access_string("on ~app:* +get +set")
        .send()
        .await
        .expect("modify user");
    assert_eq!(out.status(), Some("modifying"));
    wait_available(&c, "rbac", Duration::from_secs(30)).await;
    run(&app, &["SET", "app:2", "two"])
        .await
        .expect("app may SET now");
    assert!(
        denied(&app, &["SET", "other:2", "x"]).await,
        "still not other:*"
    );
    eventually("user back to active", Duration::from_secs(10), || async {
        let u = c
            .describe_users()
            .user_id("app")
            .send()
            .await
            .expect("users");
        let status = u.users()[0].status().map(str::to_string);
        (status.as_deref() == Some("active"))
            .then_some(())
            .ok_or(status)
    })
    .await;

    // A user removed from the group is gone from the nodes; a group in use cannot be deleted.
    assert_eq!(
        result_code(
            c.modify_user_group()
                .user_group_id("ug1")
                .user_ids_to_remove("locked-default")
                .send()
                .await
        ),
        "DefaultUserRequired"
    );
    c.modify_user_group()
        .user_group_id("ug1")
        .user_ids_to_remove("writer")
        .send()
        .await
        .expect("remove writer");
    wait_available(&c, "rbac", Duration::from_secs(30)).await;
    assert!(
        denied(&writer, &["GET", "app:1"]).await,
        "writer removed from the nodes"
    );
    assert!(
        denied(
            &tls_client_as(&r, &ca, Some("writer"), Some(WRITER_PW)),
            &["GET", "app:1"]
        )
        .await
    );
    assert_eq!(
        result_code(c.delete_user_group().user_group_id("ug1").send().await),
        "InvalidUserGroupState"
    );
    assert_eq!(
        result_code(
            c.modify_replication_group()
                .replication_group_id("rbac")
                .transit_encryption_mode("preferred".into())
                .send()
                .await
        ),
        "InvalidParameterCombination"
    );
    assert_eq!(
        result_code(
            c.modify_replication_group()
                .replication_group_id("rbac")
                .auth_token(TOKEN)
                .send()
                .await
        ),
        "InvalidParameterCombination"
    );

    // Back to an AUTH token: SET with RemoveUserGroups; the users are removed from the nodes.
    c.modify_replication_group()
        .replication_group_id("rbac")
        .auth_token(TOKEN)
        .auth_token_update_strategy(AuthTokenUpdateStrategyType::Set)
        .remove_user_groups(true)
        .apply_immediately(true)
        .send()
        .await
        .expect("back to a token");
    let g = wait_available(&c, "rbac", Duration::from_secs(30)).await;
    assert!(g.user_group_ids().is_empty());
    assert_eq!(g.auth_token_enabled(), Some(true));
    assert!(denied(&app, &["GET", "app:1"]).await, "app is gone");
    assert!(
        run(
            &tls_client_as(&p, &ca, None, Some(TOKEN)),
            &["GET", "app:1"]
        )
        .await
        .is_ok(),
        "the token works"
    );
    c.delete_user_group()
        .user_group_id("ug1")
        .send()
        .await
        .expect("now deletable");
    assert_eq!(
        result_code(c.describe_user_groups().user_group_id("ug1").send().await),
        "UserGroupNotFound"
    );

    // And from a token to user groups: only with DELETE.
    c.create_user_group()
        .user_group_id("ug2")
        .engine("redis")
        .user_ids("default")
        .user_ids("app")
        .send()
        .await
        .expect("ug2");
    wait_user_group_active(&c, "ug2").await;
    assert_eq!(
        result_code(
            c.modify_replication_group()
                .replication_group_id("rbac")
                .user_group_ids_to_add("ug2")
                .send()
                .await
        ),
        "InvalidParameterCombination"
    );
    c.modify_replication_group()
        .replication_group_id("rbac")
        .user_group_ids_to_add("ug2")
        .auth_token_update_strategy(AuthTokenUpdateStrategyType::Delete)
        .apply_immediately(true)
        .send()
        .await
        .expect("token to user groups");
    let g = wait_available(&c, "rbac", Duration::from_secs(30)).await;
    assert_eq!(g.auth_token_enabled(), Some(false));
    assert!(run(&app, &["GET", "app:1"]).await.is_ok(), "app is back");
    assert!(
        denied(
            &tls_client_as(&p, &ca, None, Some(TOKEN)),
            &["GET", "app:1"]
        )
        .await,
        "the token is gone"
    );
    assert!(
        run(&anon, &["GET", "app:1"]).await.is_ok(),
        "built-in default: no password, full access"
    );
}

/// Issue 29, fault 1: the control plane's own user on the nodes (`cacheplane-admin`) is never a customer's. Its
/// name, and every name that starts with `cacheplane` in any case, is refused at `CreateUser`; a user of that name
/// kept in the store by an older version is never written to a node (before, `ACL SETUSER cacheplane-admin reset …`
/// gave the daemon's own user the customer's password and `-@admin`, and no change could happen again), and the
/// group keeps failing over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_planes_own_user_is_never_a_customers() {
    const LEGACY_PW: &str = "legacy-password-0123456789";
    let mut d = Daemon::start();
    let c = d.client();
    let ca = d.data_dir().join("tls").join("ca.pem");
    for name in [
        "cacheplane-admin",
        "CACHEPLANE-ADMIN",
        "Cacheplane-Ops",
        "cacheplane",
    ] {
        let e = c
            .create_user()
            .user_id("takeover")
            .user_name(name)
            .engine("redis")
            .access_string("on ~* +@all")
            .passwords(LEGACY_PW)
            .send()
            .await
            .expect_err(name);
        let se = e.into_service_error();
        assert_eq!(
            aws_sdk_elasticache::error::ProvideErrorMetadata::code(&se),
            Some("InvalidParameterValue"),
            "{name}"
        );
        let m = aws_sdk_elasticache::error::ProvideErrorMetadata::message(&se).unwrap_or_default();
        assert!(m.contains("reserved"), "{name}: {m}");
    }
    assert!(c.describe_users().user_id("takeover").send().await.is_err());

    create_user(&c, "legacy", "legacy", "on ~* +@all", Some(LEGACY_PW)).await;
    c.create_user_group()
        .user_group_id("ug-reserved")
        .engine("redis")
        .user_ids("default")
        .user_ids("legacy")
        .send()
        .await
        .expect("user group");
    wait_user_group_active(&c, "ug-reserved").await;
    c.create_replication_group()
        .replication_group_id("reserved")
        .replication_group_description("reserved names")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .transit_encryption_enabled(true)
        .user_group_ids("ug-reserved")
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "reserved", Duration::from_secs(30)).await;
    let p = primary_addr(&g);
    run(
        &tls_client_as(&p, &ca, Some("legacy"), Some(LEGACY_PW)),
        &["PING"],
    )
    .await
    .expect("legacy logs in");

    // A store written by an older version that accepted the name: the user is renamed in place.
    d.kill9();
    let db = rusqlite::Connection::open(d.data_dir().join("cacheplane.sqlite3")).expect("store");
    let changed = db
        .execute(
            "UPDATE users SET doc = json_set(doc, '$.name', 'cacheplane-admin') WHERE id = 'legacy'",
            [],
        )
        .expect("rename");
    assert_eq!(changed, 1);
    // … and the ACL the group's nodes hold, as that version wrote it.
    let changed = db
        .execute(
            "UPDATE replication_groups SET doc = replace(doc, '[\"legacy\",', '[\"cacheplane-admin\",') WHERE id = 'reserved'",
            [],
        )
        .expect("rename in the group's ACL");
    assert_eq!(changed, 1);
    drop(db);
    d.spawn();
    let c = d.client();

    // The daemon applies the group's ACL again after its restart: `legacy` leaves the nodes, and the customer's
    // password never becomes the control plane's.
    eventually(
        "the user renamed in the store gone from the node",
        Duration::from_secs(30),
        || async {
            run(
                &tls_client_as(&p, &ca, Some("legacy"), Some(LEGACY_PW)),
                &["PING"],
            )
            .await
            .is_err()
        },
    )
    .await;
    let taken = run(
        &tls_client_as(&p, &ca, Some("cacheplane-admin"), Some(LEGACY_PW)),
        &["PING"],
    )
    .await;
    assert!(
        taken.is_err(),
        "the customer's password logs in as the control plane: {taken:?}"
    );

    // The control plane still drives the nodes: a failover completes.
    let before = current_primary(&describe_group(&c, "reserved").await);
    c.test_failover()
        .replication_group_id("reserved")
        .node_group_id("0001")
        .send()
        .await
        .expect("test failover");
    wait_group(
        &c,
        "reserved",
        Duration::from_secs(60),
        "failed over",
        |g| {
            let now = current_primary(g);
            g.status() == Some("available") && !now.is_empty() && now != before
        },
    )
    .await;
    // And a user group change is written again.
    c.modify_user_group()
        .user_group_id("ug-reserved")
        .user_ids_to_remove("legacy")
        .send()
        .await
        .expect("remove the renamed user");
    wait_user_group_active(&c, "ug-reserved").await;
    wait_available(&c, "reserved", Duration::from_secs(30)).await;
}
