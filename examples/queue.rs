//! Producers and a consumer joined by a flow-controlled queue, run by the Worker.
//!
//! Two `Producer` services each make 8 numbered items and put them into one
//! [`FlowControlQueue`] (capacity 4). A `Consumer` takes them out and writes them in
//! batches of 4. Writing a batch takes a while, and the consumer wants no new items
//! meanwhile, so it suspends the queue's [`FlowControlEvent`] for the time of the write and
//! resumes it afterwards:
//!
//! - while the flow is suspended, a producer's `put` waits (its `try_put` fails with
//!   `Suspended`); the consumer's `get` would still drain what is buffered;
//! - the flow starts suspended, so the producers wait until the consumer has started and
//!   resumes it;
//! - the consumer checks that it gets every producer's items in order, without a gap, and
//!   crashes (exit status 1) if one is missing.
//!
//! Once it has all 16 items, the consumer closes the queue and stops the `Pipeline` root,
//! which ends the program.
//!
//! ```text
//! cargo run -p mode-examples --example queue
//! ```
//!
//! It exits with status 0 after about half a second. Expected output on stderr (the times,
//! the order of the items within a batch, and when the producers notice a pause, vary):
//!
//! ```text
//! [..: INFO]: [^-Pipeline]: Starting...
//! [..: INFO]: [^--Producer-1]: Starting...
//! [..: INFO]: [^--Producer-1]: Started
//! [..: INFO]: [^--Producer-2]: Starting...
//! [..: INFO]: [^--Producer-2]: Started
//! [..: INFO]: [^--Consumer]: Starting...
//! [..: INFO]: [^--Consumer]: ready: resuming the producers
//! [..: INFO]: [^--Consumer]: Started
//! [..: INFO]: [^-Pipeline]: Started
//! [..: INFO]: [^--Consumer]: batch 1 complete: suspending the producers while it is written
//! [..: INFO]: [^--Producer-1]: flow suspended: item 3 waits
//! [..: INFO]: [^--Producer-2]: flow suspended: item 3 waits
//! [..: INFO]: [^--Consumer]: wrote batch 1: [1.1, 2.1, 1.2, 2.2]; resuming the producers
//! [..: INFO]: [^--Producer-1]: flow resumed: item 3 queued
//! [..: INFO]: [^--Producer-2]: flow resumed: item 3 queued
//! ...
//! [..: INFO]: [^--Producer-1]: produced 8 items
//! [..: INFO]: [^--Producer-2]: produced 8 items
//! [..: INFO]: [^--Consumer]: wrote batch 4: [1.7, 2.7, 1.8, 2.8]; resuming the producers
//! [..: INFO]: [^--Consumer]: received all 16 items, each producer's in order: none lost
//! [..: INFO]: [^-Pipeline]: Stopping...
//! ...
//! [..: INFO]: [^Worker]: Stopped (asked to stop)
//! ```

use std::borrow::Cow;
use std::fmt;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mode::sync::{FlowControlEvent, FlowControlQueue, TryPutError};
use mode::{BoxResult, Context, Dependencies, Service};

/// How many producers there are.
const PRODUCERS: u32 = 2;
/// How many items each producer makes.
const ITEMS_EACH: u32 = 8;
/// How many items the consumer writes at once.
const BATCH: usize = 4;

/// An item: the producer that made it and its number there (`producer.seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Item {
    producer: u32,
    seq: u32,
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.producer, self.seq)
    }
}

/// The root: the producers and the consumer, sharing one queue.
#[derive(Debug)]
struct Pipeline {
    queue: FlowControlQueue<Item>,
}

impl Pipeline {
    fn new() -> Self {
        // Starts suspended: producers wait until the consumer resumes it.
        let flow = Arc::new(FlowControlEvent::new());
        Pipeline {
            queue: FlowControlQueue::new(BATCH, flow),
        }
    }
}

impl Service for Pipeline {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        for id in 1..=PRODUCERS {
            deps.add(Producer {
                id,
                queue: self.queue.clone(),
            });
        }
        deps.add(Consumer {
            queue: self.queue.clone(),
        });
    }
}

/// Makes `ITEMS_EACH` items, one every 20 ms, and puts them into the queue.
#[derive(Debug)]
struct Producer {
    id: u32,
    queue: FlowControlQueue<Item>,
}

impl Service for Producer {
    fn label(&self) -> Cow<'static, str> {
        format!("Producer-{}", self.id).into()
    }

    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let (producer, queue) = (self.id, self.queue.clone());
        cx.spawn_with(move |me| async move {
            for seq in 1..=ITEMS_EACH {
                let item = Item { producer, seq };
                match queue.try_put(item) {
                    Ok(()) => {}
                    Err(TryPutError::Suspended(item)) => {
                        mode::info!(me, "flow suspended: item {seq} waits");
                        queue.put(item).await?;
                        mode::info!(me, "flow resumed: item {seq} queued");
                    }
                    // The queue is full: wait for room.
                    Err(TryPutError::Full(item)) => queue.put(item).await?,
                    Err(closed @ TryPutError::Closed(_)) => return Err(closed.into()),
                }
                me.sleep(Duration::from_millis(20)).await?;
            }
            mode::info!(me, "produced {ITEMS_EACH} items");
            Ok(())
        })?;
        Ok(())
    }
}

/// Takes items out of the queue and writes them in batches, pausing the producers while
/// it writes.
#[derive(Debug)]
struct Consumer {
    queue: FlowControlQueue<Item>,
}

impl Service for Consumer {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let queue = self.queue.clone();
        let flow = queue.flow_control().clone();
        mode::info!(cx, "ready: resuming the producers");
        flow.resume();
        cx.spawn_with(move |me| async move {
            let total = (PRODUCERS * ITEMS_EACH) as usize;
            // The number of the next item expected from each producer.
            let mut next = vec![1; PRODUCERS as usize];
            let mut batch = Vec::with_capacity(BATCH);
            let (mut received, mut batches) = (0, 0);
            while received < total {
                let item = queue.get().await?;
                let expected = &mut next[(item.producer - 1) as usize];
                if item.seq != *expected {
                    return Err(
                        format!("got item {item}, expected {}.{expected}", item.producer).into(),
                    );
                }
                *expected += 1;
                received += 1;
                batch.push(item);
                if batch.len() == BATCH {
                    batches += 1;
                    flow.suspend();
                    mode::info!(
                        me,
                        "batch {batches} complete: suspending the producers while it is written"
                    );
                    // Writing the batch.
                    me.sleep(Duration::from_millis(100)).await?;
                    let items: Vec<String> = batch.drain(..).map(|i| i.to_string()).collect();
                    mode::info!(
                        me,
                        "wrote batch {batches}: [{}]; resuming the producers",
                        items.join(", ")
                    );
                    flow.resume();
                }
            }
            mode::info!(
                me,
                "received all {received} items, each producer's in order: none lost"
            );
            queue.close();
            if let Some(pipeline) = me.parent() {
                pipeline.request_stop();
            }
            Ok(())
        })?;
        Ok(())
    }
}

fn main() -> ExitCode {
    mode::tokio::run(Pipeline::new())
}
