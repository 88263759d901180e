//! The contract of a [`Store`], as one suite every implementation passes: what is written with its events comes back
//! as written, in one piece, and what is removed is gone with its tags. The SQLite and the PostgreSQL stores both run
//! it.
#![cfg(test)]

use chrono::{Duration, TimeZone, Utc};

use super::{EventQuery, Store};
use crate::model::{NewEvent, SubnetGroup};

fn event(id: &str, message: &str) -> NewEvent {
    NewEvent {
        source_type: "replication-group",
        source_id: id.to_string(),
        message: message.to_string(),
    }
}

/// Runs the whole contract on an empty store.
pub(crate) fn run(s: &mut dyn Store) {
    let t = Utc
        .with_ymd_and_hms(2026, 12, 1, 12, 0, 0)
        .single()
        .expect("time");
    assert!(
        s.load_groups().expect("load").is_empty(),
        "a new store is empty"
    );
    assert_eq!(s.max_event_seq().expect("seq"), 0);

    // A group and its events land together, and come back as written.
    let mut g = crate::actions::modify::tests::sample_group();
    s.put_group(&g, t, &[event(&g.id, "created")])
        .expect("put group");
    assert_eq!(s.load_groups().expect("load"), vec![g.clone()]);
    g.description = "changed".into();
    s.put_group(&g, t + Duration::seconds(1), &[event(&g.id, "modified")])
        .expect("put again");
    assert_eq!(
        s.load_groups().expect("load"),
        vec![g.clone()],
        "a put replaces"
    );
    let all = s
        .events(&EventQuery {
            source_type: None,
            source_id: Some(g.id.clone()),
            start: t - Duration::hours(1),
            end: t + Duration::hours(1),
            after_seq: 0,
            limit: 100,
        })
        .expect("events");
    let messages: Vec<&str> = all.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        ["created", "modified"],
        "events in the order written"
    );
    assert_eq!(s.max_event_seq().expect("seq"), all[1].seq);
    assert_eq!(
        s.events_after(all[0].seq, 10).expect("after")[0].message,
        "modified"
    );

    // Tags of a resource, and their removal with it.
    let arn = "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:rg";
    s.put_tags(
        arn,
        &[("team".into(), "a".into()), ("env".into(), "x".into())],
    )
    .expect("tags");
    s.remove_tags(arn, &["env".into()]).expect("untag");
    assert_eq!(
        s.tags(arn).expect("tags"),
        vec![("team".into(), "a".into())]
    );
    s.remove_group(
        &g.id,
        &[arn.to_string()],
        None,
        t,
        &[event(&g.id, "deleted")],
    )
    .expect("remove");
    assert!(s.load_groups().expect("load").is_empty());
    assert!(
        s.tags(arn).expect("tags").is_empty(),
        "tags go with the group"
    );

    // Cursors start unset and keep what was set.
    assert_eq!(s.cursor("notify").expect("cursor"), None);
    s.set_cursor("notify", 7).expect("set");
    assert_eq!(s.cursor("notify").expect("cursor"), Some(7));

    // Subnet groups: put, listed, deleted.
    let sg = SubnetGroup {
        name: "sg".into(),
        description: "d".into(),
        subnets: vec!["subnet-0123abcd".into()],
    };
    let sg_arn = "arn:aws:elasticache:us-east-1:123456789012:subnetgroup:sg";
    s.put_subnet_group(&sg, sg_arn, &[]).expect("subnet group");
    assert_eq!(s.load_subnet_groups().expect("load"), vec![sg.clone()]);
    s.delete_subnet_group("sg", sg_arn).expect("delete");
    assert!(s.load_subnet_groups().expect("load").is_empty());

    // Console sessions: live until they expire or end.
    s.put_console_session("h1", t + Duration::hours(1), t)
        .expect("session");
    s.put_console_session("h2", t + Duration::hours(1), t)
        .expect("session");
    assert!(s.console_session_live("h1", t).expect("live"));
    assert!(!s
        .console_session_live("h1", t + Duration::hours(2))
        .expect("expired"));
    assert!(s.end_console_session("h1").expect("end"));
    assert!(!s.console_session_live("h1", t).expect("ended"));
    assert_eq!(s.end_console_sessions(t).expect("end all"), 1);
    assert!(!s.console_session_live("h2", t).expect("ended"));

    // Hosts join with a live token, once.
    let host = crate::model::Host {
        name: "host-a".into(),
        zone: "us-east-1a".into(),
        url: "https://127.10.0.1:9740".into(),
        addresses: crate::model::AddressRange::parse("127.10.0.0/16").expect("range"),
        joined: t,
        lost: None,
        room: None,
    };
    s.add_join_token("tok", t + Duration::hours(1), t)
        .expect("token");
    s.add_join_token("old", t + Duration::minutes(1), t)
        .expect("token");
    assert!(!s
        .join_host(&host, "old", t + Duration::minutes(2))
        .expect("expired token"));
    assert!(!s.join_host(&host, "nope", t).expect("unknown token"));
    assert!(s.join_token_live("tok", t).expect("live"));
    assert!(!s
        .join_token_live("old", t + Duration::minutes(2))
        .expect("expired"));
    assert!(s.load_hosts().expect("hosts").is_empty());
    assert!(s.join_host(&host, "tok", t).expect("join"));
    assert!(!s.join_host(&host, "tok", t).expect("used token"));
    assert!(!s.join_token_live("tok", t).expect("used"));
    assert_eq!(s.load_hosts().expect("hosts"), vec![host.clone()]);
    let lost = crate::model::Host {
        lost: Some(t),
        ..host
    };
    s.put_host(&lost).expect("put host");
    assert_eq!(s.load_hosts().expect("hosts"), vec![lost]);

    // Old events are pruned; newer ones stay.
    s.add_events(t + Duration::days(20), &[event("rg", "later")])
        .expect("add");
    assert!(s.prune_events(t + Duration::days(1)).expect("prune") >= 3);
    assert_eq!(s.events_after(0, 10).expect("rest").len(), 1);
}
