//! Every request's head within the head timeout, not only a connection's first.
//!
//! actix-http times the head of a connection's first request only (`client_request_timeout`);
//! once a keep-alive answer has gone out, a client that sends the next head a byte at a time
//! holds the connection for as long as it likes, and enough of them lock every other client out
//! under the connection cap. Here each accepted stream is wrapped in a `HeadTimed` that shares
//! a `Clock` with the requests read from it: the first byte read while no request is in flight
//! starts the head timeout, handing the application a request stops it, and a connection whose
//! time runs out is closed. A connection with no request in flight is also closed the
//! keep-alive after its last answer, whatever it holds: bytes of a next head that came in while
//! the last request was in flight (a pipelined head that then stalls) start no head timeout,
//! and actix drops its own keep-alive timer once bytes wait in its buffer. The clock is read
//! only when a head starts, when a request starts and ends, and when its timer fires, so a
//! request costs two reads of the clock and at most one timer reset.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_http::{HttpService, Protocol, Request};
use actix_server::ServerBuilder;
use actix_service::{IntoServiceFactory, ServiceFactory, ServiceFactoryExt as _, fn_service};
use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{AppConfig, Service as _, ServiceResponse};
use actix_web::rt::net::TcpStream;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::config::HttpLimits;

/// The address of the listener a connection came in on, in each request's connection data
/// (`HttpRequest::conn_data`). The server built here gives the application a default
/// `AppConfig`, whose addresses are not the listener's.
#[derive(Debug, Clone, Copy)]
pub struct Listener(pub SocketAddr);

/// What a connection's stream and the requests read from it share. Both live on the one
/// worker thread that owns the connection.
#[derive(Debug)]
struct Clock {
    head_timeout: Duration,
    keep_alive: Duration,
    /// Requests handed to the application whose answer has not been sent in full.
    in_flight: Cell<u32>,
    /// A byte has arrived since the last answer ended (or since the connection opened).
    head_started: Cell<bool>,
    /// While no request is in flight: when the connection is closed unless one arrives.
    deadline: Cell<Option<Instant>>,
}

impl Clock {
    fn new(head_timeout: Duration, keep_alive: Duration) -> Self {
        Self {
            head_timeout,
            keep_alive,
            in_flight: Cell::new(0),
            head_started: Cell::new(false),
            deadline: Cell::new(None),
        }
    }

    /// Bytes were read; the first while no request is in flight starts a head's timeout.
    fn bytes_arrived(&self) {
        if self.in_flight.get() == 0 && !self.head_started.get() {
            self.head_started.set(true);
            self.deadline.set(Some(Instant::now() + self.head_timeout));
        }
    }

    fn request_started(&self) {
        self.in_flight.set(self.in_flight.get() + 1);
    }

    /// An answer has been sent in full (or given up). With none left in flight, a connection
    /// is kept at most `keep_alive` for its next request: bytes of it that came in before
    /// the answer ended (a pipelined head that then stalls) started no timeout of their own.
    fn answer_ended(&self) {
        let left = self.in_flight.get().saturating_sub(1);
        self.in_flight.set(left);
        if left == 0 {
            self.head_started.set(false);
            self.deadline.set(Some(Instant::now() + self.keep_alive));
        }
    }

    /// When the connection is closed unless the application has a request by then; `None`
    /// while a request is in flight or before the connection's first byte.
    fn deadline(&self) -> Option<Instant> {
        if self.in_flight.get() == 0 {
            self.deadline.get()
        } else {
            None
        }
    }
}

/// An accepted stream whose reads fail with `TimedOut` once its [`Clock`] runs out, which
/// makes actix-http drop the connection.
struct HeadTimed {
    io: TcpStream,
    clock: Rc<Clock>,
    /// Fires no later than the clock's deadline. Moved later only when it fires, and earlier
    /// only when a head starts before it would fire.
    timer: Pin<Box<Sleep>>,
}

impl HeadTimed {
    fn new(io: TcpStream, limits: &HttpLimits) -> Self {
        let clock = Clock::new(limits.header_timeout, limits.keep_alive);
        let first_look = Instant::now() + clock.head_timeout;
        Self {
            io,
            clock: Rc::new(clock),
            timer: Box::pin(tokio::time::sleep_until(first_look)),
        }
    }

    /// Brings the timer forward to the clock's deadline when it would fire later.
    fn keep_timer_ahead(&mut self) {
        if let Some(deadline) = self.clock.deadline()
            && (self.timer.is_elapsed() || self.timer.deadline() > deadline)
        {
            self.timer.as_mut().reset(deadline);
        }
    }

