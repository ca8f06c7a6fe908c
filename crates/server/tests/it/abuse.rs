//! Clients that try to exhaust the server (issue 8, resource limits): slow and idle
//! connections, oversized headers, thousands of ranges, deeply nested JSON, a multipart body
//! of thousands of parts. Each is refused or cut off with a clear answer, and the server
//! goes on serving everyone else. (No timing thresholds: the waits below only keep a broken
//! server from hanging the test.)

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use callvault_server::Limits;

use super::*;

/// Resident memory (KiB), CPU time used (user + system, all threads) and the wall clock of
/// this process — the server and the attacking clients together.
struct Usage {
    rss_kib: u64,
    cpu: Duration,
    at: std::time::Instant,
}

fn usage() -> Usage {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    // Fields 14 and 15 of /proc/self/stat (after the parenthesised name): utime, stime.
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after_name = &stat[stat.rfind(')').expect("stat") + 2..];
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields[11] + fields[12];
    let per_sec: u64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100);
    Usage {
        rss_kib,
        cpu: Duration::from_millis(ticks * 1000 / per_sec),
        at: std::time::Instant::now(),
    }
}

/// Prints the memory and CPU an attack cost and checks that memory stayed bounded: the
/// server and the attacking clients share this process, so the figures are upper bounds
/// for the server. CPU is printed, not asserted (no timing thresholds in tests).
fn memory_bound(what: &str, before: Usage) {
    let after = usage();
    let grown = after.rss_kib.saturating_sub(before.rss_kib);
    let cpu = after.cpu.saturating_sub(before.cpu);
    let wall = after.at - before.at;
    eprintln!(
        "{what}: resident memory {} KiB -> {} KiB (+{grown} KiB); CPU {:.3} s in {:.3} s ({:.0}% of one core)",
        before.rss_kib,
        after.rss_kib,
        cpu.as_secs_f64(),
        wall.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
    );
    assert!(
        grown < 256 << 10,
        "{what} grew resident memory by {grown} KiB"
    );
}

