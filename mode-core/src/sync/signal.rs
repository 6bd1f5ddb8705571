//! [`Signal`] and [`SyncSignal`]: the observer pattern, as in Django signals and mode.
//!
//! Handlers are connected to a signal and all of them are called, in connection order,
//! each time the signal is sent. A handler receives the *sender* (who sends: a service, an
//! app) and the *arguments* of this send, both by reference.
//!
//! - [`Signal`] has async handlers and `send(..).await`s each in turn.
//! - [`SyncSignal`] has plain-function handlers and a plain `send`.
//!
//! [`connect`](Signal::connect) returns a [`HandlerId`] that
//! [`disconnect`](Signal::disconnect) takes: disconnecting removes exactly that handler. A
//! handler is kept until it is disconnected, unless it was connected *weakly*.
//!
//! # Receivers bound to a sender
//!
//! mode's `connect(fn, sender=x)` becomes [`connect_for`](Signal::connect_for): the handler
//! is called only for sends whose sender equals `x` (`==`). Handlers connected with
//! [`connect`](Signal::connect) on a signal without a default sender are called for every
//! sender, as in mode.
//!
//! # Weak receivers
//!
//! mode's `connect(obj.method, weak=True)` becomes
//! [`connect_weak(&receiver, handler)`](Signal::connect_weak): the signal keeps only a weak
//! reference to the `Arc`'d receiver and passes the receiver to the handler on each send.
//! Once every `Arc` of the receiver is dropped the handler is no longer called, and it is
//! removed from the signal (by the next send, or [`len`](Signal::len), that notices).
//!
//! # Failures
//!
//! A handler fails by returning `Err`; with the `std` feature, a handler that panics fails
//! too (the panic is caught). **A failing handler does not stop the send:** every other
//! handler is still called, and `send` then returns [`SendError`] listing each failure
//! with the [`HandlerId`] and label of the handler that failed. (mode lets the first
//! exception escape and skips the remaining handlers.)
//!
//! # Default sender
//!
//! [`with_default_sender`](Signal::with_default_sender) returns a clone that shares the
//! handlers and is *bound* to a sender, as mode's `with_default_sender` is: it
//! [`send_default`](Signal::send_default)s with that sender, so that an owner can hand out
//! a signal that others send without knowing the sender, and every handler connected
//! through it (`connect`, `connect_labeled`, `connect_weak`) is bound to that sender, as if
//! by [`connect_for`](Signal::connect_for).
//!
//! # Cost
//!
//! Connecting and disconnecting copy the handler list (copy on write). Sending takes one
//! reference count on the current list, so handlers may connect, disconnect or send from
//! inside a handler, and a send is not affected by changes made while it runs. Each async
//! handler returns a boxed future: one allocation per handler per send, which is the
//! unavoidable cost of storing different handlers in one list. Nothing else is allocated
//! unless a handler fails.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::mem;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::BoxError;
use crate::platform::plain::{Arc as AllocArc, Weak as AllocWeak};
use crate::platform::sync::{Arc, Mutex};

/// What an async handler returns: a boxed future borrowing the sender and arguments.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'a>>;

/// An async handler as stored in a [`Signal`].
type AsyncHandler<S, A> = dyn for<'a> Fn(&'a S, &'a A) -> HandlerFuture<'a> + Send + Sync;

/// A plain handler as stored in a [`SyncSignal`].
type SyncHandler<S, A> = dyn Fn(&S, &A) -> Result<(), BoxError> + Send + Sync;

/// Identifies a connected handler; [`disconnect`](Signal::disconnect) takes it.
///
/// Ids are unique within the handlers of one signal (and its
/// [`with_default_sender`](Signal::with_default_sender) clones) and are never reused.
/// Displayed as `#n`, the default label of a handler.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HandlerId(u64);

impl fmt::Display for HandlerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A sender that handlers are bound to, with the equality that recognises it.
struct Bound<S> {
    sender: AllocArc<S>,
    eq: fn(&S, &S) -> bool,
}

impl<S: PartialEq> Bound<S> {
    fn new(sender: S) -> Self {
        Bound {
            sender: AllocArc::new(sender),
            eq: <S as PartialEq>::eq,
        }
    }
}

impl<S> Clone for Bound<S> {
    fn clone(&self) -> Self {
        Bound {
            sender: self.sender.clone(),
            eq: self.eq,
        }
    }
}

/// Whether a weak receiver is still alive.
type Alive = dyn Fn() -> bool + Send + Sync;

/// What a connect hands to the registry.
struct Connection<S, H: ?Sized> {
    label: Option<Cow<'static, str>>,
    sender: Option<Bound<S>>,
    alive: Option<Box<Alive>>,
    handler: Box<H>,
}

/// One connected handler.
struct Entry<S, H: ?Sized> {
    id: HandlerId,
    label: Option<Cow<'static, str>>,
    /// `Some`: called only for sends from this sender.
    sender: Option<Bound<S>>,
    /// `Some`: a weak receiver, called only while this says it is alive.
    alive: Option<Box<Alive>>,
    handler: Box<H>,
}

impl<S, H: ?Sized> Entry<S, H> {
    /// Whether a send from `sender` calls this handler.
    fn wants(&self, sender: &S) -> bool {
        self.sender
            .as_ref()
            .is_none_or(|bound| (bound.eq)(&bound.sender, sender))
    }

    fn is_alive(&self) -> bool {
        self.alive.as_ref().is_none_or(|alive| alive())
    }
}

/// The handler list as one send sees it.
type Snapshot<S, H> = Arc<Vec<Arc<Entry<S, H>>>>;

struct Handlers<S, H: ?Sized> {
    /// Copied on write; a send clones the `Arc` and walks its snapshot.
    list: Snapshot<S, H>,
    next_id: u64,
}

/// The handler list shared by a signal and its clones.
struct Registry<S, H: ?Sized> {
    handlers: Mutex<Handlers<S, H>>,
}

