//! Two statements in one round trip.
//!
//! tokio-postgres sends a query's request when its future is first polled and ends each
//! with a Sync, so PostgreSQL runs the next request only after the previous one's implicit
//! transaction has committed. Sending the second right behind the first saves the wait for
//! the first's answer without giving up that order.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

/// Runs `first` and `second` on one connection, `second`'s request sent right behind
/// `first`'s, so PostgreSQL runs `second` after `first` has committed.
///
/// `first` must send its request on its first poll: its statements prepared (cached)
/// already, nothing awaited before the query. Otherwise `second` could overtake it.
pub async fn one_behind_the_other<A, B>(
    first: impl Future<Output = A>,
    second: impl Future<Output = B>,
) -> (A, B) {
    let mut first = pin!(first);
    let early = std::future::poll_fn(|cx| Poll::Ready(first.as_mut().poll(cx))).await;
    match early {
        Poll::Ready(a) => (a, second.await),
        Poll::Pending => futures::future::join(first, second).await,
    }
}
