//! A member's queue: what the room has for one session and the session has not taken yet.
//!
//! Bounded (a full queue is the room's signal to kick a reader that does not keep up) and with a
//! single sender, the room, and a single receiver, the session. Unlike tokio's bounded channel,
//! which allocates a block of 32 slots and its semaphore when it is made, an empty queue holds no
//! buffer: a room with thousands of idle members keeps about a hundred bytes for each, and a
//! queue that emptied after a burst gives its buffer back.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Capacity kept by a queue that has just emptied; more is given back.
const KEEP: usize = 4;

/// Why [`QueueSender::try_send`] did not queue an item (the item comes back).
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The queue holds its capacity: the receiver is not keeping up.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// Why [`QueueReceiver::try_recv`] returned nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued now.
    Empty,
    /// Nothing queued, and the sender is gone.
    Disconnected,
}

struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    sender_gone: bool,
    receiver_gone: bool,
    waker: Option<Waker>,
}

type Shared<T> = Arc<Mutex<State<T>>>;

fn lock<T>(shared: &Shared<T>) -> MutexGuard<'_, State<T>> {
    // A panic while holding the lock leaves the queue's plain data consistent.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A queue of at most `capacity` items (at least one).
pub fn queue<T>(capacity: usize) -> (QueueSender<T>, QueueReceiver<T>) {
    let shared = Arc::new(Mutex::new(State {
        items: VecDeque::new(),
        capacity: capacity.max(1),
        sender_gone: false,
        receiver_gone: false,
        waker: None,
    }));
    (
        QueueSender {
            shared: Arc::clone(&shared),
        },
        QueueReceiver { shared },
    )
}

/// The room's end. Dropping it ends the receiver's stream once the queue is drained.
pub struct QueueSender<T> {
    shared: Shared<T>,
}

impl<T> QueueSender<T> {
    /// Queues `item` now or gives it back: never waits.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let waker = {
            let mut state = lock(&self.shared);
            if state.receiver_gone {
                return Err(TrySendError::Closed(item));
            }
            if state.items.len() >= state.capacity {
                return Err(TrySendError::Full(item));
            }
            state.items.push_back(item);
            state.waker.take()
        };
        // Woken outside the lock: the receiver's task may run on another thread at once.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

impl<T> Drop for QueueSender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = lock(&self.shared);
            state.sender_gone = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The session's end.
pub struct QueueReceiver<T> {
    shared: Shared<T>,
}

impl<T> QueueReceiver<T> {
    /// The next item, `None` once the sender is gone and the queue drained, or pending (the
    /// task is woken by the next send or by the sender going).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = lock(&self.shared);
        match Self::take(&mut state) {
            Ok(item) => Poll::Ready(Some(item)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) => {
                match &mut state.waker {
                    Some(waker) => waker.clone_from(cx.waker()),
                    None => state.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    /// The next item if one is queued now.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        Self::take(&mut lock(&self.shared))
    }

    fn take(state: &mut State<T>) -> Result<T, TryRecvError> {
        match state.items.pop_front() {
            Some(item) => {
                if state.items.is_empty() && state.items.capacity() > KEEP {
                    state.items.shrink_to(KEEP);
                }
                Ok(item)
            }
            None if state.sender_gone => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }
}

impl<T> Drop for QueueReceiver<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.receiver_gone = true;
        // What was queued goes now, not when the room next tries to send.
        state.items = VecDeque::new();
        state.waker = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn bounded_in_order_and_full_gives_the_item_back() {
        let (tx, mut rx) = queue(2);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.try_send(2), Ok(()));
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(tx.try_send(3), Ok(()));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Ok(3));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn a_pending_receiver_is_woken_by_a_send_and_by_the_sender_going() {
        let (tx, mut rx) = queue(4);
        let count = Arc::new(Count::default());
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        assert!(rx.poll_recv(&mut cx).is_pending());
        assert_eq!(tx.try_send("a"), Ok(()));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some("a")));
        assert!(rx.poll_recv(&mut cx).is_pending());
        assert_eq!(tx.try_send("b"), Ok(()));
        drop(tx);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        // What was sent before the sender went is still delivered, then the end.
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some("b")));
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn sending_to_a_dropped_receiver_is_closed() {
        let (tx, rx) = queue(4);
        assert_eq!(tx.try_send(1), Ok(()));
        drop(rx);
        assert_eq!(tx.try_send(2), Err(TrySendError::Closed(2)));
    }

    #[test]
    fn an_empty_queue_holds_no_buffer_and_gives_a_burst_back() {
        let (tx, mut rx) = queue(256);
        assert_eq!(lock(&rx.shared).items.capacity(), 0);
        for i in 0..200 {
            assert_eq!(tx.try_send(i), Ok(()));
        }
        assert!(lock(&rx.shared).items.capacity() >= 200);
        while rx.try_recv().is_ok() {}
        assert!(lock(&rx.shared).items.capacity() <= KEEP);
        // A capacity below one would queue nothing: it is one.
        let (tx, _rx) = queue(0);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    }
}
