//! Compile-time checks of the auto traits of the public primitives and their futures.
//!
//! Positive assertions call `is_send_sync`; negative ones use an ambiguous-impl trick: a
//! type that is `Send` (or `Sync`) matches two impls, which does not compile. So a type
//! that silently gains or loses an auto trait breaks the build.
#![allow(dead_code)]

use std::cell::Cell;
use std::future::Ready;
use std::rc::Rc;

use mode_core::sync::{
    Acquire, Call, Cleared, Event, FlowControlEvent, FlowControlQueue, Get, GetError,
    HandlerFailure, HandlerId, Put, PutError, SendError, SendFuture, Signal, Stampede, SyncSignal,
    ThrowableGet, ThrowablePut, ThrowableQueue, TryGetError, TryPutError, Wait,
};
use mode_core::utils::{
    Arange, Aslice, Chunks, ParseSecondsError, Rate, RateLimit, RateUnit, Seconds,
};

fn is_send_sync<T: Send + Sync>() {}
fn is_send<T: Send>() {}
fn is_unpin<T: Unpin>() {}

trait AmbiguousIfSend<A> {
    fn some_item() {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}

trait AmbiguousIfSync<A> {
    fn some_item() {}
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
impl<T: ?Sized + Sync> AmbiguousIfSync<u8> for T {}

/// Fails to compile if `$ty` is `Send`.
macro_rules! assert_not_send {
    ($ty:ty) => {
        let _ = <$ty as AmbiguousIfSend<_>>::some_item;
    };
}

/// Fails to compile if `$ty` is `Sync`.
macro_rules! assert_not_sync {
    ($ty:ty) => {
        let _ = <$ty as AmbiguousIfSync<_>>::some_item;
    };
}

type ReadyU8 = fn() -> Ready<u8>;

#[test]
fn primitives_are_send_and_sync() {
    is_send_sync::<Event>();
    is_send_sync::<Wait<'static>>();
    is_send_sync::<FlowControlEvent>();
    is_send_sync::<Acquire<'static>>();
    is_send_sync::<Cleared<'static>>();
    is_send_sync::<FlowControlQueue<u8>>();
    is_send_sync::<Put<'static, u8>>();
    is_send_sync::<Get<'static, u8>>();
    is_send_sync::<ThrowableQueue<u8, String>>();
    is_send_sync::<ThrowablePut<'static, u8, String>>();
    is_send_sync::<ThrowableGet<'static, u8, String>>();
    is_send_sync::<Signal<u8, String>>();
    is_send_sync::<SyncSignal<u8, String>>();
    is_send::<SendFuture<'static, u8, String>>();
    is_send_sync::<Stampede<u8>>();
    is_send_sync::<Call<'static, u8, ReadyU8>>();
    is_send_sync::<RateLimit>();
    is_send_sync::<Seconds>();
    is_send_sync::<Rate>();
    is_send_sync::<RateUnit>();
    is_send_sync::<Arange<i32>>();
    is_send_sync::<Aslice<Arange<i32>>>();
    is_send_sync::<Chunks<Arange<i32>>>();
}

#[test]
fn errors_are_send_and_sync() {
    is_send_sync::<TryPutError<u8>>();
    is_send_sync::<PutError<u8>>();
    is_send_sync::<GetError>();
    is_send_sync::<TryGetError>();
    is_send_sync::<SendError>();
    is_send_sync::<HandlerFailure>();
    is_send_sync::<HandlerId>();
    is_send_sync::<ParseSecondsError>();
}

#[test]
fn futures_are_unpin() {
    is_unpin::<Wait<'static>>();
    is_unpin::<Acquire<'static>>();
    is_unpin::<Cleared<'static>>();
    is_unpin::<Put<'static, std::marker::PhantomPinned>>();
    is_unpin::<Get<'static, std::marker::PhantomPinned>>();
    is_unpin::<SendFuture<'static, u8, u8>>();
    is_unpin::<Call<'static, u8, ReadyU8>>();
}

#[test]
fn auto_traits_follow_the_contents() {
    // Values that cannot cross threads make their containers !Send / !Sync.
    assert_not_send!(FlowControlQueue<Rc<u8>>);
    assert_not_sync!(FlowControlQueue<Rc<u8>>);
    assert_not_send!(ThrowableQueue<u8, Rc<u8>>);
    assert_not_send!(Signal<Rc<u8>, u8>);
    assert_not_sync!(SyncSignal<Cell<u8>, u8>);
    assert_not_send!(Stampede<Rc<u8>>);
    assert_not_send!(Put<'static, Rc<u8>>);
    assert_not_send!(Chunks<Aslice<futures_lite::stream::Iter<std::vec::IntoIter<Rc<u8>>>>>);
}

/// A timer that never fires, to name a `Tree` type.
struct NoTimer;

impl mode_core::runtime::Timer for NoTimer {
    type Sleep = std::future::Pending<()>;

    fn now(&self) -> mode_core::time::Instant {
        mode_core::time::Instant::ZERO
    }

    fn sleep_until(&self, _: mode_core::time::Instant) -> Self::Sleep {
        std::future::pending()
    }
}

#[test]
fn handles_go_anywhere_and_the_tree_stays_on_its_thread() {
    is_send_sync::<mode_core::ServiceHandle>();
    is_send_sync::<mode_core::FlightRecorder>();
    // The tree holds its services' values, which need not be `Send`; so do hooks' contexts.
    assert_not_send!(mode_core::Tree<NoTimer>);
    assert_not_sync!(mode_core::Tree<NoTimer>);
    assert_not_send!(mode_core::Context<'static>);
    assert_not_sync!(mode_core::Context<'static>);
}