    /// Called when the stream has nothing to read: waits on the timer, and fails the read once
    /// the deadline has passed. A timer that fires early (the deadline moved, or a request was
    /// in flight) is set again: while a request is in flight it looks again a head timeout
    /// later, so the keep-alive deadline set when the answer ends is never left unwatched.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            match self.clock.deadline() {
                Some(deadline) if deadline <= now => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request head in time",
                    )));
                }
                Some(deadline) => self.timer.as_mut().reset(deadline),
                None => self.timer.as_mut().reset(now + self.clock.head_timeout),
            }
        }
        Poll::Pending
    }
}

impl AsyncRead for HeadTimed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.clock.bytes_arrived();
                    this.keep_timer_ahead();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => this.poll_deadline(cx),
            failed @ Poll::Ready(Err(_)) => failed,
        }
    }
}

impl AsyncWrite for HeadTimed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A request in flight on its connection's clock, until dropped.
struct InFlight(Rc<Clock>);

impl InFlight {
    fn start(request: &Request) -> Option<Self> {
        let clock = request.conn_data::<Rc<Clock>>()?;
        clock.request_started();
        Some(Self(Rc::clone(clock)))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.answer_ended();
    }
}

pin_project_lite::pin_project! {
    /// An answer's body, holding its request in flight until the body has been sent (or the
    /// connection dropped it).
    struct Tracked<B> {
        #[pin]
        body: B,
        in_flight: Option<InFlight>,
    }
}

impl<B: MessageBody> MessageBody for Tracked<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.project().body.poll_next(cx)
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let Self { body, in_flight } = self;
        body.try_into_bytes()
            .map_err(|body| Self { body, in_flight })
    }
}

/// Adds `listener` to `server`: HTTP/1.1 over each accepted stream wrapped in a [`HeadTimed`],
/// answered by the application `app` makes, with `limits`' timeouts.
pub fn listen<F, I, S, B>(
    server: ServerBuilder,
    listener: std::net::TcpListener,
    limits: &HttpLimits,
    app: F,
) -> io::Result<ServerBuilder>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<
            Request,
            Config = AppConfig,
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let graceful = server.graceful_shutdown_signal();
    let limits = limits.clone();
    server.listen(format!("calltrack-{addr}"), listener, move || {
        let graceful = graceful.clone();
        let limits = limits.clone();
        let tracked =
            actix_service::apply_fn_factory(app(), |request: Request, app: &S::Service| {
                let in_flight = InFlight::start(&request);
                let answer = app.call(request);
                async move {
                    let answer = answer.await?;
                    Ok(answer.map_body(|_, body| Tracked { body, in_flight }))
                }
            });
        let http = HttpService::build()
            .keep_alive(limits.keep_alive)
            .client_request_timeout(limits.header_timeout)
            .client_disconnect_timeout(Duration::from_secs(1))
            .h1_allow_half_closed(true)
            .local_addr(addr)
            .graceful_shutdown_signal(move || {
                let graceful = graceful.clone();
                async move { graceful.notified().await }
            })
            .on_connect_ext(move |io: &HeadTimed, data| {
                data.insert(Rc::clone(&io.clock));
                data.insert(Listener(addr));
            })
            .finish(actix_service::map_config(tracked, |()| {
                AppConfig::default()
            }));
        fn_service(move |io: TcpStream| {
            let peer = io.peer_addr().ok();
            let timed = HeadTimed::new(io, &limits);
            async move { Ok((timed, Protocol::Http1, peer)) }
        })
        .and_then(http)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_head_begun_with_no_request_in_flight_is_timed() {
        let clock = Clock::new(Duration::from_secs(5), Duration::from_secs(75));
        assert_eq!(clock.deadline(), None, "nothing arrived yet");

        clock.bytes_arrived();
        let head = clock.deadline().unwrap();
        clock.bytes_arrived();
        assert_eq!(
            clock.deadline(),
            Some(head),
            "a later byte does not extend it"
        );

        clock.request_started();
        clock.bytes_arrived();
        assert_eq!(clock.deadline(), None, "a body is not a head");

        clock.answer_ended();
        let idle = clock.deadline().unwrap();
        assert!(
            idle >= head + Duration::from_secs(69),
            "kept alive for the next request"
        );
        clock.bytes_arrived();
        assert!(
            clock.deadline().unwrap() < idle,
            "the next head has the head timeout"
        );
    }

    #[test]
    fn a_pipelined_request_keeps_the_connection_busy_until_its_own_answer_ends() {
        let clock = Clock::new(Duration::from_secs(5), Duration::from_secs(75));
        clock.request_started();
        clock.request_started();
        clock.answer_ended();
        assert_eq!(clock.deadline(), None);
        clock.answer_ended();
        assert!(clock.deadline().is_some());
    }
}
