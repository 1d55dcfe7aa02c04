//! SQLite with several writers: a 2000-row CSV invitation from the CLI (another process)
//! while people sign in through the gateway (each sign-in writes a member, a session and
//! the sign-in time). Writers wait for each other; nothing fails and nothing is lost.

mod common;

use common::APP_HOST;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bulk_invite_from_the_cli_and_sign_ins_through_the_gateway_both_complete() {
    let (gw, idp) = common::with_fake_idp("sign_ins_per_minute = 1000", |port, echo| {
        common::app_toml("hr", APP_HOST, port, echo, "")
    })
    .await;
    // Every sign-in is a new member (its own subject and address): a write each time.
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    idp.set({
        let counter = counter.clone();
        |s| {
            s.mutate = Box::new(move |c| {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                c.insert("sub".into(), format!("member-{n}").into());
                c.insert("email".into(), format!("member{n}@partner.test").into());
            })
        }
    });
    let mut csv = String::from("email,send email\n");
    for i in 0..2000 {
        csv.push_str(&format!("guest{i}@fabrikam.example,false\n"));
    }
    let path = gw.dir.path().join("bulk.csv");
    std::fs::write(&path, csv).expect("csv");
    let out_path = gw.dir.path().join("cli.out");
    let err_path = gw.dir.path().join("cli.err");
    let mut cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_borderless"))
        .args(["invite", "--json", "--csv"])
        .arg(&path)
        .arg("--config")
        .arg(&gw.config_path)
        // Files, not pipes: the JSON report is larger than a pipe holds.
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("run the CLI");
    // Sign-ins, four at a time, for as long as the CLI writes.
    let mut statuses = Vec::new();
    let mut round = 0;
    while cli.try_wait().expect("cli").is_none() || round < 3 {
        let batch: Vec<_> = (0..4)
            .map(|_| {
                let client = gw.browser().client;
                let url = gw.url(APP_HOST, &format!("/round-{round}"));
                tokio::spawn(
                    async move { client.get(&url).send().await.map(|r| r.status().as_u16()) },
                )
            })
            .collect();
        for t in batch {
            statuses.push(t.await.expect("join").unwrap_or(0));
        }
        round += 1;
    }
    let status = cli.wait().await.expect("cli");
    let stdout = std::fs::read(&out_path).expect("cli stdout");
    assert!(
        status.success(),
        "the CLI failed: {}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    let report: serde_json::Value = serde_json::from_slice(&stdout).expect("json report");
    assert_eq!(report["invited"], 2000, "{report}");
    assert_eq!(report["failed"], 0);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let users = gw.gw.directory.list_users().await.expect("users");
    assert!(
        statuses.len() >= 12,
        "sign-ins ran alongside: {}",
        statuses.len()
    );
    assert_eq!(
        users.len(),
        2000 + statuses.len(),
        "every guest and every member is there"
    );
    gw.stop().await;
}
