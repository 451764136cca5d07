use super::*;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

fn settings() -> SyncSettings {
    SyncSettings {
        request_backoff: Backoff {
            base: Duration::from_millis(1),
            max: Duration::from_millis(4),
        },
        ..SyncSettings::default()
    }
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

#[test]
fn backoff_grows_exponentially_up_to_its_maximum() {
    let backoff = Backoff {
        base: Duration::from_secs(1),
        max: Duration::from_secs(30),
    };
    let ceilings: Vec<u64> = (1..=7).map(|a| backoff.ceiling(a).as_secs()).collect();
    assert_eq!(ceilings, [1, 2, 4, 8, 16, 30, 30]);
    assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(30));
    for attempt in 1..=7 {
        let ceiling = backoff.ceiling(attempt);
        for random in [0.0, 0.3, 0.999, 1.0, -5.0, 7.0] {
            let full = backoff.full_jitter(attempt, random);
            let equal = backoff.equal_jitter(attempt, random);
            assert!(full <= ceiling, "{full:?} > {ceiling:?}");
            assert!(equal >= ceiling / 2 && equal <= ceiling, "{equal:?}");
        }
    }
    assert_eq!(backoff.full_jitter(3, 0.0), Duration::ZERO);
    assert_eq!(backoff.full_jitter(3, f64::NAN), Duration::ZERO);
    let huge = Backoff {
        base: Duration::MAX,
        max: Duration::MAX,
    };
    assert_eq!(huge.ceiling(40), Duration::MAX);
    assert!(huge.equal_jitter(40, 0.999) >= Duration::MAX / 2);
}