impl<S, H: ?Sized> Registry<S, H> {
    fn new() -> Self {
        Registry {
            handlers: Mutex::new(Handlers {
                list: Arc::new(Vec::new()),
                next_id: 1,
            }),
        }
    }

    fn connect(&self, connection: Connection<S, H>) -> HandlerId {
        let mut connection = Some(connection);
        let (id, old) = self.handlers.with(|handlers| {
            let id = HandlerId(handlers.next_id);
            handlers.next_id += 1;
            let Some(Connection {
                label,
                sender,
                alive,
                handler,
            }) = connection.take()
            else {
                unreachable!("moved into the lock once")
            };
            let entry = Arc::new(Entry {
                id,
                label,
                sender,
                alive,
                handler,
            });
            let mut list = Vec::with_capacity(handlers.list.len() + 1);
            list.extend(handlers.list.iter().cloned());
            list.push(entry);
            (id, mem::replace(&mut handlers.list, Arc::new(list)))
        });
        drop(old);
        id
    }

    /// Removes the entries `remove` selects; whether any was removed.
    fn remove(&self, remove: impl Fn(&Entry<S, H>) -> bool) -> bool {
        // The removed handlers (user code, in their `Drop`) are dropped after unlocking.
        let old = self.handlers.with(|handlers| {
            if !handlers.list.iter().any(|entry| remove(entry)) {
                return None;
            }
            let list = handlers
                .list
                .iter()
                .filter(|entry| !remove(entry))
                .cloned()
                .collect();
            Some(mem::replace(&mut handlers.list, Arc::new(list)))
        });
        old.is_some()
    }

    fn disconnect(&self, id: HandlerId) -> bool {
        self.remove(|entry| entry.id == id)
    }

    /// Removes the handlers of dropped weak receivers.
    fn prune(&self) {
        self.remove(|entry| !entry.is_alive());
    }

    fn snapshot(&self) -> Snapshot<S, H> {
        self.handlers.with(|handlers| handlers.list.clone())
    }

    fn len(&self) -> usize {
        self.prune();
        self.handlers.with(|handlers| handlers.list.len())
    }
}

/// Makes a closure's signature higher-ranked over the borrow of the sender and arguments.
fn async_handler<S, A, F>(handler: F) -> F
where
    F: for<'a> Fn(&'a S, &'a A) -> HandlerFuture<'a>,
{
    handler
}

/// The liveness check of a weak receiver.
fn alive<T: Send + Sync + 'static>(receiver: &AllocWeak<T>) -> Box<Alive> {
    let receiver = receiver.clone();
    Box::new(move || receiver.strong_count() > 0)
}

/// A handler that failed during a send.
pub struct HandlerFailure {
    id: HandlerId,
    label: Option<Cow<'static, str>>,
    error: BoxError,
}

impl HandlerFailure {
    fn new<S, H: ?Sized>(entry: &Entry<S, H>, error: BoxError) -> Self {
        HandlerFailure {
            id: entry.id,
            label: entry.label.clone(),
            error,
        }
    }

    /// The id [`connect`](Signal::connect) returned for the handler.
    #[must_use]
    pub fn id(&self) -> HandlerId {
        self.id
    }

    /// The label given at connection, if any.
    #[must_use]
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// What the handler returned (or, with `std`, the message of its panic).
    #[must_use]
    pub fn error(&self) -> &(dyn core::error::Error + Send + Sync + 'static) {
        &*self.error
    }

    /// The handler's error, by value.
    #[must_use]
    pub fn into_error(self) -> BoxError {
        self.error
    }
}

impl fmt::Display for HandlerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.label {
            Some(label) => write!(f, "handler `{label}` ({}) failed: {}", self.id, self.error),
            None => write!(f, "handler {} failed: {}", self.id, self.error),
        }
    }
}

impl fmt::Debug for HandlerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerFailure")
            .field("id", &self.id)
            .field("label", &self.label)
            .field("error", &self.error)
            .finish()
    }
}

/// Why a send failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// One or more handlers failed; every handler was still called. The failures are in
    /// connection order.
    HandlersFailed(Vec<HandlerFailure>),
    /// [`send_default`](Signal::send_default) was called on a signal without a default
    /// sender; no handler was called.
    NoDefaultSender,
}

impl SendError {
    /// The handlers that failed, in connection order (empty for
    /// [`NoDefaultSender`](SendError::NoDefaultSender)).
    #[must_use]
    pub fn failures(&self) -> &[HandlerFailure] {
        match self {
            SendError::HandlersFailed(failures) => failures,
            SendError::NoDefaultSender => &[],
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::HandlersFailed(failures) => {
                let n = failures.len();
                write!(
                    f,
                    "{n} signal handler{} failed",
                    if n == 1 { "" } else { "s" }
                )?;
                for (i, failure) in failures.iter().enumerate() {
                    f.write_str(if i == 0 { ": " } else { "; " })?;
                    fmt::Display::fmt(failure, f)?;
                }
                Ok(())
            }
            SendError::NoDefaultSender => {
                f.write_str("the signal has no default sender (see `with_default_sender`)")
            }
        }
    }
}

impl core::error::Error for SendError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            SendError::HandlersFailed(failures) if failures.len() == 1 => Some(&*failures[0].error),
            _ => None,
        }
    }
}

/// Runs user code, turning a panic into an error with the `std` feature.
#[cfg(feature = "std")]
fn guarded<R>(f: impl FnOnce() -> Result<R, BoxError>) -> Result<R, BoxError> {
    use core::panic::AssertUnwindSafe;
    use std::panic::catch_unwind;

    // AssertUnwindSafe: after a panic the signal drops the handler's future and keeps
    // nothing of it; the handler's own state is the handler's business, as with any
    // panic a caller recovers from.
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| alloc::string::String::from(*s))
            .or_else(|| payload.downcast_ref::<alloc::string::String>().cloned())
            .unwrap_or_else(|| "a non-string panic payload".into());
        Err(Box::new(HandlerPanicked(message)))
    })
}