/// Waits for the peer to close the connection (EOF or a reset); false if it stays open.
async fn closed_by_server<S: tokio::io::AsyncRead + Unpin>(s: &mut S, guard: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let r = tokio::time::timeout(guard, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    r.is_ok()
}

#[tokio::test]
async fn slow_and_idle_clients_are_cut_off_and_everyone_else_is_served() {
    let limits = Limits {
        max_connections: 32,
        handshake_timeout: Duration::from_secs(1),
        header_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let w = world_with(limits, false).await;
    let before = usage();
    // 300 TCP connections that never start TLS (ten times the connection limit).
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(
            tokio::net::TcpStream::connect(w.addr)
                .await
                .expect("connect"),
        );
    }
    // 10 authenticated connections that send a request's headers one byte at a time
    // (slow-loris), and 10 that send nothing after the handshake.
    let mut slow = Vec::new();
    let mut idle = Vec::new();
    for _ in 0..10 {
        slow.push(
            connect(&w, client_config(&w.pki, &w.pki, Some("nurse-a")))
                .await
                .expect("tls"),
        );
        idle.push(
            connect(&w, client_config(&w.pki, &w.pki, Some("nurse-a")))
                .await
                .expect("tls"),
        );
    }
    let drip = tokio::spawn(async move {
        let head = b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-slow: ";
        let mut cut = 0;
        for s in &mut slow {
            let _ = s.write_all(&head[..10]).await;
        }
        for i in 10..head.len() {
            for s in &mut slow {
                let _ = s.write_all(&head[i..=i]).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        for s in &mut slow {
            if closed_by_server(s, Duration::from_secs(30)).await {
                cut += 1;
            }
        }
        cut
    });
    // Meanwhile a nurse is answered: the silent connections are dropped after the
    // handshake timeout and free their slots.
    let r = tokio::time::timeout(Duration::from_secs(60), health(&w, "nurse-a"))
        .await
        .expect("a client among the slow ones was never answered")
        .expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(
        drip.await.expect("drip"),
        10,
        "slow-loris connections stay open"
    );
    for s in &mut idle {
        assert!(
            closed_by_server(s, Duration::from_secs(30)).await,
            "an idle authenticated connection stays open"
        );
    }
    let mut still_open = 0;
    for s in &mut silent {
        if !closed_by_server(s, Duration::from_secs(30)).await {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "connections that never start TLS stay open");
    memory_bound("320 silent, slow and idle connections", before);
    let r = health(&w, "nurse-a").await.expect("response");
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn oversized_headers_and_thousands_of_ranges_are_bounded() {
    let w = world().await;
    let before = usage();
    // A 200 KiB header: refused (431) or the connection closed, never buffered whole.
    let huge = "a".repeat(200 << 10);
    match send(
        &w,
        &w.pki,
        Some("nurse-a"),
        "GET",
        "/healthz",
        &[("x-huge", huge)],
        Vec::new(),
    )
    .await
    {
        Ok(r) => assert_eq!(r.status, 431, "{}", String::from_utf8_lossy(&r.body)),
        Err(e) => assert!(e.contains("request") || e.contains("closed"), "{e}"),
    }
    // 2,000 ranges: the first is served (RFC 9110 allows answering one), the rest ignored.
    let uri = format!(
        "/api/v1/recordings/{}/audio?purpose=vard-och-behandling",
        w.rec_a
    );
    let many: Vec<String> = (0..2000)
        .map(|i| format!("{}-{}", i * 4, i * 4 + 1))
        .collect();
    let r = get(
        &w,
        &w.pki,
        Some("nurse-a"),
        &uri,
        Some(&format!("bytes={}", many.join(","))),
    )
    .await
    .expect("response");
    assert_eq!(r.status, 206, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body.len(), 2, "only the first range is served");
    // A malformed one of thousands of parts is refused without being echoed whole.
    let bad: Vec<String> = (0..2000).map(|i| format!("{i}-x")).collect();
    let r = get(
        &w,
        &w.pki,
        Some("nurse-a"),
        &uri,
        Some(&format!("bytes={}", bad.join(","))),
    )
    .await
    .expect("response");
    assert_eq!(r.status, 400);
    assert!(r.body.len() < 1024, "{} bytes", r.body.len());
    memory_bound("a 200 KiB header and 2,000 ranges", before);
    let r = health(&w, "nurse-a").await.expect("response");
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn deeply_nested_json_and_thousands_of_parts_are_refused() {
    let w = world().await;
    let before = usage();
    // 100,000 nested arrays: serde_json's recursion limit refuses it as a bad body.
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = send(
        &w,
        &w.pki,
        Some("reviewer-a"),
        "POST",
        &format!("/api/v1/audit/log-extract?care_provider={CP_A}&purpose=logguppfoljning"),
        &[("content-type", "application/json".into())],
        nested.into_bytes(),
    )
    .await
    .expect("response");
    let text = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, 400, "{text}");
    assert!(text.contains("problems/bad-request"), "{text}");
    // Metadata, then 20,000 parts that are not the audio: refused at the second part.
    let pnr = callvault_vault::demo::personnummer(31);
    let boundary = "callvault-test-boundary-7f3a";
    let stored_before = stored(&w);
    let (head, _) = multipart("", b"");
    let meta_part = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{}\r\n",
        upload_meta("parts-1", "SE2321000016-1177", &pnr)
    );
    let mut many = meta_part.into_bytes();
    for i in 0..20_000 {
        many.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"x{i}\"\r\n\r\ny\r\n")
                .as_bytes(),
        );
    }
    many.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let r = send(
        &w,
        &w.pki,
        Some("recorder-a"),
        "POST",
        "/api/v1/recordings",
        &head,
        many,
    )
    .await
    .expect("response");
    let text = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, 400, "{text}");
    assert!(text.contains("second part must be named audio"), "{text}");
    assert_eq!(
        stored(&w),
        stored_before,
        "a refused upload stored something"
    );
    assert_no_temporaries(&w);
    memory_bound("100,000-deep JSON and 20,000 parts", before);
    let r = health(&w, "nurse-a").await.expect("response");
    assert_eq!(r.status, 200);
}