#[tokio::test]
async fn a_transient_error_is_tried_again_with_the_same_request() {
    let delivery = DeliveryGate::new(&settings(), far());
    let calls = AtomicUsize::new(0);
    let result = delivery
        .send(|| async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(MarketplaceError::Timeout),
                1 => Err(MarketplaceError::Server {
                    status: 503,
                    message: String::new(),
                }),
                _ => Ok("rr-1"),
            }
        })
        .await;
    assert!(matches!(result, Delivered::Accepted("rr-1")));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_permanent_error_is_not_tried_again() {
    let delivery = DeliveryGate::new(&settings(), far());
    let calls = AtomicUsize::new(0);
    let result: Delivered<()> = delivery
        .send(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(MarketplaceError::Rejected {
                status: 422,
                message: "bad".into(),
            })
        })
        .await;
    assert!(matches!(
        result,
        Delivered::Failed(MarketplaceError::Rejected { status: 422, .. })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(delivery.breaker_reason(), None);
}

#[tokio::test]
async fn attempts_are_bounded() {
    let delivery = DeliveryGate::new(&settings(), far());
    let calls = AtomicUsize::new(0);
    let result: Delivered<()> = delivery
        .send(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(MarketplaceError::Timeout)
        })
        .await;
    assert!(matches!(
        result,
        Delivered::Failed(MarketplaceError::Timeout)
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn bad_credentials_open_the_breaker_at_once() {
    let delivery = DeliveryGate::new(&settings(), far());
    let first: Delivered<()> = delivery
        .send(|| async { Err(MarketplaceError::Unauthorized { status: 401 }) })
        .await;
    assert!(matches!(
        first,
        Delivered::Failed(MarketplaceError::Unauthorized { .. })
    ));
    assert!(delivery.breaker_reason().unwrap().contains("credentials"));
    let calls = AtomicUsize::new(0);
    let second: Delivered<()> = delivery
        .send(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await;
    assert!(matches!(second, Delivered::NotSent));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "nothing is sent after the breaker opens"
    );
}

#[tokio::test]
async fn a_streak_of_transient_failures_opens_the_breaker_and_an_answer_resets_it() {
    let settings = SyncSettings {
        breaker_threshold: 4,
        request_attempts: 1,
        ..settings()
    };
    let delivery = DeliveryGate::new(&settings, far());
    let fail = || async { Err::<(), _>(MarketplaceError::Timeout) };
    for _ in 0..3 {
        delivery.send(fail).await;
    }
    delivery.send(|| async { Ok(()) }).await;
    for _ in 0..3 {
        delivery.send(fail).await;
    }
    assert_eq!(
        delivery.breaker_reason(),
        None,
        "the streak was broken by an answer"
    );
    delivery.send(fail).await;
    let reason = delivery.breaker_reason().expect("open after four in a row");
    assert!(reason.contains("4 transient failures in a row"), "{reason}");
}

#[tokio::test]
async fn a_request_that_cannot_be_built_is_neither_an_answer_nor_an_outage() {
    let settings = SyncSettings {
        breaker_threshold: 2,
        ..settings()
    };
    let delivery = DeliveryGate::new(&settings, far());
    let calls = AtomicUsize::new(0);
    for _ in 0..20 {
        let result: Delivered<()> = delivery
            .send(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(MarketplaceError::Unsendable("builder error".into()))
            })
            .await;
        assert!(matches!(
            result,
            Delivered::Failed(MarketplaceError::Unsendable(_))
        ));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 20, "never tried twice");
    assert_eq!(delivery.breaker_reason(), None, "not an outage");
    assert_eq!(
        delivery.slow_start.available_permits(),
        1,
        "not an answer: the slow start goes on"
    );
    // Nor does it break a streak of real transient failures.
    let timeout = || async { Err::<(), _>(MarketplaceError::Timeout) };
    let one = SyncSettings {
        request_attempts: 1,
        ..settings
    };
    let delivery = DeliveryGate::new(&one, far());
    delivery.send(timeout).await;
    let _: Delivered<()> = delivery
        .send(|| async { Err(MarketplaceError::Unsendable("x".into())) })
        .await;
    delivery.send(timeout).await;
    assert!(delivery.breaker_reason().is_some());
}

#[tokio::test]
async fn one_request_is_in_flight_until_the_marketplace_answers() {
    let settings = SyncSettings {
        breaker_threshold: 100,
        ..settings()
    };
    let delivery = Arc::new(DeliveryGate::new(&settings, far()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let run = |fail: bool| {
        let (delivery, in_flight, most) = (delivery.clone(), in_flight.clone(), most.clone());
        async move {
            delivery
                .send(|| {
                    let (in_flight, most) = (in_flight.clone(), most.clone());
                    async move {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        if fail {
                            Err(MarketplaceError::Timeout)
                        } else {
                            Ok(())
                        }
                    }
                })
                .await
        }
    };
    // No answer yet: the failing requests go one at a time.
    futures_util::future::join_all((0..3).map(|_| run(true))).await;
    assert_eq!(most.load(Ordering::SeqCst), 1);
    run(false).await;
    futures_util::future::join_all((0..8).map(|_| run(false))).await;
    assert!(
        most.load(Ordering::SeqCst) > 1,
        "after an answer, requests overlap"
    );
}

#[tokio::test]
async fn a_recent_answer_to_the_process_skips_the_slow_start_and_a_breaker_forgets_it() {
    let memory = Arc::new(AnswerMemory::default());
    let first = DeliveryGate::new(&settings(), far()).remembering(memory.clone());
    assert_eq!(first.slow_start.available_permits(), 1, "nothing known yet");
    first.send(|| async { Ok(()) }).await;
    let next = DeliveryGate::new(&settings(), far()).remembering(memory.clone());
    assert_eq!(
        next.slow_start.available_permits(),
        next.concurrency,
        "answered a moment ago"
    );
    let _: Delivered<()> = next
        .send(|| async { Err(MarketplaceError::Unauthorized { status: 401 }) })
        .await;
    let after = DeliveryGate::new(&settings(), far()).remembering(memory);
    assert_eq!(
        after.slow_start.available_permits(),
        1,
        "the breaker forgot it"
    );
}

#[tokio::test]
async fn nothing_is_sent_past_the_deadline() {
    let delivery = DeliveryGate::new(&settings(), Instant::now());
    let result: Delivered<()> = delivery.send(|| async { Ok(()) }).await;
    assert!(matches!(result, Delivered::NotSent));
}

#[tokio::test(start_paused = true)]
async fn the_rate_ceiling_holds_in_every_window() {
    let settings = SyncSettings {
        rate_limit: Some(RateLimit {
            max: 5,
            per: Duration::from_secs(10),
        }),
        ..settings()
    };
    let delivery = DeliveryGate::new(&settings, Instant::now() + Duration::from_secs(3600));
    let start = Instant::now();
    let mut sent_at = Vec::new();
    for _ in 0..12 {
        delivery.send(|| async { Ok(()) }).await;
        sent_at.push(Instant::now() - start);
    }
    for (i, at) in sent_at.iter().enumerate() {
        let in_window = sent_at[i..]
            .iter()
            .filter(|later| **later < *at + Duration::from_secs(10))
            .count();
        assert!(
            in_window <= 5,
            "{in_window} requests in the window from {at:?}"
        );
    }
    assert!(sent_at[11] >= Duration::from_secs(20), "{:?}", sent_at[11]);
}

#[tokio::test(start_paused = true)]
async fn a_429_pauses_every_request_of_the_run() {
    let delivery = DeliveryGate::new(&settings(), Instant::now() + Duration::from_secs(600));
    let start = Instant::now();
    let calls = AtomicUsize::new(0);
    let first = delivery
        .send(|| async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(MarketplaceError::RateLimited {
                    retry_after: Some(Duration::from_secs(7)),
                })
            } else {
                Ok(())
            }
        })
        .await;
    assert!(matches!(first, Delivered::Accepted(())));
    assert!(Instant::now() - start >= Duration::from_secs(7));
    // Another request right after is not held: the pause is over.
    let before = Instant::now();
    delivery.send(|| async { Ok(()) }).await;
    assert!(Instant::now() - before < Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_pause_past_the_deadline_ends_the_run_with_the_reason() {
    // (Retry-After, said in the reason)
    let table = [
        (Some(Duration::from_secs(60)), "60s"),
        (Some(Duration::from_secs(u64::MAX)), "18446744073709551615s"),
        (Some(Duration::MAX), "18446744073709551615s"),
    ];
    for (retry_after, says) in table {
        let delivery = DeliveryGate::new(&settings(), Instant::now() + Duration::from_secs(5));
        let first: Delivered<()> = delivery
            .send(|| async { Err(MarketplaceError::RateLimited { retry_after }) })
            .await;
        assert!(
            matches!(first, Delivered::NotSent),
            "the rating that got the 429 is not recorded as failed"
        );
        let reason = delivery.stop_reason().expect("stopped early");
        assert!(
            reason.contains(says) && reason.contains("deadline"),
            "{reason}"
        );
        assert_eq!(delivery.breaker_reason(), None, "not an outage");
        let second: Delivered<()> = delivery.send(|| async { Ok(()) }).await;
        assert!(matches!(second, Delivered::NotSent));
    }
}

#[tokio::test]
async fn a_redirect_opens_the_breaker_and_names_the_setting() {
    let delivery = DeliveryGate::new(&settings(), far());
    let first: Delivered<()> = delivery
        .send(|| async {
            Err(MarketplaceError::Redirected {
                status: 303,
                target: "host 127.0.0.2".into(),
            })
        })
        .await;
    assert!(matches!(
        first,
        Delivered::Failed(MarketplaceError::Redirected { .. })
    ));
    let reason = delivery.breaker_reason().expect("open");
    assert!(
        reason.starts_with("Marketplace answered 303") && reason.contains("ATOM_SAAS_API_URL"),
        "{reason}"
    );
}

/// Reads the credentials again: counts the reads, and makes the
/// marketplace below accept them if `fixes` is set.
#[derive(Clone, Default)]
struct Renewal {
    reads: Arc<AtomicUsize>,
    renewed: Arc<AtomicBool>,
    fixes: bool,
}

impl Renew for Renewal {
    fn renew(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move {
            self.reads.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            if self.fixes {
                self.renewed.store(true, Ordering::SeqCst);
            }
            self.fixes
        })
    }
}

/// A marketplace that refuses the credentials until they are renewed.
async fn refusing_until_renewed(
    renewal: &Renewal,
    calls: &AtomicUsize,
) -> Result<(), MarketplaceError> {
    calls.fetch_add(1, Ordering::SeqCst);
    if renewal.renewed.load(Ordering::SeqCst) {
        Ok(())
    } else {
        Err(MarketplaceError::Unauthorized { status: 401 })
    }
}

#[tokio::test]
async fn refused_credentials_are_read_again_once_and_the_refused_requests_sent_again() {
    let renewal = Renewal {
        fixes: true,
        ..Renewal::default()
    };
    let memory = Arc::new(AnswerMemory::default());
    memory.set(Some(Instant::now()));
    // Full concurrency from the start: four requests refused together.
    let delivery = DeliveryGate::new(&settings(), far())
        .remembering(memory)
        .renewing(renewal.clone());
    let calls = AtomicUsize::new(0);
    let sent = futures_util::future::join_all(
        (0..4).map(|_| delivery.send(|| refusing_until_renewed(&renewal, &calls))),
    )
    .await;
    assert!(
        sent.iter().all(|d| matches!(d, Delivered::Accepted(()))),
        "{sent:?}"
    );
    assert_eq!(renewal.reads.load(Ordering::SeqCst), 1, "read again once");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        8,
        "each refused request sent again once"
    );
    assert_eq!(delivery.breaker_reason(), None);
}

#[tokio::test]
async fn credentials_that_did_not_change_stop_the_run_as_before() {
    let renewal = Renewal::default();
    let delivery = DeliveryGate::new(&settings(), far()).renewing(renewal.clone());
    let calls = AtomicUsize::new(0);
    for _ in 0..3 {
        let sent = delivery
            .send(|| refusing_until_renewed(&renewal, &calls))
            .await;
        assert!(!matches!(sent, Delivered::Accepted(())));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "nothing sent after the breaker"
    );
    assert_eq!(renewal.reads.load(Ordering::SeqCst), 1);
    assert!(delivery
        .breaker_reason()
        .is_some_and(|reason| reason.contains("ATOM_SAAS_API_TOKEN")));
}

#[tokio::test]
async fn new_credentials_refused_too_are_not_read_a_second_time() {
    let renewal = Renewal::default();
    let changed = Renewal {
        reads: renewal.reads.clone(),
        fixes: true,
        // Says it changed, yet the marketplace still refuses.
        renewed: Arc::new(AtomicBool::new(false)),
    };
    let delivery = DeliveryGate::new(&settings(), far()).renewing(changed);
    let calls = AtomicUsize::new(0);
    let sent = delivery
        .send(|| refusing_until_renewed(&renewal, &calls))
        .await;
    assert!(matches!(
        sent,
        Delivered::Failed(MarketplaceError::Unauthorized { .. })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "sent again once");
    assert_eq!(renewal.reads.load(Ordering::SeqCst), 1);
    assert!(delivery.breaker_reason().is_some());
}