#[cfg(not(feature = "std"))]
fn guarded<R>(f: impl FnOnce() -> Result<R, BoxError>) -> Result<R, BoxError> {
    f()
}

/// A handler panicked (with `std`, where panics are caught).
#[cfg(feature = "std")]
#[derive(Debug)]
struct HandlerPanicked(alloc::string::String);

#[cfg(feature = "std")]
impl fmt::Display for HandlerPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.0)
    }
}

#[cfg(feature = "std")]
impl core::error::Error for HandlerPanicked {}

// ===== impl Signal =====

/// An async signal: handlers are async and `send` awaits each one in connection order.
///
/// `S` is the sender type, `A` the arguments; handlers borrow both. Clones share the
/// handlers.
///
/// **Failure policy:** a handler that returns `Err` (or, with `std`, panics) does not stop
/// the send. Every handler is called, and `send` then returns
/// [`SendError::HandlersFailed`] listing each failure with the handler's id and label.
/// See the [module documentation](self) for the rest of the rules.
///
/// ```
/// # futures_lite::future::block_on(async {
/// use std::sync::{Arc, Mutex};
/// use mode::sync::{SendError, Signal};
///
/// let signal: Signal<&str, u32> = Signal::new();
/// let seen = Arc::new(Mutex::new(Vec::new()));
///
/// let log = seen.clone();
/// signal.connect(move |sender, value| {
///     let log = log.clone();
///     Box::pin(async move {
///         log.lock().unwrap().push(format!("{sender}: {value}"));
///         Ok(())
///     })
/// });
/// let failing = signal.connect_labeled("validate", |_, value| {
///     let value = *value;
///     Box::pin(async move {
///         if value > 10 { Err("too large".into()) } else { Ok(()) }
///     })
/// });
///
/// signal.send(&"app", &3).await.unwrap();
/// let Err(SendError::HandlersFailed(failures)) = signal.send(&"app", &42).await else {
///     panic!("the second handler must fail");
/// };
/// assert_eq!(failures[0].id(), failing);
/// assert_eq!(failures[0].to_string(), format!("handler `validate` ({failing}) failed: too large"));
/// // The failing handler did not stop the others:
/// assert_eq!(*seen.lock().unwrap(), ["app: 3", "app: 42"]);
/// # });
/// ```
pub struct Signal<S, A> {
    registry: Arc<Registry<S, AsyncHandler<S, A>>>,
    default_sender: Option<Bound<S>>,
}

impl<S, A> Signal<S, A> {
    /// Creates a signal with no handlers and no default sender.
    ///
    /// Not `const`: the handler list is shared with clones, so it lives on the heap.
    #[must_use]
    pub fn new() -> Self {
        Signal {
            registry: Arc::new(Registry::new()),
            default_sender: None,
        }
    }

    /// Connects `handler`, labelled by its id in failure reports, and returns its id.
    ///
    /// The handler is called for every send, or, on a signal made by
    /// [`with_default_sender`](Self::with_default_sender), only for sends from that
    /// sender.
    ///
    /// The handler returns a boxed future that may borrow the sender and the arguments;
    /// clone what it needs from its own captures into the future.
    ///
    /// ```
    /// use mode::sync::Signal;
    ///
    /// let signal = Signal::<(), ()>::new();
    /// let id = signal.connect(|_, _| Box::pin(async { Ok(()) }));
    /// assert_eq!(signal.len(), 1);
    /// assert!(signal.disconnect(id));
    /// ```
    pub fn connect<F>(&self, handler: F) -> HandlerId
    where
        F: for<'a> Fn(&'a S, &'a A) -> HandlerFuture<'a> + Send + Sync + 'static,
    {
        self.connect_with(None, self.default_sender.clone(), None, Box::new(handler))
    }

    /// Connects `handler` with a label that names it in failure reports.
    ///
    /// ```
    /// use mode::sync::Signal;
    ///
    /// let signal = Signal::<(), ()>::new();
    /// signal.connect_labeled("on_ready", |_, _| Box::pin(async { Ok(()) }));
    /// assert_eq!(signal.len(), 1);
    /// ```
    pub fn connect_labeled<F>(&self, label: impl Into<Cow<'static, str>>, handler: F) -> HandlerId
    where
        F: for<'a> Fn(&'a S, &'a A) -> HandlerFuture<'a> + Send + Sync + 'static,
    {
        self.connect_with(
            Some(label.into()),
            self.default_sender.clone(),
            None,
            Box::new(handler),
        )
    }

    /// Connects `handler` for sends from `sender` only (mode's `connect(fn, sender=x)`):
    /// a send calls it when its sender `== sender`. Returns its id, for
    /// [`disconnect`](Self::disconnect).
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use std::sync::{Arc, Mutex};
    /// use mode::sync::Signal;
    ///
    /// let on_started: Signal<&str, ()> = Signal::new();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// on_started.connect_for("db", move |sender, _| {
    ///     log.lock().unwrap().push(sender.to_string());
    ///     Box::pin(async { Ok(()) })
    /// });
    ///
    /// on_started.send(&"web", &()).await.unwrap(); // not for this handler
    /// on_started.send(&"db", &()).await.unwrap();
    /// assert_eq!(*seen.lock().unwrap(), ["db"]);
    /// # });
    /// ```
    pub fn connect_for<F>(&self, sender: S, handler: F) -> HandlerId
    where
        S: PartialEq,
        F: for<'a> Fn(&'a S, &'a A) -> HandlerFuture<'a> + Send + Sync + 'static,
    {
        self.connect_with(None, Some(Bound::new(sender)), None, Box::new(handler))
    }

    /// Connects `handler` to a receiver held weakly (mode's `connect(fn, weak=True)`):
    /// each send passes the receiver to the handler, and once every `Arc` of `receiver`
    /// is dropped the handler is no longer called (and is removed). Returns its id, for
    /// [`disconnect`](Self::disconnect).
    ///
    /// The signal keeps a `Weak` of the receiver and holds an `Arc` only while the
    /// handler's future runs.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use mode::sync::Signal;
    ///
    /// struct Stats { messages: AtomicU32 }
    ///
    /// let on_message: Signal<(), u32> = Signal::new();
    /// let stats = Arc::new(Stats { messages: AtomicU32::new(0) });
    /// on_message.connect_weak(&stats, |stats, _sender, n| {
    ///     stats.messages.fetch_add(*n, Ordering::SeqCst);
    ///     Box::pin(async { Ok(()) })
    /// });
    ///
    /// on_message.send(&(), &2).await.unwrap();
    /// assert_eq!(stats.messages.load(Ordering::SeqCst), 2);
    /// drop(stats); // the signal did not keep it alive
    /// on_message.send(&(), &2).await.unwrap();
    /// assert!(on_message.is_empty());
    /// # });
    /// ```
    pub fn connect_weak<T, F>(&self, receiver: &AllocArc<T>, handler: F) -> HandlerId
    where
        S: Sync,
        A: Sync,
        T: Send + Sync + 'static,
        F: for<'a> Fn(&'a T, &'a S, &'a A) -> HandlerFuture<'a> + Send + Sync + 'static,
    {
        let weak = AllocArc::downgrade(receiver);
        let liveness = alive(&weak);
        let handler = AllocArc::new(handler);
        let call = async_handler(move |sender: &S, args: &A| -> HandlerFuture<'_> {
            let Some(receiver) = weak.upgrade() else {
                return Box::pin(async { Ok(()) });
            };
            let handler = handler.clone();
            Box::pin(async move { handler(&receiver, sender, args).await })
        });
        self.connect_with(
            None,
            self.default_sender.clone(),
            Some(liveness),
            Box::new(call),
        )
    }

    fn connect_with(
        &self,
        label: Option<Cow<'static, str>>,
        sender: Option<Bound<S>>,
        alive: Option<Box<Alive>>,
        handler: Box<AsyncHandler<S, A>>,
    ) -> HandlerId {
        self.registry.connect(Connection {
            label,
            sender,
            alive,
            handler,
        })
    }

    /// Disconnects exactly the handler `id` names (other handlers, even for the same
    /// sender or receiver, stay). Returns `false` if it was not connected. A send already
    /// under way still calls it.
    ///
    /// ```
    /// use mode::sync::Signal;
    ///
    /// let signal = Signal::<u8, ()>::new();
    /// let one = signal.connect_for(1, |_, _| Box::pin(async { Ok(()) }));
    /// let two = signal.connect_for(2, |_, _| Box::pin(async { Ok(()) }));
    /// assert!(signal.disconnect(one));
    /// assert!(!signal.disconnect(one));
    /// assert_eq!(signal.len(), 1);
    /// # let _ = two;
    /// ```
    pub fn disconnect(&self, id: HandlerId) -> bool {
        self.registry.disconnect(id)
    }

    /// The number of connected handlers (handlers of dropped weak receivers are removed
    /// first).
    #[must_use]
    pub fn len(&self) -> usize {
        self.registry.len()
    }

    /// Whether no handler is connected.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sender [`send_default`](Self::send_default) uses, and that handlers connected
    /// through this signal are bound to.
    #[must_use]
    pub fn default_sender(&self) -> Option<&S> {
        self.default_sender.as_ref().map(|bound| &*bound.sender)
    }

    /// A clone of this signal, sharing its handlers, bound to `sender` (mode's
    /// `with_default_sender`): [`send_default`](Self::send_default) sends from `sender`,
    /// and handlers connected through the clone are called only for sends from `sender`.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use mode::sync::{SendError, Signal};
    ///
    /// let signal = Signal::<u32, ()>::new();
    /// let total = Arc::new(AtomicU32::new(0));
    /// let sum = total.clone();
    /// signal.connect(move |sender, _| {
    ///     sum.fetch_add(*sender, Ordering::SeqCst);
    ///     Box::pin(async { Ok(()) })
    /// });
    ///
    /// assert!(matches!(signal.send_default(&()).await, Err(SendError::NoDefaultSender)));
    /// let from_seven = signal.with_default_sender(7);
    /// from_seven.send_default(&()).await.unwrap();
    /// assert_eq!(total.load(Ordering::SeqCst), 7);
    ///
    /// // A handler connected through the bound clone hears only sender 7.
    /// let sevens = Arc::new(AtomicU32::new(0));
    /// let count = sevens.clone();
    /// from_seven.connect(move |_, _| {
    ///     count.fetch_add(1, Ordering::SeqCst);
    ///     Box::pin(async { Ok(()) })
    /// });
    /// signal.send(&3, &()).await.unwrap();
    /// signal.send(&7, &()).await.unwrap();
    /// assert_eq!(sevens.load(Ordering::SeqCst), 1);
    /// # });
    /// ```
    #[must_use]
    pub fn with_default_sender(&self, sender: S) -> Self
    where
        S: PartialEq,
    {
        Signal {
            registry: self.registry.clone(),
            default_sender: Some(Bound::new(sender)),
        }
    }

    /// Calls every handler for `sender` with `sender` and `args`, awaiting each in
    /// connection order: the handlers connected for any sender and those bound to
    /// `sender`.
    ///
    /// Returns [`SendError::HandlersFailed`] if any handler failed; all handlers are
    /// called regardless. Handlers connected or disconnected while the send runs do not
    /// change the handlers it calls.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future drops the running handler's future and skips
    /// the handlers after it; handlers already called are not undone.
    pub fn send<'a>(&'a self, sender: &'a S, args: &'a A) -> SendFuture<'a, S, A> {
        self.send_from(Some(sender), args)
    }

    /// Like [`send`](Self::send), with the [default sender](Self::with_default_sender).
    /// Fails with [`SendError::NoDefaultSender`], calling no handler, if there is none.
    ///
    /// # Cancel safety
    ///
    /// As for [`send`](Self::send).
    pub fn send_default<'a>(&'a self, args: &'a A) -> SendFuture<'a, S, A> {
        self.send_from(self.default_sender(), args)
    }

    fn send_from<'a>(&'a self, sender: Option<&'a S>, args: &'a A) -> SendFuture<'a, S, A> {
        SendFuture {
            sender,
            args,
            registry: &self.registry,
            handlers: self.registry.snapshot(),
            next: 0,
            running: None,
            failures: Vec::new(),
            dead: false,
        }
    }
}

impl<S, A> Default for Signal<S, A> {
    fn default() -> Self {
        Signal::new()
    }
}

impl<S, A> Clone for Signal<S, A> {
    /// A signal sharing the handlers, with the same default sender.
    fn clone(&self) -> Self {
        Signal {
            registry: self.registry.clone(),
            default_sender: self.default_sender.clone(),
        }
    }
}

impl<S: fmt::Debug, A> fmt::Debug for Signal<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("handlers", &self.len())
            .field("default_sender", &self.default_sender())
            .finish()
    }
}

/// The future returned by [`Signal::send`] and [`Signal::send_default`].
///
/// # Cancel safety
///
/// Not cancel safe: dropping the future drops the running handler's future and skips
/// the handlers after it; handlers already called are not undone.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct SendFuture<'a, S, A> {
    /// `None`: no default sender.
    sender: Option<&'a S>,
    args: &'a A,
    registry: &'a Registry<S, AsyncHandler<S, A>>,
    handlers: Snapshot<S, AsyncHandler<S, A>>,
    /// The next handler to call.
    next: usize,
    /// The index and future of the handler being awaited.
    running: Option<(usize, HandlerFuture<'a>)>,
    failures: Vec<HandlerFailure>,
    /// Whether a dropped weak receiver was seen (removed when the send ends).
    dead: bool,
}

impl<S, A> Future for SendFuture<'_, S, A> {
    type Output = Result<(), SendError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(sender) = this.sender else {
            return Poll::Ready(Err(SendError::NoDefaultSender));
        };
        loop {
            if let Some((index, future)) = this.running.as_mut() {
                let outcome = match guarded(|| Ok(future.as_mut().poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(result)) => result,
                    Err(panic) => Err(panic),
                };
                let index = *index;
                this.running = None;
                if let Err(error) = outcome {
                    this.failures
                        .push(HandlerFailure::new(&this.handlers[index], error));
                }
            }
            let Some(entry) = this.handlers.get(this.next) else {
                if mem::take(&mut this.dead) {
                    this.registry.prune();
                }
                return Poll::Ready(if this.failures.is_empty() {
                    Ok(())
                } else {
                    Err(SendError::HandlersFailed(mem::take(&mut this.failures)))
                });
            };
            let index = this.next;
            this.next += 1;
            if !entry.wants(sender) {
                continue;
            }
            if !entry.is_alive() {
                this.dead = true;
                continue;
            }
            let args = this.args;
            match guarded(|| Ok((entry.handler)(sender, args))) {
                Ok(future) => this.running = Some((index, future)),
                Err(panic) => this.failures.push(HandlerFailure::new(entry, panic)),
            }
        }
    }
}

impl<S, A> fmt::Debug for SendFuture<'_, S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("handlers", &self.handlers.len())
            .field("next", &self.next)
            .field("failures", &self.failures.len())
            .finish_non_exhaustive()
    }
}

// ===== impl SyncSignal =====

/// A signal whose handlers are plain functions and whose `send` is a plain call (mode's
/// `SyncSignal`).
///
/// Same connection, sender-binding, weak-receiver, default-sender and failure rules as
/// [`Signal`]: every handler is called even when some fail, and `send` lists the
/// failures.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use mode::sync::SyncSignal;
///
/// let on_configured: SyncSignal<&str, usize> = SyncSignal::new();
/// let calls = Arc::new(AtomicUsize::new(0));
/// let counter = calls.clone();
/// on_configured.connect(move |_sender, n| {
///     counter.fetch_add(*n, Ordering::SeqCst);
///     Ok(())
/// });
/// on_configured.connect_labeled("strict", |_, n| {
///     if *n == 0 { Err("nothing configured".into()) } else { Ok(()) }
/// });
///
/// on_configured.send(&"app", &2).unwrap();
/// let error = on_configured.send(&"app", &0).unwrap_err();
/// assert_eq!(error.failures()[0].label(), Some("strict"));
/// assert_eq!(calls.load(Ordering::SeqCst), 2);
/// ```
pub struct SyncSignal<S, A> {
    registry: Arc<Registry<S, SyncHandler<S, A>>>,
    default_sender: Option<Bound<S>>,
}

impl<S, A> SyncSignal<S, A> {
    /// Creates a signal with no handlers and no default sender.
    #[must_use]
    pub fn new() -> Self {
        SyncSignal {
            registry: Arc::new(Registry::new()),
            default_sender: None,
        }
    }

    /// Connects `handler`, labelled by its id in failure reports, and returns its id.
    ///
    /// The handler is called for every send, or, on a signal made by
    /// [`with_default_sender`](Self::with_default_sender), only for sends from that
    /// sender.
    pub fn connect<F>(&self, handler: F) -> HandlerId
    where
        F: Fn(&S, &A) -> Result<(), BoxError> + Send + Sync + 'static,
    {
        self.connect_with(None, self.default_sender.clone(), None, Box::new(handler))
    }

    /// Connects `handler` with a label that names it in failure reports.
    pub fn connect_labeled<F>(&self, label: impl Into<Cow<'static, str>>, handler: F) -> HandlerId
    where
        F: Fn(&S, &A) -> Result<(), BoxError> + Send + Sync + 'static,
    {
        self.connect_with(
            Some(label.into()),
            self.default_sender.clone(),
            None,
            Box::new(handler),
        )
    }

    /// Connects `handler` for sends from `sender` only (mode's `connect(fn, sender=x)`).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use mode::sync::SyncSignal;
    ///
    /// let on_error: SyncSignal<String, ()> = SyncSignal::new();
    /// let calls = Arc::new(AtomicUsize::new(0));
    /// let counter = calls.clone();
    /// on_error.connect_for("Consumer".to_string(), move |_, _| {
    ///     counter.fetch_add(1, Ordering::SeqCst);
    ///     Ok(())
    /// });
    /// on_error.send(&"Producer".to_string(), &()).unwrap();
    /// on_error.send(&"Consumer".to_string(), &()).unwrap();
    /// assert_eq!(calls.load(Ordering::SeqCst), 1);
    /// ```
    pub fn connect_for<F>(&self, sender: S, handler: F) -> HandlerId
    where
        S: PartialEq,
        F: Fn(&S, &A) -> Result<(), BoxError> + Send + Sync + 'static,
    {
        self.connect_with(None, Some(Bound::new(sender)), None, Box::new(handler))
    }

    /// Connects `handler` to a receiver held weakly (mode's `connect(fn, weak=True)`):
    /// once every `Arc` of `receiver` is dropped the handler is no longer called (and is
    /// removed).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use mode::sync::SyncSignal;
    ///
    /// struct Cache { keys: Mutex<Vec<String>> }
    ///
    /// let invalidated: SyncSignal<(), String> = SyncSignal::new();
    /// let cache = Arc::new(Cache { keys: Mutex::new(vec!["a".into(), "b".into()]) });
    /// invalidated.connect_weak(&cache, |cache, _sender, key| {
    ///     cache.keys.lock().unwrap().retain(|k| k != key);
    ///     Ok(())
    /// });
    /// invalidated.send(&(), &"a".to_string()).unwrap();
    /// assert_eq!(*cache.keys.lock().unwrap(), ["b"]);
    /// drop(cache);
    /// assert!(invalidated.is_empty());
    /// ```
    pub fn connect_weak<T, F>(&self, receiver: &AllocArc<T>, handler: F) -> HandlerId
    where
        T: Send + Sync + 'static,
        F: Fn(&T, &S, &A) -> Result<(), BoxError> + Send + Sync + 'static,
    {
        let weak = AllocArc::downgrade(receiver);
        let liveness = alive(&weak);
        let call = move |sender: &S, args: &A| match weak.upgrade() {
            Some(receiver) => handler(&receiver, sender, args),
            None => Ok(()),
        };
        self.connect_with(
            None,
            self.default_sender.clone(),
            Some(liveness),
            Box::new(call),
        )
    }

    fn connect_with(
        &self,
        label: Option<Cow<'static, str>>,
        sender: Option<Bound<S>>,
        alive: Option<Box<Alive>>,
        handler: Box<SyncHandler<S, A>>,
    ) -> HandlerId {
        self.registry.connect(Connection {
            label,
            sender,
            alive,
            handler,
        })
    }

    /// Disconnects exactly the handler `id` names. Returns `false` if it was not
    /// connected.
    ///
    /// ```
    /// use mode::sync::SyncSignal;
    ///
    /// let signal = SyncSignal::<(), ()>::new();
    /// let id = signal.connect(|_, _| Ok(()));
    /// assert!(signal.disconnect(id));
    /// assert!(!signal.disconnect(id));
    /// assert!(signal.is_empty());
    /// ```
    pub fn disconnect(&self, id: HandlerId) -> bool {
        self.registry.disconnect(id)
    }

    /// The number of connected handlers (handlers of dropped weak receivers are removed
    /// first).
    #[must_use]
    pub fn len(&self) -> usize {
        self.registry.len()
    }

    /// Whether no handler is connected.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sender [`send_default`](Self::send_default) uses, and that handlers connected
    /// through this signal are bound to.
    #[must_use]
    pub fn default_sender(&self) -> Option<&S> {
        self.default_sender.as_ref().map(|bound| &*bound.sender)
    }

    /// A clone of this signal, sharing its handlers, bound to `sender`: `send_default`
    /// sends from it, and handlers connected through the clone hear only its sends.
    ///
    /// ```
    /// use mode::sync::SyncSignal;
    ///
    /// let signal = SyncSignal::<&str, ()>::new();
    /// signal.connect(|sender, _| if *sender == "worker" { Ok(()) } else { Err("who?".into()) });
    /// assert!(signal.send_default(&()).is_err());
    /// signal.with_default_sender("worker").send_default(&()).unwrap();
    /// ```
    #[must_use]
    pub fn with_default_sender(&self, sender: S) -> Self
    where
        S: PartialEq,
    {
        SyncSignal {
            registry: self.registry.clone(),
            default_sender: Some(Bound::new(sender)),
        }
    }

    /// Calls every handler for `sender` with `sender` and `args`, in connection order:
    /// the handlers connected for any sender and those bound to `sender`.
    ///
    /// Returns [`SendError::HandlersFailed`] if any handler failed; all handlers are
    /// called regardless.
    pub fn send(&self, sender: &S, args: &A) -> Result<(), SendError> {
        let handlers = self.registry.snapshot();
        let mut failures = Vec::new();
        let mut dead = false;
        for entry in handlers.iter().filter(|entry| entry.wants(sender)) {
            if !entry.is_alive() {
                dead = true;
                continue;
            }
            if let Err(error) = guarded(|| (entry.handler)(sender, args)) {
                failures.push(HandlerFailure::new(entry, error));
            }
        }
        drop(handlers);
        if dead {
            self.registry.prune();
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(SendError::HandlersFailed(failures))
        }
    }

    /// Like [`send`](Self::send), with the [default sender](Self::with_default_sender).
    /// Fails with [`SendError::NoDefaultSender`], calling no handler, if there is none.
    pub fn send_default(&self, args: &A) -> Result<(), SendError> {
        match self.default_sender() {
            Some(sender) => self.send(sender, args),
            None => Err(SendError::NoDefaultSender),
        }
    }
}

impl<S, A> Default for SyncSignal<S, A> {
    fn default() -> Self {
        SyncSignal::new()
    }
}

impl<S, A> Clone for SyncSignal<S, A> {
    /// A signal sharing the handlers, with the same default sender.
    fn clone(&self) -> Self {
        SyncSignal {
            registry: self.registry.clone(),
            default_sender: self.default_sender.clone(),
        }
    }
}

impl<S: fmt::Debug, A> fmt::Debug for SyncSignal<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSignal")
            .field("handlers", &self.len())
            .field("default_sender", &self.default_sender())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;

    use super::*;
    use crate::sync::tests_util::{count_wakes, poll_once};
    use alloc::string::{String, ToString};
    use alloc::sync::Arc as AllocArc;
    use core::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex as StdMutex;

    fn recorder(
        log: &AllocArc<StdMutex<Vec<String>>>,
        name: &'static str,
    ) -> impl for<'a> Fn(&'a &'static str, &'a u32) -> HandlerFuture<'a> + Send + Sync + 'static
    {
        let log = log.clone();
        move |sender, args| {
            let log = log.clone();
            Box::pin(async move {
                log.lock()
                    .unwrap()
                    .push(std::format!("{name}:{sender}:{args}"));
                Ok(())
            })
        }
    }

    #[test]
    fn handlers_run_in_connection_order() {
        let log = AllocArc::new(StdMutex::new(Vec::new()));
        let signal = Signal::new();
        for name in ["a", "b", "c"] {
            signal.connect(recorder(&log, name));
        }
        futures_lite::future::block_on(signal.send(&"s", &1)).unwrap();
        assert_eq!(*log.lock().unwrap(), ["a:s:1", "b:s:1", "c:s:1"]);
    }

    #[test]
    fn failures_are_reported_and_others_still_run() {
        let log = AllocArc::new(StdMutex::new(Vec::new()));
        let signal: Signal<&'static str, u32> = Signal::new();
        signal.connect(|_, _| Box::pin(async { Err("first".into()) }));
        signal.connect(recorder(&log, "b"));
        let labeled =
            signal.connect_labeled("third", |_, _| Box::pin(async { Err("third".into()) }));
        signal.connect(recorder(&log, "d"));
        let error = futures_lite::future::block_on(signal.send(&"s", &2)).unwrap_err();
        let failures = error.failures();
        assert_eq!(failures.len(), 2);
        assert_eq!(failures[0].id(), HandlerId(1));
        assert_eq!(failures[0].label(), None);
        assert_eq!(failures[1].id(), labeled);
        assert_eq!(failures[1].label(), Some("third"));
        assert_eq!(
            error.to_string(),
            "2 signal handlers failed: handler #1 failed: first; handler `third` (#3) failed: third"
        );
        assert_eq!(*log.lock().unwrap(), ["b:s:2", "d:s:2"]);
    }

    #[test]
    fn panicking_handler_is_a_failure() {
        let calls = AllocArc::new(AtomicUsize::new(0));
        let signal = Signal::<(), ()>::new();
        signal.connect_labeled("boom", |_, _| panic!("while creating"));
        signal.connect_labeled("late boom", |_, _| {
            Box::pin(async { panic!("while polling") })
        });
        let counter = calls.clone();
        signal.connect(move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        });
        let error = futures_lite::future::block_on(signal.send(&(), &())).unwrap_err();
        assert_eq!(error.failures().len(), 2);
        assert_eq!(
            error.failures()[0].error().to_string(),
            "panicked: while creating"
        );
        assert_eq!(
            error.failures()[1].error().to_string(),
            "panicked: while polling"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let sync = SyncSignal::<(), ()>::new();
        sync.connect(|_, _| panic!("sync"));
        let error = sync.send(&(), &()).unwrap_err();
        assert_eq!(error.failures()[0].error().to_string(), "panicked: sync");
    }

    #[test]
    fn send_awaits_pending_handlers_in_turn() {
        let gate = AllocArc::new(crate::sync::Event::new());
        let log = AllocArc::new(StdMutex::new(Vec::new()));
        let signal: Signal<&'static str, u32> = Signal::new();
        let waiting = gate.clone();
        signal.connect(move |_, _| {
            let gate = waiting.clone();
            Box::pin(async move {
                gate.wait().await;
                Ok(())
            })
        });
        signal.connect(recorder(&log, "after"));
        let (waker, wakes) = count_wakes();
        let mut send = signal.send(&"s", &0);
        assert!(poll_once(&mut send, &waker).is_pending());
        assert!(
            log.lock().unwrap().is_empty(),
            "the second handler waits for the first"
        );
        gate.set();
        assert_eq!(wakes(), 1);
        assert!(poll_once(&mut send, &waker).is_ready());
        assert_eq!(*log.lock().unwrap(), ["after:s:0"]);
    }

    #[test]
    fn disconnect_and_clones_share_handlers() {
        let log = AllocArc::new(StdMutex::new(Vec::new()));
        let signal: Signal<&'static str, u32> = Signal::new();
        let a = signal.connect(recorder(&log, "a"));
        let with_sender = signal.with_default_sender("owner");
        with_sender.connect(recorder(&log, "b"));
        assert_eq!(signal.len(), 2);
        assert!(signal.disconnect(a));
        assert!(!with_sender.disconnect(a));
        futures_lite::future::block_on(with_sender.send_default(&5)).unwrap();
        assert_eq!(*log.lock().unwrap(), ["b:owner:5"]);
        assert_eq!(with_sender.default_sender(), Some(&"owner"));
        assert_eq!(signal.default_sender(), None);
        let clone = with_sender.clone();
        assert_eq!(clone.default_sender(), Some(&"owner"));
    }

    #[test]
    fn handler_may_connect_during_send() {
        let signal: AllocArc<SyncSignal<(), ()>> = AllocArc::new(SyncSignal::new());
        let inner = AllocArc::downgrade(&signal);
        signal.connect(move |_, _| {
            if let Some(signal) = inner.upgrade() {
                signal.connect(|_, _| Ok(()));
            }
            Ok(())
        });
        signal.send(&(), &()).unwrap();
        assert_eq!(signal.len(), 2, "the new handler joins for the next send");
        signal.send(&(), &()).unwrap();
        assert_eq!(signal.len(), 3);
    }

    #[test]
    fn disconnected_handler_is_dropped() {
        let dropped = AllocArc::new(AtomicUsize::new(0));
        struct OnDrop(AllocArc<AtomicUsize>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let guard = OnDrop(dropped.clone());
        let signal = SyncSignal::<(), ()>::new();
        let id = signal.connect(move |_, _| {
            let _ = &guard;
            Ok(())
        });
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        signal.disconnect(id);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn many_handlers_each_called_once() {
        let handlers = if cfg!(miri) { 50 } else { 1000 };
        let calls = AllocArc::new(AtomicUsize::new(0));
        let signal = Signal::<(), usize>::new();
        for _ in 0..handlers {
            let calls = calls.clone();
            signal.connect(move |_, n| {
                calls.fetch_add(*n, Ordering::Relaxed);
                Box::pin(async { Ok(()) })
            });
        }
        futures_lite::future::block_on(signal.send(&(), &2)).unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 2 * handlers);
    }

    #[test]
    fn bound_handlers_hear_only_their_sender() {
        let log = AllocArc::new(StdMutex::new(Vec::new()));
        let signal: Signal<&'static str, u32> = Signal::new();
        signal.connect(recorder(&log, "any"));
        signal.connect_for("a", recorder(&log, "for-a"));
        let bound_b = signal.with_default_sender("b");
        bound_b.connect(recorder(&log, "via-b"));
        futures_lite::future::block_on(signal.send(&"a", &1)).unwrap();
        futures_lite::future::block_on(signal.send(&"b", &2)).unwrap();
        futures_lite::future::block_on(bound_b.send_default(&3)).unwrap();
        futures_lite::future::block_on(signal.send(&"c", &4)).unwrap();
        assert_eq!(
            *log.lock().unwrap(),
            [
                "any:a:1",
                "for-a:a:1",
                "any:b:2",
                "via-b:b:2",
                "any:b:3",
                "via-b:b:3",
                "any:c:4"
            ]
        );
    }

    #[test]
    fn disconnect_removes_exactly_one_bound_handler() {
        let calls = AllocArc::new(StdMutex::new(Vec::new()));
        let signal = SyncSignal::<u8, ()>::new();
        let ids: Vec<_> = [1u8, 2, 1]
            .into_iter()
            .map(|sender| {
                let calls = calls.clone();
                signal.connect_for(sender, move |s, _| {
                    calls.lock().unwrap().push(*s);
                    Ok(())
                })
            })
            .collect();
        assert!(signal.disconnect(ids[0]));
        signal.send(&1, &()).unwrap();
        signal.send(&2, &()).unwrap();
        assert_eq!(
            *calls.lock().unwrap(),
            [1, 2],
            "the second handler for 1 stays"
        );
        assert_eq!(signal.len(), 2);
    }

    #[test]
    fn weak_receivers_stop_when_dropped() {
        struct Receiver(AtomicUsize);
        let receiver = AllocArc::new(Receiver(AtomicUsize::new(0)));
        let sync = SyncSignal::<(), usize>::new();
        sync.connect_weak(&receiver, |r, _, n| {
            r.0.fetch_add(*n, Ordering::SeqCst);
            Ok(())
        });
        let signal = Signal::<(), usize>::new();
        signal.connect_weak(&receiver, |r, _, n| {
            let n = *n;
            Box::pin(async move {
                r.0.fetch_add(n * 10, Ordering::SeqCst);
                Ok(())
            })
        });
        assert_eq!(AllocArc::strong_count(&receiver), 1, "held weakly");
        sync.send(&(), &1).unwrap();
        futures_lite::future::block_on(signal.send(&(), &1)).unwrap();
        assert_eq!(receiver.0.load(Ordering::SeqCst), 11);

        let weak = AllocArc::downgrade(&receiver);
        drop(receiver);
        assert!(weak.upgrade().is_none());
        sync.send(&(), &1).unwrap();
        futures_lite::future::block_on(signal.send(&(), &1)).unwrap();
        // Pruned by the sends that found them dead.
        assert_eq!(sync.registry.handlers.with(|h| h.list.len()), 0);
        assert_eq!(signal.registry.handlers.with(|h| h.list.len()), 0);
    }

    #[test]
    fn weak_receiver_lives_while_its_future_runs() {
        let gate = AllocArc::new(crate::sync::Event::new());
        struct Receiver(AllocArc<crate::sync::Event>, AtomicUsize);
        let receiver = AllocArc::new(Receiver(gate.clone(), AtomicUsize::new(0)));
        let signal = Signal::<(), ()>::new();
        signal.connect_weak(&receiver, |r, _, _| {
            Box::pin(async move {
                r.0.wait().await;
                r.1.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        });
        let weak = AllocArc::downgrade(&receiver);
        let (waker, _) = count_wakes();
        let mut send = signal.send(&(), &());
        assert!(poll_once(&mut send, &waker).is_pending());
        drop(receiver);
        assert!(weak.upgrade().is_some(), "the running send holds it");
        gate.set();
        assert!(poll_once(&mut send, &waker).is_ready());
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn no_default_sender_calls_nobody() {
        let calls = AllocArc::new(AtomicUsize::new(0));
        let signal = SyncSignal::<u8, ()>::new();
        let counter = calls.clone();
        signal.connect(move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        assert!(matches!(
            signal.send_default(&()),
            Err(SendError::NoDefaultSender)
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(
            SendError::NoDefaultSender.to_string(),
            "the signal has no default sender (see `with_default_sender`)"
        );
    }
}
